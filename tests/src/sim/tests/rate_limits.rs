//! Enforced rate limits: off by default, the exports' own limit, the account's, windows that
//! roll over, and only account-level headers on the export.

use std::time::Duration;

use super::*;
use crate::sim::{EndpointLimit, INCREMENTAL_EXPORTS, RateLimits};

/// A window long enough that no test crosses it.
const LONG: Duration = Duration::from_secs(60);

fn limited(limits: RateLimits) -> Simulator {
    let sim = sim_with(|c| c.rate_limits = Some(limits));
    sim.add_tickets(1, 5, NOW - 1000);
    sim.add_audit_events(1, 5, NOW - 1000);
    sim
}

fn audit() -> String {
    format!("{AUDIT}?{}", window(NOW - 2000, NOW))
}

fn header_u64(r: &RawResponse, name: &str) -> u64 {
    r.header(name)
        .unwrap_or_else(|| panic!("no {name}: {:?}", r.headers))
        .parse()
        .unwrap_or_else(|_| panic!("{name} is not a number: {:?}", r.headers))
}

#[test]
fn limits_are_off_by_default() {
    let sim = sim();
    sim.add_tickets(1, 5, NOW - 1000);
    for _ in 0..30 {
        assert_eq!(get(&sim, &start(0, 1)).status, 200);
    }
    assert_eq!(sim.rate_limited(), 0);
    assert!(sim.requests_per_window("account").is_empty());
}

#[test]
fn the_export_allows_ten_a_window_then_answers_429_with_retry_after() {
    let sim = limited(RateLimits::zendesk(LONG));
    for i in 0..10 {
        assert_eq!(get(&sim, &start(0, 1)).status, 200, "request {i}");
    }
    let r = get(&sim, &start(0, 1));
    assert_eq!(r.status, 429);
    let wait = header_u64(&r, "retry-after");
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    assert_eq!(
        r.text().expect("body"),
        "Number of allowed API requests per minute exceeded"
    );
    // The export's own limit is spent, the account's is not: audit logs still answer.
    assert_eq!(get(&sim, &audit()).status, 200);
    assert_eq!(sim.rate_limited(), 1);
    assert_eq!(sim.requests_per_window(INCREMENTAL_EXPORTS), vec![11]);
    assert_eq!(sim.requests_per_window("account"), vec![12]);
}

#[test]
fn the_account_limit_covers_every_endpoint_and_its_headers_count_down() {
    let sim = limited(RateLimits {
        window: LONG,
        account: 3,
        endpoints: Vec::new(),
    });
    let mut remaining = Vec::new();
    for path in [audit(), start(0, 1), audit()] {
        let r = get(&sim, &path);
        assert_eq!(r.status, 200);
        assert_eq!(header_u64(&r, "x-rate-limit"), 3);
        assert_eq!(header_u64(&r, "ratelimit-limit"), 3);
        assert_eq!(
            header_u64(&r, "x-rate-limit-remaining"),
            header_u64(&r, "ratelimit-remaining")
        );
        assert!((1..=60).contains(&header_u64(&r, "ratelimit-reset")));
        remaining.push(header_u64(&r, "ratelimit-remaining"));
    }
    assert_eq!(remaining, vec![2, 1, 0]);
    let r = get(&sim, &start(0, 1));
    assert_eq!(r.status, 429);
    assert_eq!(header_u64(&r, "ratelimit-remaining"), 0);
    assert!(header_u64(&r, "retry-after") >= 1);
    assert_eq!(get(&sim, &audit()).status, 429);
    assert_eq!(sim.rate_limited(), 2);
}

#[test]
fn a_new_window_allows_requests_again() {
    let window = Duration::from_millis(300);
    let sim = limited(RateLimits {
        window,
        account: 700,
        endpoints: vec![EndpointLimit {
            path_prefix: INCREMENTAL_EXPORTS.to_owned(),
            per_window: 2,
        }],
    });
    let mut statuses = Vec::new();
    while !statuses.contains(&429) {
        assert!(statuses.len() < 50, "never limited: {statuses:?}");
        statuses.push(get(&sim, &start(0, 1)).status);
    }
    // A whole window later, whatever its phase, the count has started again.
    std::thread::sleep(window);
    assert_eq!(get(&sim, &start(0, 1)).status, 200);
    let counts = sim.requests_per_window(INCREMENTAL_EXPORTS);
    assert!(counts.len() >= 2, "{counts:?}");
    assert_eq!(
        counts.iter().sum::<u32>() as usize,
        statuses.len() + 1,
        "every request counts, the 429s too"
    );
}

#[test]
fn the_export_carries_only_account_level_headers() {
    let sim = limited(RateLimits::zendesk(LONG));
    let r = get(&sim, &start(0, 1));
    assert_eq!(r.status, 200);
    assert_eq!(header_u64(&r, "x-rate-limit"), 700);
    assert_eq!(header_u64(&r, "ratelimit-remaining"), 699);
    let own: Vec<_> = r
        .headers
        .iter()
        .filter(|(n, _)| n.starts_with("zendesk-ratelimit") || n.starts_with("zendesk-rate-limit"))
        .collect();
    assert!(own.is_empty(), "an export-specific header: {own:?}");
}
