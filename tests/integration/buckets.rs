//! What the S3 and GCS tests share: the keys a feed stores under, bucket names no other test
//! uses, reading back what a pass left in a bucket, and the crash scenario both stores pass.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};

use zendesk_crm_tests::Simulator;

use crate::harness::{
    Collector, Pass, T0, audit_events_in, simulator, sorted_unique, tickets_in, visible,
};

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

/// The crash test of the local store (crash.rs) in a bucket: a pass over tickets and audit
/// logs aborted at `point`'s `n`-th hit, restarted after Zendesk's data grew and the audit
/// window moved, must leave every record in `bodies()` exactly once. `collector` stores in
/// the bucket.
pub fn crash_and_resume(
    case: &str,
    point: &str,
    n: u32,
    collector: impl FnOnce(&Simulator) -> Collector,
    bodies: impl FnOnce() -> BTreeMap<String, Vec<u8>>,
) {
    let sim = simulator();
    for id in 1..=25u64 {
        sim.upsert_ticket(id, T0 - 3000 + 10 * id as i64);
        sim.add_audit_event(1000 + id, T0 - 3000 + 10 * id as i64);
    }
    let mut c = collector(&sim);
    c.env("RESOURCES", "incremental_tickets,audit_logs")
        .env("PAGE_SIZE", 10)
        .env("STATE_KEY", OUTSIDE_STATE_KEY)
        .env("ZENDESK_CRM_FAILPOINT", format!("{point}:{n}"));
    let crashed = c.run(&sim);
    c.unset("ZENDESK_CRM_FAILPOINT");
    assert!(
        crashed
            .stderr
            .contains(&format!("failpoint {point}:{n} reached: aborting")),
        "{case}: {}",
        crashed.output()
    );
    for id in 26..=28u64 {
        sim.upsert_ticket(id, T0 - 3000 + 10 * id as i64);
        sim.add_audit_event(1000 + id, T0 - 3000 + 10 * id as i64);
    }
    sim.advance(600);
    let pass = c.run(&sim);
    assert_ok(&pass);
    let bodies = bodies();
    assert_eq!(
        sorted_unique(tickets_in(&bodies)),
        visible(&sim),
        "{case}: tickets"
    );
    let mut audit = sim.audit_events_visible();
    audit.sort();
    assert_eq!(
        sorted_unique(audit_events_in(&bodies)),
        audit,
        "{case}: audit events"
    );
}
