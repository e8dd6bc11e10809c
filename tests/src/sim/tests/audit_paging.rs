//! Audit logs: order, the created_at window, cursor walks, page sizes and offset paging.

use super::*;

const OLDEST_FIRST: &str = "page%5Bsize%5D=100&sort=created_at";

#[test]
fn sort_created_at_is_oldest_first_and_the_default_is_newest_first() {
    let sim = sim();
    // Inserted out of order; ids do not follow time, and ties in a second go by id.
    for (id, ts) in [(30, 2000), (10, 1000), (40, 1000), (5, 3000), (20, 1000)] {
        sim.add_audit_event(id, ts);
    }
    let oldest = page(&sim, &format!("{AUDIT}?{OLDEST_FIRST}"));
    assert_eq!(audit_ids(&oldest), vec![10, 20, 40, 30, 5]);
    let expected_newest = vec![5, 30, 40, 20, 10];
    for query in ["page%5Bsize%5D=100", "page%5Bsize%5D=100&sort=-created_at"] {
        let newest = page(&sim, &format!("{AUDIT}?{query}"));
        assert_eq!(audit_ids(&newest), expected_newest, "{query}");
    }
    assert_eq!(
        sim.audit_events_visible(),
        vec![(10, 1000), (20, 1000), (40, 1000), (30, 2000), (5, 3000)]
    );
    let resp = get(&sim, &format!("{AUDIT}?page%5Bsize%5D=10&sort=id"));
    assert_eq!(resp.status, 400);
}

#[test]
fn the_created_at_window_includes_both_of_its_ends() {
    let sim = sim();
    for (id, ts) in [
        (1, 999),
        (2, 1000),
        (3, 1500),
        (4, 2000),
        (5, 2000),
        (6, 2001),
    ] {
        sim.add_audit_event(id, ts);
    }
    let p = page(
        &sim,
        &format!("{AUDIT}?{}&{OLDEST_FIRST}", window(1000, 2000)),
    );
    assert_eq!(audit_ids(&p), vec![2, 3, 4, 5]);
    assert_eq!(p["meta"]["has_more"], false);
    let one_second = page(
        &sim,
        &format!("{AUDIT}?{}&{OLDEST_FIRST}", window(2000, 2000)),
    );
    assert_eq!(audit_ids(&one_second), vec![4, 5]);
    // An inverted window is empty, not an error.
    let inverted = page(
        &sim,
        &format!("{AUDIT}?{}&{OLDEST_FIRST}", window(2000, 1000)),
    );
    assert_eq!(audit_ids(&inverted), Vec::<u64>::new());
    assert!(inverted["meta"]["after_cursor"].is_null());
}

#[test]
fn the_created_at_filter_must_be_sent_twice_in_iso_8601() {
    let sim = sim();
    sim.add_audit_event(1, NOW);
    let start = "2000-01-01T00:00:00Z";
    let end = "2030-01-01T00:00:00Z";
    let encoded = "filter%5Bcreated_at%5D%5B%5D";
    for query in [
        format!("{encoded}={start}"),
        format!("{encoded}={start}&{encoded}={end}&{encoded}={end}"),
        // Without `[]` Rails keeps only one value.
        format!("filter%5Bcreated_at%5D={start}&filter%5Bcreated_at%5D={end}"),
        format!("{encoded}=946684800&{encoded}=1893456000"),
        format!("{encoded}=2000-01-01&{encoded}=2030-01-01"),
        format!("{encoded}={start}&{encoded}="),
    ] {
        let resp = get(&sim, &format!("{AUDIT}?{query}&page%5Bsize%5D=10"));
        assert_eq!(resp.status, 400, "{query}");
        assert_eq!(
            resp.json().expect("json")["error"],
            "InvalidValue",
            "{query}"
        );
    }
    // Both spellings of the brackets are the same parameter.
    for query in [
        format!("{encoded}={start}&{encoded}={end}"),
        format!("filter[created_at][]={start}&filter[created_at][]={end}"),
    ] {
        let p = page(&sim, &format!("{AUDIT}?{query}&page%5Bsize%5D=10"));
        assert_eq!(audit_ids(&p), vec![1], "{query}");
    }
}

#[test]
fn walking_by_page_after_with_the_same_filter_and_sort_visits_every_event_once() {
    let sim = sim();
    sim.add_audit_event(1, 998);
    sim.add_audit_event(2, 999);
    // 250 events in one second: the cursor has to split the second across three pages.
    sim.add_audit_events(1000, 250, 1000);
    sim.add_audit_event(3, 1001);
    sim.add_audit_event(4, 1002);
    let inside: Vec<(u64, i64)> = sim
        .audit_events_visible()
        .into_iter()
        .filter(|&(_, ts)| (999..=1001).contains(&ts))
        .collect();
    assert_eq!(inside.len(), 252);
    for (sort, newest_first) in [("&sort=created_at", false), ("", true)] {
        let query = format!("{}&page%5Bsize%5D=100{sort}", window(999, 1001));
        let pages = audit_walk(&sim, &query);
        let seen: Vec<(u64, i64)> = pages.iter().flat_map(audit_events).collect();
        let mut expected = inside.clone();
        if newest_first {
            expected.reverse();
        }
        assert_eq!(seen, expected, "{query}");
        let sizes: Vec<usize> = pages.iter().map(|p| audit_ids(p).len()).collect();
        assert_eq!(sizes, vec![100, 100, 52], "{query}");
    }
}

#[test]
fn links_next_drops_the_filter_and_the_sort() {
    let sim = sim();
    sim.add_audit_events(1, 3, 1000);
    sim.add_audit_events(10, 3, 2000);
    // Newest first inside [2000, 2000]: following links.next walks out of the window.
    let first = page(
        &sim,
        &format!("{AUDIT}?{}&page%5Bsize%5D=2", window(2000, 2000)),
    );
    assert_eq!(audit_ids(&first), vec![12, 11]);
    let next = first["links"]["next"].as_str().expect("links.next");
    assert!(!next.contains("filter") && !next.contains("sort"), "{next}");
    let path = next.strip_prefix(&sim.base_url()).expect("same origin");
    assert_eq!(audit_ids(&page(&sim, path)), vec![10, 3]);
    // Oldest first: links.next falls back to the default sort, which the cursor refuses.
    let first = page(&sim, &format!("{AUDIT}?page%5Bsize%5D=2&sort=created_at"));
    let next = first["links"]["next"].as_str().expect("links.next");
    let path = next.strip_prefix(&sim.base_url()).expect("same origin");
    let resp = get(&sim, path);
    assert_eq!(resp.status, 400);
    assert_eq!(
        resp.json().expect("json")["error"],
        "InvalidPaginationParameter"
    );
}

#[test]
fn the_last_page_says_has_more_false_but_still_links_onwards() {
    let sim = sim();
    sim.add_audit_events(1, 5, 1000);
    let pages = audit_walk(&sim, "page%5Bsize%5D=2&sort=created_at");
    assert_eq!(pages.len(), 3);
    let last = pages.last().expect("pages");
    assert_eq!(audit_ids(last), vec![5]);
    assert_eq!(last["meta"]["has_more"], false);
    assert!(last["meta"]["after_cursor"].is_string());
    assert!(last["links"]["next"].is_string());
    assert!(pages[..2].iter().all(|p| p["meta"]["has_more"] == true));
}

#[test]
fn past_the_end_is_an_empty_page_with_null_cursors_and_links() {
    let sim = sim();
    sim.add_audit_events(1, 2, 1000);
    let query = "page%5Bsize%5D=2&sort=created_at";
    let last = page(&sim, &format!("{AUDIT}?{query}"));
    assert_eq!(last["meta"]["has_more"], false);
    let past = get(&sim, &audit_next(query, &last));
    assert_eq!(past.status, 200);
    assert_eq!(
        past.text().expect("body"),
        r#"{"audit_logs":[],"meta":{"has_more":false,"after_cursor":null,"before_cursor":null},"links":{"prev":null,"next":null}}"#
    );
    // An event created later shows up behind the same cursor when walking oldest first.
    sim.add_audit_event(3, 1001);
    assert_eq!(audit_ids(&page(&sim, &audit_next(query, &last))), vec![3]);
}

#[test]
fn page_size_is_clamped_to_100_and_defaults_to_100() {
    let sim = sim();
    sim.add_audit_events(1, 150, 1000);
    let big = page(&sim, &format!("{AUDIT}?page%5Bsize%5D=500"));
    assert_eq!(audit_ids(&big).len(), 100);
    let next = big["links"]["next"].as_str().expect("next");
    assert!(next.ends_with("&page%5Bsize%5D=100"), "{next}");
    // page[after] alone selects cursor mode with the default size.
    let rest = page(&sim, &audit_next("", &big).replace("?&", "?"));
    assert_eq!(audit_ids(&rest), (1..=50).rev().collect::<Vec<u64>>());
    for bad in ["0", "-1", "ten"] {
        let resp = get(&sim, &format!("{AUDIT}?page%5Bsize%5D={bad}"));
        assert_eq!(resp.status, 400, "{bad}");
    }
}

#[test]
fn offset_mode_is_newest_first_with_count_and_page_urls() {
    let sim = sim();
    for (id, ts) in [(1, 1000), (2, 2000), (3, 3000), (4, 4000), (5, 5000)] {
        sim.add_audit_event(id, ts);
    }
    let first = page(&sim, &format!("{AUDIT}?per_page=2"));
    assert_eq!(audit_ids(&first), vec![5, 4]);
    assert_eq!(first["count"], 5);
    assert!(first["previous_page"].is_null() && first.get("meta").is_none());
    let next = first["next_page"].as_str().expect("next_page");
    assert_eq!(next, format!("{}{AUDIT}?page=2&per_page=2", sim.base_url()));
    let last = page(&sim, &format!("{AUDIT}?per_page=2&page=3"));
    assert_eq!(audit_ids(&last), vec![1]);
    assert!(last["next_page"].is_null());
    assert!(
        last["previous_page"]
            .as_str()
            .expect("prev")
            .contains("page=2")
    );
    // `sort` belongs to cursor paging; offset paging only knows sort_order.
    let ignored = page(&sim, &format!("{AUDIT}?per_page=2&sort=created_at"));
    assert_eq!(audit_ids(&ignored), vec![5, 4]);
    let asc = page(
        &sim,
        &format!("{AUDIT}?per_page=2&sort_by=created_at&sort_order=asc"),
    );
    assert_eq!(audit_ids(&asc), vec![1, 2]);
    let asc_next = asc["next_page"].as_str().expect("next_page");
    assert!(
        asc_next.ends_with("&sort_by=created_at&sort_order=asc"),
        "{asc_next}"
    );
    let windowed = page(&sim, &format!("{AUDIT}?{}", window(2000, 4000)));
    assert_eq!(audit_ids(&windowed), vec![4, 3, 2]);
    assert_eq!(windowed["count"], 3);
}

#[test]
fn offset_paging_refuses_to_go_past_the_first_10000_records() {
    const BODY: &str = r#"{"error":"InvalidPaginationParameter","description":"Offset pagination is limited to the first 10,000 records. Use cursor pagination instead."}"#;
    let sim = sim();
    sim.add_audit_events(1, 10_001, 1000);
    let last_allowed = page(&sim, &format!("{AUDIT}?per_page=100&page=100"));
    assert_eq!(
        audit_ids(&last_allowed),
        (2..=101).rev().collect::<Vec<u64>>()
    );
    assert_eq!(last_allowed["count"], 10_001);
    // It still names a next page, and that page is refused.
    let next = last_allowed["next_page"].as_str().expect("next_page");
    let refused = get(&sim, next.strip_prefix(&sim.base_url()).expect("origin"));
    assert_eq!(refused.status, 400);
    assert_eq!(refused.text().expect("body"), BODY);
    // The limit is on the offset asked for, whatever the number of records.
    let empty = super::sim();
    for query in ["per_page=100&page=101", "per_page=50&page=201", "page=101"] {
        let resp = get(&empty, &format!("{AUDIT}?{query}"));
        assert_eq!(resp.status, 400, "{query}");
        assert_eq!(resp.text().expect("body"), BODY);
    }
    assert_eq!(
        get(&empty, &format!("{AUDIT}?per_page=50&page=200")).status,
        200
    );
}
