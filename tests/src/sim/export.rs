//! The incremental ticket export endpoint
//! (`GET /api/v2/incremental/tickets/cursor[.json]`, zendesk-api.md §2).

use serde::Serialize;

use super::cursor::{self, Position};
use super::params::{invalid_value, pagination_error, single};
use super::state::Shared;
use super::ticket_json::{self, Ticket};
use super::wire::{SimResponse, percent_encode};

/// Data from the most recent minute is never served.
pub(crate) const LAG_SECS: i64 = 60;
const MAX_PER_PAGE: usize = 1000;
pub(crate) const ENDPOINT: &str = "/api/v2/incremental/tickets/cursor";

/// `GET` with the request's decoded query (routing and auth are done).
pub(crate) fn handle(shared: &Shared, query: &[(String, String)]) -> SimResponse {
    match Params::parse(query) {
        Ok(params) => export(shared, &params),
        Err(resp) => resp,
    }
}

enum From {
    StartTime(i64),
    Cursor(Position),
}

struct Params {
    from: From,
    per_page: usize,
}

impl Params {
    fn parse(query: &[(String, String)]) -> Result<Params, SimResponse> {
        let from = match (single(query, "start_time")?, single(query, "cursor")?) {
            (Some(_), Some(_)) => {
                return Err(pagination_error(
                    "start_time and cursor cannot be used together",
                ));
            }
            (None, None) => return Err(invalid_value("start_time or cursor is required")),
            (Some(s), None) => From::StartTime(
                s.parse::<u64>()
                    .ok()
                    .and_then(|s| i64::try_from(s).ok())
                    .ok_or_else(|| invalid_value("start_time must be a Unix time in seconds"))?,
            ),
            (None, Some(c)) => From::Cursor(
                cursor::decode(c).ok_or_else(|| pagination_error("cursor is invalid"))?,
            ),
        };
        let per_page = match single(query, "per_page")? {
            None => MAX_PER_PAGE,
            Some(p) => match p.parse::<u64>() {
                Ok(0) | Err(_) => return Err(invalid_value("per_page must be a positive integer")),
                // Larger values are clamped, not rejected.
                Ok(n) => usize::try_from(n).unwrap_or(usize::MAX).min(MAX_PER_PAGE),
            },
        };
        Ok(Params { from, per_page })
    }
}

#[derive(Serialize)]
struct Envelope {
    tickets: Vec<Ticket>,
    after_url: String,
    before_url: Option<String>,
    after_cursor: String,
    before_cursor: Option<String>,
    end_of_stream: bool,
}

fn export(shared: &Shared, params: &Params) -> SimResponse {
    let state = shared.state.lock().unwrap();
    let horizon = state.clock.now() - LAG_SECS;
    let after = match params.from {
        From::StartTime(s) if s > horizon => {
            return SimResponse::error(
                shared.config.too_recent_status,
                "InvalidValue",
                "Too recent start_time. Use a start_time older than 1 minute",
            );
        }
        From::StartTime(s) => Position::before_second(s),
        From::Cursor(pos) => pos,
    };
    let max = params
        .per_page
        .min(shared.config.page_cap.unwrap_or(usize::MAX));
    let page = state.tickets.page(after, max, horizon);
    let after_cursor = cursor::encode(page.last);
    let origin = state.after_url_origin.as_deref().unwrap_or(&shared.origin);
    let envelope = Envelope {
        tickets: page
            .tickets
            .iter()
            .map(|(id, v)| ticket_json::render(&shared.origin, *id, v))
            .collect(),
        after_url: format!(
            "{origin}{ENDPOINT}.json?cursor={}&per_page={}",
            percent_encode(&after_cursor),
            params.per_page
        ),
        before_url: None,
        after_cursor,
        before_cursor: None,
        end_of_stream: !page.more,
    };
    drop(state);
    SimResponse::json(200, &envelope)
}
