//! The one-minute lag, too-recent start times, and polling a cursor kept from the last run.

use super::*;

#[test]
fn the_last_minute_is_hidden_until_the_clock_moves_on() {
    let sim = sim();
    sim.upsert_ticket(1, NOW - 61);
    sim.upsert_ticket(2, NOW - 60);
    sim.upsert_ticket(3, NOW - 59);
    sim.upsert_ticket(4, NOW);
    let p = page(&sim, &start(0, 100));
    assert_eq!(ids(&p), vec![(1, NOW - 61), (2, NOW - 60)]);
    assert_eq!(p["end_of_stream"], true);
    assert_eq!(sim.tickets_visible().len(), 2);

    sim.advance(1);
    let p = page(&sim, &next(&p, 100));
    assert_eq!(ids(&p), vec![(3, NOW - 59)]);
    sim.advance(59);
    let p = page(&sim, &next(&p, 100));
    assert_eq!(ids(&p), vec![(4, NOW)]);
}

#[test]
fn too_recent_start_time_is_422_by_default() {
    let sim = sim();
    // Exactly one minute old is allowed.
    assert_eq!(get(&sim, &start(NOW - 60, 10)).status, 200);
    for t in [NOW - 59, NOW, NOW + 3600] {
        let resp = get(&sim, &start(t, 10));
        assert_eq!(resp.status, 422, "start_time={t}");
        let body = resp.json().expect("json");
        assert_eq!(body["error"], "InvalidValue");
        assert_eq!(
            body["description"],
            "Too recent start_time. Use a start_time older than 1 minute"
        );
    }
}

#[test]
fn too_recent_start_time_can_be_400() {
    let sim = sim_with(|c| c.too_recent_status = 400);
    let resp = get(&sim, &start(NOW, 10));
    assert_eq!(resp.status, 400);
    assert_eq!(resp.json().expect("json")["error"], "InvalidValue");
}

#[test]
fn end_of_stream_keeps_a_cursor_that_later_returns_only_what_changed() {
    let sim = sim();
    sim.add_tickets(1, 5, 1000);
    let pages = walk(&sim, &start(0, 2), 2);
    let last = pages.last().expect("pages");
    assert_eq!(last["end_of_stream"], true);
    assert!(last["after_cursor"].is_string() && last["after_url"].is_string());

    // Polling the saved cursor with nothing new: empty, still at the end, same cursor.
    let idle = page(&sim, &next(last, 2));
    assert_eq!(ids(&idle), vec![]);
    assert_eq!(idle["end_of_stream"], true);
    assert_eq!(idle["after_cursor"], last["after_cursor"]);

    sim.upsert_ticket(6, NOW - 30);
    sim.upsert_ticket(2, NOW - 20);
    sim.advance(60);
    let later = walk(&sim, &next(&idle, 2), 2);
    let seen: Vec<(u64, i64)> = later.iter().flat_map(ids).collect();
    assert_eq!(seen, vec![(6, NOW - 30), (2, NOW - 20)]);
}

#[test]
fn an_empty_start_time_export_resumes_from_that_second() {
    let sim = sim();
    let s = NOW - 600;
    let empty = page(&sim, &start(s, 10));
    assert_eq!(ids(&empty), vec![]);
    assert_eq!(empty["end_of_stream"], true);
    sim.upsert_ticket(9, s - 1);
    sim.upsert_ticket(8, s);
    let p = page(&sim, &next(&empty, 10));
    assert_eq!(ids(&p), vec![(8, s)]);
}
