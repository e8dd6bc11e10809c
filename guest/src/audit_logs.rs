//! Account audit logs, `/api/v2/audit_logs.json`: cursor pagination only, oldest first,
//! bounded by `filter[created_at][]` sent twice.
//!
//! A pass walks the window from the checkpoint's high-water mark (a `created_at` second,
//! inclusive) to `pass start - lag`. Each next request is built from `meta.after_cursor` plus
//! the same filter and sort, never from `links.next` (which may drop them), and the walk stops on
//! `meta.has_more == false`. Because the lower bound is inclusive, events at the mark's second
//! come back; the checkpoint lists their ids and they are left out. No cursor is kept across
//! passes, so a stale cursor can never wedge a feed.

use std::borrow::Cow;

use percent_encoding::{NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::checkpoint::{AuditLogsState, PendingPage};
use crate::error::Failure;
use crate::json_scan;
use crate::object_key::RecordStamp;
use crate::pass::{End, PageSink, Progress, Stop};
use crate::retry::excerpt;
use crate::settings::{AUDIT_LOGS, ResourceSettings};

/// Zendesk's maximum page size for audit logs.
pub const MAX_PAGE_SIZE: u32 = 100;
/// How far behind the pass start the window ends unless configured: late events still land
/// in a later window.
pub const DEFAULT_LAG_SECONDS: u64 = 120;
const PATH: &str = "/api/v2/audit_logs.json";

#[derive(Deserialize)]
struct Meta {
    has_more: bool,
    after_cursor: Option<String>,
}

/// A validated page: every record with its stamp, and where the walk goes next.
#[derive(Debug)]
pub struct ParsedPage<'a> {
    pub records: Vec<&'a str>,
    pub stamps: Vec<RecordStamp>,
    pub meta: &'a str,
    pub links: Option<&'a str>,
    pub has_more: bool,
    pub after_cursor: Option<String>,
}

pub fn parse_page(body: &[u8]) -> Result<ParsedPage<'_>, String> {
    let not_a_page = |e: String| {
        format!(
            "not an audit log page ({e}); body starts: {}",
            excerpt(body)
        )
    };
    let text = std::str::from_utf8(body).map_err(|_| "body is not UTF-8".to_owned())?;
    let page = json_scan::page(text, "audit_logs", ["id", "created_at"], ["meta", "links"])
        .map_err(|e| not_a_page(e.to_string()))?;
    let [meta_raw, links] = page.members;
    // As `Option<&RawValue>` read it: `"links": null` is no links.
    let links = links.filter(|l| *l != "null");
    let (true, Some(meta_raw)) = (page.has_list, meta_raw) else {
        return Err(not_a_page("missing field `audit_logs` or `meta`".into()));
    };
    let meta: Meta = serde_json::from_str(meta_raw)
        .map_err(|e| format!("audit log page has an invalid meta: {e}"))?;
    let mut stamps = Vec::with_capacity(page.records.len());
    for (i, [id, created_at]) in page.fields.into_iter().enumerate() {
        let (id, created_at) = json_scan::int_field::<u64>("id", id)
            .and_then(|id| Ok((id, json_scan::str_field("created_at", created_at)?)))
            .map_err(|e| format!("audit log {i} lacks a valid id or created_at: {e}"))?;
        let time = OffsetDateTime::parse(&created_at, &Rfc3339)
            .map_err(|e| format!("audit log {id} has created_at {created_at:?}: {e}"))?
            .unix_timestamp();
        if stamps.last().is_some_and(|p: &RecordStamp| p.time > time) {
            return Err("audit logs are not oldest first: the sort was not applied".into());
        }
        stamps.push(RecordStamp { id, time });
    }
    if meta.has_more && meta.after_cursor.as_deref().is_none_or(str::is_empty) {
        return Err("has_more is true but after_cursor is missing".into());
    }
    Ok(ParsedPage {
        records: page.records,
        stamps,
        meta: meta_raw,
        links,
        has_more: meta.has_more,
        after_cursor: meta.after_cursor,
    })
}

fn iso(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into())
}

pub(crate) fn request_path(start: i64, end: i64, size: u32, after: Option<&str>) -> String {
    let enc = |s: &str| utf8_percent_encode(s, NON_ALPHANUMERIC).to_string();
    let filter = enc("filter[created_at][]");
    let mut path = format!(
        "{PATH}?{filter}={}&{filter}={}&sort=created_at&{}={size}",
        enc(&iso(start)),
        enc(&iso(end)),
        enc("page[size]"),
    );
    if let Some(cursor) = after {
        path.push_str(&format!("&{}={}", enc("page[after]"), enc(cursor)));
    }
    path
}

/// The envelope with only `kept` records, each byte for byte as sent.
fn envelope(kept: &[&str], meta: &str, links: Option<&str>) -> Vec<u8> {
    let mut out = String::with_capacity(kept.iter().map(|r| r.len() + 1).sum::<usize>() + 256);
    out.push_str("{\"audit_logs\":[");
    out.push_str(&kept.join(","));
    out.push_str("],\"meta\":");
    out.push_str(meta);
    if let Some(links) = links {
        out.push_str(",\"links\":");
        out.push_str(links);
    }
    out.push('}');
    out.into_bytes()
}

/// Moves the high-water mark over `stamps` (oldest first): the newest second seen, and the
/// ids seen at it.
fn advance(state: &mut AuditLogsState, stamps: &[RecordStamp]) {
    for s in stamps {
        if s.time > state.high_water {
            state.high_water = s.time;
            state.ids_at_mark.clear();
        }
        if s.time == state.high_water && !state.ids_at_mark.contains(&s.id) {
            state.ids_at_mark.push(s.id);
        }
    }
}

pub fn collect(sink: &mut PageSink<'_>, resource: &ResourceSettings) -> Progress {
    let size = resource
        .page_size
        .unwrap_or(MAX_PAGE_SIZE)
        .min(MAX_PAGE_SIZE);
    let lag =
        i64::try_from(resource.lag_seconds.unwrap_or(DEFAULT_LAG_SECONDS)).unwrap_or(i64::MAX);
    let window_end = sink.settings().pass_start.saturating_sub(lag);
    let mut progress = Progress::default();
    let Some(mut state) = sink.checkpoint().resources.audit_logs.clone() else {
        progress.error = Some(Failure::Checkpoint(
            "no checkpoint entry for audit_logs".into(),
        ));
        return progress;
    };
    // Pages holding only events already stored do not count against MAX_PAGES, so a second
    // with more events than a pass may fetch still makes progress.
    let mut counted_pages = 0u32;
    // The page an interrupted pass was storing comes first, from that pass's walk; then a
    // walk of this pass's window starts from where that page left the mark.
    match replay_pending(sink, &mut state, &mut progress) {
        Ok(kept) => counted_pages += u32::from(kept > 0),
        Err(end) => progress.end(end),
    }
    let walk = Walk {
        start: state.high_water,
        end: window_end,
        size,
    };
    let mut after: Option<String> = None;
    while progress.error.is_none() && progress.stopped.is_none() {
        if walk.start > walk.end {
            progress.caught_up = true;
            break;
        }
        if counted_pages >= sink.settings().max_pages {
            progress.stop(Stop::MaxPages);
            break;
        }
        match next_page(sink, &walk, &mut state, &mut after, &mut progress) {
            Ok(Some(kept)) => counted_pages += u32::from(kept > 0),
            Ok(None) => {
                progress.caught_up = true;
                break;
            }
            Err(end) => {
                progress.end(end);
                break;
            }
        }
    }
    let reached = if progress.caught_up {
        window_end
    } else {
        state.high_water
    };
    progress.behind = Some(sink.settings().pass_start.saturating_sub(reached).max(0));
    progress
}

/// The window of one pass.
struct Walk {
    start: i64,
    end: i64,
    size: u32,
}

/// Asks again for the page an interrupted pass was storing, if there is one, and stores it.
/// Ok(events kept); 0 when there was none, or Zendesk no longer answers that request.
fn replay_pending(
    sink: &mut PageSink<'_>,
    state: &mut AuditLogsState,
    progress: &mut Progress,
) -> Result<usize, End> {
    let Some(pending) = sink.pending(AUDIT_LOGS, PATH)? else {
        return Ok(0);
    };
    let Some((start, end, after)) = parse_request(&pending.request) else {
        return Err(Failure::Checkpoint(format!(
            "the pending audit_logs request {:?} has no window; the checkpoint was edited",
            pending.request
        ))
        .into());
    };
    let Some(response) = sink.fetch_pending(AUDIT_LOGS, &pending, status_failure)? else {
        return Ok(0);
    };
    let walk = Walk {
        start,
        end,
        size: pending.records,
    };
    let (kept, _) = take_page(
        sink,
        &walk,
        state,
        after.as_deref(),
        &response.body,
        progress,
    )?;
    Ok(kept)
}

/// The window and cursor of a request [`request_path`] built.
pub(crate) fn parse_request(request: &str) -> Option<(i64, i64, Option<String>)> {
    let query = request.strip_prefix(PATH)?.strip_prefix('?')?;
    let decode = |s: &str| {
        percent_decode_str(s)
            .decode_utf8()
            .ok()
            .map(Cow::into_owned)
    };
    let mut bounds = Vec::with_capacity(2);
    let mut after = None;
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=')?;
        let (k, v) = (decode(k)?, decode(v)?);
        match k.as_str() {
            "filter[created_at][]" => {
                bounds.push(OffsetDateTime::parse(&v, &Rfc3339).ok()?.unix_timestamp());
            }
            "page[after]" => after = Some(v),
            _ => {}
        }
    }
    match bounds[..] {
        [start, end] => Some((start, end, after)),
        _ => None,
    }
}

/// Fetches, validates and stores one page (its new events only), then moves the checkpoint.
/// Ok(Some(events kept)) while more pages follow, Ok(None) after the last.
fn next_page(
    sink: &mut PageSink<'_>,
    walk: &Walk,
    state: &mut AuditLogsState,
    after: &mut Option<String>,
    progress: &mut Progress,
) -> Result<Option<usize>, End> {
    let path = request_path(walk.start, walk.end, walk.size, after.as_deref());
    let response = sink.fetch_page(&path, status_failure)?;
    let (kept, next) = take_page(
        sink,
        walk,
        state,
        after.as_deref(),
        &response.body,
        progress,
    )?;
    match next {
        None => Ok(None),
        Some(cursor) => {
            *after = Some(cursor);
            Ok(Some(kept))
        }
    }
}

/// Validates and stores the page `body` that `walk` from `after` returned (its new events
/// only), then moves the checkpoint. Returns the events kept and the next cursor, none after
/// the last page.
fn take_page(
    sink: &mut PageSink<'_>,
    walk: &Walk,
    state: &mut AuditLogsState,
    after: Option<&str>,
    body: &[u8],
    progress: &mut Progress,
) -> Result<(usize, Option<String>), End> {
    let page = parse_page(body).map_err(Failure::InvalidResponse)?;
    if let Some(s) = page
        .stamps
        .iter()
        .find(|s| s.time < walk.start || s.time > walk.end)
    {
        return Err(Failure::InvalidResponse(format!(
            "audit log {} is outside the requested window: the filter was not applied",
            s.id
        ))
        .into());
    }
    if page.has_more && page.after_cursor.as_deref() == after {
        return Err(Failure::InvalidResponse(
            "after_cursor did not advance; stopping rather than asking again".into(),
        )
        .into());
    }
    let keep: Vec<usize> = (0..page.records.len())
        .filter(|&i| {
            let s = page.stamps[i];
            !(s.time == state.high_water && state.ids_at_mark.contains(&s.id))
        })
        .collect();
    let kept: Vec<&str> = keep.iter().map(|&i| page.records[i]).collect();
    let kept_stamps: Vec<RecordStamp> = keep.iter().map(|&i| page.stamps[i]).collect();
    // Unchanged pages are stored as sent; only a page with repeats is rebuilt.
    let stored: Cow<'_, [u8]> = if kept.len() == page.records.len() {
        Cow::Borrowed(body)
    } else {
        Cow::Owned(envelope(&kept, page.meta, page.links))
    };
    // The mark has not moved, so this asks for the same events and leaves out the same ones.
    let records = u32::try_from(page.records.len()).unwrap_or(u32::MAX);
    let again = PendingPage {
        request: request_path(walk.start, walk.end, records, after),
        records,
    };
    sink.store_page(AUDIT_LOGS, again, &stored, &kept, &kept_stamps, progress)?;
    advance(state, &page.stamps);
    sink.checkpoint_mut().resources.audit_logs = Some(state.clone());
    sink.save()?;
    progress.pages += 1;
    let next = if page.has_more {
        page.after_cursor
    } else {
        None
    };
    Ok((kept.len(), next))
}

fn status_failure(status: u16, body: &[u8]) -> Failure {
    let m = format!("HTTP {status}: {}", excerpt(body));
    let unavailable = |m: String| {
        format!(
            "{m}. This account or token cannot read audit logs (an Enterprise plan and the \
             auditlogs:read scope are needed); remove audit_logs from RESOURCES to stop \
             asking"
        )
    };
    match status {
        401 => Failure::Unauthorized(m),
        403 => Failure::Forbidden(unavailable(m)),
        404 => Failure::NotFound(unavailable(m)),
        _ => Failure::Rejected(m),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_carry_the_window_twice_the_sort_and_the_encoded_cursor() {
        let p = request_path(0, 86_400, 100, Some("a+b/="));
        assert_eq!(
            p,
            "/api/v2/audit_logs.json?filter%5Bcreated%5Fat%5D%5B%5D=1970%2D01%2D01T00%3A00%3A00Z\
             &filter%5Bcreated%5Fat%5D%5B%5D=1970%2D01%2D02T00%3A00%3A00Z&sort=created_at\
             &page%5Bsize%5D=100&page%5Bafter%5D=a%2Bb%2F%3D"
        );
    }

    #[test]
    fn a_request_gives_back_its_window_and_cursor() {
        let p = request_path(1_700_000_000, 1_700_086_400, 7, Some("a+b/="));
        assert_eq!(
            parse_request(&p),
            Some((1_700_000_000, 1_700_086_400, Some("a+b/=".to_owned())))
        );
        let p = request_path(0, 5, 100, None);
        assert_eq!(parse_request(&p), Some((0, 5, None)));
        assert_eq!(
            parse_request("/api/v2/audit_logs.json?sort=created_at"),
            None
        );
        assert_eq!(parse_request("/api/v2/other.json?x=1"), None);
    }

    #[test]
    fn parses_pages_and_refuses_unsorted_or_cursorless_ones() {
        let body = br#"{"audit_logs":[{"id":2,"created_at":"2025-01-01T00:00:01Z"},{"id":1,"created_at":"2025-01-01T00:00:02Z"}],"meta":{"has_more":false,"after_cursor":"x","before_cursor":"y"},"links":{"prev":null,"next":"u"}}"#;
        let p = parse_page(body).unwrap();
        assert_eq!(
            p.stamps[0],
            RecordStamp {
                id: 2,
                time: 1_735_689_601
            }
        );
        assert!(!p.has_more);
        let unsorted = br#"{"audit_logs":[{"id":2,"created_at":"2025-01-01T00:00:02Z"},{"id":1,"created_at":"2025-01-01T00:00:01Z"}],"meta":{"has_more":false,"after_cursor":null}}"#;
        assert!(parse_page(unsorted).is_err());
        let no_cursor = br#"{"audit_logs":[],"meta":{"has_more":true,"after_cursor":null}}"#;
        assert!(parse_page(no_cursor).is_err());
        assert!(parse_page(b"<html>").is_err());
    }

    #[test]
    fn envelope_keeps_records_byte_for_byte() {
        let body = envelope(
            &[r#"{"id":1,  "x":"é"}"#],
            r#"{"has_more":false}"#,
            Some("null"),
        );
        assert_eq!(
            std::str::from_utf8(&body).unwrap(),
            r#"{"audit_logs":[{"id":1,  "x":"é"}],"meta":{"has_more":false},"links":null}"#
        );
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["audit_logs"][0]["x"], "é");
    }

    #[test]
    fn the_mark_moves_to_the_newest_second_with_its_ids() {
        let mut s = AuditLogsState {
            high_water: 10,
            ids_at_mark: vec![1],
        };
        advance(
            &mut s,
            &[
                RecordStamp { id: 1, time: 10 },
                RecordStamp { id: 2, time: 10 },
            ],
        );
        assert_eq!((s.high_water, s.ids_at_mark.clone()), (10, vec![1, 2]));
        advance(
            &mut s,
            &[
                RecordStamp { id: 3, time: 11 },
                RecordStamp { id: 4, time: 12 },
            ],
        );
        assert_eq!((s.high_water, s.ids_at_mark), (12, vec![4]));
    }
}
