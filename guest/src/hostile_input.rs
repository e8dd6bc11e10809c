//! Property tests over everything the guest reads from outside: page bodies, gzip, `Retry-After`
//! values, cursors and the checkpoint. Whatever arrives, the answer is a value or a typed error:
//! never a panic, never more memory than the caps allow.
//!
//! Failing cases that proptest finds are kept in `guest/proptest-regressions/` (committed) and
//! replayed first on every run.

use std::io::Write as _;

use proptest::prelude::*;

use crate::checkpoint::{Checkpoint, TicketsState};
use crate::http::{HttpError, inflate};
use crate::json_scan;
use crate::resources::audit_logs;
use crate::retry::{ratelimit_reset_ms, retry_after_ms};

/// The guest's estimate of now for header dates in these properties.
const NOW_MS: i64 = 1_750_000_000_000;
use crate::resources::tickets;

const TICKETS_PAGE: &str = r#"{"tickets":[{"id":1,"generated_timestamp":5,"subject":"a"},{"id":2,"generated_timestamp":6}],"after_url":"u","after_cursor":"+/a=","before_cursor":null,"end_of_stream":false}"#;
/// A ticket page of multi-byte text, for damage that tears characters.
const UNICODE_PAGE: &str = r#"{"tickets":[{"id":1,"generated_timestamp":5,"subject":"Überweisung fehlgeschlagen ✓","description":"日本語の説明 — ça marche"},{"id":2,"generated_timestamp":6,"tags":["café","naïve"]}],"after_cursor":"+/a=","end_of_stream":false}"#;
const AUDIT_PAGE: &str = r#"{"audit_logs":[{"id":2,"created_at":"2025-01-01T00:00:01Z"},{"id":1,"created_at":"2025-01-01T00:00:02Z"}],"meta":{"has_more":true,"after_cursor":"x","before_cursor":"y"},"links":{"prev":null,"next":"u"}}"#;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// JSON values of any shape, a few levels deep, with the fields pages use among the keys.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<u64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        ".{0,12}".prop_map(serde_json::Value::from),
        Just(serde_json::Value::from("2025-01-01T00:00:01Z")),
    ];
    let key = prop_oneof![
        Just("tickets".to_owned()),
        Just("audit_logs".to_owned()),
        Just("after_cursor".to_owned()),
        Just("end_of_stream".to_owned()),
        Just("meta".to_owned()),
        Just("has_more".to_owned()),
        Just("links".to_owned()),
        Just("id".to_owned()),
        Just("generated_timestamp".to_owned()),
        Just("created_at".to_owned()),
        "[a-z_]{1,8}",
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..6)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A valid page with some bytes replaced, inserted or removed.
fn mutated(page: &'static str) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..3u8), 1..6).prop_map(
        move |edits| {
            let mut body = page.as_bytes().to_vec();
            for (at, byte, op) in edits {
                let i = at.index(body.len() + 1);
                match op {
                    0 if i < body.len() => body[i] = byte,
                    1 => body.insert(i, byte),
                    _ if i < body.len() => {
                        body.remove(i);
                    }
                    _ => body.push(byte),
                }
            }
            body
        },
    )
}

/// What every accepted page satisfies.
fn check_tickets(body: &[u8]) {
    if let Ok(p) = tickets::parse_page(body) {
        assert_eq!(p.records.len(), p.stamps.len());
        assert!(p.end_of_stream || p.after_cursor.is_some());
        assert!(p.after_cursor.as_deref() != Some(""));
        for r in &p.records {
            assert!(serde_json::from_str::<serde_json::Value>(r).is_ok());
        }
    }
}

fn check_audit(body: &[u8]) {
    if let Ok(p) = audit_logs::parse_page(body) {
        assert_eq!(p.records.len(), p.stamps.len());
        assert!(p.stamps.windows(2).all(|w| w[0].time <= w[1].time));
        assert!(!p.has_more || p.after_cursor.as_deref().is_some_and(|c| !c.is_empty()));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_bytes_are_a_page_or_an_error(body in prop::collection::vec(any::<u8>(), 0..512)) {
        check_tickets(&body);
        check_audit(&body);
    }

    #[test]
    fn any_json_is_a_page_or_an_error(value in json_value()) {
        let body = serde_json::to_vec(&value).unwrap();
        check_tickets(&body);
        check_audit(&body);
    }

    #[test]
    fn damaged_pages_are_a_page_or_an_error(
        t in mutated(TICKETS_PAGE),
        a in mutated(AUDIT_PAGE),
    ) {
        check_tickets(&t);
        check_audit(&a);
    }

    #[test]
    fn a_page_cut_anywhere_is_an_error(cut in 0..TICKETS_PAGE.len()) {
        prop_assert!(tickets::parse_page(&TICKETS_PAGE.as_bytes()[..cut]).is_err());
        let cut = cut.min(AUDIT_PAGE.len() - 1);
        prop_assert!(audit_logs::parse_page(&AUDIT_PAGE.as_bytes()[..cut]).is_err());
    }

    #[test]
    fn inflating_never_yields_more_than_the_cap(
        raw in prop::collection::vec(any::<u8>(), 0..256),
        cap in 0u64..4096,
    ) {
        match inflate(&raw, cap) {
            Ok(out) => prop_assert!(out.len() as u64 <= cap),
            Err(HttpError::TooLarge(c)) => prop_assert_eq!(c, cap),
            Err(HttpError::Undecodable(_)) => {}
            Err(other) => prop_assert!(false, "unexpected {other:?}"),
        }
    }

    #[test]
    fn rate_limit_headers_are_seconds_a_date_or_nothing(value in ".{0,40}") {
        let ms = retry_after_ms(&value, NOW_MS);
        if let Ok(secs) = value.parse::<u64>() {
            prop_assert_eq!(ms, Some(secs.saturating_mul(1000)));
        }
        if let Some(reset) = ratelimit_reset_ms(&value, NOW_MS) {
            prop_assert!(reset >= 1000, "a reset of {reset} ms could loop");
        }
    }

    #[test]
    fn absurd_retry_after_saturates(secs in any::<u64>()) {
        prop_assert_eq!(retry_after_ms(&secs.to_string(), NOW_MS), Some(secs.saturating_mul(1000)));
    }

    #[test]
    fn any_cursor_stays_inside_one_query_parameter(cursor in ".{1,64}", size in 1u32..1000) {
        let state = TicketsState { start_time: 0, cursor: Some(cursor.clone()) };
        let path = tickets::request_path(&state, size);
        let query = path
            .strip_prefix("/api/v2/incremental/tickets/cursor.json?cursor=")
            .unwrap();
        prop_assert!(query.bytes().all(|b| b.is_ascii_alphanumeric() || b"%&=_".contains(&b)));
        let tail = format!("&per_page={size}");
        prop_assert!(query.ends_with(&tail));

        let path = audit_logs::request_path(0, 86_400, size, Some(&cursor));
        prop_assert!(path.bytes().all(|b| b.is_ascii_graphic() && b != b'#'));
        prop_assert_eq!(
            audit_logs::parse_request(&path),
            Some((0, 86_400, Some(cursor)))
        );
    }

    #[test]
    fn any_pending_request_is_parsed_or_refused(request in "/api/v2/audit_logs.json\\?.{0,80}") {
        // What is parsed is a window and a cursor the component could have asked for: built
        // again, the request parses to the same.
        if let Some((start, end, after)) = audit_logs::parse_request(&request) {
            let again = audit_logs::request_path(start, end, 7, after.as_deref());
            prop_assert_eq!(audit_logs::parse_request(&again), Some((start, end, after)));
        }
    }

    #[test]
    fn any_checkpoint_bytes_load_or_are_refused(body in prop::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(c) = Checkpoint::parse(&body) {
            prop_assert_eq!(Checkpoint::parse(&c.to_bytes()), Ok(c));
        }
    }

    #[test]
    fn any_checkpoint_json_loads_or_is_refused(value in json_value()) {
        let mut doc = serde_json::json!({"format": "zendesk-crm-checkpoint", "version": 2});
        doc["resources"] = value.clone();
        doc["pending"] = value;
        let body = serde_json::to_vec(&doc).unwrap();
        if let Ok(c) = Checkpoint::parse(&body) {
            prop_assert_eq!(Checkpoint::parse(&c.to_bytes()), Ok(c));
        }
    }
}

proptest! {
    // Each case compresses megabytes in a debug build: a few cases suffice.
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

    #[test]
    fn a_gzip_bomb_of_any_size_stops_at_the_cap(
        megabytes in 1usize..8,
        byte in any::<u8>(),
        cap in 1u64..65_536,
    ) {
        let bomb = gzip(&vec![byte; megabytes << 20]);
        prop_assert!((bomb.len() as u64) < (megabytes as u64) << 14);
        prop_assert_eq!(inflate(&bomb, cap), Err(HttpError::TooLarge(cap)));
    }
}

/// What serde's derived parsers made of a ticket page before `json_scan` replaced them.
#[derive(serde::Deserialize)]
struct DerivedPage<'a> {
    #[serde(borrow)]
    tickets: Vec<&'a serde_json::value::RawValue>,
}

#[derive(serde::Deserialize)]
struct DerivedStamp {
    id: u64,
    generated_timestamp: i64,
}

/// The records and stamps of a page as serde read them, or None where it refused the page.
/// One deliberate difference: serde's derived parser also reads a struct from an array
/// (`[1, 2]` as id 1, time 2); the walk refuses a record that is not an object.
fn derived(body: &[u8]) -> Option<Vec<(String, u64, i64)>> {
    let page: DerivedPage<'_> = serde_json::from_str(std::str::from_utf8(body).ok()?).ok()?;
    page.tickets
        .iter()
        .map(|r| {
            if !r.get().starts_with('{') {
                return None;
            }
            let s: DerivedStamp = serde_json::from_str(r.get()).ok()?;
            Some((r.get().to_owned(), s.id, s.generated_timestamp))
        })
        .collect()
}

/// The same through the one-pass walk.
fn walked(body: &[u8]) -> Option<Vec<(String, u64, i64)>> {
    let page = json_scan::page(body, "tickets", ["id", "generated_timestamp"], []).ok()?;
    if !page.has_list {
        return None;
    }
    page.records
        .iter()
        .zip(page.fields)
        .map(|(r, [id, t])| {
            Some((
                (*r).to_owned(),
                json_scan::int_field("id", id).ok()?,
                json_scan::int_field("generated_timestamp", t).ok()?,
            ))
        })
        .collect()
}

proptest! {
    /// The one-pass walk reads what serde read (each record's exact bytes, its id and time),
    /// and refuses what serde refused, on any JSON laid out compactly or pretty, and on valid
    /// pages with bytes damaged.
    #[test]
    fn the_walk_agrees_with_serde_on_any_json(value in json_value(), pretty in any::<bool>()) {
        let page = serde_json::json!({ "tickets": [value.clone(), value], "x": 1 });
        let text = if pretty {
            serde_json::to_string_pretty(&page).unwrap()
        } else {
            serde_json::to_string(&page).unwrap()
        };
        prop_assert_eq!(walked(text.as_bytes()), derived(text.as_bytes()));
    }

    /// Damaged pages, bytes that are not UTF-8 included: serde reads them from `&str`, so
    /// it refuses those, and so must the walk.
    #[test]
    fn the_walk_agrees_with_serde_on_damaged_pages(
        body in prop_oneof![mutated(TICKETS_PAGE), mutated(UNICODE_PAGE)]
    ) {
        prop_assert_eq!(walked(&body), derived(&body), "{}", String::from_utf8_lossy(&body));
    }

    /// What the walk accepts is UTF-8, whatever the bytes: the promise that lets it hand out
    /// `&str` without a second pass over the page (`json_scan::accepted`).
    #[test]
    fn the_walk_accepts_only_utf8(
        body in prop_oneof![
            mutated(UNICODE_PAGE),
            prop::collection::vec(any::<u8>(), 0..48)
                .prop_map(|noise| [br#"{"tickets":[{"s":""#.as_slice(), &noise, br#""}]}"#].concat()),
        ]
    ) {
        if json_scan::page(&body, "tickets", ["id"], ["end_of_stream"]).is_ok() {
            prop_assert!(std::str::from_utf8(&body).is_ok(), "{:?}", body);
        }
    }
}
