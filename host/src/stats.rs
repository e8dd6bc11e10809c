//! What the host measures of a pass by itself, per resource: bytes of the objects it created
//! and 429 answers it passed back. The component reports pages and records; these need no
//! change to the contract.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ResourceStats {
    pub bytes: u64,
    pub rate_limited: u32,
}

/// Shared by the egress hook and the object store of one pass.
#[derive(Debug, Default, Clone)]
pub struct PassStats(Arc<Mutex<BTreeMap<String, ResourceStats>>>);

impl PassStats {
    fn update(&self, resource: &str, f: impl FnOnce(&mut ResourceStats)) {
        if let Ok(mut all) = self.0.lock() {
            f(all.entry(resource.to_owned()).or_default());
        }
    }

    pub fn add_bytes(&self, resource: &str, bytes: u64) {
        self.update(resource, |s| s.bytes += bytes);
    }

    pub fn add_rate_limited(&self, resource: &str) {
        self.update(resource, |s| s.rate_limited += 1);
    }

    pub fn get(&self, resource: &str) -> ResourceStats {
        self.0
            .lock()
            .ok()
            .and_then(|all| all.get(resource).copied())
            .unwrap_or_default()
    }
}

/// The resource a page key names: `…-zendesk-{resource}.{ext}` (the key scheme in docs/delivery.md).
pub fn resource_of_key(key: &str) -> Option<&str> {
    let name = key.rsplit('/').next()?;
    let (_, rest) = name.rsplit_once("-zendesk-")?;
    rest.split('.').next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_their_resource() {
        assert_eq!(
            resource_of_key(
                "zendesk/crm/2025/01/02/030405-0123456789abcdef-zendesk-audit_logs.json"
            ),
            Some("audit_logs")
        );
        assert_eq!(
            resource_of_key("2025/01/02/030405-ab-zendesk-incremental_tickets.ndjson"),
            Some("incremental_tickets")
        );
        assert_eq!(resource_of_key("zendesk/crm/other.json"), None);
    }

    #[test]
    fn counts_add_up_per_resource() {
        let s = PassStats::default();
        s.add_bytes("a", 10);
        s.add_bytes("a", 5);
        s.add_rate_limited("b");
        assert_eq!(
            s.get("a"),
            ResourceStats {
                bytes: 15,
                rate_limited: 0
            }
        );
        assert_eq!(s.get("b").rate_limited, 1);
        assert_eq!(s.get("c"), ResourceStats::default());
    }
}
