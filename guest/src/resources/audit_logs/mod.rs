//! Account audit logs, `/api/v2/audit_logs.json`: cursor pagination only, oldest first,
//! bounded by `filter[created_at][]` sent twice.
//!
//! A pass walks the window from the checkpoint's high-water mark (a `created_at` second,
//! inclusive) to `pass start - lag`. Each next request is built from `meta.after_cursor` plus
//! the same filter and sort, never from `links.next` (which may drop them), and the walk stops on
//! `meta.has_more == false`. Because the lower bound is inclusive, events at the mark's second
//! come back; the checkpoint lists their ids and they are left out. No cursor is kept across
//! passes, so a stale cursor can never wedge a feed.

mod page;
mod request;

use super::events;
use crate::checkpoint::{AuditLogsState, PendingPage, Resources};
use crate::collect::{First, Page, Position, Resource};
use crate::error::Failure;
use crate::object_key::RecordStamp;
use crate::retry::excerpt;
use crate::settings::{AUDIT_LOGS, Origin, PassSettings, ResourceSettings};
use page::envelope;
pub(crate) use page::parse_page;
pub(crate) use request::{parse_request, request_path};

/// Zendesk's maximum page size for audit logs.
pub const MAX_PAGE_SIZE: u32 = 100;
/// How far behind the pass start the window ends unless configured: late events still land
/// in a later window.
pub const DEFAULT_LAG_SECONDS: u64 = 120;
pub(crate) const PATH: &str = "/api/v2/audit_logs.json";

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

/// The window of one pass: inclusive `created_at` bounds, and the page size.
#[derive(Debug, Clone, Copy)]
struct Window {
    start: i64,
    end: i64,
    size: u32,
}

/// A walk of this pass's window from the high-water mark, by cursor.
pub struct AuditLogs {
    state: AuditLogsState,
    /// The window being walked: this pass's, or the pending page's while it is taken again.
    window: Window,
    /// Where this pass's window ends, `pass start - lag`.
    window_end: i64,
    size: u32,
    after: Option<String>,
}

/// How a stored page moves the walk: every stamp it held (repeats included) and its cursor.
pub struct Advance {
    stamps: Vec<RecordStamp>,
    after: Option<String>,
}

impl Resource for AuditLogs {
    const NAME: &'static str = AUDIT_LOGS;
    const PATH: &'static str = PATH;
    /// Audit logs have no limit of their own.
    const DEFAULT_LIMIT: Option<u32> = None;
    type State = AuditLogsState;
    type Stamp = RecordStamp;
    type Advance = Advance;

    fn entry(resources: &Resources) -> Option<&AuditLogsState> {
        resources.audit_logs.as_ref()
    }

    fn entry_mut(resources: &mut Resources) -> &mut Option<AuditLogsState> {
        &mut resources.audit_logs
    }

    fn first(pass: &PassSettings) -> First<AuditLogsState> {
        let high_water = pass.first_start();
        First {
            state: AuditLogsState {
                high_water,
                ids_at_mark: Vec::new(),
            },
            start: high_water,
            requested: None,
        }
    }

    fn start(state: &AuditLogsState) -> i64 {
        state.high_water
    }

    /// Audit logs keep no start, only how far they got.
    fn start_time_matters(_: i64, _: i64) -> bool {
        false
    }

    fn position(state: &AuditLogsState) -> Position {
        Position {
            start: None,
            reached: Some(state.high_water),
            has_cursor: false,
        }
    }

    fn open(state: AuditLogsState, pass: &PassSettings, resource: &ResourceSettings) -> AuditLogs {
        let size = resource
            .page_size
            .unwrap_or(MAX_PAGE_SIZE)
            .min(MAX_PAGE_SIZE);
        let lag =
            i64::try_from(resource.lag_seconds.unwrap_or(DEFAULT_LAG_SECONDS)).unwrap_or(i64::MAX);
        let window_end = pass.pass_start.saturating_sub(lag);
        AuditLogs {
            window: Window {
                start: state.high_water,
                end: window_end,
                size,
            },
            state,
            window_end,
            size,
            after: None,
        }
    }

    fn request(&self) -> Option<String> {
        (self.window.start <= self.window.end).then(|| {
            request_path(
                self.window.start,
                self.window.end,
                self.window.size,
                self.after.as_deref(),
            )
        })
    }

    fn replay(&mut self, pending: &PendingPage) -> Result<(), Failure> {
        let Some((start, end, after)) = parse_request(&pending.request) else {
            return Err(Failure::Checkpoint(format!(
                "the pending audit_logs request {:?} has no window; the checkpoint was edited",
                pending.request
            )));
        };
        self.window = Window {
            start,
            end,
            size: pending.records,
        };
        self.after = after;
        Ok(())
    }

    /// Whatever the pending page held, this pass walks its own window from where that page
    /// left the mark.
    fn resume(&mut self, _: Option<bool>) -> bool {
        self.window = Window {
            start: self.state.high_water,
            end: self.window_end,
            size: self.size,
        };
        self.after = None;
        true
    }

    fn page<'b>(
        &self,
        _: &str,
        body: &'b [u8],
        _: &Origin,
    ) -> Result<Page<'b, RecordStamp, Advance>, Failure> {
        let page = parse_page(body).map_err(Failure::InvalidResponse)?;
        let window = self.window;
        if let Some(s) = page
            .stamps
            .iter()
            .find(|s| s.time < window.start || s.time > window.end)
        {
            return Err(Failure::InvalidResponse(format!(
                "audit log {} is outside the requested window: the filter was not applied",
                s.id
            )));
        }
        let after = self.after.as_deref();
        if page.has_more && page.after_cursor.as_deref() == after {
            return Err(Failure::InvalidResponse(
                "after_cursor did not advance; stopping rather than asking again".into(),
            ));
        }
        let state = &self.state;
        let kept = events::keep_new(
            body,
            &page.records,
            &page.stamps,
            |s| !(s.time == state.high_water && state.ids_at_mark.contains(&s.id)),
            |kept| envelope(kept, page.meta, page.links),
        );
        // The mark has not moved, so this asks for the same events and leaves out the same ones.
        let records = u32::try_from(page.records.len()).unwrap_or(u32::MAX);
        Ok(Page {
            stored: kept.stored,
            kept: kept.records,
            stamps: kept.stamps,
            again: PendingPage {
                request: request_path(window.start, window.end, records, after),
                records,
            },
            more: page.has_more,
            advance: Advance {
                stamps: page.stamps,
                after: page.after_cursor.filter(|_| page.has_more),
            },
        })
    }

    fn advance(&mut self, step: Advance) -> AuditLogsState {
        advance(&mut self.state, &step.stamps);
        self.after = step.after;
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
            self.window_end,
            self.state.high_water,
        )
    }
}

fn status_failure(status: u16, body: &[u8]) -> Failure {
    events::status_failure(
        format!("HTTP {status}: {}", excerpt(body)),
        status,
        "This account or token cannot read audit logs (an Enterprise plan and the \
         auditlogs:read scope are needed); remove audit_logs from RESOURCES to stop asking",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

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
