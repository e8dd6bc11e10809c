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

#[test]
fn endless_fault_sends_a_json_start_and_never_ends() {
    use std::io::{Read as _, Write as _};
    let sim = sim();
    sim.push_fault(Fault::Endless);
    let mut stream = std::net::TcpStream::connect(sim.addr()).expect("connect");
    write!(
        stream,
        "GET {} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        start(0, 1)
    )
    .unwrap();
    // Far more than any page, and still coming.
    let mut got = vec![0u8; 4 << 20];
    stream.read_exact(&mut got).expect("4 MiB of body");
    let head = String::from_utf8_lossy(&got[..512]);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        !head.to_ascii_lowercase().contains("content-length"),
        "{head}"
    );
    assert!(head.contains("{\"tickets\":["), "{head}");
}

#[test]
fn gzip_bomb_fault_is_small_on_the_wire_and_huge_inflated() {
    let sim = sim();
    sim.push_fault(Fault::GzipBomb { inflated: 8 << 20 });
    let r = get(&sim, &start(0, 1));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert!(
        r.body.len() < 64 * 1024,
        "{} bytes on the wire",
        r.body.len()
    );
    assert_eq!(r.decoded_body().expect("gzip").len(), 8 << 20);
}

#[test]
fn canned_and_redirect_faults_answer_as_told() {
    let sim = sim();
    sim.push_fault(Fault::Canned {
        status: 200,
        body: r#"{"tickets":[],"after_cursor":"x","end_of_stream":false}"#.into(),
    });
    sim.push_fault(Fault::Redirect {
        location: "http://127.0.0.1:9/elsewhere".into(),
    });
    let r = get(&sim, &start(0, 1));
    assert_eq!(r.status, 200);
    assert_eq!(r.json().expect("JSON")["after_cursor"], "x");
    let r = get(&sim, &start(0, 1));
    assert_eq!(r.status, 302);
    assert_eq!(r.header("location"), Some("http://127.0.0.1:9/elsewhere"));
}
