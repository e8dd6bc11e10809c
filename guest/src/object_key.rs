//! Object keys: `{prefix}{YYYY}/{MM}/{DD}/{HHMMSS}-{page-id}-zendesk-{resource}.{ext}`.
//!
//! Keys depend only on the records of a page, so a replay or a page fetched again gets the
//! same key (and a create-only write finds it stored), while a page whose records differ gets
//! another: no two pages overwrite each other, whatever second they are written in.

use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// What identifies one record version in a page: its id and its time (for tickets the
/// `generated_timestamp`, bumped on every change).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordStamp {
    pub id: u64,
    pub time: i64,
}

/// A record whose id is a string (access logs: ULIDs), with its time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextStamp {
    pub id: String,
    pub time: i64,
}

/// What a page key is made of, for either kind of id.
pub trait Stamp {
    /// Unix seconds: the first record's gives the key its date.
    fn time(&self) -> i64;
    /// Feeds the id and the time to the page-id hash.
    fn hash_into(&self, h: &mut Sha256);
}

impl Stamp for RecordStamp {
    fn time(&self) -> i64 {
        self.time
    }

    // Unchanged since the first keys were written: existing keys must stay the same.
    fn hash_into(&self, h: &mut Sha256) {
        h.update(self.id.to_be_bytes());
        h.update(self.time.to_be_bytes());
    }
}

impl Stamp for TextStamp {
    fn time(&self) -> i64 {
        self.time
    }

    // Length-delimited, so `("ab", t)` and `("a", …)` cannot hash alike.
    fn hash_into(&self, h: &mut Sha256) {
        h.update((self.id.len() as u64).to_be_bytes());
        h.update(self.id.as_bytes());
        h.update(self.time.to_be_bytes());
    }
}

/// 64 bits of SHA-256 over the resource and every record's id and time, in page order, as 16
/// hex digits. Fields are length-delimited so no two different pages hash the same input.
pub fn page_id<S: Stamp>(resource: &str, records: &[S]) -> String {
    let mut h = Sha256::new();
    h.update((resource.len() as u64).to_be_bytes());
    h.update(resource.as_bytes());
    h.update((records.len() as u64).to_be_bytes());
    for r in records {
        r.hash_into(&mut h);
    }
    let digest = h.finalize();
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// The key of a page whose first record is `records[0]`. None for an empty page (nothing is
/// stored) or a first record whose time is out of range.
pub fn object_key<S: Stamp>(
    prefix: &str,
    resource: &str,
    records: &[S],
    ndjson: bool,
) -> Option<String> {
    let first = records.first()?;
    let at = OffsetDateTime::from_unix_timestamp(first.time()).ok()?;
    let ext = if ndjson { "ndjson" } else { "json" };
    Some(format!(
        "{prefix}{:04}/{:02}/{:02}/{:02}{:02}{:02}-{}-zendesk-{resource}.{ext}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        page_id(resource, records),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamps(v: &[(u64, i64)]) -> Vec<RecordStamp> {
        v.iter()
            .map(|&(id, time)| RecordStamp { id, time })
            .collect()
    }

    #[test]
    fn key_has_first_record_time_hash_and_resource() {
        let recs = stamps(&[(7, 1_700_000_000), (8, 1_700_000_100)]);
        let key = object_key("zendesk/crm/", "incremental_tickets", &recs, false).unwrap();
        let id = page_id("incremental_tickets", &recs);
        assert_eq!(
            key,
            format!("zendesk/crm/2023/11/14/221320-{id}-zendesk-incremental_tickets.json")
        );
        assert_eq!(id.len(), 16);
    }

    #[test]
    fn same_records_same_key_and_any_difference_changes_it() {
        let a = stamps(&[(1, 100), (2, 100)]);
        let key = |r: &[RecordStamp]| object_key("", "incremental_tickets", r, false).unwrap();
        assert_eq!(key(&a), key(&a.clone()));
        assert_ne!(key(&a), key(&stamps(&[(1, 100), (2, 101)])));
        assert_ne!(key(&a), key(&stamps(&[(1, 100), (3, 100)])));
        assert_ne!(key(&a), key(&stamps(&[(1, 100)])));
        assert_ne!(key(&a), key(&stamps(&[(2, 100), (1, 100)])));
        assert_ne!(
            page_id("incremental_tickets", &a),
            page_id("audit_logs", &a)
        );
    }

    #[test]
    fn ndjson_pages_get_their_own_extension() {
        let a = stamps(&[(1, 0)]);
        let key = object_key("", "incremental_tickets", &a, true).unwrap();
        assert!(key.starts_with("1970/01/01/000000-"));
        assert!(key.ends_with("-zendesk-incremental_tickets.ndjson"));
    }

    #[test]
    fn empty_page_has_no_key() {
        let none: &[RecordStamp] = &[];
        assert_eq!(object_key("", "incremental_tickets", none, false), None);
    }

    #[test]
    fn numeric_ids_keep_the_keys_already_written() {
        // Pinned: keys stored before string ids existed must come out the same.
        let tickets = stamps(&[(7, 1_700_000_000), (8, 1_700_000_100)]);
        assert_eq!(page_id("incremental_tickets", &tickets), "23fc016dbcfa902e");
        assert_eq!(
            page_id("audit_logs", &stamps(&[(1, 100), (2, 100)])),
            "f243afa592651cbd"
        );
    }

    #[test]
    fn string_ids_hash_their_bytes_and_time() {
        let text = |v: &[(&str, i64)]| -> Vec<TextStamp> {
            v.iter()
                .map(|&(id, time)| TextStamp {
                    id: id.to_owned(),
                    time,
                })
                .collect()
        };
        let a = text(&[("01H9KB1CDRX2RVDS7E2R4YJ0TS", 1_693_939_970)]);
        let key = object_key("p/", "access_logs", &a, false).unwrap();
        assert!(key.starts_with("p/2023/09/05/185250-"), "{key}");
        assert!(key.ends_with("-zendesk-access_logs.json"), "{key}");
        assert_eq!(
            page_id("access_logs", &a),
            page_id("access_logs", &a.clone())
        );
        assert_ne!(
            page_id("access_logs", &a),
            page_id(
                "access_logs",
                &text(&[("01H9KB1CDRX2RVDS7E2R4YJ0TT", 1_693_939_970)])
            )
        );
        assert_ne!(
            page_id("access_logs", &text(&[("ab", 1), ("c", 1)])),
            page_id("access_logs", &text(&[("a", 1), ("bc", 1)]))
        );
    }
}
