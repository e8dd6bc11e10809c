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

mod page;
mod walk;

use std::collections::BTreeSet;

use serde::Deserialize;

use super::events;
use crate::checkpoint::{AccessLogsState, PendingPage, Resources};
use crate::collect::{First, Page, Position, Resource};
use crate::error::Failure;
use crate::log;
use crate::object_key::TextStamp;
use crate::retry::excerpt;
use crate::settings::{ACCESS_LOGS, Origin, PassSettings, ResourceSettings};
use events::iso;
use page::{envelope, parse_page};
use walk::{Walk, parse_window};

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

/// A walk of this pass's window, an overlap before the high-water mark, by `links.next`.
pub struct AccessLogs {
    state: AccessLogsState,
    /// Every id stored before or during this pass: a page may repeat any of them.
    seen: BTreeSet<String>,
    overlap: i64,
    /// This pass's window, fixed from the checkpoint as it was when the pass began.
    pass_walk: Walk,
    /// The window being walked: this pass's, or the pending page's while it is taken again.
    walk: Walk,
    /// The next request.
    path: String,
    requested_start: Option<i64>,
}

/// How a stored page moves the walk: its new ids and their stamps, and the next request.
pub struct Advance {
    fresh: BTreeSet<String>,
    stamps: Vec<TextStamp>,
    next: Option<String>,
}

impl Resource for AccessLogs {
    const NAME: &'static str = ACCESS_LOGS;
    const PATH: &'static str = PATH;
    /// Access logs allow 50 requests a minute.
    const DEFAULT_LIMIT: Option<u32> = Some(50);
    type State = AccessLogsState;
    type Stamp = TextStamp;
    type Advance = Advance;

    fn entry(resources: &Resources) -> Option<&AccessLogsState> {
        resources.access_logs.as_ref()
    }

    fn entry_mut(resources: &mut Resources) -> &mut Option<AccessLogsState> {
        &mut resources.access_logs
    }

    fn first(pass: &PassSettings) -> First<AccessLogsState> {
        let (start, asked) = first_start(pass);
        if let Some(asked) = asked {
            log::warn(
                "access logs: the requested start is older than Zendesk's 90 days; starting at the \
                 horizon",
                &[
                    ("requested_start", asked.to_string()),
                    ("start", start.to_string()),
                ],
            );
        }
        First {
            state: AccessLogsState {
                start,
                high_water: start,
                recent_ids: Default::default(),
            },
            start,
            requested: asked,
        }
    }

    fn start(state: &AccessLogsState) -> i64 {
        state.start
    }

    /// An earlier `START_TIME` would only have started at Zendesk's horizon.
    fn start_time_matters(asked: i64, stored: i64) -> bool {
        asked > stored
    }

    fn position(state: &AccessLogsState) -> Position {
        Position {
            start: Some(state.start),
            reached: Some(state.high_water),
            has_cursor: false,
        }
    }

    fn open(
        state: AccessLogsState,
        pass: &PassSettings,
        resource: &ResourceSettings,
    ) -> AccessLogs {
        let size = resource
            .page_size
            .unwrap_or(MAX_PAGE_SIZE)
            .min(MAX_PAGE_SIZE);
        let lag = seconds(resource.lag_seconds, DEFAULT_LAG_SECONDS);
        let overlap = seconds(resource.overlap_seconds, DEFAULT_OVERLAP_SECONDS);
        let asked = state.high_water.saturating_sub(overlap).max(state.start);
        let floor = horizon(pass.pass_start);
        let mut requested_start = None;
        if asked < floor {
            // A checkpoint left more than 90 days behind: what lies before the horizon is gone.
            requested_start = Some(asked);
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
            end: pass.pass_start.saturating_sub(lag),
            size,
        };
        AccessLogs {
            seen: state.recent_ids.keys().cloned().collect(),
            state,
            overlap,
            pass_walk: walk,
            walk,
            path: walk.first(),
            requested_start,
        }
    }

    fn requested_start(&self) -> Option<i64> {
        self.requested_start
    }

    fn request(&self) -> Option<String> {
        (self.walk.start <= self.walk.end).then(|| self.path.clone())
    }

    fn replay(&mut self, pending: &PendingPage) -> Result<(), Failure> {
        let Some((start, end)) = parse_window(&pending.request) else {
            return Err(Failure::Checkpoint(format!(
                "the pending access_logs request {:?} has no window; the checkpoint was edited",
                pending.request
            )));
        };
        self.walk = Walk {
            start,
            end,
            size: pending.records,
        };
        Ok(())
    }

    /// This pass's own walk then starts from the checkpoint as it was when the pass began.
    fn resume(&mut self, _: Option<bool>) -> bool {
        self.walk = self.pass_walk;
        self.path = self.walk.first();
        true
    }

    fn page<'b>(
        &self,
        path: &str,
        body: &'b [u8],
        origin: &Origin,
    ) -> Result<Page<'b, TextStamp, Advance>, Failure> {
        let page = parse_page(body).map_err(Failure::InvalidResponse)?;
        let walk = &self.walk;
        if let Some(s) = page
            .stamps
            .iter()
            .find(|s| s.time < walk.start || s.time > walk.end)
        {
            return Err(Failure::InvalidResponse(format!(
                "access log {} ({}) is outside the requested window {} to {}: the filter was \
                 not applied",
                s.id,
                iso(s.time),
                iso(walk.start),
                iso(walk.end)
            )));
        }
        // Where the walk goes next, checked before anything is stored: a hostile link fails
        // the resource with this page not yet counted, and the next pass asks again.
        let next = if !page.has_more {
            None
        } else {
            let next = match (&page.next, &page.after_cursor) {
                (Some(link), _) => walk
                    .follow(link, origin)
                    .map_err(Failure::InvalidResponse)?,
                (None, Some(cursor)) => walk.after(cursor),
                (None, None) => unreachable_cursor()?,
            };
            if next == path {
                return Err(Failure::InvalidResponse(
                    "the next page is the page just read; stopping rather than asking again".into(),
                ));
            }
            Some(next)
        };
        let mut fresh = BTreeSet::new();
        let kept = events::keep_new(
            body,
            &page.records,
            &page.stamps,
            |s| !self.seen.contains(&s.id) && fresh.insert(s.id.clone()),
            |kept| envelope(kept, page.meta, page.links),
        );
        // The checkpoint has not moved, so this asks for the same records and leaves out the
        // same ones.
        let records = u32::try_from(page.records.len()).unwrap_or(u32::MAX);
        let again = PendingPage {
            request: Walk {
                size: records.max(1),
                ..*walk
            }
            .follow(path, origin)
            .map_err(Failure::InvalidResponse)?,
            records,
        };
        Ok(Page {
            stored: kept.stored,
            kept: kept.records,
            stamps: kept.stamps.clone(),
            again,
            more: next.is_some(),
            advance: Advance {
                fresh,
                stamps: kept.stamps,
                next,
            },
        })
    }

    fn advance(&mut self, step: Advance) -> AccessLogsState {
        self.seen.extend(step.fresh);
        advance(&mut self.state, &step.stamps, self.overlap);
        if let Some(next) = step.next {
            self.path = next;
        }
        self.state.clone()
    }

    fn status_failure(&self, status: u16, body: &[u8]) -> Failure {
        status_failure(status, body)
    }

    /// Caught up means the whole window is stored, up to its end.
    fn behind(&self, pass_start: i64, caught_up: bool) -> Option<i64> {
        events::behind(
            pass_start,
            caught_up,
            self.pass_walk.end,
            self.state.high_water,
        )
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
    events::status_failure(
        format!("HTTP {status}: {}", zendesk_error(body)),
        status,
        "This account or token cannot read access logs. They need the Advanced Data Privacy \
         and Protection (ADPP) add-on; an admin must turn the API on (Admin Center > Account > \
         Logs > Access log > \"Turn on the Access Log API\"); and the token's user must be an \
         admin (OAuth: the `read` scope). Or remove access_logs from RESOURCES to stop asking",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

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
