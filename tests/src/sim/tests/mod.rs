//! Behaviour tests over real HTTP, each pinning something a lenient simulator would get wrong.

mod access;
mod audit;
mod audit_paging;
mod errors;
mod faults;
mod oauth;
mod paging;
mod polling;
mod rate_limits;
mod wire;

use serde_json::Value;

use super::{SimConfig, Simulator};
use crate::raw_http::{self, RawResponse};

/// A fixed simulated "now" (2023-11-14T22:13:20Z).
const NOW: i64 = 1_700_000_000;
const PATH: &str = "/api/v2/incremental/tickets/cursor.json";
const AUDIT: &str = "/api/v2/audit_logs.json";

fn sim_with(tweak: impl FnOnce(&mut SimConfig)) -> Simulator {
    let mut config = SimConfig {
        now: Some(NOW),
        ..SimConfig::default()
    };
    tweak(&mut config);
    Simulator::start(config)
}

fn sim() -> Simulator {
    sim_with(|_| {})
}

fn basic(sim: &Simulator) -> String {
    raw_http::basic_auth(&sim.config().email, &sim.config().api_token)
}

/// An authenticated GET.
fn get(sim: &Simulator, path: &str) -> RawResponse {
    get_with(sim, path, &[])
}

fn get_with(sim: &Simulator, path: &str, extra: &[(&str, &str)]) -> RawResponse {
    let auth = basic(sim);
    let mut headers = vec![("Authorization", auth.as_str())];
    headers.extend_from_slice(extra);
    raw_http::get(&sim.base_url(), path, &headers).expect("response")
}

/// An authenticated GET that must answer 200 with JSON.
fn page(sim: &Simulator, path: &str) -> Value {
    let resp = get(sim, path);
    assert_eq!(
        resp.status,
        200,
        "{path}: {}",
        resp.text().unwrap_or_default()
    );
    resp.json().expect("JSON page")
}

fn start(start_time: i64, per_page: usize) -> String {
    format!("{PATH}?start_time={start_time}&per_page={per_page}")
}

fn next(page: &Value, per_page: usize) -> String {
    let cursor = page["after_cursor"]
        .as_str()
        .expect("after_cursor is a string");
    format!(
        "{PATH}?cursor={}&per_page={per_page}",
        raw_http::percent_encode(cursor)
    )
}

/// `(id, generated_timestamp)` of a page's tickets.
fn ids(page: &Value) -> Vec<(u64, i64)> {
    page["tickets"]
        .as_array()
        .expect("tickets array")
        .iter()
        .map(|t| {
            (
                t["id"].as_u64().expect("id"),
                t["generated_timestamp"].as_i64().expect("ts"),
            )
        })
        .collect()
}

/// Follows after_cursor from `first` until end_of_stream; returns every page.
fn walk(sim: &Simulator, first: &str, per_page: usize) -> Vec<Value> {
    let mut pages = vec![page(sim, first)];
    while pages.last().is_some_and(|p| p["end_of_stream"] == false) {
        assert!(pages.len() < 10_000, "the stream never ends");
        let path = next(pages.last().expect("a page"), per_page);
        pages.push(page(sim, &path));
    }
    pages
}

/// `filter[created_at][]` twice, brackets percent-encoded as most HTTP clients send them.
fn window(start: i64, end: i64) -> String {
    let bound = |t| {
        format!(
            "filter%5Bcreated_at%5D%5B%5D={}",
            crate::sim::iso8601::format(t)
        )
    };
    format!("{}&{}", bound(start), bound(end))
}

/// `(id, created_at)` of an audit-log page's records.
fn audit_events(page: &Value) -> Vec<(u64, i64)> {
    page["audit_logs"]
        .as_array()
        .expect("audit_logs array")
        .iter()
        .map(|r| {
            let created = r["created_at"].as_str().expect("created_at");
            (
                r["id"].as_u64().expect("id"),
                crate::sim::iso8601::parse(created).expect("ISO 8601 created_at"),
            )
        })
        .collect()
}

fn audit_ids(page: &Value) -> Vec<u64> {
    audit_events(page).into_iter().map(|(id, _)| id).collect()
}

/// The same query plus `page[after]` = the page's after_cursor, as a careful collector does.
fn audit_next(query: &str, page: &Value) -> String {
    let cursor = page["meta"]["after_cursor"].as_str().expect("after_cursor");
    format!(
        "{AUDIT}?{query}&page%5Bafter%5D={}",
        raw_http::percent_encode(cursor)
    )
}

/// Cursor pages from `AUDIT?query` until `has_more` is false.
fn audit_walk(sim: &Simulator, query: &str) -> Vec<Value> {
    let mut pages = vec![page(sim, &format!("{AUDIT}?{query}"))];
    while pages.last().is_some_and(|p| p["meta"]["has_more"] == true) {
        assert!(pages.len() < 10_000, "has_more never turns false");
        let path = audit_next(query, pages.last().expect("a page"));
        pages.push(page(sim, &path));
    }
    pages
}

#[test]
fn starts_and_stops_inside_a_tokio_runtime() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let url = rt.block_on(async {
        let sim = sim();
        let status = tokio::task::spawn_blocking({
            let url = sim.base_url();
            let auth = basic(&sim);
            move || {
                raw_http::get(&url, &start(0, 10), &[("Authorization", &auth)]).map(|r| r.status)
            }
        })
        .await
        .expect("join");
        assert_eq!(status.expect("response"), 200);
        sim.base_url()
        // The simulator drops here, inside the runtime.
    });
    assert!(
        raw_http::get(&url, "/", &[]).is_err(),
        "the server still answers after drop"
    );
}
