//! Audit logs on the wire: envelope, records, cursors, late arrivals, plan, gzip, routing.

use super::*;
use crate::sim::Fault;

#[test]
fn the_cursor_envelope_has_meta_and_links_in_zendesk_order() {
    let sim = sim();
    sim.add_audit_events(1, 3, 1000);
    let resp = get(&sim, &format!("{AUDIT}?page%5Bsize%5D=2"));
    assert_eq!(
        resp.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    let text = resp.text().expect("body");
    assert!(text.starts_with(r#"{"audit_logs":[{"url":"#), "{text}");
    let tail = &text[text.rfind("}],\"meta\":").expect("meta after the records")..];
    let keys = [
        "\"meta\":{\"has_more\":true,\"after_cursor\":\"",
        "\"before_cursor\":\"",
        "\"links\":{\"prev\":\"",
        "\"next\":\"",
    ];
    let at: Vec<usize> = keys.iter().map(|k| tail.find(k).expect(k)).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{tail}");
    let body = resp.json().expect("json");
    let compact = serde_json::to_string(&body).expect("json");
    assert_eq!(compact.len(), text.len(), "not compact");
    assert_eq!(body.as_object().expect("object").len(), 3);
    let after = body["meta"]["after_cursor"].as_str().expect("after");
    let before = body["meta"]["before_cursor"].as_str().expect("before");
    assert!(after.contains('+') && after.contains('/') && after.ends_with('='));
    assert_ne!(after, before);
    let origin = sim.base_url();
    assert_eq!(
        body["links"]["next"],
        format!(
            "{origin}{AUDIT}?page%5Bafter%5D={}&page%5Bsize%5D=2",
            raw_http::percent_encode(after)
        )
    );
    assert_eq!(
        body["links"]["prev"],
        format!(
            "{origin}{AUDIT}?page%5Bbefore%5D={}&page%5Bsize%5D=2",
            raw_http::percent_encode(before)
        )
    );
}

#[test]
fn page_before_walks_back_to_the_previous_page() {
    let sim = sim();
    sim.add_audit_events(1, 5, 1000);
    let first = page(&sim, &format!("{AUDIT}?page%5Bsize%5D=2"));
    let second = page(&sim, &audit_next("page%5Bsize%5D=2", &first));
    assert_eq!(audit_ids(&second), vec![3, 2]);
    let prev = second["links"]["prev"].as_str().expect("prev");
    let back = page(&sim, prev.strip_prefix(&sim.base_url()).expect("origin"));
    assert_eq!(audit_ids(&back), vec![5, 4]);
    assert_eq!(
        back["meta"]["has_more"], false,
        "nothing before the first page"
    );
}

#[test]
fn records_look_like_live_audit_logs() {
    let sim = sim();
    sim.add_audit_events(6_139_157_572_267, 100, 1_672_549_265);
    let resp = get(&sim, &format!("{AUDIT}?page%5Bsize%5D=100"));
    let body = resp.json().expect("json");
    let records = body["audit_logs"].as_array().expect("records");
    let sizes: Vec<usize> = records.iter().map(|r| r.to_string().len()).collect();
    let mean = sizes.iter().sum::<usize>() / sizes.len();
    assert!((340..=370).contains(&mean), "{mean} bytes per record");
    assert!(sizes.iter().all(|s| (280..=430).contains(s)), "{sizes:?}");
    // Keys in the live order (a derive over a map would sort them).
    let text = resp.text().expect("text");
    let order = [
        "url",
        "id",
        "action_label",
        "actor_id",
        "source_id",
        "source_type",
        "source_label",
        "action",
        "change_description",
        "ip_address",
        "created_at",
        "actor_name",
    ];
    let first = &text[..text.find("},{").expect("two records")];
    let at: Vec<usize> = order
        .iter()
        .map(|k| first.find(&format!("\"{k}\":")).expect(k))
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{first}");
    let r = &records[0];
    assert_eq!(r.as_object().expect("record").len(), order.len());
    let id = r["id"].as_u64().expect("id");
    assert_eq!(
        r["url"],
        format!("{}/api/v2/audit_logs/{id}.json", sim.base_url())
    );
    assert_eq!(r["created_at"], "2023-01-01T05:01:05Z");
    let distinct = |key: &str| {
        records
            .iter()
            .filter_map(|r| r[key].as_str())
            .collect::<std::collections::BTreeSet<_>>()
    };
    let actions: Vec<&str> = distinct("action").into_iter().collect();
    assert_eq!(
        actions,
        ["create", "destroy", "exported", "login", "update"]
    );
    assert_eq!(
        distinct("source_type").len(),
        6,
        "{:?}",
        distinct("source_type")
    );
    let system = records.iter().find(|r| r["ip_address"].is_null());
    let system = system.expect("some records have no IP address");
    assert_eq!(system["actor_id"], -1);
    assert_eq!(system["actor_name"], "Zendesk");
    // Deterministic: the same events render to the same bytes.
    assert_eq!(
        get(&sim, &format!("{AUDIT}?page%5Bsize%5D=100")).body,
        resp.body
    );
}

#[test]
fn late_events_stay_hidden_until_visible_at_even_inside_the_window() {
    let sim = sim();
    sim.add_audit_event(1, NOW - 3000);
    sim.add_late_audit_event(2, NOW - 2000, NOW + 300);
    sim.add_audit_event(3, NOW - 1000);
    let query = format!("{}&page%5Bsize%5D=100&sort=created_at", window(0, NOW));
    let before = page(&sim, &format!("{AUDIT}?{query}"));
    assert_eq!(audit_ids(&before), vec![1, 3]);
    assert_eq!(
        sim.audit_events_visible(),
        vec![(1, NOW - 3000), (3, NOW - 1000)]
    );
    sim.advance(299);
    assert_eq!(
        audit_ids(&page(&sim, &format!("{AUDIT}?{query}"))),
        vec![1, 3]
    );

    sim.advance(1);
    assert_eq!(sim.audit_events_visible().len(), 3);
    // The saved cursor has passed it: resuming from there never sees the late event...
    let resumed = page(&sim, &audit_next(&query, &before));
    assert_eq!(audit_ids(&resumed), Vec::<u64>::new());
    // ...only re-reading the window does.
    let again = page(&sim, &format!("{AUDIT}?{query}"));
    assert_eq!(audit_events(&again)[1], (2, NOW - 2000));
    let offset = page(&sim, &format!("{AUDIT}?per_page=10"));
    assert_eq!(audit_ids(&offset), vec![3, 2, 1]);
    assert_eq!(offset["count"], 3);
}

#[test]
fn a_plan_without_audit_logs_gets_the_403_forbidden_envelope() {
    let sim = sim();
    sim.add_audit_event(1, 1000);
    sim.set_audit_logs_enabled(false);
    for query in [
        "page%5Bsize%5D=10",
        "per_page=10",
        "page%5Bafter%5D=garbage",
    ] {
        let resp = get(&sim, &format!("{AUDIT}?{query}"));
        assert_eq!(resp.status, 403, "{query}");
        assert_eq!(
            resp.text().expect("body"),
            r#"{"error":{"title":"Forbidden","message":"Access to this resource is restricted. Please contact the account administrator for assistance."}}"#
        );
    }
    // Credentials are checked first; the ticket export is unaffected.
    let anonymous = raw_http::get(&sim.base_url(), AUDIT, &[]).expect("response");
    assert_eq!(anonymous.status, 401);
    assert_eq!(get(&sim, &start(0, 1)).status, 200);
    sim.set_audit_logs_enabled(true);
    assert_eq!(
        audit_ids(&page(&sim, &format!("{AUDIT}?per_page=1"))),
        vec![1]
    );
}

#[test]
fn cursors_are_bound_to_their_sort_and_must_be_ours() {
    let sim = sim();
    sim.add_audit_events(1, 3, 1000);
    sim.upsert_ticket(1, 1000);
    let oldest = page(&sim, &format!("{AUDIT}?page%5Bsize%5D=1&sort=created_at"));
    let newest = page(&sim, &format!("{AUDIT}?page%5Bsize%5D=1"));
    let enc =
        |p: &Value| raw_http::percent_encode(p["meta"]["after_cursor"].as_str().expect("cursor"));
    let raw_cursor = newest["meta"]["after_cursor"]
        .as_str()
        .expect("c")
        .to_owned();
    let ticket_cursor = page(&sim, &start(0, 1))["after_cursor"]
        .as_str()
        .expect("ticket cursor")
        .to_owned();
    for query in [
        format!("page%5Bafter%5D={}", enc(&oldest)),
        format!("page%5Bafter%5D={}&sort=-created_at", enc(&oldest)),
        format!("page%5Bafter%5D={}&sort=created_at", enc(&newest)),
        format!("page%5Bbefore%5D={}&sort=created_at", enc(&newest)),
        "page%5Bafter%5D=garbage".to_owned(),
        "page%5Bafter%5D=".to_owned(),
        // Not URL-encoded: `+` arrives as a space.
        format!("page%5Bafter%5D={raw_cursor}"),
        format!(
            "page%5Bafter%5D={}",
            raw_http::percent_encode(&ticket_cursor)
        ),
        format!("page%5Bafter%5D={0}&page%5Bbefore%5D={0}", enc(&newest)),
        "page%5Bsize%5D=1&page=2".to_owned(),
    ] {
        let resp = get(&sim, &format!("{AUDIT}?{query}"));
        assert_eq!(resp.status, 400, "{query}");
        let body = resp.json().expect("json");
        assert_eq!(body["error"], "InvalidPaginationParameter", "{query}");
    }
    let right = page(
        &sim,
        &format!("{AUDIT}?page%5Bafter%5D={}&sort=created_at", enc(&oldest)),
    );
    assert_eq!(audit_ids(&right), vec![2, 3]);
}

#[test]
fn audit_pages_are_gzipped_only_when_asked() {
    let sim = sim();
    sim.add_audit_events(1, 100, 1000);
    let path = format!("{AUDIT}?page%5Bsize%5D=100");
    let plain = get(&sim, &path);
    let zipped = get_with(&sim, &path, &[("Accept-Encoding", "gzip, deflate")]);
    assert_eq!(plain.header("content-encoding"), None);
    assert_eq!(zipped.header("content-encoding"), Some("gzip"));
    assert!(
        zipped.body.len() * 3 < plain.body.len(),
        "gzip did not shrink the page"
    );
    assert_eq!(zipped.decoded_body().expect("gunzip"), plain.body);
    let off = sim_with(|c| c.gzip = false);
    let r = get_with(&off, &path, &[("Accept-Encoding", "gzip")]);
    assert_eq!(r.header("content-encoding"), None);
}

#[test]
fn faults_auth_and_routing_apply_to_audit_logs_like_the_export() {
    let sim = sim();
    sim.add_audit_event(1, 1000);
    sim.push_fault(Fault::RateLimited {
        retry_after: Some(3),
    });
    let faulted = raw_http::get(&sim.base_url(), AUDIT, &[]).expect("response");
    assert_eq!(
        (faulted.status, faulted.header("retry-after")),
        (429, Some("3"))
    );
    let bad = raw_http::basic_auth(&sim.config().email, "wrong");
    let r = raw_http::get(&sim.base_url(), AUDIT, &[("Authorization", &bad)]).expect("response");
    assert_eq!(r.status, 401);
    // The `.json` suffix is optional; other methods are 405.
    assert_eq!(
        audit_ids(&page(&sim, "/api/v2/audit_logs?per_page=5")),
        vec![1]
    );
    let auth = basic(&sim);
    let post = raw_http::request("POST", &sim.base_url(), AUDIT, &[("Authorization", &auth)]);
    assert_eq!(post.expect("response").status, 405);
    assert_eq!(get(&sim, "/api/v2/audit_logs/1.json").status, 404);
}

#[test]
fn a_hostile_origin_moves_the_links_but_not_the_record_urls() {
    let sim = sim();
    sim.add_audit_events(1, 3, 1000);
    sim.set_after_url_origin(Some("http://evil.example:1234".to_owned()));
    let p = page(&sim, &format!("{AUDIT}?page%5Bsize%5D=1"));
    for link in [&p["links"]["next"], &p["links"]["prev"]] {
        let link = link.as_str().expect("link");
        assert!(
            link.starts_with(&format!("http://evil.example:1234{AUDIT}?")),
            "{link}"
        );
    }
    assert!(
        p["audit_logs"][0]["url"]
            .as_str()
            .expect("url")
            .starts_with(&sim.base_url())
    );
    let offset = page(&sim, &format!("{AUDIT}?per_page=1"));
    let next = offset["next_page"].as_str().expect("next_page");
    assert!(next.starts_with("http://evil.example:1234/"), "{next}");
}
