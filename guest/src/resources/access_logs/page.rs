//! An access log page, validated: every record with its id and time, byte for byte as sent,
//! and the envelope rebuilt around the new ones when a page repeats some.

use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::json_scan;
use crate::object_key::TextStamp;
use crate::resources::events;

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
    let page = events::envelope_of(body, "access_logs", "access log", "timestamp")?;
    let (meta_raw, links) = (page.meta, page.links);
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

/// The envelope with only `kept` records, each byte for byte as sent, in Zendesk's key order.
pub(super) fn envelope(kept: &[&str], meta: &str, links: Option<&str>) -> Vec<u8> {
    events::envelope(
        "access_logs",
        kept,
        &[("links", links), ("meta", Some(meta))],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
