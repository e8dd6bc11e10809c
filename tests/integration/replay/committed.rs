//! The committed cassettes under `tests/cassettes/`, each recorded from a scenario here and
//! replayed, twice, to its golden output (see the parent module for re-recording them).

use std::path::Path;

use serde_json::Value;
use zendesk_crm_tests::Fault;

use super::{Recorded, cassettes, flag, keys, record, replay, sim, tree, waits_ms};
use crate::harness::{Collector, Pass, T0};

const FIRST_AUDIT_ID: u64 = 6_139_157_000_000;

// The committed scenarios. Each sets up the simulator, runs any earlier pass, and records one.

/// Three ticket pages (gzip, as Zendesk sends them) ending in `end_of_stream`.
fn tickets_multi_page(port: u16, cassette: &Path) -> Recorded {
    let sim = sim(port, true);
    sim.add_tickets(1, 10, T0 - 5000);
    sim.add_tickets(11, 10, T0 - 4000);
    sim.add_tickets(21, 5, T0 - 3000);
    let mut c = Collector::new(&sim);
    c.env("PAGE_SIZE", 10);
    record(&sim, c, cassette)
}

/// A 429 with `Retry-After: 30`, a 503 with `Retry-After: 2`, then a 500 (back-off).
fn tickets_retries(port: u16, cassette: &Path) -> Recorded {
    let sim = sim(port, false);
    sim.add_tickets(1, 20, T0 - 2000);
    sim.push_fault(Fault::RateLimited {
        retry_after: Some(30),
    });
    sim.push_fault(Fault::Status {
        status: 503,
        retry_after: Some(2),
    });
    sim.push_fault(Fault::Status {
        status: 500,
        retry_after: None,
    });
    let mut c = Collector::new(&sim);
    c.env("PAGE_SIZE", 10).env("HTTP_RETRIES", 5);
    record(&sim, c, cassette)
}

/// A second pass, resuming from the checkpoint of a first one (not recorded).
fn tickets_resume(port: u16, cassette: &Path) -> Recorded {
    let sim = sim(port, false);
    sim.add_tickets(1, 15, T0 - 5000);
    let mut c = Collector::new(&sim);
    c.env("PAGE_SIZE", 10);
    let first = c.run(&sim);
    assert_eq!(first.code, 0, "{}", first.output());
    sim.advance(600);
    sim.add_tickets(16, 5, T0 + 100);
    sim.upsert_ticket(3, T0 + 200);
    record(&sim, c, cassette)
}

/// Three audit-log pages.
fn audit_logs(port: u16, cassette: &Path) -> Recorded {
    let sim = sim(port, false);
    sim.add_audit_events(FIRST_AUDIT_ID, 20, T0 - 7200);
    sim.add_audit_events(FIRST_AUDIT_ID + 20, 20, T0 - 5000);
    sim.add_audit_events(FIRST_AUDIT_ID + 40, 10, T0 - 3000);
    let mut c = Collector::new(&sim);
    c.env("RESOURCES", "audit_logs").env("PAGE_SIZE", 20);
    record(&sim, c, cassette)
}

/// A second access-log pass: it starts an overlap before the first pass's mark, so its first
/// page repeats stored events (left out by id) before the new ones.
fn access_logs(port: u16, cassette: &Path) -> Recorded {
    let sim = sim(port, false);
    sim.add_access_events(8, T0 - 3000);
    sim.add_access_events(8, T0 - 1000);
    let mut c = Collector::new(&sim);
    c.env("RESOURCES", "access_logs").env("PAGE_SIZE", 10);
    let first = c.run(&sim);
    assert_eq!(first.code, 0, "{}", first.output());
    sim.advance(600);
    sim.add_access_events(6, T0 + 100);
    record(&sim, c, cassette)
}

/// Replays `tests/cassettes/{name}.json` twice and checks both against its golden output;
/// records it first with `RECORD_CASSETTES=1`, rewrites the golden files with
/// `UPDATE_GOLDEN=1`.
fn committed(name: &str, scenario: fn(u16, &Path) -> Recorded, port: u16) -> Pass {
    let cassette = cassettes().join(format!("{name}.json"));
    let golden = cassettes().join(name);
    if flag("RECORD_CASSETTES") {
        let recorded = scenario(port, &cassette);
        let out = tempfile::tempdir().expect("temp dir");
        let started = std::time::Instant::now();
        let replayed = replay(&cassette, &out.path().join("out"));
        // For the one re-recording it: what the recording cost against what its replay costs.
        eprintln!(
            "{name}: recorded pass {} ms, replay {} ms (wall, process included), cassette {} bytes",
            recorded.pass.summary()["duration_ms"],
            started.elapsed().as_millis(),
            std::fs::metadata(&cassette).map(|m| m.len()).unwrap_or(0)
        );
        assert_eq!(replayed.code, 0, "{}", replayed.output());
        assert_eq!(tree(&out.path().join("out")), recorded.stored());
        assert_eq!(waits_ms(&replayed), waits_ms(&recorded.pass));
    }
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let first = replay(&cassette, a.path());
    assert_eq!(first.code, 0, "{}", first.output());
    let second = replay(&cassette, b.path());
    assert_eq!(second.code, 0, "{}", second.output());
    let output = tree(a.path());
    assert_eq!(output, tree(b.path()), "two replays of {name} differ");
    if flag("UPDATE_GOLDEN") {
        let _ = std::fs::remove_dir_all(&golden);
        for (key, bytes) in &output {
            let path = golden.join(key);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
        }
    }
    let expected = tree(&golden);
    assert_eq!(
        keys(&output),
        keys(&expected),
        "{name}: keys differ from the golden files"
    );
    for (key, bytes) in &output {
        assert!(
            expected.get(key) == Some(bytes),
            "{name}: {key} differs from its golden file"
        );
    }
    first
}

#[test]
fn committed_multi_page_ticket_export_replays_to_its_golden_output() {
    let pass = committed("tickets_multi_page", tickets_multi_page, 47811);
    let t = pass.tickets();
    assert_eq!(
        (t["pages"].as_u64(), t["records"].as_u64()),
        (Some(3), Some(25))
    );
    assert_eq!(t["caught_up"], true);
}

#[test]
fn committed_retries_replay_their_long_waits_on_virtual_time() {
    let pass = committed("tickets_retries", tickets_retries, 47812);
    let t = pass.tickets();
    assert_eq!(t["retries"], 3);
    assert_eq!(t["rate_limited"], 1);
    // The waits the guest asked for, from the host's record of them: Retry-After 30 s and
    // 2 s, then a jittered back-off. The replay's clock shows at least their sum while the
    // pass ran on virtual time.
    let waits = waits_ms(&pass);
    assert_eq!(waits.len(), 3, "{waits:?}");
    assert_eq!(&waits[..2], &[30_000, 2_000]);
    assert!((2_000..=4_000).contains(&waits[2]), "{waits:?}");
    let clock = pass.summary()["cassette"]["clock_ms"].as_u64().unwrap();
    assert!(
        clock >= waits.iter().sum::<u64>(),
        "clock {clock} < waits {waits:?}"
    );
}

#[test]
fn committed_second_pass_resumes_from_the_recorded_checkpoint() {
    let pass = committed("tickets_resume", tickets_resume, 47813);
    let cassette: Value =
        serde_json::from_slice(&std::fs::read(cassettes().join("tickets_resume.json")).unwrap())
            .unwrap();
    assert!(cassette["initial_checkpoint"]["text"].is_string());
    assert_eq!(pass.summary()["first_run"], false);
    assert_eq!(pass.tickets()["records"], 6);
}

#[test]
fn committed_audit_log_pages_replay_to_their_golden_output() {
    let pass = committed("audit_logs", audit_logs, 47814);
    let a = pass.resource("audit_logs");
    assert_eq!(
        (a["pages"].as_u64(), a["records"].as_u64()),
        (Some(3), Some(50))
    );
}

#[test]
fn committed_access_log_pass_replays_its_overlap_and_new_events_to_its_golden_output() {
    let pass = committed("access_logs", access_logs, 47815);
    let a = pass.resource("access_logs");
    assert_eq!(a["first_run"], false);
    // The overlap's repeats are read again and left out: only the 6 new events are stored.
    assert_eq!(a["records"].as_u64(), Some(6));
}
