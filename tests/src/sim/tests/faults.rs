//! Each injected fault, and the order in which faults are consumed.

use std::time::{Duration, Instant};

use super::*;
use crate::sim::Fault;

#[test]
fn rate_limited_is_429_plain_text_with_optional_retry_after() {
    let sim = sim();
    sim.push_fault(Fault::RateLimited {
        retry_after: Some(42),
    });
    sim.push_fault(Fault::RateLimited { retry_after: None });
    let first = get(&sim, &start(0, 1));
    assert_eq!(first.status, 429);
    assert_eq!(first.header("retry-after"), Some("42"));
    assert!(
        first
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/plain"))
    );
    assert_eq!(
        first.text().expect("body"),
        "Number of allowed API requests per minute exceeded"
    );
    let second = get(&sim, &start(0, 1));
    assert_eq!(second.status, 429);
    assert_eq!(second.header("retry-after"), None);
    assert_eq!(get(&sim, &start(0, 1)).status, 200);
}

#[test]
fn status_faults_carry_their_status_and_retry_after() {
    let sim = sim();
    sim.push_fault(Fault::Status {
        status: 503,
        retry_after: Some(7),
    });
    sim.push_fault(Fault::Status {
        status: 500,
        retry_after: None,
    });
    sim.push_fault(Fault::Status {
        status: 502,
        retry_after: None,
    });
    let r = get(&sim, &start(0, 1));
    assert_eq!((r.status, r.header("retry-after")), (503, Some("7")));
    let r = get(&sim, &start(0, 1));
    assert_eq!((r.status, r.header("retry-after")), (500, None));
    assert!(r.json().is_ok(), "the application's 500 is JSON");
    let r = get(&sim, &start(0, 1));
    assert_eq!(r.status, 502);
    assert!(r.json().is_err(), "a gateway's 502 is not JSON");
}

#[test]
fn html_fault_is_a_200_maintenance_page() {
    let sim = sim();
    sim.push_fault(Fault::Html);
    let r = get(&sim, &start(0, 1));
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .is_some_and(|t| t.starts_with("text/html"))
    );
    assert!(r.text().expect("body").starts_with("<!DOCTYPE html>"));
    assert!(r.json().is_err());
}

#[test]
fn truncated_fault_announces_the_full_length_and_sends_half() {
    let sim = sim();
    sim.add_tickets(1, 20, 1000);
    sim.push_fault(Fault::Truncated);
    let cut = get(&sim, &start(0, 20));
    let whole = get(&sim, &start(0, 20));
    assert_eq!(cut.status, 200);
    assert!(
        cut.header("content-type")
            .is_some_and(|t| t.starts_with("application/json"))
    );
    let announced: usize = cut
        .header("content-length")
        .expect("length")
        .parse()
        .expect("number");
    assert_eq!(announced, whole.body.len());
    assert_eq!(cut.body.len(), announced / 2);
    assert!(!cut.complete && whole.complete);
    assert_eq!(cut.body, whole.body[..announced / 2]);
}

#[test]
fn not_json_fault_is_a_200_json_typed_body_that_does_not_parse() {
    let sim = sim();
    sim.push_fault(Fault::NotJson);
    let r = get(&sim, &start(0, 1));
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .is_some_and(|t| t.starts_with("application/json"))
    );
    assert!(r.complete);
    assert!(r.json().is_err());
}

#[test]
fn reset_fault_closes_without_a_response() {
    let sim = sim();
    sim.push_fault(Fault::Reset);
    let auth = basic(&sim);
    let result = raw_http::get(&sim.base_url(), &start(0, 1), &[("Authorization", &auth)]);
    assert!(result.is_err(), "got a response: {result:?}");
    assert_eq!(get(&sim, &start(0, 1)).status, 200);
}

#[test]
fn delay_fault_answers_normally_but_late() {
    let sim = sim();
    sim.upsert_ticket(1, 1000);
    sim.push_fault(Fault::Delay { ms: 300 });
    let t0 = Instant::now();
    let p = page(&sim, &start(0, 1));
    assert!(t0.elapsed() >= Duration::from_millis(300));
    assert_eq!(ids(&p), vec![(1, 1000)]);
}

#[test]
fn faults_are_fifo_one_per_api_request_and_precede_auth() {
    let sim = sim();
    sim.push_fault(Fault::RateLimited {
        retry_after: Some(1),
    });
    sim.push_fault(Fault::Status {
        status: 503,
        retry_after: None,
    });
    let unauthenticated = |path: &str| raw_http::get(&sim.base_url(), path, &[]).expect("response");
    // Before auth: even a request with no credentials gets the fault.
    assert_eq!(unauthenticated(&start(0, 1)).status, 429);
    // Paths outside /api/ do not consume faults.
    assert_eq!(unauthenticated("/robots.txt").status, 404);
    assert_eq!(sim.pending_faults(), 1);
    assert_eq!(unauthenticated("/api/v2/unknown.json").status, 503);
    assert_eq!(unauthenticated(&start(0, 1)).status, 401);
    assert_eq!(get(&sim, &start(0, 1)).status, 200);
}
