//! Bytes on the wire: envelope, headers, gzip, ticket shape, request log, hostile after_url.

use super::*;
use crate::sim::Fault;

#[test]
fn envelope_keys_cursor_and_after_url_are_as_zendesk_sends_them() {
    let sim = sim();
    sim.add_tickets(1, 3, 1000);
    let resp = get(&sim, &start(0, 2));
    let text = resp.text().expect("body");
    let key_at = |k: &str| text.find(&format!("\"{k}\":")).unwrap_or(usize::MAX);
    // Keys of the envelope are the last six top-level keys, in this order.
    let tail = &text[text
        .rfind("],\"after_url\"")
        .expect("after the tickets array")..];
    let order = [
        "after_url",
        "before_url",
        "after_cursor",
        "before_cursor",
        "end_of_stream",
    ];
    let positions: Vec<usize> = order
        .iter()
        .map(|k| tail.find(&format!("\"{k}\":")).expect(k))
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{tail}");
    assert_eq!(key_at("tickets"), 1);
    let body = resp.json().expect("json");
    assert_eq!(
        body.as_object().expect("object").len(),
        6,
        "no count/meta/links"
    );
    assert!(body["before_url"].is_null() && body["before_cursor"].is_null());
    let cursor = body["after_cursor"].as_str().expect("cursor");
    assert!(
        cursor.contains('+') && cursor.contains('/') && cursor.ends_with('='),
        "{cursor}"
    );
    let url = body["after_url"].as_str().expect("url");
    let expected = format!(
        "{}{PATH}?cursor={}&per_page=2",
        sim.base_url(),
        cursor
            .replace('+', "%2B")
            .replace('/', "%2F")
            .replace('=', "%3D")
    );
    assert_eq!(url, expected);
    // Following after_url verbatim works.
    let path = url.strip_prefix(&sim.base_url()).expect("same origin");
    assert_eq!(ids(&page(&sim, path)), vec![(3, 1000)]);
}

#[test]
fn api_responses_carry_zendesk_headers() {
    let sim = sim();
    let r = get(&sim, &start(0, 1));
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(r.header("x-rate-limit"), Some("700"));
    assert_eq!(r.header("ratelimit-limit"), Some("700"));
    assert_eq!(r.header("x-zendesk-api-version"), Some("v2"));
    assert!(r.header("x-request-id").is_some_and(|v| !v.is_empty()));
    let remaining = |r: &RawResponse| {
        r.header("x-rate-limit-remaining")
            .and_then(|v| v.parse::<u32>().ok())
    };
    let second = get(&sim, &start(0, 1));
    assert_eq!(remaining(&second), remaining(&r).map(|n| n - 1));
    assert_eq!(
        second.header("ratelimit-remaining"),
        second.header("x-rate-limit-remaining")
    );
    assert!(
        second
            .header("ratelimit-reset")
            .and_then(|v| v.parse::<u32>().ok())
            .is_some_and(|s| (1..=60).contains(&s))
    );
    assert_ne!(r.header("x-request-id"), second.header("x-request-id"));
}

#[test]
fn the_announced_account_limit_can_be_raised_for_benchmarks() {
    let sim = sim_with(|c| c.header_rate_limit = 1_000_000);
    let r = get(&sim, &start(0, 1));
    assert_eq!(r.header("x-rate-limit"), Some("1000000"));
    assert_eq!(r.header("ratelimit-limit"), Some("1000000"));
    assert_eq!(r.header("x-rate-limit-remaining"), Some("999999"));
}

#[test]
fn gzip_only_when_asked_and_it_decompresses_to_the_identity_body() {
    let sim = sim();
    sim.add_tickets(1, 50, 1000);
    let plain = get(&sim, &start(0, 50));
    let zipped = get_with(&sim, &start(0, 50), &[("Accept-Encoding", "gzip, deflate")]);
    assert_eq!(plain.header("content-encoding"), None);
    assert_eq!(zipped.header("content-encoding"), Some("gzip"));
    assert!(
        zipped.body.len() * 3 < plain.body.len(),
        "gzip did not shrink the page"
    );
    assert_eq!(zipped.decoded_body().expect("gunzip"), plain.body);

    let off = sim_with(|c| c.gzip = false);
    let r = get_with(&off, &start(0, 1), &[("Accept-Encoding", "gzip")]);
    assert_eq!(r.header("content-encoding"), None);
    assert!(r.json().is_ok());
}

#[test]
fn same_state_gives_byte_identical_bodies() {
    let sim = sim();
    sim.add_tickets(1, 10, 1000);
    sim.delete_ticket(4, 1001);
    assert_eq!(
        get(&sim, &start(0, 100)).body,
        get(&sim, &start(0, 100)).body
    );
}

#[test]
fn tickets_look_like_live_records() {
    let sim = sim();
    sim.add_tickets(6_139_157_572_367, 20, 1_685_142_121);
    let resp = get(&sim, &start(0, 100));
    let body = resp.json().expect("json");
    let tickets = body["tickets"].as_array().expect("tickets");
    let size = resp.body.len() / tickets.len();
    assert!((1400..=2200).contains(&size), "{size} bytes per ticket");
    let text = resp.text().expect("text");
    let first = &text[text.find("{\"url\":").expect("url first")..];
    let first = &first[..first
        .find("\"generated_timestamp\":1685142121}")
        .expect("ts last")];
    assert!(
        !first[1..].contains("{\"url\":"),
        "generated_timestamp is not the last key"
    );
    let t = &tickets[0];
    assert_eq!(
        t["url"],
        format!("{}/api/v2/tickets/6139157572367.json", sim.base_url())
    );
    assert_eq!(t["updated_at"], "2023-05-26T23:02:01Z");
    for key in [
        "external_id",
        "via",
        "created_at",
        "type",
        "subject",
        "raw_subject",
        "description",
        "priority",
        "status",
        "requester_id",
        "submitter_id",
        "assignee_id",
        "organization_id",
        "group_id",
        "collaborator_ids",
        "follower_ids",
        "email_cc_ids",
        "tags",
        "custom_fields",
        "satisfaction_rating",
        "ticket_form_id",
        "brand_id",
        "allow_channelback",
        "allow_attachments",
        "from_messaging_channel",
    ] {
        assert!(t.get(key).is_some(), "missing {key}");
    }
    let statuses: std::collections::BTreeSet<&str> = tickets
        .iter()
        .filter_map(|t| t["status"].as_str())
        .collect();
    assert!(statuses.len() >= 3, "statuses do not vary: {statuses:?}");
}

#[test]
fn requests_are_recorded_with_headers_even_when_faulted() {
    let sim = sim();
    sim.push_fault(Fault::Reset);
    let _ = raw_http::get(
        &sim.base_url(),
        &format!("{PATH}?cursor=a%2Bb%3D&per_page=5"),
        &[("X-Trace", "abc")],
    );
    get(&sim, &start(0, 1));
    let reqs = sim.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].method, "GET");
    assert_eq!(
        reqs[0].path_and_query,
        format!("{PATH}?cursor=a%2Bb%3D&per_page=5")
    );
    assert_eq!(reqs[0].header("x-trace"), Some("abc"));
    assert!(
        reqs[0].headers.iter().any(|(n, _)| n == "x-trace"),
        "names are lower-case"
    );
    assert_eq!(
        reqs[0].query(),
        vec![
            ("cursor".into(), "a+b=".into()),
            ("per_page".into(), "5".into())
        ]
    );
    assert_eq!(reqs[1].header("authorization"), Some(basic(&sim).as_str()));
    sim.clear_requests();
    assert!(sim.requests().is_empty());
}

#[test]
fn hostile_after_url_origin_is_used_only_for_after_url() {
    let sim = sim();
    sim.upsert_ticket(1, 1000);
    sim.set_after_url_origin(Some("http://evil.example:1234".to_owned()));
    let p = page(&sim, &start(0, 1));
    let url = p["after_url"].as_str().expect("url");
    assert!(
        url.starts_with(&format!("http://evil.example:1234{PATH}?cursor=")),
        "{url}"
    );
    assert!(
        p["tickets"][0]["url"]
            .as_str()
            .expect("url")
            .starts_with(&sim.base_url())
    );
    sim.set_after_url_origin(None);
    assert!(
        page(&sim, &start(0, 1))["after_url"]
            .as_str()
            .expect("url")
            .starts_with(&sim.base_url())
    );
}
