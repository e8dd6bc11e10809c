//! The pending-page protocol, natively: the real pass, driver and resource code over a fake
//! host (fake_host.rs) that crashes at a chosen put or save. A fresh pass over the same
//! storage must then store every record, none twice: for each of the three resources, and for
//! a toy fourth one registered only here.

use crate::bindings::exports::zendesk::crm::collector::SetupError;
use crate::bindings::zendesk::crm::types::{
    OutputFormat, RateBudget, ResourceRequest, RetryPolicy, Settings,
};
use crate::fake_host::FakeHost;
use crate::pass;
use crate::resources::toy::WITH_TOY;
use crate::resources::{ALL, Registry};

const PASS_START: i64 = 1_700_000_000;

pub(crate) fn settings(page_size: u32) -> Settings {
    settings_for("incremental_tickets", page_size)
}

fn settings_for(resource: &str, page_size: u32) -> Settings {
    Settings {
        base_url: "http://zendesk.test".into(),
        resources: vec![ResourceRequest {
            name: resource.into(),
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
    pass_of(host, "incremental_tickets", page_size, ALL)
}

fn pass_of(host: &FakeHost, resource: &str, page_size: u32, registry: Registry) -> bool {
    match pass::run_with(host, settings_for(resource, page_size), registry) {
        Ok(outcomes) => outcomes.iter().all(|o| o.error.is_none()),
        Err(_) => false,
    }
}

/// Seven records of each resource, two to a second where the resource allows it, so a
/// resumed window starts inside a second it has partly stored.
fn zendesk() -> FakeHost {
    let host = FakeHost::default();
    host.tickets.replace(tickets(7));
    let at = |i: u64| PASS_START - 3600 + i64::try_from(i / 2).unwrap_or(0);
    host.audit.replace((1..=7).map(|id| (id, at(id))).collect());
    host.access
        .replace((1..=7).map(|i| (format!("E{i:02}"), at(i))).collect());
    host.toys.replace((1..=7).map(|id| (id, at(id))).collect());
    host
}

/// Crashes a pass of `resource` at each of its puts and saves in turn; a new process then
/// resumes over the same storage and must leave every record of `list` stored exactly once.
fn every_crash_resumes(resource: &str, list: &str, registry: Registry) {
    let clean = zendesk();
    assert!(
        pass_of(&clean, resource, 3, registry),
        "{resource}: clean pass"
    );
    let mut all = clean.stored(list);
    all.sort();
    assert_eq!(all.len(), 7, "{resource}: stored {all:?}");
    let steps = *clean.steps.borrow();
    assert!(
        steps >= 5,
        "{resource}: expected saves and puts, made {steps}"
    );
    for crash_at in 1..=steps {
        let host = FakeHost {
            fail_at: Some(crash_at),
            ..zendesk()
        };
        assert!(
            !pass_of(&host, resource, 3, registry),
            "{resource}: step {crash_at} did not fail the pass"
        );
        let resumed = host.resumed();
        assert!(
            pass_of(&resumed, resource, 3, registry),
            "{resource}: resume after step {crash_at}"
        );
        let mut stored = resumed.stored(list);
        stored.sort();
        assert_eq!(stored, all, "{resource}: after a crash at step {crash_at}");
    }
}

#[test]
fn audit_logs_resume_after_a_crash_at_any_step() {
    every_crash_resumes("audit_logs", "audit_logs", ALL);
}

#[test]
fn access_logs_resume_after_a_crash_at_any_step() {
    every_crash_resumes("access_logs", "access_logs", ALL);
}

#[test]
fn a_fourth_resource_is_one_file_and_a_registry_line() {
    every_crash_resumes("toy", "items", WITH_TOY);
    // The component's own registry does not hold it.
    assert!(matches!(
        pass::run(&zendesk(), settings_for("toy", 3)),
        Err(SetupError::UnknownResource(_))
    ));
}

#[test]
fn the_toy_asks_its_pending_request_first_when_the_data_grew() {
    // Steps: 1 the first save, 2 the start confirmed, 3 pending saved, 4 the put, 5 the
    // position saved. Crash at 5: the object is stored, the checkpoint still pending.
    let host = FakeHost {
        fail_at: Some(5),
        ..FakeHost::default()
    };
    host.toys
        .replace(vec![(1, PASS_START - 60), (2, PASS_START - 59)]);
    assert!(!pass_of(&host, "toy", 3, WITH_TOY));
    host.toys.borrow_mut().push((3, PASS_START - 58));
    let resumed = host.resumed();
    assert!(pass_of(&resumed, "toy", 3, WITH_TOY));
    assert_eq!(
        resumed.requests.borrow()[0],
        "/api/v2/toy.json?after=0&limit=2"
    );
    assert_eq!(resumed.stored("items"), ["1", "2", "3"]);
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
        let resumed = host.resumed();
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
    host.tickets.replace(tickets(4));
    let resumed = host.resumed();
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
        Err(SetupError::Checkpoint(_))
    ));
    assert!(host.requests.borrow().is_empty());
    assert!(host.checkpoint.borrow().is_none());
}

#[test]
fn a_full_ticket_page_takes_two_writes_and_a_crash_between_them_asks_the_same_request() {
    // A full page's pending entry would be the request the saved cursor asks anyway, so it
    // is not saved: the first save, the start confirmed, then a put and a save a page. The
    // partial last page still saves its pending entry first (the page may grow).
    let clean = FakeHost::default();
    clean.tickets.replace(tickets(6));
    assert!(pass_ok(&clean, 3));
    assert_eq!(*clean.steps.borrow(), 2 + 2 * 2, "two full pages");
    let partial = FakeHost::default();
    partial.tickets.replace(tickets(4));
    assert!(pass_ok(&partial, 3));
    assert_eq!(
        *partial.steps.borrow(),
        2 + 2 + 3,
        "a full page, then a partial one"
    );

    // Crash at 4, the position save after the first page's put: the object is stored and
    // the checkpoint still at the start, with nothing pending.
    let host = FakeHost {
        fail_at: Some(4),
        ..FakeHost::default()
    };
    host.tickets.replace(tickets(6));
    assert!(!pass_ok(&host, 3));
    assert_eq!(host.stored_ids(), vec![1, 2, 3]);
    let resumed = host.resumed();
    assert!(pass_ok(&resumed, 3));
    assert_eq!(
        resumed.requests.borrow()[0],
        "/api/v2/incremental/tickets/cursor.json?start_time=0&per_page=3"
    );
    assert_eq!(resumed.stored_ids(), (1..=6).collect::<Vec<_>>());
}
