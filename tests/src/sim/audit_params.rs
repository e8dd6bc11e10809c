//! The query of `GET /api/v2/audit_logs` (zendesk-api.md §1.2–1.3) checked into either a
//! cursor request or an offset request; anything malformed becomes the 400 to send.

use super::audit::Window;
use super::cursor::{self, Position};
use super::iso8601;
use super::params::{invalid_value, pagination_error, single};
use super::wire::SimResponse;

/// "Returns a maximum of 100 records per page", in both pagination styles.
pub(crate) const MAX_PAGE: usize = 100;
/// Offset pagination serves only the first 10,000 records (zendesk-api.md §1.2, D-OBP).
const OFFSET_LIMIT: usize = 10_000;
const CREATED_AT: &str = "filter[created_at][]";

pub(crate) struct AuditQuery {
    pub window: Window,
    pub mode: Mode,
}

pub(crate) enum Mode {
    Cursor {
        size: usize,
        newest_first: bool,
        from: Option<From>,
    },
    Offset {
        /// 1-based.
        page: usize,
        per_page: usize,
        newest_first: bool,
        /// The other parameters, echoed in `next_page`/`previous_page`.
        rest: Vec<(String, String)>,
    },
}

pub(crate) enum From {
    After(Position),
    Before(Position),
}

pub(crate) fn parse(query: &[(String, String)]) -> Result<AuditQuery, SimResponse> {
    let window = window(query)?;
    let (size, after, before) = (
        single(query, "page[size]")?,
        single(query, "page[after]")?,
        single(query, "page[before]")?,
    );
    let cursor_mode = size.is_some() || after.is_some() || before.is_some();
    if cursor_mode && single(query, "page")?.is_some() {
        // Rails cannot hold `page` as both a number and a hash.
        return Err(pagination_error(
            "page and page[...] cannot be used together",
        ));
    }
    let mode = if cursor_mode {
        // `sort` is the cursor style's; the offset style ignores it (it has sort_order).
        let newest_first = match single(query, "sort")? {
            None | Some("-created_at") => true,
            Some("created_at") => false,
            Some(_) => return Err(invalid_value("sort must be created_at or -created_at")),
        };
        let from = match (after, before) {
            (Some(_), Some(_)) => {
                return Err(pagination_error(
                    "page[after] and page[before] cannot be used together",
                ));
            }
            (Some(c), None) => Some(From::After(position(c, newest_first)?)),
            (None, Some(c)) => Some(From::Before(position(c, newest_first)?)),
            (None, None) => None,
        };
        Mode::Cursor {
            size: count(size, "page[size]")?,
            newest_first,
            from,
        }
    } else {
        if single(query, "sort_by")?.is_some_and(|s| s != "created_at") {
            return Err(invalid_value("sort_by must be created_at"));
        }
        let newest_first = match single(query, "sort_order")? {
            None | Some("desc") => true,
            Some("asc") => false,
            Some(_) => return Err(invalid_value("sort_order must be asc or desc")),
        };
        let page = match single(query, "page")? {
            None => 1,
            Some(p) => {
                positive(p).ok_or_else(|| invalid_value("page must be a positive integer"))?
            }
        };
        let per_page = count(single(query, "per_page")?, "per_page")?;
        // The limit is on the request, not on how many records exist.
        if (page - 1).saturating_mul(per_page) >= OFFSET_LIMIT {
            return Err(pagination_error(
                "Offset pagination is limited to the first 10,000 records. Use cursor pagination instead.",
            ));
        }
        let rest = query
            .iter()
            .filter(|(k, _)| k != "page" && k != "per_page")
            .cloned()
            .collect();
        Mode::Offset {
            page,
            per_page,
            newest_first,
            rest,
        }
    };
    Ok(AuditQuery { window, mode })
}

/// `filter[created_at][]` exactly twice (start, then end; both inclusive) or not at all.
fn window(query: &[(String, String)]) -> Result<Window, SimResponse> {
    if let Some((other, _)) = query
        .iter()
        .find(|(k, _)| k.starts_with("filter[") && k != CREATED_AT)
    {
        // A scalar `filter[created_at]` is a client bug; other filters are Zendesk's but
        // not simulated, and answering them unfiltered would pass a test that should fail.
        let why = if other == "filter[created_at]" {
            "filter[created_at] must be given twice, as filter[created_at][]".to_owned()
        } else {
            format!("{other} is not supported by this simulator")
        };
        return Err(invalid_value(&why));
    }
    let bounds: Vec<&str> = query
        .iter()
        .filter(|(k, _)| k == CREATED_AT)
        .map(|(_, v)| v.as_str())
        .collect();
    match bounds[..] {
        [] => Ok(Window::ALL),
        [start, end] => {
            let time = |v: &str| {
                iso8601::parse(v).ok_or_else(|| {
                    invalid_value(&format!(
                        "filter[created_at] must be ISO 8601 like 2023-01-01T05:01:05Z, got {v:?}"
                    ))
                })
            };
            Ok(Window {
                start: time(start)?,
                end: time(end)?,
            })
        }
        _ => Err(invalid_value(
            "You must specify filter[created_at] twice: first the start time, then the end time",
        )),
    }
}

fn position(cursor: &str, newest_first: bool) -> Result<Position, SimResponse> {
    let decoded =
        cursor::decode_audit(cursor).ok_or_else(|| pagination_error("The cursor is invalid"))?;
    if decoded.newest_first != newest_first {
        return Err(pagination_error(
            "The cursor was made for another sort; send the sort it came from",
        ));
    }
    Ok(decoded.pos)
}

/// A page size: default and maximum 100; larger values are clamped, not rejected.
fn count(value: Option<&str>, name: &str) -> Result<usize, SimResponse> {
    match value {
        None => Ok(MAX_PAGE),
        Some(v) => positive(v)
            .map(|n| n.min(MAX_PAGE))
            .ok_or_else(|| invalid_value(&format!("{name} must be a positive integer"))),
    }
}

fn positive(v: &str) -> Option<usize> {
    v.parse::<u64>()
        .ok()
        .filter(|&n| n > 0)
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
}
