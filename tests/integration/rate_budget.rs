//! The rate budget: a pass keeps to the limits on its own, so it never meets a 429; a
//! response saying nothing is left holds it until the reset; and it never waits past the
//! deadline. Every assertion is on counts (the simulator's windows and 429s, requests, log
//! lines), never on how long anything took.

use std::time::Duration;

use crate::harness::{
    Collector, T0, simulator, simulator_with, sorted_unique, stored_audit_events, visible,
};
use zendesk_crm_tests::{EndpointLimit, INCREMENTAL_EXPORTS, RateLimits, SimConfig, Simulator};

const TICKETS: &str = "/api/v2/incremental/tickets/cursor.json";

fn enforcing(limits: RateLimits) -> Simulator {
    simulator_with(SimConfig {
        rate_limits: Some(limits),
        ..SimConfig::default()
    })
}

/// `n` tickets a second apart, so one-ticket pages walk the stream one by one.
fn add_tickets(sim: &Simulator, n: u64) {
    for id in 1..=n {
        sim.upsert_ticket(id, T0 - 1000 + id as i64);
    }
}

/// One record a page, no page limit, rate windows of `window_ms` as the simulator's.
fn collector(sim: &Simulator, window_ms: u64) -> Collector {
    let mut c = Collector::new(sim);
    c.env("ZENDESK_CRM_RATE_WINDOW", format!("{window_ms}ms"))
        .env("PAGE_SIZE", 1)
        .env("MAX_PAGES", 100);
    c
}

fn ticket_requests(sim: &Simulator) -> usize {
    sim.requests()
        .iter()
        .filter(|r| r.path() == TICKETS)
        .count()
}

/// Pacing log lines that name `limit` as what held the request back.
fn paced_by(pass_stderr: &str, limit: &str) -> usize {
    pass_stderr
        .lines()
        .filter(|l| l.contains("pacing: waiting for the rate budget"))
        .filter(|l| l.contains(&format!("limit={limit}")))
        .count()
}

#[test]
fn a_pass_of_many_pages_keeps_to_ten_requests_a_window_and_meets_no_429() {
    // Windows of a second: requests come far faster than 10 a second, so the budget must act.
    let sim = enforcing(RateLimits::zendesk(Duration::from_secs(1)));
    add_tickets(&sim, 25);
    let c = collector(&sim, 1000);
    let pass = c.run(&sim);
    assert_eq!(pass.code, 0, "{}", pass.output());
    let t = pass.tickets();
    assert_eq!(t["caught_up"], true, "{t}");
    assert_eq!(t["records"], 25);
    assert_eq!(
        (t["rate_limited"].clone(), t["retries"].clone()),
        (0.into(), 0.into())
    );
    assert_eq!(sim.rate_limited(), 0, "the simulator answered a 429");

    let windows = sim.requests_per_window(INCREMENTAL_EXPORTS);
    assert!(windows.iter().all(|&n| n <= 10), "{windows:?}");
    assert_eq!(windows.iter().sum::<u32>() as usize, ticket_requests(&sim));
    // 25 pages at 10 a window take three windows at least: the pass was paced, not lucky.
    assert!(windows.len() >= 3, "{windows:?}");
    assert!(paced_by(&pass.stderr, "endpoint") >= 2, "{}", pass.stderr);
    assert_eq!(sorted_unique(c.stored_tickets()), visible(&sim));
}

#[test]
fn the_export_limit_follows_the_high_volume_setting() {
    let mut limits = RateLimits::zendesk(Duration::from_millis(400));
    limits.endpoints[0].per_window = 30;
    let sim = enforcing(limits);
    add_tickets(&sim, 25);
    let mut c = collector(&sim, 400);
    c.env("EXPORT_RATE_LIMIT", 30);
    let pass = c.run(&sim);
    assert_eq!(pass.code, 0, "{}", pass.output());
    assert_eq!(sim.rate_limited(), 0);
    // 26 requests fit in one window of 30: nothing to wait for.
    assert_eq!(paced_by(&pass.stderr, "endpoint"), 0, "{}", pass.stderr);
    assert_eq!(sorted_unique(c.stored_tickets()), visible(&sim));
}

#[test]
fn remaining_zero_in_the_headers_waits_for_the_reset_instead_of_meeting_a_429() {
    // The account's other clients leave it 4 requests a window: only the headers say so.
    let sim = enforcing(RateLimits {
        window: Duration::from_secs(1),
        account: 4,
        endpoints: Vec::new(),
    });
    add_tickets(&sim, 10);
    let c = collector(&sim, 1000);
    let pass = c.run(&sim);
    assert_eq!(pass.code, 0, "{}", pass.output());
    assert_eq!(sim.rate_limited(), 0, "{}", pass.stderr);
    assert_eq!(pass.tickets()["rate_limited"], 0);
    let windows = sim.requests_per_window("account");
    assert!(windows.iter().all(|&n| n <= 4), "{windows:?}");
    assert!(windows.len() >= 3, "{windows:?}");
    assert!(paced_by(&pass.stderr, "headers") >= 2, "{}", pass.stderr);
    assert_eq!(sorted_unique(c.stored_tickets()), visible(&sim));
}

#[test]
fn audit_logs_keep_to_the_account_limit_setting() {
    // Audit logs have no limit of their own on Zendesk; here the simulator gives the path
    // one of 5 a window, and `ACCOUNT_RATE_LIMIT=5` is all that keeps the pass under it.
    let sim = enforcing(RateLimits {
        window: Duration::from_secs(1),
        account: 700,
        endpoints: vec![EndpointLimit {
            path_prefix: "/api/v2/audit_logs".to_owned(),
            per_window: 5,
        }],
    });
    for id in 1..=12 {
        sim.add_audit_event(id, T0 - 1000 + id as i64);
    }
    let mut c = collector(&sim, 1000);
    c.env("RESOURCES", "audit_logs")
        .env("ACCOUNT_RATE_LIMIT", 5);
    let pass = c.run(&sim);
    assert_eq!(pass.code, 0, "{}", pass.output());
    assert_eq!(sim.rate_limited(), 0, "{}", pass.stderr);
    let windows = sim.requests_per_window("/api/v2/audit_logs");
    assert!(windows.iter().all(|&n| n <= 5), "{windows:?}");
    assert!(windows.len() >= 3, "{windows:?}");
    assert!(paced_by(&pass.stderr, "account") >= 2, "{}", pass.stderr);
    let mut stored = stored_audit_events(&c);
    stored.sort();
    assert_eq!(stored, sim.audit_events_visible());
}

#[test]
fn the_budget_never_waits_past_the_deadline() {
    let sim = simulator();
    add_tickets(&sim, 25);
    let mut c = collector(&sim, 60_000);
    // Zendesk's minute: the 11th request would wait most of it, longer than the pass has.
    c.unset("ZENDESK_CRM_RATE_WINDOW")
        .env("PASS_DEADLINE", "20s");
    let pass = c.run(&sim);
    assert_eq!(pass.code, 8, "{}", pass.output());
    let t = pass.tickets();
    assert_eq!(t["stopped"], "deadline", "{t}");
    assert_eq!(t["error"], serde_json::Value::Null, "{t}");
    assert_eq!(t["pages"], 10, "{t}");
    assert_eq!(ticket_requests(&sim), 10);
    assert!(
        pass.stderr
            .contains("the pass deadline comes before the rate budget allows the next request"),
        "{}",
        pass.stderr
    );
    // The checkpoint is at the tenth page: the next pass (short windows) goes on from there.
    assert_eq!(c.stored_tickets().len(), 10);
    let mut c2 = collector(&sim, 50);
    c2.out = c.out;
    let next = c2.run(&sim);
    assert_eq!(next.code, 0, "{}", next.output());
    assert_eq!(next.tickets()["records"], 15);
    assert_eq!(sorted_unique(c2.stored_tickets()), visible(&sim));
}

#[test]
fn a_limit_of_zero_is_a_configuration_error() {
    let sim = simulator();
    for (name, value) in [
        ("EXPORT_RATE_LIMIT", "0"),
        ("ACCOUNT_RATE_LIMIT", "0"),
        ("ZENDESK_CRM_RATE_WINDOW", "0s"),
    ] {
        let mut c = Collector::new(&sim);
        c.env(name, value);
        let pass = c.run(&sim);
        assert_eq!(pass.code, 2, "{name}={value}: {}", pass.output());
        assert!(pass.stderr.contains(name), "{}", pass.stderr);
    }
    assert!(sim.requests().is_empty());
}
