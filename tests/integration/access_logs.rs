//! Access logs: every event exactly once across passes, late events caught by the overlap
//! and not stored twice, progress when the overlap alone exceeds a pass, the 90-day horizon
//! reported, the endpoint's 429 waited out, and an account without the add-on told what to do.

use std::time::Duration;

use serde_json::Value;
use zendesk_crm_tests::{AccessLinks, ResetFormat, SimConfig, Simulator};

use crate::harness::{
    Collector, T0, simulator, simulator_with, stored_access_events as stored, stored_audit_events,
};

const DAY: i64 = 86_400;

fn access_collector(sim: &Simulator) -> Collector {
    let mut c = Collector::new(sim);
    c.env("RESOURCES", "access_logs");
    c
}

fn truth(sim: &Simulator) -> Vec<(String, i64)> {
    let mut v = sim.access_events_visible();
    v.sort();
    v
}

/// The ground truth up to the collector's window end (`pass start - lag`).
fn truth_until(sim: &Simulator, end: i64) -> Vec<(String, i64)> {
    truth(sim).into_iter().filter(|&(_, t)| t <= end).collect()
}

#[test]
fn a_growing_access_log_is_stored_exactly_once_across_passes() {
    let sim = simulator();
    for i in 0..3000 {
        sim.add_access_event(T0 - DAY + i * 25);
    }
    let mut c = access_collector(&sim);
    c.env("PAGE_SIZE", 500).env("START_TIME", T0 - 2 * DAY);
    let first = c.run(&sim);
    assert_eq!(first.code, 0, "{}", first.output());
    let a = first.resource("access_logs");
    assert_eq!(a["caught_up"], true, "{a}");
    assert_eq!(a["started_at"], T0 - 2 * DAY);
    assert_eq!(a["requested_start"], Value::Null);
    assert_eq!(stored(&c), truth_until(&sim, T0 - 120));
    for round in 0..4 {
        sim.advance(900);
        let now = sim.now();
        // New events all through the last 15 minutes, some inside the next lag.
        for j in 0..90 {
            sim.add_access_event(now - 900 + j * 10);
        }
        let pass = c.run(&sim);
        assert_eq!(pass.code, 0, "round {round}: {}", pass.output());
        assert_eq!(stored(&c), truth_until(&sim, now - 120), "round {round}");
    }
    let checkpoint = c.checkpoint();
    let state = &checkpoint["resources"]["access_logs"];
    let mark = state["high_water"].as_i64().expect("high_water");
    let recent = state["recent_ids"].as_object().expect("recent_ids");
    assert!(!recent.is_empty());
    assert!(
        recent
            .values()
            .all(|t| t.as_i64().expect("time") >= mark - 300),
        "only ids inside the overlap are kept: {state}"
    );
}

#[test]
fn late_events_inside_the_overlap_are_collected_once() {
    let sim = simulator();
    sim.add_access_events(5, T0 - 3600);
    // Visible only after the first pass, 200 s behind events that pass stores.
    sim.add_late_access_event(T0 - 400, T0 + 60);
    sim.add_access_event(T0 - 200);
    let c = access_collector(&sim);
    let first = c.run(&sim);
    assert_eq!(first.code, 0, "{}", first.output());
    assert_eq!(first.resource("access_logs")["records"], 6);
    sim.advance(600);
    let second = c.run(&sim);
    assert_eq!(second.code, 0, "{}", second.output());
    let a = second.resource("access_logs");
    assert_eq!(a["records"], 1, "only the late event: {a}");
    assert_eq!(stored(&c), truth(&sim));
    // A third pass reads the overlap again and stores nothing.
    sim.advance(600);
    let third = c.run(&sim);
    assert_eq!(third.resource("access_logs")["records"], 0);
    assert_eq!(third.resource("access_logs")["objects_created"], 0);
    assert_eq!(stored(&c), truth(&sim));
}

#[test]
fn an_overlap_holding_more_than_a_pass_may_fetch_still_progresses() {
    let sim = simulator();
    // 40 events in one second: with 5 a page and 2 pages a pass, the overlap alone is 8 pages.
    sim.add_access_events(40, T0 - 1000);
    let mut c = access_collector(&sim);
    c.env("PAGE_SIZE", 5).env("MAX_PAGES", 2);
    let mut passes = 0;
    loop {
        passes += 1;
        assert!(passes <= 25, "no progress after {passes} passes");
        let pass = c.run(&sim);
        assert_eq!(pass.code, 0, "{}", pass.output());
        let a = pass.resource("access_logs");
        if a["caught_up"] == true {
            break;
        }
        assert_eq!(a["stopped"], "max_pages", "{a}");
        assert_eq!(a["records"], 10, "two new pages a pass: {a}");
    }
    assert_eq!(passes, 4);
    assert_eq!(stored(&c), truth(&sim));
}

#[test]
fn a_first_run_asking_for_more_than_ninety_days_starts_at_the_horizon_and_says_so() {
    let sim = simulator();
    sim.add_access_event(T0 - 89 * DAY);
    sim.add_access_event(T0 - 3600);
    let mut c = access_collector(&sim);
    c.env("START_TIME", 0);
    let pass = c.run(&sim);
    assert_eq!(pass.code, 0, "{}", pass.output());
    let a = pass.resource("access_logs");
    let horizon = T0 - 90 * DAY + 60;
    assert_eq!(a["requested_start"], 0, "{a}");
    assert_eq!(a["started_at"], horizon, "{a}");
    assert_eq!(a["records"], 2);
    assert!(
        pass.stderr.contains("older than Zendesk's 90 days"),
        "{}",
        pass.stderr
    );
    let first = &sim.requests()[0];
    assert!(
        first
            .query()
            .contains(&("filter[start]".into(), "2025-03-17T15:07:40Z".into())),
        "{first:?}"
    );
    // A later pass is not clamped and says nothing of it.
    sim.advance(600);
    let next = c.run(&sim);
    assert_eq!(next.resource("access_logs")["requested_start"], Value::Null);
    assert_eq!(next.resource("access_logs")["first_run"], false);
}

#[test]
fn an_account_without_the_add_on_is_told_what_to_do_and_the_others_run() {
    let sim = simulator();
    sim.set_access_logs_enabled(false);
    sim.add_tickets(1, 5, T0 - 1000);
    sim.add_audit_events(1, 3, T0 - 1000);
    let mut c = Collector::new(&sim);
    c.env("RESOURCES", "audit_logs,incremental_tickets,access_logs");
    let pass = c.run(&sim);
    assert_eq!(pass.code, 7, "{}", pass.output());
    let a = pass.resource("access_logs");
    assert_eq!(a["error"]["kind"], "forbidden");
    let message = a["error"]["message"].as_str().expect("message");
    for needed in [
        "HTTP 403: Forbidden: You do not have access",
        "Advanced Data Privacy and Protection (ADPP) add-on",
        "Turn on the Access Log API",
        "remove access_logs from RESOURCES",
    ] {
        assert!(message.contains(needed), "{needed:?} not in {message}");
    }
    assert_eq!(pass.resource("incremental_tickets")["records"], 5);
    assert_eq!(pass.resource("audit_logs")["records"], 3);
    assert_eq!(pass.resource("audit_logs")["error"], Value::Null);
    assert_eq!(stored_audit_events(&c).len(), 3);
}

#[test]
fn the_endpoints_429_is_waited_out_by_its_ratelimit_reset() {
    for format in [ResetFormat::DateTime, ResetFormat::Seconds] {
        let sim = simulator_with(SimConfig {
            access_rate_limit: 2,
            access_rate_window: Some(Duration::from_secs(2)),
            access_reset_format: format,
            ..SimConfig::default()
        });
        sim.add_access_events(12, T0 - 1000);
        let mut c = access_collector(&sim);
        c.env("PAGE_SIZE", 4);
        let pass = c.run(&sim);
        assert_eq!(pass.code, 0, "{format:?}: {}", pass.output());
        let a = pass.resource("access_logs");
        assert!(
            a["rate_limited"].as_u64().expect("rate_limited") >= 1,
            "{a}"
        );
        assert_eq!(a["records"], 12);
        assert_eq!(stored(&c), truth(&sim));
        assert!(pass.stderr.contains("ratelimit") || pass.stderr.contains("429"));
    }
}

#[test]
fn a_next_link_to_another_origin_is_refused_by_name() {
    let sim = simulator();
    sim.add_access_events(6, T0 - 1000);
    sim.set_after_url_origin(Some("https://evil.example".into()));
    let mut c = access_collector(&sim);
    c.env("PAGE_SIZE", 2);
    let pass = c.run(&sim);
    assert_eq!(pass.code, 3, "{}", pass.output());
    let a = pass.resource("access_logs");
    assert_eq!(a["error"]["kind"], "invalid_response");
    let message = a["error"]["message"].as_str().expect("message");
    assert!(
        message.contains("https://evil.example/api/v2/access_logs?"),
        "{message}"
    );
    assert!(
        sim.requests()
            .iter()
            .all(|r| r.path() == "/api/v2/access_logs")
    );
    assert_eq!(sim.requests().len(), 1, "nothing followed the link");
}

#[test]
fn ndjson_stores_one_access_record_a_line_byte_for_byte() {
    let sim = simulator();
    sim.add_access_events(3, T0 - 1000);
    let mut c = access_collector(&sim);
    c.env("OUTPUT_FORMAT", "ndjson");
    let pass = c.run(&sim);
    assert_eq!(pass.code, 0, "{}", pass.output());
    let objects = c.objects();
    assert_eq!(objects.len(), 1);
    let (key, body) = objects.into_iter().next().expect("an object");
    assert!(key.ends_with("-zendesk-access_logs.ndjson"), "{key}");
    let lines: Vec<&str> = std::str::from_utf8(&body).expect("UTF-8").lines().collect();
    assert_eq!(lines.len(), 3);
    for line in lines {
        let record: Value = serde_json::from_str(line).expect("a JSON record");
        // Zendesk's key order, so the bytes were not re-serialised (that would sort them).
        assert!(line.starts_with(r#"{"id":""#), "{line}");
        assert!(record["id"].is_string());
    }
}

#[test]
fn every_request_keeps_the_window_whatever_links_next_holds() {
    for links in [
        AccessLinks::Zendesk,
        AccessLinks::CursorOnly,
        AccessLinks::Null,
    ] {
        let sim = simulator();
        for i in 0..23 {
            sim.add_access_event(T0 - 2000 + i * 10);
        }
        sim.set_access_links(links);
        let mut c = access_collector(&sim);
        c.env("PAGE_SIZE", 5).env("START_TIME", T0 - 3000);
        let pass = c.run(&sim);
        assert_eq!(pass.code, 0, "{links:?}: {}", pass.output());
        assert_eq!(pass.resource("access_logs")["pages"], 5, "{links:?}");
        assert_eq!(stored(&c), truth(&sim), "{links:?}");
        let requests = sim.requests();
        assert_eq!(requests.len(), 5);
        for (i, r) in requests.iter().enumerate() {
            let q = r.query();
            for (k, v) in [
                ("filter[start]", "2025-06-15T14:16:40Z"),
                ("filter[end]", "2025-06-15T15:04:40Z"),
                ("page[size]", "5"),
            ] {
                let values: Vec<_> = q.iter().filter(|(name, _)| name == k).collect();
                assert_eq!(values, [&(k.to_owned(), v.to_owned())], "{links:?} {r:?}");
            }
            assert_eq!(
                q.iter().any(|(k, _)| k == "page[after]"),
                i > 0,
                "{links:?}: {r:?}"
            );
        }
    }
}

#[test]
fn a_checkpoint_older_than_ninety_days_restarts_at_the_horizon_and_says_so() {
    let sim = simulator();
    sim.add_access_event(T0 - 1000);
    let c = access_collector(&sim);
    assert_eq!(c.run(&sim).code, 0);
    sim.advance(100 * DAY);
    sim.add_access_event(sim.now() - 89 * DAY);
    let pass = c.run(&sim);
    assert_eq!(pass.code, 0, "{}", pass.output());
    let a = pass.resource("access_logs");
    assert_eq!(a["first_run"], false);
    assert_eq!(a["requested_start"], T0 - 1000 - 300, "{a}");
    assert_eq!(a["records"], 1);
    assert!(
        pass.stderr.contains("checkpoint is older"),
        "{}",
        pass.stderr
    );
}
