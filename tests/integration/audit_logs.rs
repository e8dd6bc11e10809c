//! Audit logs: every event exactly once across passes, never re-exporting history, late
//! events caught by the lag, and an account without the API told what to do.

use crate::harness::audit_truth;
use crate::harness::{Collector, T0, simulator, sorted_unique, stored_audit_events};
use zendesk_crm_tests::Simulator;

fn audit_collector(sim: &Simulator) -> Collector {
    let mut c = Collector::new(sim);
    c.env("RESOURCES", "audit_logs");
    c
}

#[test]
fn a_growing_audit_log_is_stored_exactly_once_across_passes() {
    let sim = simulator();
    // Several thousand events over a day, then more between passes.
    for i in 0..3000u64 {
        sim.add_audit_event(i + 1, T0 - 86_400 + (i as i64) * 20);
    }
    let mut c = audit_collector(&sim);
    c.env("MAX_PAGES", 1000);
    let first = c.run(&sim);
    assert_eq!(first.code, 0, "{}", first.output());
    let a = first.resource("audit_logs");
    assert_eq!(a["caught_up"], true);
    assert_eq!(a["records"], 3000);
    assert_eq!(a["pages"], 30);
    for round in 0..3u64 {
        sim.advance(600);
        for j in 0..150u64 {
            sim.add_audit_event(10_000 + round * 1000 + j, sim.now() - 500 + (j as i64));
        }
        let pass = c.run(&sim);
        assert_eq!(pass.code, 0, "{}", pass.output());
        assert_eq!(pass.resource("audit_logs")["records"], 150, "round {round}");
    }
    assert_eq!(sorted_unique(stored_audit_events(&c)), audit_truth(&sim));
}

#[test]
fn a_later_pass_never_rereads_stored_history() {
    let sim = simulator();
    sim.add_audit_events(1, 250, T0 - 50_000);
    sim.add_audit_events(1000, 3, T0 - 40_000);
    let c = audit_collector(&sim);
    assert_eq!(c.run(&sim).code, 0);
    sim.advance(600);
    sim.clear_requests();
    let pass = c.run(&sim);
    assert_eq!(pass.code, 0, "{}", pass.output());
    assert_eq!(pass.resource("audit_logs")["records"], 0);
    let requests = sim.requests();
    assert_eq!(requests.len(), 1, "one page: the high-water second only");
    let query = requests[0].query();
    let window: Vec<_> = query
        .iter()
        .filter(|(k, _)| k == "filter[created_at][]")
        .map(|(_, v)| v.clone())
        .collect();
    assert_eq!(window.len(), 2, "{query:?}");
    assert_eq!(
        window[0], "2025-06-15T04:00:00Z",
        "starts at the last stored second"
    );
    assert!(query.contains(&("sort".into(), "created_at".into())));
}

#[test]
fn many_events_in_one_second_are_stored_once_each() {
    let sim = simulator();
    sim.add_audit_events(1, 450, T0 - 3600);
    let mut c = audit_collector(&sim);
    c.env("MAX_PAGES", 2);
    let first = c.run(&sim);
    assert_eq!(first.code, 0, "{}", first.output());
    let a = first.resource("audit_logs");
    assert_eq!(a["caught_up"], false);
    assert_eq!(a["stopped"], "max_pages");
    assert!(a["behind_seconds"].as_u64().unwrap() >= 3600, "{a}");
    assert!(
        first.stderr.contains("MAX_PAGES reached"),
        "{}",
        first.stderr
    );
    // The next passes start again at that second and skip what is stored.
    for _ in 0..3 {
        assert_eq!(c.run(&sim).code, 0);
    }
    assert_eq!(sorted_unique(stored_audit_events(&c)), audit_truth(&sim));
}

#[test]
fn a_page_that_repeats_stored_events_stores_only_the_new_ones() {
    let sim = simulator();
    sim.add_audit_events(1, 5, T0 - 3600);
    let c = audit_collector(&sim);
    assert_eq!(c.run(&sim).code, 0);
    let before = c.objects();
    // Two more events in the very second of the high-water mark.
    sim.add_audit_events(6, 2, T0 - 3600);
    let pass = c.run(&sim);
    assert_eq!(pass.code, 0, "{}", pass.output());
    assert_eq!(pass.resource("audit_logs")["records"], 2);
    let new: Vec<_> = c
        .objects()
        .into_iter()
        .filter(|(k, _)| !before.contains_key(k))
        .collect();
    assert_eq!(new.len(), 1);
    let page: serde_json::Value = serde_json::from_slice(&new[0].1).unwrap();
    let ids: Vec<_> = page["audit_logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, vec![6, 7]);
    assert!(page["meta"].is_object(), "Zendesk's envelope is kept");
    assert_eq!(sorted_unique(stored_audit_events(&c)), audit_truth(&sim));
}

#[test]
fn late_events_inside_the_lag_window_are_collected_by_the_next_pass() {
    let sim = simulator();
    sim.add_audit_events(1, 3, T0 - 7200);
    // Event 50 is created 100 s before the pass but becomes visible only after it; event 60 is
    // newer and visible at once. The 120 s lag keeps event 60 out of the first window, so the
    // high-water mark stays behind event 50 and the next pass finds both.
    sim.add_late_audit_event(50, T0 - 100, T0 + 50);
    sim.add_audit_event(60, T0 - 50);
    let c = audit_collector(&sim);
    let first = c.run(&sim);
    assert_eq!(first.code, 0, "{}", first.output());
    assert_eq!(first.resource("audit_logs")["records"], 3);
    sim.advance(300);
    let second = c.run(&sim);
    assert_eq!(second.resource("audit_logs")["records"], 2);
    assert_eq!(sorted_unique(stored_audit_events(&c)), audit_truth(&sim));
    assert!(audit_truth(&sim).contains(&(50, T0 - 100)));
}

#[test]
fn an_account_without_audit_logs_is_told_what_to_do_and_tickets_still_run() {
    let sim = simulator();
    sim.set_audit_logs_enabled(false);
    sim.add_tickets(1, 5, T0 - 1000);
    let mut c = Collector::new(&sim);
    c.env("RESOURCES", "audit_logs,incremental_tickets");
    let pass = c.run(&sim);
    assert_eq!(pass.code, 7, "{}", pass.output());
    let a = pass.resource("audit_logs");
    assert_eq!(a["error"]["kind"], "forbidden");
    let message = a["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("Access to this resource is restricted"),
        "{message}"
    );
    assert!(
        message.contains("remove audit_logs from RESOURCES"),
        "{message}"
    );
    let t = pass.resource("incremental_tickets");
    assert_eq!(t["error"], serde_json::Value::Null);
    assert_eq!(t["records"], 5);
}

#[test]
fn the_default_resources_are_the_guides_two() {
    let sim = simulator();
    sim.add_tickets(1, 2, T0 - 1000);
    sim.add_audit_events(1, 2, T0 - 1000);
    let mut c = Collector::new(&sim);
    c.unset("RESOURCES");
    let pass = c.run(&sim);
    assert_eq!(pass.code, 0, "{}", pass.output());
    let names: Vec<_> = pass.summary()["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, vec!["audit_logs", "incremental_tickets"]);
    assert_eq!(stored_audit_events(&c).len(), 2);
}
