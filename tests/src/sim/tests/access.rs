//! Access logs on the wire: envelope, ULIDs, order, page sizes, the 90 days, the endpoint's
//! own rate limit, the error body, late arrivals and the add-on's 403.

use std::time::Duration;

use super::*;
use crate::sim::{ResetFormat, iso8601};

const ACCESS: &str = "/api/v2/access_logs";

fn window(start: i64, end: i64) -> String {
    format!(
        "filter%5Bstart%5D={}&filter%5Bend%5D={}",
        iso8601::format(start),
        iso8601::format(end)
    )
}

fn ids(page: &Value) -> Vec<String> {
    page["access_logs"]
        .as_array()
        .expect("access_logs array")
        .iter()
        .map(|r| r["id"].as_str().expect("string id").to_owned())
        .collect()
}

fn times(page: &Value) -> Vec<i64> {
    page["access_logs"]
        .as_array()
        .expect("access_logs array")
        .iter()
        .map(|r| iso8601::parse(r["timestamp"].as_str().expect("timestamp")).expect("ISO"))
        .collect()
}

/// Follows `links.next` (relative to the simulator) until `has_more` is false.
fn walk(sim: &Simulator, first: &str) -> Vec<Value> {
    let mut pages = vec![page(sim, first)];
    while pages.last().is_some_and(|p| p["meta"]["has_more"] == true) {
        assert!(pages.len() < 1000, "has_more never turns false");
        let next = pages.last().expect("page")["links"]["next"]
            .as_str()
            .expect("links.next while has_more")
            .to_owned();
        let path = next.strip_prefix(&sim.base_url()).expect("same origin");
        pages.push(page(sim, path));
    }
    pages
}

fn errors_body(resp: &RawResponse) -> (String, String) {
    let body = resp.json().expect("JSON error body");
    let errors = body["errors"].as_array().expect("errors array");
    assert_eq!(errors.len(), 1, "{body}");
    (
        errors[0]["title"].as_str().expect("title").to_owned(),
        errors[0]["detail"].as_str().expect("detail").to_owned(),
    )
}

#[test]
fn the_envelope_has_links_then_meta_and_next_repeats_the_filters() {
    let sim = sim();
    sim.add_access_events(3, NOW - 100);
    let q = format!("{}&page%5Bsize%5D=2", window(NOW - 200, NOW));
    let resp = get(&sim, &format!("{ACCESS}?{q}"));
    let text = resp.text().expect("body");
    assert!(text.starts_with(r#"{"access_logs":[{"id":""#), "{text}");
    let tail = &text[text
        .rfind("}],\"links\":")
        .expect("links after the records")..];
    let keys = [
        "\"links\":{\"next\":",
        "\"prev\":",
        "\"meta\":{\"after_cursor\":",
        "\"before_cursor\":",
        "\"has_before\":false",
        "\"has_more\":true",
    ];
    let at: Vec<usize> = keys.iter().map(|k| tail.find(k).expect(k)).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{tail}");
    let body = resp.json().expect("json");
    let last = ids(&body)[1].clone();
    assert_eq!(
        body["meta"]["after_cursor"], last,
        "the cursor is the last id"
    );
    assert_eq!(
        body["links"]["next"],
        format!(
            "{}{ACCESS}?filter%5Bend%5D={}&filter%5Bstart%5D={}&page%5Bafter%5D={last}&page%5Bsize%5D=2",
            sim.base_url(),
            raw_http::percent_encode(&iso8601::format(NOW)),
            raw_http::percent_encode(&iso8601::format(NOW - 200)),
        )
    );
    // The last page still links onwards: only has_more says stop.
    let pages = walk(&sim, &format!("{ACCESS}?{q}"));
    assert_eq!(pages.len(), 2);
    assert!(pages[1]["links"]["next"].is_string());
    assert_eq!(pages[1]["meta"]["has_before"], true);
    // Nothing after the last record: an empty page without cursors.
    let after = pages[1]["meta"]["after_cursor"].as_str().expect("cursor");
    let empty = page(&sim, &format!("{ACCESS}?{q}&page%5Bafter%5D={after}"));
    assert_eq!(ids(&empty), Vec::<String>::new());
    assert_eq!(empty["links"]["next"], Value::Null);
    assert_eq!(empty["meta"]["has_more"], false);
}

#[test]
fn ids_are_ulids_whose_time_prefix_is_the_timestamp_and_pages_are_oldest_first() {
    let sim = sim();
    let a = sim.add_access_event(NOW - 10);
    let b = sim.add_access_event(NOW - 30);
    let c = sim.add_access_event(NOW - 20);
    let body = page(&sim, ACCESS);
    assert_eq!(ids(&body), vec![b.clone(), c, a]);
    assert_eq!(times(&body), vec![NOW - 30, NOW - 20, NOW - 10]);
    for id in ids(&body) {
        assert_eq!(id.len(), 26);
        let ms = crate::sim::ulid::time_ms(&id).expect("a ULID");
        assert!(
            id.chars()
                .all(|c| c.is_ascii_alphanumeric() && !c.is_ascii_lowercase())
        );
        let t = times(&body)[ids(&body).iter().position(|x| *x == id).expect("id")];
        assert_eq!(ms as i64 / 1000, t, "{id}");
    }
    let r = &body["access_logs"][0];
    for field in [
        "id",
        "timestamp",
        "user_id",
        "ip_address",
        "method",
        "url",
        "status",
        "client",
        "graphql",
        "referer",
        "bytes_sent",
        "category",
        "summary",
    ] {
        assert!(r.get(field).is_some(), "{field} missing in {r}");
    }
}

#[test]
fn records_look_like_the_documented_ones() {
    let sim = sim();
    sim.add_access_events(200, NOW - 100);
    let body = page(&sim, ACCESS);
    let records = body["access_logs"].as_array().expect("records");
    assert_eq!(records.len(), 200);
    let graphql: Vec<&Value> = records
        .iter()
        .filter(|r| r["graphql"].is_object())
        .collect();
    assert!(!graphql.is_empty(), "some GraphQL records");
    for r in &graphql {
        assert!(
            r.get("authorization_type").is_none(),
            "absent for GraphQL: {r}"
        );
        assert!(r["graphql"]["variables"].is_string());
    }
    let methods: std::collections::BTreeSet<&str> = records
        .iter()
        .filter_map(|r| r["method"].as_str())
        .collect();
    assert_eq!(
        methods.into_iter().collect::<Vec<_>>(),
        ["DELETE", "GET", "POST", "PUT"]
    );
    assert!(
        records
            .iter()
            .all(|r| r["user_id"].is_u64() && r["status"].is_u64())
    );
}

#[test]
fn page_size_defaults_to_1000_and_above_2500_is_a_400() {
    let sim = sim();
    sim.add_access_events(2600, NOW - 100);
    assert_eq!(ids(&page(&sim, ACCESS)).len(), 1000);
    assert_eq!(
        ids(&page(&sim, &format!("{ACCESS}?page%5Bsize%5D=2500"))).len(),
        2500
    );
    let resp = get(&sim, &format!("{ACCESS}?page%5Bsize%5D=2501"));
    assert_eq!(resp.status, 400);
    assert_eq!(errors_body(&resp).1, "max allowed page size is 2500");
    for bad in [
        "page%5Bsize%5D=0",
        "filter%5Bstart%5D=yesterday",
        "filter%5Bstart%5D=2023-11-14T22:13:20%2B00:00",
        "page%5Bafter%5D=12345",
        "filter%5Bafter%5D=01H9KB1CDRX2RVDS7E2R4YJ0TS",
        "filter%5Buser_id%5D=1",
    ] {
        let resp = get(&sim, &format!("{ACCESS}?{bad}"));
        assert_eq!(resp.status, 400, "{bad}");
        errors_body(&resp);
    }
}

#[test]
fn the_window_is_inclusive_and_cursor_walks_see_every_event_once() {
    let sim = sim();
    for i in 0..50 {
        sim.add_access_event(NOW - 1000 + i * 10);
    }
    let inside = page(&sim, &format!("{ACCESS}?{}", window(NOW - 900, NOW - 800)));
    assert_eq!(
        times(&inside),
        (0..=10).map(|i| NOW - 900 + i * 10).collect::<Vec<_>>()
    );
    let pages = walk(
        &sim,
        &format!("{ACCESS}?{}&page%5Bsize%5D=7", window(0, NOW)),
    );
    let all: Vec<String> = pages.iter().flat_map(ids).collect();
    let truth: Vec<String> = sim
        .access_events_visible()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(all, truth);
    assert_eq!(pages.len(), 8);
}

#[test]
fn nothing_older_than_ninety_days_is_served_and_an_older_start_is_accepted() {
    let sim = sim();
    let day = 86_400;
    sim.add_access_event(NOW - 91 * day);
    let kept = sim.add_access_event(NOW - 89 * day);
    let body = page(&sim, &format!("{ACCESS}?{}", window(NOW - 100 * day, NOW)));
    assert_eq!(ids(&body), vec![kept.clone()]);
    // The store ages too: 2 days later the 89-day-old event is gone as well.
    sim.advance(2 * day);
    assert_eq!(ids(&page(&sim, ACCESS)), Vec::<String>::new());
    assert!(sim.access_events_visible().is_empty());
}

#[test]
fn late_events_land_behind_a_cursor_that_passed_them() {
    let sim = sim();
    sim.add_access_event(NOW - 300);
    let late = sim.add_late_access_event(NOW - 200, NOW + 60);
    let newer = sim.add_access_event(NOW - 100);
    let first = page(&sim, ACCESS);
    assert_eq!(ids(&first).len(), 2);
    assert!(!ids(&first).contains(&late));
    sim.advance(60);
    let cursor = first["meta"]["after_cursor"].as_str().expect("cursor");
    assert_eq!(cursor, newer);
    let after = page(&sim, &format!("{ACCESS}?page%5Bafter%5D={cursor}"));
    assert!(
        ids(&after).is_empty(),
        "the late event sorts before the cursor"
    );
    assert_eq!(ids(&page(&sim, ACCESS))[1], late);
}

#[test]
fn an_account_without_the_add_on_gets_a_403_in_the_errors_shape() {
    let sim = sim();
    sim.add_access_events(3, NOW - 100);
    sim.set_access_logs_enabled(false);
    let resp = get(&sim, ACCESS);
    assert_eq!(resp.status, 403);
    let (title, detail) = errors_body(&resp);
    assert_eq!(title, "Forbidden");
    assert!(
        detail.contains("Advanced Data Privacy and Protection"),
        "{detail}"
    );
    // The other endpoints are unaffected.
    assert_eq!(get(&sim, AUDIT).status, 200);
}

#[test]
fn the_endpoint_limit_answers_429_with_only_ratelimit_reset() {
    for (format, expect) in [
        (ResetFormat::DateTime, iso8601::format(NOW + 30)),
        (ResetFormat::Seconds, "30".to_owned()),
    ] {
        let sim = sim_with(|c| {
            c.access_rate_limit = 2;
            c.access_rate_window = Some(Duration::from_secs(30));
            c.access_reset_format = format;
        });
        assert_eq!(get(&sim, ACCESS).status, 200);
        let ok = get(&sim, ACCESS);
        assert_eq!(ok.status, 200);
        assert_eq!(ok.header("x-rate-limit"), None, "no account headers here");
        let limited = get(&sim, ACCESS);
        assert_eq!(limited.status, 429);
        assert_eq!(limited.header("ratelimit-reset"), Some(expect.as_str()));
        assert_eq!(limited.header("retry-after"), None);
        assert_eq!(limited.header("x-rate-limit-remaining"), None);
        let (_, detail) = errors_body(&limited);
        assert!(detail.contains("RateLimit-Reset"), "{detail}");
        // The account's other endpoints are not limited by it.
        assert_eq!(get(&sim, AUDIT).status, 200);
    }
}

#[test]
fn the_limit_resets_after_its_window() {
    let sim = sim_with(|c| {
        c.access_rate_limit = 1;
        c.access_rate_window = Some(Duration::from_millis(300));
        c.access_reset_format = ResetFormat::Seconds;
    });
    assert_eq!(get(&sim, ACCESS).status, 200);
    let limited = get(&sim, ACCESS);
    assert_eq!(limited.status, 429);
    assert_eq!(limited.header("ratelimit-reset"), Some("1"), "rounded up");
    std::thread::sleep(Duration::from_millis(350));
    assert_eq!(get(&sim, ACCESS).status, 200);
}

#[test]
fn the_limit_is_off_by_default() {
    let sim = sim();
    for _ in 0..60 {
        assert_eq!(get(&sim, ACCESS).status, 200);
    }
}

#[test]
fn links_can_drop_the_filters_or_be_null_while_meta_still_leads_on() {
    let sim = sim();
    sim.add_access_events(3, NOW - 100);
    let q = format!("{}&page%5Bsize%5D=2", window(NOW - 200, NOW));
    sim.set_access_links(crate::sim::AccessLinks::CursorOnly);
    let body = page(&sim, &format!("{ACCESS}?{q}"));
    let last = ids(&body)[1].clone();
    assert_eq!(
        body["links"]["next"],
        format!("{}{ACCESS}?page%5Bafter%5D={last}", sim.base_url())
    );
    sim.set_access_links(crate::sim::AccessLinks::Null);
    let body = page(&sim, &format!("{ACCESS}?{q}"));
    assert_eq!(body["links"]["next"], Value::Null);
    assert_eq!(body["meta"]["has_more"], true);
    assert_eq!(body["meta"]["after_cursor"], last);
}
