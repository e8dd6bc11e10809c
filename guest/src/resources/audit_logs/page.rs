//! An audit log page, validated: every record with its id and time, byte for byte as sent,
//! oldest first, and the envelope rebuilt around the new ones when a page repeats some.

use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::super::events;
use crate::json_scan;
use crate::object_key::RecordStamp;

#[derive(Deserialize)]
struct Meta {
    has_more: bool,
    after_cursor: Option<String>,
}

/// A validated page: every record with its stamp, and where the walk goes next.
#[derive(Debug)]
pub struct ParsedPage<'a> {
    pub records: Vec<&'a str>,
    pub stamps: Vec<RecordStamp>,
    pub meta: &'a str,
    pub links: Option<&'a str>,
    pub has_more: bool,
    pub after_cursor: Option<String>,
}

pub fn parse_page(body: &[u8]) -> Result<ParsedPage<'_>, String> {
    let page = events::envelope_of(body, "audit_logs", "audit log", "created_at")?;
    let (meta_raw, links) = (page.meta, page.links);
    let meta: Meta = serde_json::from_str(meta_raw)
        .map_err(|e| format!("audit log page has an invalid meta: {e}"))?;
    let mut stamps = Vec::with_capacity(page.records.len());
    for (i, [id, created_at]) in page.fields.into_iter().enumerate() {
        let (id, created_at) = json_scan::int_field::<u64>("id", id)
            .and_then(|id| Ok((id, json_scan::str_field("created_at", created_at)?)))
            .map_err(|e| format!("audit log {i} lacks a valid id or created_at: {e}"))?;
        let time = OffsetDateTime::parse(&created_at, &Rfc3339)
            .map_err(|e| format!("audit log {id} has created_at {created_at:?}: {e}"))?
            .unix_timestamp();
        if stamps.last().is_some_and(|p: &RecordStamp| p.time > time) {
            return Err("audit logs are not oldest first: the sort was not applied".into());
        }
        stamps.push(RecordStamp { id, time });
    }
    if meta.has_more && meta.after_cursor.as_deref().is_none_or(str::is_empty) {
        return Err("has_more is true but after_cursor is missing".into());
    }
    Ok(ParsedPage {
        records: page.records,
        stamps,
        meta: meta_raw,
        links,
        has_more: meta.has_more,
        after_cursor: meta.after_cursor,
    })
}

/// The envelope with only `kept` records, each byte for byte as sent.
pub(super) fn envelope(kept: &[&str], meta: &str, links: Option<&str>) -> Vec<u8> {
    events::envelope(
        "audit_logs",
        kept,
        &[("meta", Some(meta)), ("links", links)],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pages_and_refuses_unsorted_or_cursorless_ones() {
        let body = br#"{"audit_logs":[{"id":2,"created_at":"2025-01-01T00:00:01Z"},{"id":1,"created_at":"2025-01-01T00:00:02Z"}],"meta":{"has_more":false,"after_cursor":"x","before_cursor":"y"},"links":{"prev":null,"next":"u"}}"#;
        let p = parse_page(body).unwrap();
        assert_eq!(
            p.stamps[0],
            RecordStamp {
                id: 2,
                time: 1_735_689_601
            }
        );
        assert!(!p.has_more);
        let unsorted = br#"{"audit_logs":[{"id":2,"created_at":"2025-01-01T00:00:02Z"},{"id":1,"created_at":"2025-01-01T00:00:01Z"}],"meta":{"has_more":false,"after_cursor":null}}"#;
        assert!(parse_page(unsorted).is_err());
        let no_cursor = br#"{"audit_logs":[],"meta":{"has_more":true,"after_cursor":null}}"#;
        assert!(parse_page(no_cursor).is_err());
        assert!(parse_page(b"<html>").is_err());
    }

    #[test]
    fn envelope_keeps_records_byte_for_byte() {
        let body = envelope(
            &[r#"{"id":1,  "x":"é"}"#],
            r#"{"has_more":false}"#,
            Some("null"),
        );
        assert_eq!(
            std::str::from_utf8(&body).unwrap(),
            r#"{"audit_logs":[{"id":1,  "x":"é"}],"meta":{"has_more":false},"links":null}"#
        );
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["audit_logs"][0]["x"], "é");
    }
}
