//! The cursor-based incremental ticket export, `/api/v2/incremental/tickets/cursor.json`.
//!
//! Pages are asked for by cursor (or by `start_time` before the first page) and built from the
//! saved cursor rather than from `after_url`, so a response can never steer the collector to
//! another origin or drop a parameter. The last `after_cursor` is kept also at end of stream:
//! it is where the next pass resumes.

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use std::borrow::Cow;

use crate::checkpoint::{PendingPage, Resources, TicketsState};
use crate::collect::{First, Page, Position, Resource};
use crate::error::Failure;
use crate::json_scan;
use crate::object_key::RecordStamp;
use crate::retry::excerpt;
use crate::settings::{INCREMENTAL_TICKETS, Origin, PassSettings, ResourceSettings};

/// Zendesk's documented maximum (and default) page size for this export.
pub const MAX_PER_PAGE: u32 = 1000;
/// The export refuses a `start_time` less than a minute old and never returns the last minute.
pub const LAG_SECONDS: i64 = 60;
const PATH: &str = "/api/v2/incremental/tickets/cursor.json";

/// Where a first run starts: `START_TIME`, else `pass start - LOOKBACK_SECONDS`, never later
/// than a minute before the pass start.
pub fn first_start(settings: &PassSettings) -> i64 {
    settings
        .first_start()
        .min(settings.pass_start - LAG_SECONDS)
        .max(0)
}

/// A validated page: what to store and where the export goes next.
#[derive(Debug, PartialEq, Eq)]
pub struct ParsedPage<'a> {
    pub records: Vec<&'a str>,
    pub stamps: Vec<RecordStamp>,
    pub after_cursor: Option<String>,
    pub end_of_stream: bool,
}

/// Checks that `body` is a page of this export: JSON, the envelope's fields, and an `id` and
/// `generated_timestamp` on every ticket. Anything else is an error, never an object. One
/// walk over the body (json_scan.rs); records keep their exact bytes.
pub fn parse_page(body: &[u8]) -> Result<ParsedPage<'_>, String> {
    let not_a_page = |e: String| {
        format!(
            "not a ticket export page ({e}); body starts: {}",
            excerpt(body)
        )
    };
    let page = json_scan::page(
        body,
        "tickets",
        ["id", "generated_timestamp"],
        ["after_cursor", "end_of_stream"],
    )
    .map_err(|e| not_a_page(e.to_string()))?;
    if !page.has_list {
        return Err(not_a_page("missing field `tickets`".into()));
    }
    let [after_cursor, end_of_stream] = page.members;
    let after_cursor: Option<String> = match after_cursor {
        None => None,
        raw => json_scan::field("after_cursor", raw).map_err(not_a_page)?,
    };
    let end_of_stream: bool =
        json_scan::field("end_of_stream", end_of_stream).map_err(not_a_page)?;
    let mut stamps = Vec::with_capacity(page.records.len());
    for (i, [id, time]) in page.fields.into_iter().enumerate() {
        let stamp = json_scan::int_field("id", id).and_then(|id| {
            Ok(RecordStamp {
                id,
                time: json_scan::int_field("generated_timestamp", time)?,
            })
        });
        stamps.push(
            stamp
                .map_err(|e| format!("ticket {i} lacks a valid id or generated_timestamp: {e}"))?,
        );
    }
    if let Some(c) = &after_cursor
        && c.is_empty()
    {
        return Err("after_cursor is empty".into());
    }
    if !end_of_stream && after_cursor.is_none() {
        return Err("after_cursor is null before the end of the stream".into());
    }
    Ok(ParsedPage {
        records: page.records,
        stamps,
        after_cursor,
        end_of_stream,
    })
}

pub(crate) fn request_path(state: &TicketsState, per_page: u32) -> String {
    match &state.cursor {
        Some(cursor) => format!(
            "{PATH}?cursor={}&per_page={per_page}",
            utf8_percent_encode(cursor, NON_ALPHANUMERIC)
        ),
        None => format!("{PATH}?start_time={}&per_page={per_page}", state.start_time),
    }
}

/// The export's walk: the position is the cursor, or the start time before the first page.
pub struct Tickets {
    state: TicketsState,
    per_page: u32,
}

impl Resource for Tickets {
    const NAME: &'static str = INCREMENTAL_TICKETS;
    const PATH: &'static str = PATH;
    /// The incremental exports allow 10 a minute (30 with the High Volume add-on, a setting).
    const DEFAULT_LIMIT: Option<u32> = Some(10);
    /// Every request is the saved cursor (or start) and the page size.
    const REQUEST_FROM_ENTRY: bool = true;
    type State = TicketsState;
    type Stamp = RecordStamp;
    /// The page's `after_cursor`.
    type Advance = Option<String>;

    fn entry(resources: &Resources) -> Option<&TicketsState> {
        resources.incremental_tickets.as_ref()
    }

    fn entry_mut(resources: &mut Resources) -> &mut Option<TicketsState> {
        &mut resources.incremental_tickets
    }

    fn first(pass: &PassSettings) -> First<TicketsState> {
        let start_time = first_start(pass);
        First {
            state: TicketsState {
                start_time,
                cursor: None,
            },
            start: start_time,
            requested: None,
        }
    }

    fn start(state: &TicketsState) -> i64 {
        state.start_time
    }

    fn start_time_matters(_: i64, _: i64) -> bool {
        true
    }

    fn position(state: &TicketsState) -> Position {
        Position {
            start: Some(state.start_time),
            reached: None,
            has_cursor: state.cursor.is_some(),
        }
    }

    fn open(state: TicketsState, _: &PassSettings, resource: &ResourceSettings) -> Tickets {
        Tickets {
            state,
            per_page: resource.page_size.unwrap_or(MAX_PER_PAGE).min(MAX_PER_PAGE),
        }
    }

    fn request(&self) -> Option<String> {
        Some(request_path(&self.state, self.per_page))
    }

    fn replay(&mut self, _: &PendingPage) -> Result<(), Failure> {
        Ok(())
    }

    /// The pending page was one of this walk's own: the export goes on from it, or ends
    /// with it.
    fn resume(&mut self, replayed: Option<bool>) -> bool {
        replayed.unwrap_or(true)
    }

    fn page<'b>(
        &self,
        _: &str,
        body: &'b [u8],
        _: &Origin,
    ) -> Result<Page<'b, RecordStamp, Option<String>>, Failure> {
        let page = parse_page(body).map_err(Failure::InvalidResponse)?;
        if !page.end_of_stream && page.after_cursor == self.state.cursor {
            return Err(Failure::InvalidResponse(
                "after_cursor did not advance; stopping rather than asking again".into(),
            ));
        }
        // The position has not moved, so this asks for the same records, and no more.
        let records = u32::try_from(page.records.len()).unwrap_or(u32::MAX);
        Ok(Page {
            stored: Cow::Borrowed(body),
            again: PendingPage {
                request: request_path(&self.state, records),
                records,
            },
            kept: page.records,
            stamps: page.stamps,
            advance: page.after_cursor,
            more: !page.end_of_stream,
        })
    }

    /// The last `after_cursor` is kept also at the end of the stream: the next pass resumes
    /// there.
    fn advance(&mut self, cursor: Option<String>) -> TicketsState {
        if let Some(c) = cursor {
            self.state.cursor = Some(c);
        }
        self.state.clone()
    }

    /// Every page counts, as the export has no overlap to read again.
    fn counts(&self, _: usize) -> bool {
        true
    }

    fn status_failure(&self, status: u16, body: &[u8]) -> Failure {
        status_failure(status, body, self.state.cursor.is_none())
    }
}

fn status_failure(status: u16, body: &[u8], by_start_time: bool) -> Failure {
    let m = format!("HTTP {status}: {}", excerpt(body));
    match status {
        401 => Failure::Unauthorized(m),
        403 => Failure::Forbidden(m),
        404 => Failure::NotFound(m),
        400 | 422 if by_start_time => Failure::StartTimeRejected(m),
        _ => Failure::Rejected(m),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_records_with_their_exact_bytes() {
        let body = br#"{"tickets":[{"id":1,"x":"a b",  "generated_timestamp":5},{"id":2,"generated_timestamp":6}],"after_url":"u","before_url":null,"after_cursor":"+/a=","before_cursor":null,"end_of_stream":false}"#;
        let p = parse_page(body).unwrap();
        assert_eq!(
            p.records,
            vec![
                r#"{"id":1,"x":"a b",  "generated_timestamp":5}"#,
                r#"{"id":2,"generated_timestamp":6}"#
            ]
        );
        assert_eq!(p.stamps[1], RecordStamp { id: 2, time: 6 });
        assert_eq!(p.after_cursor.as_deref(), Some("+/a="));
        assert!(!p.end_of_stream);
    }

    #[test]
    fn rejects_what_is_not_a_page() {
        assert!(parse_page(b"<html><body>Maintenance</body></html>").is_err());
        assert!(
            parse_page(br#"{"tickets":[{"id":1,"generated_timestamp":5}],"after_cur"#).is_err()
        );
        assert!(
            parse_page(br#"{"tickets":[{"id":1}],"after_cursor":"a","end_of_stream":true}"#)
                .is_err()
        );
        assert!(
            parse_page(br#"{"tickets":[],"after_cursor":null,"end_of_stream":false}"#).is_err()
        );
        assert!(parse_page(br#"{"after_cursor":"a","end_of_stream":true}"#).is_err());
    }

    #[test]
    fn end_of_stream_may_carry_a_cursor_or_none() {
        let p = parse_page(br#"{"tickets":[],"after_cursor":"abc","end_of_stream":true}"#).unwrap();
        assert_eq!(p.after_cursor.as_deref(), Some("abc"));
        let p = parse_page(br#"{"tickets":[],"after_cursor":null,"end_of_stream":true}"#).unwrap();
        assert_eq!(p.after_cursor, None);
    }

    #[test]
    fn cursors_are_percent_encoded() {
        let state = TicketsState {
            start_time: 0,
            cursor: Some("+/a=".into()),
        };
        assert_eq!(
            request_path(&state, 1000),
            "/api/v2/incremental/tickets/cursor.json?cursor=%2B%2Fa%3D&per_page=1000"
        );
        let state = TicketsState {
            start_time: 42,
            cursor: None,
        };
        assert_eq!(
            request_path(&state, 10),
            "/api/v2/incremental/tickets/cursor.json?start_time=42&per_page=10"
        );
    }
}
