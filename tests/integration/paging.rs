//! Paging within a pass and across passes: nothing skipped, nothing stored twice.

use crate::harness::{Collector, T0, simulator, simulator_with, sorted_unique, stamp, visible};
use zendesk_crm_tests::SimConfig;
use zendesk_crm_tests::raw_http;

#[test]
fn first_pass_stores_every_visible_ticket_once_across_pages() {
    let sim = simulator();
    sim.add_tickets(1, 250, T0 - 5000);
    sim.add_tickets(1000, 100, T0 - 4000);
    let mut c = Collector::new(&sim);
    c.env("PAGE_SIZE", 100);
    let pass = c.run(&sim);
    assert_eq!(pass.code, 0, "{}", pass.output());
    let t = pass.tickets();
    assert_eq!(t["pages"], 4);
    assert_eq!(t["records"], 350);
    assert_eq!(t["objects_created"], 4);
    assert_eq!(t["caught_up"], true);
    assert_eq!(t["first_run"], true);
    assert_eq!(pass.summary()["first_run"], true);
    assert_eq!(c.objects().len(), 4);
    assert_eq!(sorted_unique(c.stored_tickets()), visible(&sim));
    let stored_bytes: usize = c.objects().values().map(Vec::len).sum();
    assert_eq!(t["bytes"], stored_bytes as u64);
    assert!(pass.summary()["duration_ms"].is_u64());
    // One info line per page, so a long pass can be watched.
    assert_eq!(
        pass.stderr.matches("page stored").count(),
        4,
        "{}",
        pass.stderr
    );
}

#[test]
fn second_pass_stores_exactly_the_new_ticket_versions() {
    let sim = simulator();
    sim.add_tickets(1, 30, T0 - 3000);
    let c = Collector::new(&sim);
    assert_eq!(c.run(&sim).code, 0);
    let before = c.objects();

    sim.advance(600);
    sim.upsert_ticket(5, T0 + 100); // an update moves ticket 5 to the end of the stream
    sim.add_tickets(100, 3, T0 + 200);
    sim.delete_ticket(7, T0 + 300);
    let pass = c.run(&sim);
    assert_eq!(pass.code, 0, "{}", pass.output());
    assert_eq!(pass.tickets()["records"], 5);
    assert_eq!(pass.tickets()["first_run"], false);
    assert_eq!(pass.summary()["first_run"], false);

    let new: Vec<_> = c
        .objects()
        .into_iter()
        .filter(|(k, _)| !before.contains_key(k))
        .collect();
    assert_eq!(new.len(), 1, "one new page");
    let page: serde_json::Value = serde_json::from_slice(&new[0].1).unwrap();
    let stored: Vec<_> = page["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(stamp)
        .collect();
    assert_eq!(
        stored,
        vec![
            (5, T0 + 100),
            (100, T0 + 200),
            (101, T0 + 200),
            (102, T0 + 200),
            (7, T0 + 300)
        ]
    );
    assert_eq!(page["tickets"][4]["status"], "deleted");
}

#[test]
fn a_pass_with_nothing_new_stores_nothing_and_keeps_its_cursor() {
    let sim = simulator();
    sim.add_tickets(1, 10, T0 - 3000);
    let c = Collector::new(&sim);
    assert_eq!(c.run(&sim).code, 0);
    let cursor = c.checkpoint()["resources"]["incremental_tickets"]["cursor"].clone();
    assert!(cursor.is_string());
    sim.clear_requests();

    let pass = c.run(&sim);
    assert_eq!(pass.code, 0, "{}", pass.output());
    assert_eq!(pass.tickets()["pages"], 1);
    assert_eq!(pass.tickets()["records"], 0);
    assert_eq!(pass.tickets()["objects_created"], 0);
    assert_eq!(c.objects().len(), 1);
    // The next pass resumes from the saved cursor, URL-encoded, with no start_time.
    let requests = sim.requests();
    assert_eq!(requests.len(), 1);
    let query = requests[0].query();
    assert!(
        query.contains(&("cursor".into(), cursor.as_str().unwrap().into())),
        "{query:?}"
    );
    assert!(!query.iter().any(|(k, _)| k == "start_time"));
    assert!(
        !requests[0].path_and_query.contains('+'),
        "cursor not encoded"
    );
}

#[test]
fn max_pages_stops_early_and_the_next_pass_continues_without_gap_or_repeat() {
    let sim = simulator();
    sim.add_tickets(1, 50, T0 - 3000);
    let mut c = Collector::new(&sim);
    c.env("PAGE_SIZE", 10).env("MAX_PAGES", 2);
    let pass = c.run(&sim);
    assert_eq!(pass.code, 0, "stopping at MAX_PAGES is not a failure");
    assert_eq!(pass.tickets()["caught_up"], false);
    assert_eq!(pass.tickets()["stopped"], "max_pages");
    assert_eq!(pass.tickets()["records"], 20);
    assert!(pass.stderr.contains("MAX_PAGES reached"), "{}", pass.stderr);

    for _ in 0..2 {
        assert_eq!(c.run(&sim).code, 0);
    }
    assert_eq!(sorted_unique(c.stored_tickets()), visible(&sim));
}

#[test]
fn tickets_inside_the_last_minute_wait_for_a_later_pass() {
    let sim = simulator();
    sim.add_tickets(1, 5, T0 - 3000);
    sim.add_tickets(10, 5, T0 - 20);
    let c = Collector::new(&sim);
    let pass = c.run(&sim);
    assert_eq!(pass.tickets()["records"], 5);
    sim.advance(120);
    let pass = c.run(&sim);
    assert_eq!(pass.tickets()["records"], 5);
    assert_eq!(sorted_unique(c.stored_tickets()).len(), 10);
}

#[test]
fn first_run_start_is_a_minute_before_the_pass_start_at_the_latest() {
    let sim = simulator();
    let mut c = Collector::new(&sim);
    c.unset("START_TIME").env("LOOKBACK_SECONDS", 0);
    let pass = c.run(&sim);
    assert_eq!(pass.code, 0, "{}", pass.output());
    assert_eq!(pass.tickets()["started_at"], T0 - 60);
    let first = &sim.requests()[0];
    assert!(
        first
            .query()
            .contains(&("start_time".into(), (T0 - 60).to_string()))
    );
}

#[test]
fn lookback_sets_the_first_window() {
    let sim = simulator();
    sim.add_tickets(1, 3, T0 - 7200);
    sim.add_tickets(10, 3, T0 - 1800);
    let mut c = Collector::new(&sim);
    c.unset("START_TIME").env("LOOKBACK_SECONDS", 3600);
    let pass = c.run(&sim);
    assert_eq!(pass.tickets()["started_at"], T0 - 3600);
    assert_eq!(
        sorted_unique(c.stored_tickets()),
        vec![(10, T0 - 1800), (11, T0 - 1800), (12, T0 - 1800)]
    );
}

#[test]
fn many_tickets_in_one_second_and_short_pages_are_all_stored() {
    let sim = simulator_with(SimConfig {
        page_cap: Some(7),
        ..SimConfig::default()
    });
    sim.add_tickets(1, 40, T0 - 1000);
    let c = Collector::new(&sim);
    let pass = c.run(&sim);
    assert_eq!(pass.code, 0, "{}", pass.output());
    assert_eq!(pass.tickets()["pages"], 6);
    assert_eq!(sorted_unique(c.stored_tickets()), visible(&sim));
    // Every page starts in the same second, yet each has its own key.
    assert_eq!(c.objects().len(), 6);
}

#[test]
fn page_objects_hold_the_bytes_zendesk_sent() {
    let sim = simulator();
    sim.add_tickets(1, 3, T0 - 1000);
    let c = Collector::new(&sim);
    assert_eq!(c.run(&sim).code, 0);
    let direct = raw_http::get(
        &sim.base_url(),
        "/api/v2/incremental/tickets/cursor.json?start_time=0&per_page=1000",
        &[(
            "Authorization",
            &raw_http::basic_auth(&sim.config().email, &sim.config().api_token),
        )],
    )
    .unwrap();
    let objects = c.objects();
    let (key, body) = objects.iter().next().unwrap();
    assert_eq!(body, &direct.body, "stored bytes differ from the response");
    assert!(
        key.starts_with("zendesk/crm/2025/06/15/"),
        "key is dated by the first record: {key}"
    );
    assert!(key.ends_with("-zendesk-incremental_tickets.json"));
}

#[test]
fn requests_ask_for_gzip_and_pages_are_inflated() {
    let sim = simulator();
    sim.add_tickets(1, 3, T0 - 1000);
    let c = Collector::new(&sim);
    assert_eq!(c.run(&sim).code, 0);
    let r = &sim.requests()[0];
    assert_eq!(r.header("accept-encoding"), Some("gzip"));
    let body = c.objects().into_values().next().unwrap();
    assert!(
        body.starts_with(b"{\"tickets\":["),
        "object is not inflated JSON"
    );
}

#[test]
fn ndjson_writes_one_ticket_per_line() {
    let sim = simulator();
    sim.add_tickets(1, 4, T0 - 1000);
    let mut c = Collector::new(&sim);
    c.env("OUTPUT_FORMAT", "ndjson");
    assert_eq!(c.run(&sim).code, 0);
    let objects = c.objects();
    let (key, body) = objects.iter().next().unwrap();
    assert!(key.ends_with(".ndjson"), "{key}");
    let text = String::from_utf8(body.clone()).unwrap();
    let lines: Vec<_> = text.lines().collect();
    assert_eq!(lines.len(), 4);
    let stamps: Vec<_> = lines
        .iter()
        .map(|l| stamp(&serde_json::from_str(l).unwrap()))
        .collect();
    assert_eq!(stamps, visible(&sim));
}

#[test]
fn prefix_with_or_without_a_trailing_slash_gives_the_same_keys() {
    let sim = simulator();
    sim.add_tickets(1, 4, T0 - 1000);
    let mut with = Collector::new(&sim);
    with.env("S3_PREFIX", "zendesk/crm/");
    let mut without = Collector::new(&sim);
    without.env("S3_PREFIX", "zendesk/crm");
    assert_eq!(with.run(&sim).code, 0);
    assert_eq!(without.run(&sim).code, 0);
    let keys = |c: &Collector| c.objects().into_keys().collect::<Vec<_>>();
    assert_eq!(keys(&with), keys(&without));
    assert!(
        keys(&with)[0].starts_with("zendesk/crm/2025/"),
        "no double slash"
    );
}

#[test]
fn a_page_fetched_again_gets_the_same_key_and_is_not_stored_twice() {
    let sim = simulator();
    sim.add_tickets(1, 20, T0 - 1000);
    let mut c = Collector::new(&sim);
    c.env("PAGE_SIZE", 10);
    let first_state = {
        let p = c.run_at(sim.now(), &["--max-pages", "1"]);
        assert_eq!(p.code, 0);
        std::fs::read(c.state_path()).unwrap()
    };
    assert_eq!(c.run(&sim).code, 0);
    let objects = c.objects();
    // Simulate a crash after storing pages but before the checkpoint moved.
    std::fs::write(c.state_path(), &first_state).unwrap();
    let pass = c.run(&sim);
    assert_eq!(pass.code, 0, "{}", pass.output());
    assert_eq!(pass.tickets()["objects_created"], 0);
    assert_eq!(pass.tickets()["objects_existing"], 1);
    assert_eq!(c.objects(), objects);
}
