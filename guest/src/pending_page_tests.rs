//! The pending-page protocol, natively: the real pass and ticket export code over a fake host
//! (fake_host.rs) that crashes at a chosen put or save. A fresh pass over the same storage
//! must then store every record, none twice.

use std::cell::RefCell;

use crate::bindings::zendesk::crm::types::{
    OutputFormat, RateBudget, ResourceRequest, RetryPolicy, Settings,
};
use crate::fake_host::FakeHost;
use crate::pass;

const PASS_START: i64 = 1_700_000_000;

pub(crate) fn settings(page_size: u32) -> Settings {
    Settings {
        base_url: "http://zendesk.test".into(),
        resources: vec![ResourceRequest {
            name: "incremental_tickets".into(),
            page_size: Some(page_size),
            lag_seconds: None,
            overlap_seconds: None,
            requests_per_window: None,
        }],
        max_pages: 100,
        start_time: Some(0),
        lookback_seconds: 0,
        pass_start: PASS_START,
        object_prefix: "p".into(),
        output_format: OutputFormat::Json,
        retry: RetryPolicy {
            retries: 0,
            timeout_ms: 1000,
            initial_backoff_ms: 1,
            max_backoff_ms: 10,
            jitter_seed: 1,
        },
        max_page_bytes: 1 << 20,
        rate: RateBudget {
            window_ms: 60_000,
            account_requests: 100_000,
        },
    }
}

pub(crate) fn tickets(n: i64) -> Vec<(i64, i64)> {
    (1..=n).map(|id| (id, 1_000 + id)).collect()
}

/// Runs one pass; true when every resource ended without an error.
fn pass_ok(host: &FakeHost, page_size: u32) -> bool {
    match pass::run(host, settings(page_size)) {
        Ok(outcomes) => outcomes.iter().all(|o| o.error.is_none()),
        Err(_) => false,
    }
}

#[test]
fn an_uninterrupted_pass_stores_every_ticket_once() {
    let host = FakeHost::default();
    *host.tickets.borrow_mut() = tickets(7);
    assert!(pass_ok(&host, 3));
    assert_eq!(host.stored_ids(), (1..=7).collect::<Vec<_>>());
}

#[test]
fn a_crash_at_any_put_or_save_resumes_with_nothing_lost_or_twice() {
    let clean = FakeHost::default();
    *clean.tickets.borrow_mut() = tickets(7);
    assert!(pass_ok(&clean, 3));
    let steps = *clean.steps.borrow();
    assert!(steps >= 5, "expected saves and puts, made {steps}");
    for crash_at in 1..=steps {
        let host = FakeHost {
            fail_at: Some(crash_at),
            ..FakeHost::default()
        };
        *host.tickets.borrow_mut() = tickets(7);
        assert!(!pass_ok(&host, 3), "step {crash_at} did not fail the pass");
        let resumed = FakeHost {
            objects: host.objects,
            checkpoint: host.checkpoint,
            tickets: host.tickets,
            ..FakeHost::default()
        };
        assert!(pass_ok(&resumed, 3), "resume after step {crash_at}");
        assert_eq!(
            resumed.stored_ids(),
            (1..=7).collect::<Vec<_>>(),
            "after a crash at step {crash_at}"
        );
    }
}

#[test]
fn a_crash_after_the_put_replays_the_pending_request_even_when_the_page_grew() {
    // Steps of a first pass: 1 the first save (the start), 2 the start confirmed by Zendesk's
    // first page, 3 pending saved, 4 the put, 5 the position saved. Crash at 5: the object is
    // stored, the checkpoint still pending.
    let host = FakeHost {
        fail_at: Some(5),
        ..FakeHost::default()
    };
    *host.tickets.borrow_mut() = tickets(2);
    assert!(!pass_ok(&host, 3));
    assert_eq!(host.stored_ids(), vec![1, 2]);
    // The last page grows before the resume: the pending request (per_page=2) must be asked
    // first, so the same two records give the same key, found stored.
    let resumed = FakeHost {
        objects: host.objects,
        checkpoint: host.checkpoint,
        tickets: RefCell::new(tickets(4)),
        ..FakeHost::default()
    };
    assert!(pass_ok(&resumed, 3));
    let first = resumed.requests.borrow()[0].clone();
    assert!(
        first.ends_with("start_time=0&per_page=2"),
        "the first request was {first}"
    );
    assert_eq!(resumed.stored_ids(), vec![1, 2, 3, 4]);
}

#[test]
fn the_first_save_fixes_the_start_before_any_request() {
    let host = FakeHost {
        fail_at: Some(1),
        ..FakeHost::default()
    };
    *host.tickets.borrow_mut() = tickets(2);
    assert!(matches!(
        pass::run(&host, settings(3)),
        Err(crate::bindings::exports::zendesk::crm::collector::SetupError::Checkpoint(_))
    ));
    assert!(host.requests.borrow().is_empty());
    assert!(host.checkpoint.borrow().is_none());
}
