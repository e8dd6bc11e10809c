//! What the S3 and GCS tests share: the keys a feed stores under, bucket names no other test
//! uses, and reading back what a pass left in a bucket.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::harness::Pass;

/// The default object prefix (`S3_PREFIX`, `GCS_PREFIX`).
pub const PREFIX: &str = "zendesk/crm/";
/// The default `STATE_KEY`: inside the prefix.
pub const DEFAULT_STATE_KEY: &str = "zendesk/crm/state.json";
/// The key the README recommends: outside the feed's prefix.
pub const OUTSIDE_STATE_KEY: &str = "zendesk/crm-state/state.json";

/// A bucket name of its own for each test, so tests on one shared server never meet.
pub fn unique_bucket() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "zc-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Page objects only (no checkpoint, no reset copies).
pub fn pages(all: &BTreeMap<String, Vec<u8>>) -> BTreeMap<String, Vec<u8>> {
    all.iter()
        .filter(|(k, _)| {
            (k.ends_with(".json") || k.ends_with(".json.gz")) && !k.ends_with("state.json")
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

pub fn assert_ok(pass: &Pass) {
    assert_eq!(pass.code, 0, "{}", pass.output());
}
