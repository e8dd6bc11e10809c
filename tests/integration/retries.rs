//! Retries: 429 and 503 wait for `Retry-After`, other 5xx and transport errors back off, and a
//! resource that gives up keeps its checkpoint at the last stored page.

use crate::harness::{sim_with_tickets, ten_per_page};
use crate::harness::{sorted_unique, visible};
use zendesk_crm_tests::Fault;

#[test]
fn rate_limited_request_waits_for_retry_after_then_succeeds() {
    let sim = sim_with_tickets();
    sim.push_fault(Fault::RateLimited {
        retry_after: Some(1),
    });
    let c = ten_per_page(&sim);
    let pass = c.run(&sim);
    assert_eq!(pass.code, 0, "{}", pass.output());
    assert_eq!(pass.tickets()["retries"], 1);
    assert_eq!(pass.tickets()["rate_limited"], 1);
    assert_eq!(sorted_unique(c.stored_tickets()), visible(&sim));
    assert!(pass.stderr.contains("wait_ms=1000"), "{}", pass.stderr);
}

#[test]
fn rate_limit_without_retry_after_waits_for_ratelimit_reset() {
    let sim = sim_with_tickets();
    sim.push_fault(Fault::RateLimited { retry_after: None });
    let mut c = ten_per_page(&sim);
    // The simulator's `ratelimit-reset` says 20 s (to the end of its minute, T0 being 40 s
    // into one); a longest wait below it turns the wait into a clear failure, not a sleep.
    c.env("MAX_RETRY_WAIT", 5);
    let pass = c.run(&sim);
    assert_eq!(pass.code, 3, "{}", pass.output());
    let error = &pass.tickets()["error"];
    assert_eq!(error["kind"], "gave_up");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("asked to wait 20 s"),
        "{error}"
    );
}

#[test]
fn server_errors_and_dropped_connections_are_retried() {
    let sim = sim_with_tickets();
    sim.push_fault(Fault::Status {
        status: 500,
        retry_after: None,
    });
    sim.push_fault(Fault::Reset);
    sim.push_fault(Fault::Truncated);
    sim.push_fault(Fault::Status {
        status: 503,
        retry_after: Some(0),
    });
    let mut c = ten_per_page(&sim);
    c.env("HTTP_RETRIES", 4);
    let pass = c.run(&sim);
    assert_eq!(pass.code, 0, "{}", pass.output());
    assert_eq!(pass.tickets()["retries"], 4);
    assert_eq!(sorted_unique(c.stored_tickets()), visible(&sim));
}

#[test]
fn slow_responses_time_out_and_are_retried() {
    let sim = sim_with_tickets();
    sim.push_fault(Fault::Delay { ms: 3000 });
    let mut c = ten_per_page(&sim);
    c.env("HTTP_TIMEOUT", 1);
    let pass = c.run(&sim);
    assert_eq!(pass.code, 0, "{}", pass.output());
    assert_eq!(pass.tickets()["retries"], 1);
    assert_eq!(sorted_unique(c.stored_tickets()), visible(&sim));
}

#[test]
fn retries_exhausted_fail_the_resource_and_keep_the_checkpoint_at_the_last_stored_page() {
    let sim = sim_with_tickets();
    let mut c = ten_per_page(&sim);
    c.env("HTTP_RETRIES", 1);
    assert_eq!(c.run_at(sim.now(), &["--max-pages", "1"]).code, 0);
    let checkpoint = c.checkpoint();
    let objects = c.objects();
    for _ in 0..2 {
        sim.push_fault(Fault::Status {
            status: 502,
            retry_after: None,
        });
    }
    let pass = c.run(&sim);
    assert_eq!(pass.code, 3, "{}", pass.output());
    assert_eq!(pass.summary()["ok"], false);
    let t = pass.tickets();
    assert_eq!(t["error"]["kind"], "gave_up");
    assert!(
        t["error"]["message"].as_str().unwrap().contains("HTTP 502"),
        "{t}"
    );
    assert_eq!(c.checkpoint(), checkpoint);
    assert_eq!(c.objects(), objects);
    // The next pass picks up where the last stored page left off.
    assert_eq!(c.run(&sim).code, 0);
    assert_eq!(sorted_unique(c.stored_tickets()), visible(&sim));
}
