//! The access-log list endpoint (`GET /api/v2/access_logs[.json]`, access-logs.md): the
//! endpoint's own rate limit, the add-on check, then a cursor page with `links`/`meta`.
//!
//! Where the reference is silent the simulator picks the stricter reading and says so:
//! both filters are inclusive; a `filter[start]` older than 90 days is accepted and simply
//! finds nothing older; `links.next` is set on every page with records, the last one too
//! (only `has_more` says stop); the cursor is the id of the page's last record.

use std::time::Instant;

use serde::Serialize;

use super::access::Query;
use super::access_json::{self, AccessLog};
use super::iso8601;
use super::params::single;
use super::state::{Shared, State};
use super::ulid;
use super::wire::{SimResponse, percent_encode};
use super::{ResetFormat, SimConfig};

pub(crate) const ENDPOINT: &str = "/api/v2/access_logs";

/// What `links.next`/`links.prev` hold: the documented sample's shape, or the variations the
/// reference cannot rule out (access-logs.md §3), so a test can check the collector's rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AccessLinks {
    /// The filters repeated, the cursor as `page[after]`/`page[before]`, the size.
    #[default]
    Zendesk,
    /// Only the cursor: the filters and the size dropped.
    CursorOnly,
    /// Always null, `meta` alone says where to go.
    Null,
}
/// "default 1000, max 2500" (access-logs.md §2).
pub(crate) const DEFAULT_PAGE: usize = 1000;
pub(crate) const MAX_PAGE: usize = 2500;
/// Parameters of this endpoint the simulator serves.
const SERVED: [&str; 5] = [
    "filter[start]",
    "filter[end]",
    "page[size]",
    "page[after]",
    "page[before]",
];

pub(crate) fn handle(shared: &Shared, query: &[(String, String)]) -> SimResponse {
    let mut state = shared.state.lock().unwrap();
    if let Some(limited) = rate_limit(&shared.config, &mut state) {
        return limited;
    }
    if !state.access_logs_enabled {
        return errors(
            403,
            "Forbidden",
            "You do not have access to this resource. The Access Log API needs the Advanced \
             Data Privacy and Protection add-on, turned on by an administrator.",
        );
    }
    let q = match parse(query, state.clock.now()) {
        Ok(q) => q,
        Err(resp) => return resp,
    };
    let page = state.access.page(&q);
    let origin = state
        .after_url_origin
        .clone()
        .unwrap_or_else(|| shared.origin.clone());
    let after_cursor = page.events.last().map(|(id, _)| id.clone());
    let before_cursor = page.events.first().map(|(id, _)| id.clone());
    let mode = state.access_links;
    let link = |side: &str, cursor: &Option<String>| match mode {
        AccessLinks::Null => None,
        _ => cursor
            .as_deref()
            .map(|c| link(&origin, &q, side, c, mode == AccessLinks::Zendesk)),
    };
    let envelope = Envelope {
        access_logs: page
            .events
            .iter()
            .map(|(id, e)| access_json::render(id, e))
            .collect(),
        links: Links {
            next: link("after", &after_cursor),
            prev: link("before", &before_cursor),
        },
        meta: Meta {
            after_cursor,
            before_cursor,
            has_before: page.has_before,
            has_more: page.has_more,
        },
    };
    SimResponse::json(200, &envelope)
}

#[derive(Serialize)]
struct Envelope {
    access_logs: Vec<AccessLog>,
    links: Links,
    meta: Meta,
}

#[derive(Serialize)]
struct Links {
    next: Option<String>,
    prev: Option<String>,
}

#[derive(Serialize)]
struct Meta {
    after_cursor: Option<String>,
    before_cursor: Option<String>,
    has_before: bool,
    has_more: bool,
}

/// `links.next`/`prev` as in Zendesk's sample: the request's filters repeated, the cursor as
/// `page[after]`/`page[before]`, and the size, sorted by name as Rails' `to_query` does.
fn link(origin: &str, q: &Query, side: &str, cursor: &str, repeat: bool) -> String {
    let mut params: Vec<(String, String)> = Vec::new();
    if let (Some(end), true) = (q.end, repeat) {
        params.push(("filter[end]".into(), iso8601::format(end)));
    }
    if let (Some(start), true) = (q.start, repeat) {
        params.push(("filter[start]".into(), iso8601::format(start)));
    }
    params.push((format!("page[{side}]"), cursor.to_owned()));
    if repeat {
        params.push(("page[size]".into(), q.size.to_string()));
    }
    let query: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect();
    format!("{origin}{ENDPOINT}?{}", query.join("&"))
}

fn parse(query: &[(String, String)], now: i64) -> Result<Query, SimResponse> {
    if let Some((k, _)) = query
        .iter()
        .find(|(k, _)| (k.starts_with("filter[") || k == "sort") && !SERVED.contains(&k.as_str()))
    {
        // Documented, but not simulated: answering unfiltered would pass a wrong collector.
        return Err(invalid(&format!("{k} is not supported by this simulator")));
    }
    let time = |name: &str| -> Result<Option<i64>, SimResponse> {
        match single(query, name)? {
            None => Ok(None),
            Some(v) => iso8601::parse(v).map(Some).ok_or_else(|| {
                invalid(&format!(
                    "{name} must be a UTC time like 2023-09-05T18:52:50Z, got {v:?}"
                ))
            }),
        }
    };
    let cursor = |name: &str| -> Result<Option<String>, SimResponse> {
        match single(query, name)? {
            None => Ok(None),
            Some(v) if ulid::time_ms(v).is_some() => Ok(Some(v.to_owned())),
            Some(v) => Err(invalid(&format!("{name} {v:?} is not a valid cursor"))),
        }
    };
    let size = match single(query, "page[size]")? {
        None => DEFAULT_PAGE,
        Some(v) => match v.parse::<u64>() {
            Ok(n) if n > MAX_PAGE as u64 => {
                return Err(invalid(&format!("max allowed page size is {MAX_PAGE}")));
            }
            Ok(n) if n > 0 => n as usize,
            _ => return Err(invalid("page[size] must be a positive integer")),
        },
    };
    let q = Query {
        start: time("filter[start]")?,
        end: time("filter[end]")?,
        after: cursor("page[after]")?,
        before: cursor("page[before]")?,
        size,
        now,
    };
    if q.after.is_some() && q.before.is_some() {
        return Err(invalid(
            "page[after] and page[before] cannot be used together",
        ));
    }
    Ok(q)
}

/// The endpoint's own limit (50 a minute in Zendesk), counted in fixed windows of real time
/// so a collector that waits really waits. Off unless `access_rate_window` is set.
fn rate_limit(config: &SimConfig, state: &mut State) -> Option<SimResponse> {
    let window = config.access_rate_window?;
    let now = Instant::now();
    let rate = &mut state.access_rate;
    match rate.started {
        Some(started) if now.duration_since(started) < window => {}
        _ => {
            rate.started = Some(now);
            rate.used = 0;
        }
    }
    rate.used += 1;
    if rate.used <= config.access_rate_limit {
        return None;
    }
    let started = rate.started.unwrap_or(now);
    let left = window.saturating_sub(now.duration_since(started));
    // Whole seconds, rounded up: a client that waits this long finds a new window.
    let secs = left.as_millis().div_ceil(1000) as i64;
    let reset = match config.access_reset_format {
        ResetFormat::Seconds => secs.to_string(),
        ResetFormat::DateTime => iso8601::format(state.clock.now() + secs),
    };
    // Only `ratelimit-reset`: no Retry-After, no x-rate-limit headers (access-logs.md §5).
    Some(
        errors(
            429,
            "Too Many Requests",
            "Rate limit exceeded. Please retry after the time given in the RateLimit-Reset header.",
        )
        .with_header("ratelimit-reset", reset),
    )
}

fn invalid(detail: &str) -> SimResponse {
    errors(400, "Invalid parameter", detail)
}

/// The access log's error body: `{"errors":[{"title","detail"}]}` (access-logs.md §5).
pub(crate) fn errors(status: u16, title: &str, detail: &str) -> SimResponse {
    #[derive(Serialize)]
    struct Error<'a> {
        title: &'a str,
        detail: &'a str,
    }
    #[derive(Serialize)]
    struct Body<'a> {
        errors: [Error<'a>; 1],
    }
    SimResponse::json(
        status,
        &Body {
            errors: [Error { title, detail }],
        },
    )
}
