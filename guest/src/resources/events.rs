//! What the two event logs (audit and access) share: windows of Unix seconds sent as
//! RFC 3339, pages that may repeat events already stored, and endpoints an account may lack.

use std::borrow::Cow;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::Failure;
use crate::json_scan;
use crate::retry::excerpt;

/// A window bound as Zendesk reads it; 1970 for a time out of range.
pub fn iso(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into())
}

/// An event log page's envelope: `{"<list>":[…],"meta":{…},"links":{…}}`, in one walk.
pub struct Envelope<'a> {
    pub records: Vec<&'a str>,
    /// Each record's `id` and time field, raw.
    pub fields: Vec<[Option<&'a str>; 2]>,
    pub meta: &'a str,
    /// None when absent or `null`.
    pub links: Option<&'a str>,
}

/// Reads the envelope of a page of `list` (say `audit_logs`, a page of `what`: "audit log"),
/// whose records carry `id` and `time`. A body that is not one is named with its start.
pub fn envelope_of<'a>(
    body: &'a [u8],
    list: &'static str,
    what: &str,
    time: &'static str,
) -> Result<Envelope<'a>, String> {
    let not_a_page =
        |e: String| format!("not an {what} page ({e}); body starts: {}", excerpt(body));
    let page = json_scan::page(body, list, ["id", time], ["meta", "links"])
        .map_err(|e| not_a_page(e.to_string()))?;
    let [meta, links] = page.members;
    let (true, Some(meta)) = (page.has_list, meta) else {
        return Err(not_a_page(format!("missing field `{list}` or `meta`")));
    };
    Ok(Envelope {
        records: page.records,
        fields: page.fields,
        meta,
        // As `Option<&RawValue>` read it: `"links": null` is no links.
        links: links.filter(|l| *l != "null"),
    })
}

/// A page's new events, and the object to store for them.
pub struct Kept<'b, S> {
    /// The body as sent when no event repeats; else its envelope rebuilt around the new ones.
    pub stored: Cow<'b, [u8]>,
    pub records: Vec<&'b str>,
    pub stamps: Vec<S>,
}

/// Keeps the events of a page for which `is_new` holds; `rebuild` makes the envelope when
/// some do not.
pub fn keep_new<'b, S: Clone>(
    body: &'b [u8],
    records: &[&'b str],
    stamps: &[S],
    is_new: impl FnMut(&S) -> bool,
    rebuild: impl FnOnce(&[&str]) -> Vec<u8>,
) -> Kept<'b, S> {
    let keep: Vec<usize> = stamps
        .iter()
        .map(is_new)
        .enumerate()
        .filter_map(|(i, new)| new.then_some(i))
        .collect();
    let kept: Vec<&'b str> = keep.iter().map(|&i| records[i]).collect();
    let stored = if kept.len() == records.len() {
        Cow::Borrowed(body)
    } else {
        Cow::Owned(rebuild(&kept))
    };
    Kept {
        stored,
        stamps: keep.iter().map(|&i| stamps[i].clone()).collect(),
        records: kept,
    }
}

/// `{"<list>":[kept],"<member>":<raw>,…}`: each record and member byte for byte as sent, the
/// members in the order given (Zendesk's own), absent ones left out.
pub fn envelope(list: &str, kept: &[&str], members: &[(&str, Option<&str>)]) -> Vec<u8> {
    let mut out = String::with_capacity(kept.iter().map(|r| r.len() + 1).sum::<usize>() + 512);
    out.push_str("{\"");
    out.push_str(list);
    out.push_str("\":[");
    out.push_str(&kept.join(","));
    out.push(']');
    for (name, raw) in members {
        if let Some(raw) = raw {
            out.push_str(",\"");
            out.push_str(name);
            out.push_str("\":");
            out.push_str(raw);
        }
    }
    out.push('}');
    out.into_bytes()
}

/// What an answer other than 200 means; `unavailable` says what the account or token lacks
/// and how to stop asking, added to a 403 or 404.
pub fn status_failure(message: String, status: u16, unavailable: &str) -> Failure {
    match status {
        401 => Failure::Unauthorized(message),
        403 => Failure::Forbidden(format!("{message}. {unavailable}")),
        404 => Failure::NotFound(format!("{message}. {unavailable}")),
        _ => Failure::Rejected(message),
    }
}

/// How far behind `pass_start` a walk is: the window's end once caught up, else its mark.
pub fn behind(pass_start: i64, caught_up: bool, window_end: i64, high_water: i64) -> Option<i64> {
    let reached = if caught_up { window_end } else { high_water };
    Some(pass_start.saturating_sub(reached).max(0))
}
