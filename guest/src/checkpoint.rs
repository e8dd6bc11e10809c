//! The checkpoint document: versioned JSON with one entry per resource, owned by the guest.
//!
//! The host stores the bytes and never reads them, so every check lives here: a document that
//! is not ours, torn, from a newer version or in the original Lambda's format stops the pass
//! with a named cause instead of being replaced.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// Marks a document as ours, so a stray JSON file is never mistaken for a checkpoint.
pub const FORMAT: &str = "zendesk-crm-checkpoint";
/// The version this component writes. Version 2 added `pending`, version 3 `origin`.
pub const VERSION: u32 = 3;
/// The oldest version this component reads (and rewrites as [`VERSION`]).
const OLDEST_READABLE: u32 = 1;
/// Cursors are opaque base64 from Zendesk; anything longer is not a cursor.
const MAX_CURSOR_LEN: usize = 4096;
/// A pending request is one of ours: a path, a few parameters and a cursor.
const MAX_REQUEST_LEN: usize = 8192;
/// An origin is a scheme, a host and a port.
const MAX_ORIGIN_LEN: usize = 300;
/// Access-log ids are 26-character ULIDs; anything much longer is not an id.
const MAX_ACCESS_ID_LEN: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    pub format: String,
    pub version: u32,
    /// The account the positions belong to: the origin of `ZENDESK_BASE_URL` (scheme, host,
    /// port) when it was made. A pass for another origin refuses it; older versions have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    pub resources: Resources,
    /// Per resource, the page being stored when this checkpoint was saved: set just before
    /// the object is written, cleared in the save that moves the resource past it. A pass
    /// that finds an entry asks exactly that request first.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pending: BTreeMap<String, PendingPage>,
    /// Resources whose start a first run fixed before Zendesk ever answered them with a page:
    /// nothing can have been missed yet, so a later first run may still move the start to a
    /// new `START_TIME`. A resource leaves the set at its first 200 page.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub unconfirmed: BTreeSet<String>,
}

/// How to fetch again the page a pass was storing: the same request, its page size limited
/// to the page's record count, so the same records (and so the same key) come back even if
/// the data after them has grown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PendingPage {
    /// Path and query, exactly as sent to the configured origin.
    pub request: String,
    /// Records the page held.
    pub records: u32,
}

/// One optional entry per resource: absent means the resource has not started yet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_logs: Option<AccessLogsState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_logs: Option<AuditLogsState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incremental_tickets: Option<TicketsState>,
    /// The tests' fourth resource (resources/toy.rs).
    #[cfg(test)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toy: Option<crate::resources::toy::ToyState>,
}

/// Position in the audit log: every event created before `high_water` is stored, and those
/// created at it whose ids are listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditLogsState {
    /// A `created_at` second, Unix; the next window starts here, inclusive.
    pub high_water: i64,
    /// Ids of the events stored whose `created_at` is `high_water`.
    pub ids_at_mark: Vec<u64>,
}

/// Position in the access log: every event with a `timestamp` before `high_water - overlap` is
/// stored, and those at or after it that are stored are listed by id, so a later pass that
/// reads the overlap again skips them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessLogsState {
    /// Where the first run started, Unix seconds: no window ever starts before it.
    pub start: i64,
    /// The newest `timestamp` stored (Unix seconds), or `start` before anything was.
    pub high_water: i64,
    /// id -> timestamp of each event stored at or after `high_water - overlap`. Bounded by
    /// time, not by count: an id leaves only once it is older than any later window.
    #[serde(default)]
    pub recent_ids: BTreeMap<String, i64>,
}

/// Position in the cursor-based incremental ticket export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketsState {
    /// Where the first run started (Unix seconds), kept for operators.
    pub start_time: i64,
    /// The last `after_cursor` stored, once a page has been; the next request resumes here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// Why stored bytes are not a usable checkpoint.
#[derive(Debug, PartialEq, Eq)]
pub enum LoadError {
    Corrupt(String),
    Foreign(String),
    UnsupportedVersion(u32),
}

impl Checkpoint {
    /// An empty checkpoint of the account at `origin` (see [`crate::settings::Origin`]).
    pub fn new(origin: &str) -> Checkpoint {
        Checkpoint {
            format: FORMAT.to_owned(),
            version: VERSION,
            origin: Some(origin.to_owned()),
            resources: Resources::default(),
            pending: BTreeMap::new(),
            unconfirmed: BTreeSet::new(),
        }
    }

    /// Reads a checkpoint of this component's resources.
    #[cfg(test)]
    pub fn parse(bytes: &[u8]) -> Result<Checkpoint, LoadError> {
        Checkpoint::parse_for(bytes, &crate::resources::names(crate::resources::ALL))
    }

    /// Reads a checkpoint whose `pending` and `unconfirmed` may name the resources `known`.
    pub fn parse_for(bytes: &[u8], known: &[&str]) -> Result<Checkpoint, LoadError> {
        let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
            LoadError::Corrupt(format!(
                "not JSON ({e}); the file may be torn or overwritten"
            ))
        })?;
        let Some(object) = value.as_object() else {
            return Err(LoadError::Corrupt("not a JSON object".into()));
        };
        match object.get("format").and_then(|f| f.as_str()) {
            Some(FORMAT) => {}
            Some(other) => {
                return Err(LoadError::Corrupt(format!("unknown format {other:?}")));
            }
            None if is_lambda_state(object) => {
                return Err(LoadError::Foreign(
                    "this is the original Lambda's state.json; its positions cannot be trusted \
                     (it restarts audit logs and drops ticket cursors), so start over with \
                     START_TIME"
                        .into(),
                ));
            }
            None => return Err(LoadError::Corrupt("no \"format\" field".into())),
        }
        let version = match object.get("version").and_then(|v| v.as_u64()) {
            Some(v) if (u64::from(OLDEST_READABLE)..=u64::from(VERSION)).contains(&v) => v,
            Some(v) => {
                return Err(LoadError::UnsupportedVersion(
                    u32::try_from(v).unwrap_or(u32::MAX),
                ));
            }
            None => return Err(LoadError::Corrupt("no numeric \"version\" field".into())),
        };
        let mut checkpoint: Checkpoint = serde_json::from_value(value)
            .map_err(|e| LoadError::Corrupt(format!("invalid document: {e}")))?;
        if version < 3 && (checkpoint.origin.is_some() || !checkpoint.unconfirmed.is_empty()) {
            return Err(LoadError::Corrupt(format!(
                "a version {version} checkpoint cannot have \"origin\" or \"unconfirmed\""
            )));
        }
        if version == 1 && !checkpoint.pending.is_empty() {
            return Err(LoadError::Corrupt(
                "a version 1 checkpoint cannot have \"pending\"".into(),
            ));
        }
        checkpoint.validate(known).map_err(LoadError::Corrupt)?;
        // The next save writes the current version.
        checkpoint.version = VERSION;
        Ok(checkpoint)
    }

    fn validate(&self, known: &[&str]) -> Result<(), String> {
        if let Some(o) = &self.origin
            && (o.is_empty()
                || o.len() > MAX_ORIGIN_LEN
                || !(o.starts_with("https://") || o.starts_with("http://"))
                || o.chars().any(|c| c.is_control() || c.is_whitespace()))
        {
            return Err(format!("origin {o:?} is not an origin"));
        }
        if let Some(a) = &self.resources.audit_logs {
            if a.high_water < 0 {
                return Err(format!(
                    "audit_logs.high_water {} is negative",
                    a.high_water
                ));
            }
            let mut ids = a.ids_at_mark.clone();
            ids.sort_unstable();
            ids.dedup();
            if ids.len() != a.ids_at_mark.len() {
                return Err("audit_logs.ids_at_mark repeats an id".into());
            }
        }
        if let Some(a) = &self.resources.access_logs {
            if a.start < 0 || a.high_water < a.start {
                return Err(format!(
                    "access_logs.start {} and high_water {} are not a position",
                    a.start, a.high_water
                ));
            }
            if let Some((id, _)) = a.recent_ids.iter().find(|&(id, &t)| {
                id.is_empty()
                    || id.len() > MAX_ACCESS_ID_LEN
                    || id.chars().any(|c| c.is_control() || c.is_whitespace())
                    || t < 0
                    || t > a.high_water
            }) {
                return Err(format!(
                    "access_logs.recent_ids holds {id:?}, not an id stored up to high_water"
                ));
            }
        }
        if let Some(t) = &self.resources.incremental_tickets {
            if t.start_time < 0 {
                return Err(format!(
                    "incremental_tickets.start_time {} is negative",
                    t.start_time
                ));
            }
            if let Some(c) = &t.cursor
                && (c.is_empty()
                    || c.len() > MAX_CURSOR_LEN
                    || c.chars().any(|ch| ch.is_control() || ch.is_whitespace()))
            {
                return Err("incremental_tickets.cursor is not a cursor".into());
            }
        }
        if let Some(r) = self
            .unconfirmed
            .iter()
            .find(|r| !known.contains(&r.as_str()))
        {
            return Err(format!("unconfirmed names an unknown resource {r:?}"));
        }
        for (resource, p) in &self.pending {
            if !known.contains(&resource.as_str()) {
                return Err(format!("pending names an unknown resource {resource:?}"));
            }
            if p.records == 0 {
                return Err(format!("pending.{resource}.records is 0"));
            }
            // Only a path of ours: no scheme, authority, fragment or anything to unescape.
            if !p.request.starts_with("/api/v2/")
                || p.request.len() > MAX_REQUEST_LEN
                || p.request.contains("..")
                || !p.request.bytes().all(|b| b.is_ascii_graphic() && b != b'#')
            {
                return Err(format!(
                    "pending.{resource}.request is not a request this component makes"
                ));
            }
        }
        Ok(())
    }

    /// Pretty JSON with a final newline: small, and read by people when something goes wrong.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).unwrap_or_default();
        out.push(b'\n');
        out
    }
}

/// `{"audit_logs":{"next_url":…},"incremental_tickets":{"next":…}}`, or part of it.
fn is_lambda_state(object: &serde_json::Map<String, serde_json::Value>) -> bool {
    !object.is_empty()
        && object
            .keys()
            .all(|k| k == "audit_logs" || k == "incremental_tickets")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let mut c = Checkpoint::new("https://acme.zendesk.com");
        c.resources.incremental_tickets = Some(TicketsState {
            start_time: 1_700_000_000,
            cursor: Some("+/+/MTY5=".into()),
        });
        assert_eq!(Checkpoint::parse(&c.to_bytes()), Ok(c));
    }

    #[test]
    fn access_log_positions_round_trip_and_bad_ones_are_refused() {
        let mut c = Checkpoint::new("https://acme.zendesk.com");
        c.resources.access_logs = Some(AccessLogsState {
            start: 100,
            high_water: 200,
            recent_ids: BTreeMap::from([("01H9KB1CDRX2RVDS7E2R4YJ0TS".to_owned(), 150)]),
        });
        assert_eq!(Checkpoint::parse(&c.to_bytes()), Ok(c));
        for bad in [
            r#"{"start":100,"high_water":50,"recent_ids":{}}"#,
            r#"{"start":0,"high_water":50,"recent_ids":{"a b":10}}"#,
            r#"{"start":0,"high_water":50,"recent_ids":{"x":60}}"#,
            r#"{"start":0,"high_water":50,"recent_ids":{},"cursor":"x"}"#,
        ] {
            let doc = format!(
                r#"{{"format":"zendesk-crm-checkpoint","version":1,"resources":{{"access_logs":{bad}}}}}"#
            );
            assert!(
                matches!(
                    Checkpoint::parse(doc.as_bytes()),
                    Err(LoadError::Corrupt(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn rejects_torn_and_foreign_documents() {
        let good = Checkpoint::new("https://acme.zendesk.com").to_bytes();
        let torn = &good[..good.len() / 2];
        assert!(matches!(
            Checkpoint::parse(torn),
            Err(LoadError::Corrupt(_))
        ));
        assert!(matches!(Checkpoint::parse(b""), Err(LoadError::Corrupt(_))));
        assert!(matches!(
            Checkpoint::parse(b"[]"),
            Err(LoadError::Corrupt(_))
        ));
        let lambda =
            br#"{"audit_logs":{"next_url":null},"incremental_tickets":{"next":"https://x"}}"#;
        assert!(matches!(
            Checkpoint::parse(lambda),
            Err(LoadError::Foreign(_))
        ));
    }

    #[test]
    fn reads_version_1_and_writes_the_current_version_with_pending_pages() {
        let v1 = br#"{"format":"zendesk-crm-checkpoint","version":1,"resources":{"incremental_tickets":{"start_time":1,"cursor":"abc"}}}"#;
        let mut c = Checkpoint::parse(v1).unwrap();
        assert_eq!(c.version, VERSION);
        assert_eq!(c.origin, None, "an older checkpoint names no account");
        assert!(c.pending.is_empty());
        assert!(!String::from_utf8(c.to_bytes()).unwrap().contains("pending"));
        c.pending.insert(
            "incremental_tickets".into(),
            PendingPage {
                request: "/api/v2/incremental/tickets/cursor.json?cursor=abc&per_page=7".into(),
                records: 7,
            },
        );
        let bytes = c.to_bytes();
        assert!(String::from_utf8_lossy(&bytes).contains("\"version\": 3"));
        assert_eq!(Checkpoint::parse(&bytes), Ok(c));
        let v1_pending = br#"{"format":"zendesk-crm-checkpoint","version":1,"resources":{},"pending":{"audit_logs":{"request":"/api/v2/audit_logs.json?x=1","records":1}}}"#;
        assert!(matches!(
            Checkpoint::parse(v1_pending),
            Err(LoadError::Corrupt(_))
        ));
    }

    #[test]
    fn a_pending_request_elsewhere_is_refused() {
        for request in [
            "http://127.0.0.1:9/api/v2/audit_logs.json?x=1",
            "//evil.example/api/v2/audit_logs.json",
            "/api/v2/../../users.json?x=1",
            "/api/v2/audit_logs.json?x=1 HTTP/1.1",
            "/api/v2/audit_logs.json?x=1#frag",
        ] {
            let doc = serde_json::json!({
                "format": FORMAT, "version": 2, "resources": {},
                "pending": {"audit_logs": {"request": request, "records": 3}},
            });
            let bytes = serde_json::to_vec(&doc).unwrap();
            assert!(
                matches!(Checkpoint::parse(&bytes), Err(LoadError::Corrupt(_))),
                "{request}"
            );
        }
        let unknown = br#"{"format":"zendesk-crm-checkpoint","version":2,"resources":{},"pending":{"users":{"request":"/api/v2/users.json?x=1","records":1}}}"#;
        assert!(matches!(
            Checkpoint::parse(unknown),
            Err(LoadError::Corrupt(_))
        ));
    }

    #[test]
    fn rejects_newer_versions_and_bad_fields() {
        let newer = br#"{"format":"zendesk-crm-checkpoint","version":4,"resources":{}}"#;
        assert_eq!(
            Checkpoint::parse(newer),
            Err(LoadError::UnsupportedVersion(4))
        );
        let v2_with_origin = br#"{"format":"zendesk-crm-checkpoint","version":2,"origin":"https://a.zendesk.com","resources":{}}"#;
        assert!(matches!(
            Checkpoint::parse(v2_with_origin),
            Err(LoadError::Corrupt(_))
        ));
        let not_an_origin =
            br#"{"format":"zendesk-crm-checkpoint","version":3,"origin":"acme","resources":{}}"#;
        assert!(matches!(
            Checkpoint::parse(not_an_origin),
            Err(LoadError::Corrupt(_))
        ));
        let unknown = br#"{"format":"zendesk-crm-checkpoint","version":1,"resources":{},"x":1}"#;
        assert!(matches!(
            Checkpoint::parse(unknown),
            Err(LoadError::Corrupt(_))
        ));
        let bad_cursor = br#"{"format":"zendesk-crm-checkpoint","version":1,"resources":{"incremental_tickets":{"start_time":1,"cursor":""}}}"#;
        assert!(matches!(
            Checkpoint::parse(bad_cursor),
            Err(LoadError::Corrupt(_))
        ));
    }
}
