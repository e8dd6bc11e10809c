//! Access logs, `GET /api/v2/access_logs` (the ADPP add-on): who read which ticket, user or
//! setting. Cursor pagination, oldest first, bounded by `filter[start]`/`filter[end]`.
//!
//! Zendesk documents nothing about late arrivals or id order, so a later pass starts again an
//! overlap before the checkpoint's high-water mark (the newest `timestamp` stored) and skips
//! by id what it already stored. The checkpoint lists every id stored at or after
//! `high_water - overlap`: bounded by time, never by count, so no id leaves the list while a
//! later window can still return it.
//!
//! Next pages follow the server's `links.next` (the docs name the cursor parameter two ways,
//! so the server's own URL is the one to trust), on two conditions: it is on the configured
//! origin and this path (else an `invalid_response` naming it), and the window is ours. Any
//! `filter[start]`, `filter[end]` or `page[size]` in it is replaced by this pass's values, so
//! a link that drops or changes them cannot widen the walk. When `has_more` is true but
//! `links.next` is null, the next request is built from `meta.after_cursor` as
//! `page[after]` (the name `links.next` uses in Zendesk's sample); `has_more` false ends the
//! walk whatever `links.next` says.

use std::borrow::Cow;
use std::collections::BTreeSet;

use percent_encoding::{NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::checkpoint::{AccessLogsState, PendingPage};
use crate::error::Failure;
use crate::json_scan;
use crate::log;
use crate::object_key::TextStamp;
use crate::pass::{End, PageSink, Progress, Stop};
use crate::retry::excerpt;
use crate::settings::{ACCESS_LOGS, Origin, PassSettings, ResourceSettings};

/// Zendesk's maximum page size (its default is 1000).
pub const MAX_PAGE_SIZE: u32 = 2500;
/// How far behind the pass start the window ends unless configured.
pub const DEFAULT_LAG_SECONDS: u64 = 120;
/// How far before the high-water mark a later pass starts again unless configured.
pub const DEFAULT_OVERLAP_SECONDS: u64 = 300;
/// Zendesk keeps access logs for 90 days.
pub const RETENTION_SECONDS: i64 = 90 * 86_400;
/// The horizon is taken a minute inside the 90 days, so a start computed from our pass start
/// is not already past Zendesk's own horizon when the request arrives.
const HORIZON_MARGIN_SECONDS: i64 = 60;
pub const PATH: &str = "/api/v2/access_logs";
const FILTER_START: &str = "filter[start]";
const FILTER_END: &str = "filter[end]";
const PAGE_SIZE: &str = "page[size]";

/// The oldest start Zendesk can still answer for a pass starting at `pass_start`.
pub fn horizon(pass_start: i64) -> i64 {
    pass_start
        .saturating_sub(RETENTION_SECONDS)
        .saturating_add(HORIZON_MARGIN_SECONDS)
        .max(0)
}

/// Where a first run starts, and the start asked for when that was before the horizon.
pub fn first_start(settings: &PassSettings) -> (i64, Option<i64>) {
    let asked = settings.first_start();
    let floor = horizon(settings.pass_start);
    if asked < floor {
        (floor, Some(asked))
    } else {
        (asked, None)
    }
}

#[derive(Deserialize)]
struct Meta {
    has_more: bool,
    #[serde(default)]
    after_cursor: Option<String>,
}

#[derive(Deserialize)]
struct Links {
    #[serde(default)]
    next: Option<String>,
}

/// A validated page: every record with its stamp, and where the walk may go next.
#[derive(Debug)]
pub struct ParsedPage<'a> {
    pub records: Vec<&'a str>,
    pub stamps: Vec<TextStamp>,
    pub meta: &'a str,
    pub links: Option<&'a str>,
    pub has_more: bool,
    pub after_cursor: Option<String>,
    pub next: Option<String>,
}

pub fn parse_page(body: &[u8]) -> Result<ParsedPage<'_>, String> {
    let not_a_page = |e: String| {
        format!(
            "not an access log page ({e}); body starts: {}",
            excerpt(body)
        )
    };
    let text = std::str::from_utf8(body).map_err(|_| "body is not UTF-8".to_owned())?;
    let page = json_scan::page(text, "access_logs", ["id", "timestamp"], ["meta", "links"])
        .map_err(|e| not_a_page(e.to_string()))?;
    let [meta_raw, links] = page.members;
    let (true, Some(meta_raw)) = (page.has_list, meta_raw) else {
        return Err(not_a_page("missing field `access_logs` or `meta`".into()));
    };
    // As `Option<&RawValue>` read it: `"links": null` is no links.
    let links = links.filter(|l| *l != "null");
    let meta: Meta = serde_json::from_str(meta_raw)
        .map_err(|e| format!("access log page has an invalid meta: {e}"))?;
    let next = match links {
        Some(raw) => {
            let links: Links = serde_json::from_str(raw)
                .map_err(|e| format!("access log page has invalid links: {e}"))?;
            links.next.filter(|n| !n.is_empty())
        }
        _ => None,
    };
    let mut stamps = Vec::with_capacity(page.records.len());
    for (i, [id, timestamp]) in page.fields.into_iter().enumerate() {
        let (id, timestamp) = json_scan::str_field("id", id)
            .and_then(|id| Ok((id, json_scan::str_field("timestamp", timestamp)?)))
            .map_err(|e| format!("access log {i} lacks a valid id or timestamp: {e}"))?;
        if id.is_empty() || id.len() > 64 || id.chars().any(|c| c.is_control() || c.is_whitespace())
        {
            return Err(format!("access log {i} has id {id:?}, not an id"));
        }
        let time = OffsetDateTime::parse(&timestamp, &Rfc3339)
            .map_err(|e| format!("access log {id} has timestamp {timestamp:?}: {e}"))?
            .unix_timestamp();
        stamps.push(TextStamp {
            id: id.into_owned(),
            time,
        });
    }
    let after_cursor = meta.after_cursor.filter(|c| !c.is_empty());
    if meta.has_more && next.is_none() && after_cursor.is_none() {
        return Err("has_more is true but neither links.next nor meta.after_cursor is set".into());
    }
    Ok(ParsedPage {
        records: page.records,
        stamps,
        meta: meta_raw,
        links,
        has_more: meta.has_more,
        after_cursor,
        next,
    })
}

fn iso(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into())
}

fn enc(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

/// The window of one pass: inclusive `timestamp` bounds, and the page size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Walk {
    pub start: i64,
    pub end: i64,
    pub size: u32,
}

impl Walk {
    /// This pass's own parameters, encoded: the window and the page size.
    fn params(&self) -> String {
        format!(
            "{}={}&{}={}&{}={}",
            enc(FILTER_START),
            enc(&iso(self.start)),
            enc(FILTER_END),
            enc(&iso(self.end)),
            enc(PAGE_SIZE),
            self.size
        )
    }

    /// The first request of the walk.
    pub fn first(&self) -> String {
        format!("{PATH}?{}", self.params())
    }

    /// The next request when the server gave no `links.next`: `page[after]`.
    pub fn after(&self, cursor: &str) -> String {
        format!(
            "{PATH}?{}&{}={}",
            self.params(),
            enc("page[after]"),
            enc(cursor)
        )
    }

    /// The server's `links.next`, checked to be on `origin` and this path, with the window
    /// and page size replaced by ours; the rest (the cursor) is kept as sent.
    pub fn follow(&self, next: &str, origin: &Origin) -> Result<String, String> {
        let refuse = |why: &str| format!("links.next {next:?} {why}; not following it");
        if next
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '#')
        {
            return Err(refuse("is not a plain URL"));
        }
        let scheme = if origin.https { "https://" } else { "http://" };
        let path_and_query = if next.starts_with('/') && !next.starts_with("//") {
            next
        } else {
            let rest = next
                .get(..scheme.len())
                .filter(|s| s.eq_ignore_ascii_case(scheme))
                .map(|_| &next[scheme.len()..])
                .ok_or_else(|| refuse("is not on the configured origin"))?;
            let slash = rest.find('/').unwrap_or(rest.len());
            if !rest[..slash].eq_ignore_ascii_case(&origin.authority) {
                return Err(refuse("is not on the configured origin"));
            }
            &rest[slash..]
        };
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        // The `.json` suffix is optional on Zendesk's API; the host allows only the bare path.
        if path != PATH && path != format!("{PATH}.json") {
            return Err(refuse("is not the access log endpoint"));
        }
        let ours = [FILTER_START, FILTER_END, PAGE_SIZE];
        let mut kept: Vec<&str> = query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .filter(|pair| {
                let key = pair.split_once('=').map_or(*pair, |(k, _)| k);
                let key = percent_decode_str(&key.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned();
                !ours.contains(&key.as_str())
            })
            .collect();
        let params = self.params();
        kept.push(&params);
        Ok(format!("{PATH}?{}", kept.join("&")))
    }
}

/// The window a request built by [`Walk`] asked for, so the page an interrupted pass was
/// storing is checked against its own window when it is asked for again.
pub(crate) fn parse_window(request: &str) -> Option<(i64, i64)> {
    let query = request.strip_prefix(PATH)?.strip_prefix('?')?;
    let (mut start, mut end) = (None, None);
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=')?;
        let k = percent_decode_str(k).decode_utf8().ok()?;
        let v = percent_decode_str(v).decode_utf8().ok()?;
        let at = || {
            OffsetDateTime::parse(&v, &Rfc3339)
                .ok()
                .map(|t| t.unix_timestamp())
        };
        match k.as_ref() {
            FILTER_START => start = at(),
            FILTER_END => end = at(),
            _ => {}
        }
    }
    Some((start?, end?))
}

/// The envelope with only `kept` records, each byte for byte as sent, in Zendesk's key order.
fn envelope(kept: &[&str], meta: &str, links: Option<&str>) -> Vec<u8> {
    let mut out = String::with_capacity(kept.iter().map(|r| r.len() + 1).sum::<usize>() + 512);
    out.push_str("{\"access_logs\":[");
    out.push_str(&kept.join(","));
    out.push(']');
    if let Some(links) = links {
        out.push_str(",\"links\":");
        out.push_str(links);
    }
    out.push_str(",\"meta\":");
    out.push_str(meta);
    out.push('}');
    out.into_bytes()
}

/// Records `stored` in the state, moves the mark to the newest timestamp, and forgets ids
/// older than `mark - overlap` (no later window reaches them).
fn advance(state: &mut AccessLogsState, stored: &[TextStamp], overlap: i64) {
    for s in stored {
        state.high_water = state.high_water.max(s.time);
        state.recent_ids.insert(s.id.clone(), s.time);
    }
    let keep_from = state.high_water.saturating_sub(overlap);
    state.recent_ids.retain(|_, t| *t >= keep_from);
}

fn seconds(value: Option<u64>, default: u64) -> i64 {
    i64::try_from(value.unwrap_or(default)).unwrap_or(i64::MAX)
}

pub fn collect(sink: &mut PageSink<'_>, resource: &ResourceSettings) -> Progress {
    let size = resource
        .page_size
        .unwrap_or(MAX_PAGE_SIZE)
        .min(MAX_PAGE_SIZE);
    let lag = seconds(resource.lag_seconds, DEFAULT_LAG_SECONDS);
    let overlap = seconds(resource.overlap_seconds, DEFAULT_OVERLAP_SECONDS);
    let pass_start = sink.settings().pass_start;
    let window_end = pass_start.saturating_sub(lag);
    let mut progress = Progress::default();
    let Some(mut state) = sink.checkpoint().resources.access_logs.clone() else {
        progress.error = Some(Failure::Checkpoint(
            "no checkpoint entry for access_logs".into(),
        ));
        return progress;
    };
    let asked = state.high_water.saturating_sub(overlap).max(state.start);
    let floor = horizon(pass_start);
    if asked < floor {
        // A checkpoint left more than 90 days behind: what lies before the horizon is gone.
        progress.requested_start = Some(asked);
        log::warn(
            "access logs: the checkpoint is older than Zendesk's 90 days; starting at the horizon",
            &[
                ("requested_start", asked.to_string()),
                ("start", floor.to_string()),
            ],
        );
    }
    let walk = Walk {
        start: asked.max(floor),
        end: window_end,
        size,
    };
    // Every id stored before or during this pass: a page may repeat any of them.
    let mut seen: BTreeSet<String> = state.recent_ids.keys().cloned().collect();
    // The page an interrupted pass was storing is asked for first, exactly as then.
    if let Err(end) = replay_pending(sink, &mut state, &mut seen, overlap, &mut progress) {
        progress.end(end);
        return progress;
    }
    let mut path = walk.first();
    // Pages holding only events already stored do not count against MAX_PAGES, so an overlap
    // holding more events than a pass may fetch still makes progress.
    let mut counted_pages = 0u32;
    loop {
        if walk.start > walk.end {
            progress.caught_up = true;
            break;
        }
        if counted_pages >= sink.settings().max_pages {
            progress.stop(Stop::MaxPages);
            break;
        }
        let mut step = Step {
            walk: &walk,
            state: &mut state,
            seen: &mut seen,
            overlap,
        };
        match step.next_page(sink, &path, &mut progress) {
            Ok(Next::More { kept, path: next }) => {
                counted_pages += u32::from(kept > 0);
                path = next;
            }
            Ok(Next::Done) => {
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
    progress.behind = Some(pass_start.saturating_sub(reached).max(0));
    progress
}

/// Asks again for the page an interrupted pass was storing, if there is one, and stores it
/// (its records were not yet in the checkpoint, so the same ones are kept and the key is the
/// same). This pass's own walk then starts from the checkpoint as usual.
fn replay_pending(
    sink: &mut PageSink<'_>,
    state: &mut AccessLogsState,
    seen: &mut BTreeSet<String>,
    overlap: i64,
    progress: &mut Progress,
) -> Result<(), End> {
    let Some(pending) = sink.pending(ACCESS_LOGS, PATH)? else {
        return Ok(());
    };
    let Some((start, end)) = parse_window(&pending.request) else {
        return Err(Failure::Checkpoint(format!(
            "the pending access_logs request {:?} has no window; the checkpoint was edited",
            pending.request
        ))
        .into());
    };
    let Some(response) = sink.fetch_pending(ACCESS_LOGS, &pending, status_failure)? else {
        return Ok(());
    };
    let walk = Walk {
        start,
        end,
        size: pending.records,
    };
    let mut step = Step {
        walk: &walk,
        state,
        seen,
        overlap,
    };
    step.take_page(sink, &pending.request, &response.body, progress)?;
    Ok(())
}

enum Next {
    More { kept: usize, path: String },
    Done,
}

struct Step<'w> {
    walk: &'w Walk,
    state: &'w mut AccessLogsState,
    seen: &'w mut BTreeSet<String>,
    overlap: i64,
}

impl Step<'_> {
    /// Fetches, validates and stores one page (its new events only), then moves the checkpoint.
    fn next_page(
        &mut self,
        sink: &mut PageSink<'_>,
        path: &str,
        progress: &mut Progress,
    ) -> Result<Next, End> {
        let response = sink.fetch_page(path, status_failure)?;
        self.take_page(sink, path, &response.body, progress)
    }

    /// Validates and stores a page fetched with `path`, then moves the checkpoint.
    fn take_page(
        &mut self,
        sink: &mut PageSink<'_>,
        path: &str,
        body: &[u8],
        progress: &mut Progress,
    ) -> Result<Next, End> {
        let page = parse_page(body).map_err(Failure::InvalidResponse)?;
        if let Some(s) = page
            .stamps
            .iter()
            .find(|s| s.time < self.walk.start || s.time > self.walk.end)
        {
            return Err(Failure::InvalidResponse(format!(
                "access log {} ({}) is outside the requested window {} to {}: the filter was \
                 not applied",
                s.id,
                iso(s.time),
                iso(self.walk.start),
                iso(self.walk.end)
            ))
            .into());
        }
        // Where the walk goes next, checked before anything is stored: a hostile link fails
        // the resource with this page not yet counted, and the next pass asks again.
        let next = if !page.has_more {
            None
        } else {
            let next = match (&page.next, &page.after_cursor) {
                (Some(link), _) => self
                    .walk
                    .follow(link, &sink.settings().origin)
                    .map_err(Failure::InvalidResponse)?,
                (None, Some(cursor)) => self.walk.after(cursor),
                (None, None) => unreachable_cursor()?,
            };
            if next == path {
                return Err(Failure::InvalidResponse(
                    "the next page is the page just read; stopping rather than asking again".into(),
                )
                .into());
            }
            Some(next)
        };
        let mut fresh = BTreeSet::new();
        let keep: Vec<usize> = (0..page.records.len())
            .filter(|&i| {
                let id = &page.stamps[i].id;
                !self.seen.contains(id) && fresh.insert(id.clone())
            })
            .collect();
        let kept: Vec<&str> = keep.iter().map(|&i| page.records[i]).collect();
        let kept_stamps: Vec<TextStamp> = keep.iter().map(|&i| page.stamps[i].clone()).collect();
        // Unchanged pages are stored as sent; only a page with repeats is rebuilt.
        let stored: Cow<'_, [u8]> = if kept.len() == page.records.len() {
            Cow::Borrowed(body)
        } else {
            Cow::Owned(envelope(&kept, page.meta, page.links))
        };
        // The checkpoint has not moved, so this asks for the same records and leaves out the
        // same ones.
        let records = u32::try_from(page.records.len()).unwrap_or(u32::MAX);
        let again = PendingPage {
            request: Walk {
                size: records.max(1),
                ..*self.walk
            }
            .follow(path, &sink.settings().origin)
            .map_err(Failure::InvalidResponse)?,
            records,
        };
        sink.store_page(ACCESS_LOGS, again, &stored, &kept, &kept_stamps, progress)?;
        self.seen.extend(fresh);
        advance(self.state, &kept_stamps, self.overlap);
        sink.checkpoint_mut().resources.access_logs = Some(self.state.clone());
        sink.save()?;
        progress.pages += 1;
        Ok(match next {
            Some(path) => Next::More {
                kept: kept.len(),
                path,
            },
            None => Next::Done,
        })
    }
}

/// `parse_page` refuses `has_more` without a way on; this keeps the match total.
fn unreachable_cursor() -> Result<String, Failure> {
    Err(Failure::InvalidResponse(
        "has_more is true but there is no next page".into(),
    ))
}

/// Zendesk's `{"errors":[{"title","detail"}]}` as one line, or the body's start.
fn zendesk_error(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Error {
        #[serde(default)]
        title: Option<String>,
        #[serde(default)]
        detail: Option<String>,
    }
    #[derive(Deserialize)]
    struct Body {
        errors: Vec<Error>,
    }
    match serde_json::from_slice::<Body>(body) {
        Ok(b) if !b.errors.is_empty() => b
            .errors
            .iter()
            .map(|e| match (&e.title, &e.detail) {
                (Some(t), Some(d)) => format!("{t}: {d}"),
                (Some(s), None) | (None, Some(s)) => s.clone(),
                (None, None) => "(no detail)".to_owned(),
            })
            .collect::<Vec<_>>()
            .join("; "),
        _ => excerpt(body),
    }
}

fn status_failure(status: u16, body: &[u8]) -> Failure {
    let m = format!("HTTP {status}: {}", zendesk_error(body));
    let unavailable = |m: String| {
        format!(
            "{m}. This account or token cannot read access logs. They need the Advanced Data \
             Privacy and Protection (ADPP) add-on; an admin must turn the API on (Admin Center > \
             Account > Logs > Access log > \"Turn on the Access Log API\"); and the token's user \
             must be an admin (OAuth: the `read` scope). Or remove access_logs from RESOURCES \
             to stop asking"
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

    const WALK: Walk = Walk {
        start: 0,
        end: 86_400,
        size: 2500,
    };
    const OURS: &str = "filter%5Bstart%5D=1970%2D01%2D01T00%3A00%3A00Z\
                        &filter%5Bend%5D=1970%2D01%2D02T00%3A00%3A00Z&page%5Bsize%5D=2500";

    fn origin() -> Origin {
        Origin::parse("https://acme.zendesk.com").unwrap()
    }

    #[test]
    fn the_first_request_carries_the_window_and_the_size() {
        assert_eq!(WALK.first(), format!("{PATH}?{OURS}"));
        assert_eq!(
            WALK.after("01H+/="),
            format!("{PATH}?{OURS}&page%5Bafter%5D=01H%2B%2F%3D")
        );
    }

    #[test]
    fn links_next_is_followed_with_our_window_put_back() {
        // The sample's shape: filters repeated, then the cursor.
        let next = "https://acme.zendesk.com/api/v2/access_logs?filter%5Bend%5D=2030-01-01T00%3A00%3A00Z\
                    &filter%5Bstart%5D=1960-01-01T00%3A00%3A00Z&page%5Bafter%5D=01HABC&page%5Bsize%5D=1";
        assert_eq!(
            WALK.follow(next, &origin()).unwrap(),
            format!("{PATH}?page%5Bafter%5D=01HABC&{OURS}")
        );
        // A link that drops them gets them back; unencoded brackets are recognised too.
        let bare = "https://ACME.zendesk.com/api/v2/access_logs.json?page[after]=01HABC";
        assert_eq!(
            WALK.follow(bare, &origin()).unwrap(),
            format!("{PATH}?page[after]=01HABC&{OURS}")
        );
        let relative = "/api/v2/access_logs?filter[start]=x&page%5Bafter%5D=Z";
        assert_eq!(
            WALK.follow(relative, &origin()).unwrap(),
            format!("{PATH}?page%5Bafter%5D=Z&{OURS}")
        );
    }

    #[test]
    fn links_next_elsewhere_is_refused_by_name() {
        for next in [
            "https://evil.example/api/v2/access_logs?page%5Bafter%5D=x",
            "http://acme.zendesk.com/api/v2/access_logs?page%5Bafter%5D=x",
            "https://acme.zendesk.com.evil.example/api/v2/access_logs",
            "https://acme.zendesk.com@evil.example/api/v2/access_logs",
            "//evil.example/api/v2/access_logs",
            "https://acme.zendesk.com/api/v2/users.json?page%5Bafter%5D=x",
            "https://acme.zendesk.com/api/v2/access_logs/../users",
            "https://acme.zendesk.com/api/v2/access_logs?a=b c",
        ] {
            let err = WALK.follow(next, &origin()).unwrap_err();
            assert!(err.contains(&format!("{next:?}")), "{err}");
        }
    }

    #[test]
    fn parses_pages_in_zendesks_shape() {
        let body = br#"{"access_logs":[{"id":"01H9KB1CDRX2RVDS7E2R4YJ0TS","timestamp":"2023-09-05T18:52:50Z","user_id":1}],"links":{"next":"https://x/api/v2/access_logs?page%5Bafter%5D=a","prev":null},"meta":{"after_cursor":"a","before_cursor":"b","has_before":false,"has_more":true}}"#;
        let p = parse_page(body).unwrap();
        assert_eq!(p.stamps[0].id, "01H9KB1CDRX2RVDS7E2R4YJ0TS");
        assert_eq!(p.stamps[0].time, 1_693_939_970);
        assert!(p.has_more);
        assert_eq!(p.after_cursor.as_deref(), Some("a"));
        assert!(p.next.as_deref().unwrap().ends_with("page%5Bafter%5D=a"));
        // has_more with a cursor but no link is fine (we fall back to page[after]) ...
        let no_link = br#"{"access_logs":[],"links":{"next":null,"prev":null},"meta":{"after_cursor":"a","has_more":true}}"#;
        assert_eq!(parse_page(no_link).unwrap().next, None);
        // ... with neither it is not a page.
        let stuck =
            br#"{"access_logs":[],"links":null,"meta":{"after_cursor":null,"has_more":true}}"#;
        assert!(parse_page(stuck).is_err());
        for bad in [
            &br#"{"access_logs":[{"id":5,"timestamp":"2023-09-05T18:52:50Z"}],"meta":{"has_more":false}}"#[..],
            br#"{"access_logs":[{"id":"a","timestamp":"yesterday"}],"meta":{"has_more":false}}"#,
            br#"{"access_logs":[{"id":"a b","timestamp":"2023-09-05T18:52:50Z"}],"meta":{"has_more":false}}"#,
            br#"{"audit_logs":[],"meta":{"has_more":false}}"#,
            b"<html>",
        ] {
            assert!(parse_page(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn envelope_keeps_records_byte_for_byte_in_zendesks_order() {
        let body = envelope(
            &[r#"{"id":"A",  "x":"é"}"#],
            r#"{"has_more":false}"#,
            Some(r#"{"next":null}"#),
        );
        assert_eq!(
            std::str::from_utf8(&body).unwrap(),
            r#"{"access_logs":[{"id":"A",  "x":"é"}],"links":{"next":null},"meta":{"has_more":false}}"#
        );
    }

    #[test]
    fn the_mark_keeps_ids_by_time_not_by_count() {
        let mut s = AccessLogsState {
            start: 0,
            high_water: 0,
            recent_ids: Default::default(),
        };
        let stamp = |id: &str, time| TextStamp {
            id: id.into(),
            time,
        };
        let many: Vec<TextStamp> = (0..5000)
            .map(|i| stamp(&format!("A{i:05}"), 1000))
            .collect();
        advance(&mut s, &many, 300);
        assert_eq!((s.high_water, s.recent_ids.len()), (1000, 5000));
        advance(&mut s, &[stamp("B", 1300)], 300);
        assert_eq!(s.recent_ids.len(), 5001, "1000 is still inside 1300 - 300");
        advance(&mut s, &[stamp("C", 1301)], 300);
        assert_eq!(s.recent_ids.len(), 2);
        // Out of order: an older event stored late does not move the mark back.
        advance(&mut s, &[stamp("D", 1200)], 300);
        assert_eq!((s.high_water, s.recent_ids.len()), (1301, 3));
    }

    #[test]
    fn errors_quote_zendesk_and_say_what_to_do() {
        let body = br#"{"errors":[{"title":"Forbidden","detail":"You do not have access"}]}"#;
        let Failure::Forbidden(m) = status_failure(403, body) else {
            panic!("not forbidden");
        };
        assert!(
            m.starts_with("HTTP 403: Forbidden: You do not have access."),
            "{m}"
        );
        assert!(
            m.contains("ADPP") && m.contains("Turn on the Access Log API"),
            "{m}"
        );
        let Failure::Rejected(m) = status_failure(
            400,
            br#"{"errors":[{"title":"Invalid","detail":"max allowed page size is 2500"}]}"#,
        ) else {
            panic!("not rejected");
        };
        assert_eq!(m, "HTTP 400: Invalid: max allowed page size is 2500");
    }

    #[test]
    fn the_horizon_is_ninety_days_back() {
        assert_eq!(horizon(100 * 86_400), 10 * 86_400 + 60);
        assert_eq!(horizon(1000), 0);
    }
}
