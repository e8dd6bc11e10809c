//! The audit-log list endpoint (`GET /api/v2/audit_logs[.json]`, zendesk-api.md §1): the
//! plan check, then a cursor page (`meta`/`links`) or an offset page (`next_page`/`count`).

use serde::Serialize;

use super::audit::{Page, Scan};
use super::audit_json::{self, AuditLog};
use super::audit_params::{self, AuditQuery, From, Mode};
use super::cursor::{self, AuditCursor, Position};
use super::state::{Shared, State};
use super::wire::{SimResponse, percent_encode};

pub(crate) const ENDPOINT: &str = "/api/v2/audit_logs";

pub(crate) fn handle(shared: &Shared, query: &[(String, String)]) -> SimResponse {
    let state = shared.state.lock().unwrap();
    // A plan without audit logs refuses whatever the parameters say.
    if !state.audit_logs_enabled {
        return forbidden();
    }
    let AuditQuery { window, mode } = match audit_params::parse(query) {
        Ok(q) => q,
        Err(resp) => return resp,
    };
    let scan = |newest_first| Scan {
        window,
        newest_first,
        now: state.clock.now(),
    };
    let links = Links::new(shared, &state);
    match mode {
        Mode::Cursor {
            size,
            newest_first,
            from,
        } => {
            let page = match from {
                None => state.audit.page(scan(newest_first), None, size),
                Some(From::After(pos)) => state.audit.page(scan(newest_first), Some(pos), size),
                Some(From::Before(pos)) => state.audit.page_before(scan(newest_first), pos, size),
            };
            let envelope = cursor_envelope(&shared.origin, &links, page, newest_first, size);
            SimResponse::json(200, &envelope)
        }
        Mode::Offset {
            page,
            per_page,
            newest_first,
            rest,
        } => {
            let (events, count) = state
                .audit
                .offset_page(scan(newest_first), page - 1, per_page);
            let url = |p: usize| links.offset(p, per_page, &rest);
            let envelope = OffsetEnvelope {
                audit_logs: render(&shared.origin, &events),
                next_page: (page.saturating_mul(per_page) < count).then(|| url(page + 1)),
                previous_page: (page > 1).then(|| url(page - 1)),
                count,
            };
            SimResponse::json(200, &envelope)
        }
    }
}

#[derive(Serialize)]
struct CursorEnvelope {
    audit_logs: Vec<AuditLog>,
    meta: Meta,
    links: LinkPair,
}

#[derive(Serialize)]
struct Meta {
    has_more: bool,
    after_cursor: Option<String>,
    before_cursor: Option<String>,
}

#[derive(Serialize)]
struct LinkPair {
    prev: Option<String>,
    next: Option<String>,
}

#[derive(Serialize)]
struct OffsetEnvelope {
    audit_logs: Vec<AuditLog>,
    next_page: Option<String>,
    previous_page: Option<String>,
    count: usize,
}

fn cursor_envelope(
    origin: &str,
    links: &Links,
    page: Page,
    newest_first: bool,
    size: usize,
) -> CursorEnvelope {
    let at = |pos: Option<&Position>| {
        pos.map(|&pos| cursor::encode_audit(AuditCursor { newest_first, pos }))
    };
    let after_cursor = at(page.events.last());
    let before_cursor = at(page.events.first());
    CursorEnvelope {
        audit_logs: render(origin, &page.events),
        // The live last page still links onwards (zendesk-api.md §1.2): only has_more stops.
        links: LinkPair {
            prev: before_cursor
                .as_deref()
                .map(|c| links.cursor("before", c, size)),
            next: after_cursor
                .as_deref()
                .map(|c| links.cursor("after", c, size)),
        },
        meta: Meta {
            has_more: page.more,
            after_cursor,
            before_cursor,
        },
    }
}

fn render(origin: &str, events: &[Position]) -> Vec<AuditLog> {
    events
        .iter()
        .map(|p| audit_json::render(origin, p.id, p.ts))
        .collect()
}

/// Builds the pagination URLs, on the hostile origin when a test set one.
struct Links {
    origin: String,
}

impl Links {
    fn new(shared: &Shared, state: &State) -> Links {
        Links {
            origin: state
                .after_url_origin
                .clone()
                .unwrap_or_else(|| shared.origin.clone()),
        }
    }

    /// Only the cursor and the size: the filter and the sort are deliberately dropped (the
    /// docs' example has neither; §9 lists this as unverified), so a collector that follows
    /// `links.next` instead of re-sending its own parameters leaves its window.
    fn cursor(&self, side: &str, cursor: &str, size: usize) -> String {
        format!(
            "{}{ENDPOINT}.json?page%5B{side}%5D={}&page%5Bsize%5D={size}",
            self.origin,
            percent_encode(cursor)
        )
    }

    /// Offset links keep every other parameter, as Rails' URL helpers do.
    fn offset(&self, page: usize, per_page: usize, rest: &[(String, String)]) -> String {
        let mut url = format!(
            "{}{ENDPOINT}.json?page={page}&per_page={per_page}",
            self.origin
        );
        for (k, v) in rest {
            url.push_str(&format!("&{}={}", percent_encode(k), percent_encode(v)));
        }
        url
    }
}

/// The role/plan 403 of zendesk-api.md §5.3 (what a non-Enterprise account gets is §9).
fn forbidden() -> SimResponse {
    #[derive(Serialize)]
    struct Error {
        title: &'static str,
        message: &'static str,
    }
    #[derive(Serialize)]
    struct Body {
        error: Error,
    }
    SimResponse::json(
        403,
        &Body {
            error: Error {
                title: "Forbidden",
                message: "Access to this resource is restricted. Please contact the account administrator for assistance.",
            },
        },
    )
}
