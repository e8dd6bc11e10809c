//! Faults from Zendesk not covered by `retries.rs` and `bad_input.rs`: each ends with complete
//! data, or a clear error with the checkpoint at the last stored page and a next pass that
//! completes.

use crate::harness::{Collector, T0, simulator, simulator_with, sorted_unique, visible};
use crate::harness::{sim_with_tickets, ten_per_page};
use zendesk_crm_tests::{Fault, SimConfig, Simulator};

/// One page stored, then a pass that meets `fault` and must fail with `kind` and a message
/// containing `says`, leaving the checkpoint and objects as they were; then a clean pass.
fn fails_at_the_last_stored_page(fault: Fault, kind: &str, says: &str) {
    let sim = sim_with_tickets();
    let mut c = ten_per_page(&sim);
    c.env("MAX_PAGE_BYTES", 1 << 20).env("HTTP_RETRIES", 1);
    assert_eq!(c.run_at(sim.now(), &["--max-pages", "1"]).code, 0);
    let checkpoint = c.checkpoint();
    let objects = c.objects();
    sim.push_fault(fault.clone());
    sim.clear_requests();
    let pass = c.run(&sim);
    assert_eq!(pass.code, 3, "{fault:?}: {}", pass.output());
    let error = &pass.tickets()["error"];
    assert_eq!(error["kind"], kind, "{fault:?}: {error}");
    assert!(
        error["message"].as_str().unwrap().contains(says),
        "{fault:?}: {error}"
    );
    assert_eq!(sim.requests().len(), 1, "{fault:?}: asked again");
    assert_eq!(c.checkpoint(), checkpoint, "{fault:?}");
    assert_eq!(c.objects(), objects, "{fault:?}");
    let next = c.run(&sim);
    assert_eq!(next.code, 0, "{fault:?}: {}", next.output());
    assert_eq!(
        sorted_unique(c.stored_tickets()),
        visible(&sim),
        "{fault:?}"
    );
}

#[test]
fn a_body_that_never_ends_stops_at_the_page_size_cap() {
    fails_at_the_last_stored_page(Fault::Endless, "invalid_response", "larger than 1048576");
}

#[test]
fn a_gzip_bomb_is_an_error_not_an_allocation() {
    fails_at_the_last_stored_page(
        Fault::GzipBomb { inflated: 8 << 20 },
        "invalid_response",
        "larger than 1048576",
    );
}

#[test]
fn a_cursor_that_does_not_advance_ends_the_pass_instead_of_looping() {
    let sim = sim_with_tickets();
    let c = ten_per_page(&sim);
    assert_eq!(c.run_at(sim.now(), &["--max-pages", "1"]).code, 0);
    let cursor = c.checkpoint()["resources"]["incremental_tickets"]["cursor"]
        .as_str()
        .unwrap()
        .to_owned();
    fails_at_the_last_stored_page(
        Fault::Canned {
            status: 200,
            body: format!(
                r#"{{"tickets":[],"after_url":null,"after_cursor":"{cursor}","before_cursor":null,"end_of_stream":false}}"#
            ),
        },
        "invalid_response",
        "did not advance",
    );
}

#[test]
fn gateway_errors_are_retried() {
    let sim = sim_with_tickets();
    for status in [502, 504] {
        sim.push_fault(Fault::Status {
            status,
            retry_after: None,
        });
    }
    let mut c = ten_per_page(&sim);
    c.env("HTTP_RETRIES", 2);
    let pass = c.run(&sim);
    assert_eq!(pass.code, 0, "{}", pass.output());
    assert_eq!(pass.tickets()["retries"], 2);
    assert_eq!(sorted_unique(c.stored_tickets()), visible(&sim));
}

#[test]
fn end_of_stream_with_no_tickets_on_a_first_run_keeps_the_start() {
    let sim = sim_with_tickets();
    sim.push_fault(Fault::Canned {
        status: 200,
        body: r#"{"tickets":[],"after_url":null,"after_cursor":null,"before_cursor":null,"end_of_stream":true}"#
            .into(),
    });
    let c = ten_per_page(&sim);
    let pass = c.run(&sim);
    assert_eq!(pass.code, 0, "{}", pass.output());
    assert_eq!(pass.tickets()["caught_up"], true);
    assert!(c.objects().is_empty());
    let entry = &c.checkpoint()["resources"]["incremental_tickets"];
    assert_eq!(entry["start_time"], 0);
    assert!(entry.get("cursor").is_none(), "{entry}");
    assert_eq!(c.run(&sim).code, 0);
    assert_eq!(sorted_unique(c.stored_tickets()), visible(&sim));
}

#[test]
fn a_refused_start_time_is_reported_as_such_with_400_or_422() {
    for status in [400, 422] {
        let sim = simulator_with(SimConfig {
            too_recent_status: status,
            ..SimConfig::default()
        });
        let mut c = Collector::new(&sim);
        c.unset("START_TIME").env("LOOKBACK_SECONDS", 0);
        // The host's clock runs ten minutes ahead of Zendesk's.
        let pass = c.run_at(sim.now() + 600, &[]);
        assert_eq!(pass.code, 3, "{status}: {}", pass.output());
        let error = &pass.tickets()["error"];
        assert_eq!(error["kind"], "start_time_rejected", "{status}");
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains(&format!("HTTP {status}")),
            "{error}"
        );
        assert!(c.objects().is_empty());
    }
}

#[test]
fn an_audit_cursor_that_does_not_advance_ends_the_pass_instead_of_looping() {
    let sim = simulator();
    for i in 0..25u64 {
        sim.add_audit_event(i + 1, T0 - 5000 + i as i64);
    }
    let audit = |sim: &Simulator| {
        let mut c = Collector::new(sim);
        c.env("RESOURCES", "audit_logs").env("PAGE_SIZE", 10);
        c
    };
    // The first page's cursor, as this pass's first request will get it.
    let probe = audit(&sim);
    assert_eq!(probe.run_at(sim.now(), &["--max-pages", "1"]).code, 0);
    let first = sim.requests()[0].path_and_query.clone();
    let auth =
        zendesk_crm_tests::raw_http::basic_auth(&sim.config().email, &sim.config().api_token);
    let page =
        zendesk_crm_tests::raw_http::get(&sim.base_url(), &first, &[("Authorization", &auth)])
            .unwrap()
            .json()
            .unwrap();
    let cursor = page["meta"]["after_cursor"].as_str().unwrap().to_owned();

    let c = audit(&sim);
    // The first page as usual, then a second that hands back the same cursor.
    sim.push_fault(Fault::Delay { ms: 0 });
    sim.push_fault(Fault::Canned {
        status: 200,
        body: format!(
            r#"{{"audit_logs":[],"meta":{{"has_more":true,"after_cursor":"{cursor}","before_cursor":null}},"links":{{"prev":null,"next":null}}}}"#
        ),
    });
    sim.clear_requests();
    let pass = c.run(&sim);
    assert_eq!(pass.code, 3, "{}", pass.output());
    let error = &pass.resource("audit_logs")["error"];
    assert_eq!(error["kind"], "invalid_response", "{error}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("did not advance"),
        "{error}"
    );
    assert_eq!(sim.requests().len(), 2, "asked again");
    let after_first_page = c.checkpoint();
    assert_eq!(
        after_first_page["resources"]["audit_logs"]["ids_at_mark"],
        serde_json::json!([10])
    );
    assert_eq!(c.run(&sim).code, 0);
    let mut truth = sim.audit_events_visible();
    truth.sort();
    assert_eq!(
        sorted_unique(crate::harness::stored_audit_events(&c)),
        truth
    );
}
