//! Order, page boundaries and page sizes of the export.

use super::*;

#[test]
fn pages_follow_generated_timestamp_then_id_across_cursor_requests() {
    let sim = sim();
    // Inserted out of order: ids do not follow timestamps, and ties on ts are broken by id.
    for (id, ts) in [
        (50, 1000),
        (7, 3000),
        (40, 2000),
        (9, 2000),
        (3, 2000),
        (60, 1000),
        (1, 4000),
    ] {
        sim.upsert_ticket(id, ts);
    }
    let pages = walk(&sim, &start(0, 2), 2);
    let seen: Vec<(u64, i64)> = pages.iter().flat_map(ids).collect();
    let expected = vec![
        (50, 1000),
        (60, 1000),
        (3, 2000),
        (9, 2000),
        (40, 2000),
        (7, 3000),
        (1, 4000),
    ];
    assert_eq!(seen, expected);
    assert_eq!(sim.tickets_visible(), expected);
    assert!(pages.iter().all(|p| ids(p).len() <= 2));
}

#[test]
fn start_time_includes_its_own_second_and_nothing_earlier() {
    let sim = sim();
    sim.upsert_ticket(1, 1999);
    sim.upsert_ticket(2, 2000);
    sim.upsert_ticket(3, 2001);
    let p = page(&sim, &start(2000, 100));
    assert_eq!(ids(&p), vec![(2, 2000), (3, 2001)]);
    assert_eq!(p["end_of_stream"], true);
}

#[test]
fn many_tickets_in_one_second_are_split_without_loss_or_repeat() {
    let sim = sim();
    sim.upsert_ticket(1, 999);
    sim.add_tickets(100, 250, 1000);
    sim.upsert_ticket(2, 1001);
    let pages = walk(&sim, &start(0, 7), 7);
    let seen: Vec<u64> = pages.iter().flat_map(ids).map(|(id, _)| id).collect();
    let mut expected = vec![1];
    expected.extend(100..350);
    expected.push(2);
    assert_eq!(seen, expected);
    // 252 tickets at 7 per page: 36 pages, all but the last ending mid-second.
    assert_eq!(pages.len(), 36);
}

#[test]
fn per_page_above_1000_is_clamped_and_absent_means_1000() {
    let sim = sim();
    sim.add_tickets(1, 1005, 5000);
    for path in [start(0, 5000), format!("{PATH}?start_time=0")] {
        let p = page(&sim, &path);
        assert_eq!(ids(&p).len(), 1000, "{path}");
        assert_eq!(p["end_of_stream"], false);
        assert!(
            p["after_url"]
                .as_str()
                .expect("after_url")
                .ends_with("&per_page=1000")
        );
    }
}

#[test]
fn page_cap_serves_short_pages_until_the_end() {
    let sim = sim_with(|c| c.page_cap = Some(3));
    sim.add_tickets(1, 10, 1000);
    let pages = walk(&sim, &start(0, 1000), 1000);
    let sizes: Vec<usize> = pages.iter().map(|p| ids(p).len()).collect();
    assert_eq!(sizes, vec![3, 3, 3, 1]);
    let eos: Vec<bool> = pages.iter().map(|p| p["end_of_stream"] == true).collect();
    assert_eq!(eos, vec![false, false, false, true]);
    // The URL still echoes what was asked for, not the cap.
    assert!(
        pages[0]["after_url"]
            .as_str()
            .expect("url")
            .ends_with("per_page=1000")
    );
}

#[test]
fn an_empty_page_can_come_before_the_end() {
    let sim = sim_with(|c| c.page_cap = Some(0));
    sim.upsert_ticket(1, 1000);
    let first = page(&sim, &start(1000, 10));
    assert_eq!(ids(&first), vec![]);
    assert_eq!(first["end_of_stream"], false);
    // The cursor of an empty page stands where the request started: nothing is skipped.
    let again = page(&sim, &next(&first, 10));
    assert_eq!(again["after_cursor"], first["after_cursor"]);
    assert_eq!(again["end_of_stream"], false);
}

#[test]
fn deleted_tickets_stay_in_the_stream_with_status_deleted() {
    let sim = sim();
    sim.upsert_ticket(1, 1000);
    sim.upsert_ticket(2, 1000);
    sim.delete_ticket(1, 1500);
    let p = page(&sim, &start(0, 100));
    let tickets = p["tickets"].as_array().expect("tickets");
    assert_eq!(ids(&p), vec![(2, 1000), (1, 1500)]);
    assert_ne!(tickets[0]["status"], "deleted");
    assert_eq!(tickets[1]["status"], "deleted");
}

#[test]
fn only_the_current_version_of_an_updated_ticket_is_served() {
    let sim = sim();
    sim.upsert_ticket(1, 1000);
    sim.upsert_ticket(2, 1100);
    sim.upsert_ticket(1, 1200);
    let p = page(&sim, &start(0, 100));
    assert_eq!(ids(&p), vec![(2, 1100), (1, 1200)]);
    let t = &p["tickets"][1];
    assert_eq!(t["updated_at"], "1970-01-01T00:20:00Z");
    assert!(t["created_at"].as_str() <= t["updated_at"].as_str());
}
