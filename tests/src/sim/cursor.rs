//! The simulator's opaque cursors: a position `(timestamp, id)` in a stream, for the
//! incremental ticket export and (with the order it was made for) for audit logs.
//!
//! Real export cursors are padded base64 of `"<ts>.0||<id>|"`; real Support-API list cursors
//! are base64 JSON like `{"o":"-created_at,id","v":"…"}` (zendesk-api.md §1.2). Ours prefix
//! three high bytes so every cursor starts with `+/+/` and pad the text so `=` always appears:
//! a client that forgets to URL-encode a cursor fails here every time, not just occasionally
//! as it would against Zendesk.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// Encodes to `+/+/` in base64.
const PREFIX: [u8; 3] = [0xfb, 0xff, 0xbf];

/// A place in the stream; the next page starts strictly after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Position {
    pub ts: i64,
    pub id: u64,
}

impl Position {
    /// The position just before every ticket of second `ts`, so `start_time=ts` includes them.
    pub fn before_second(ts: i64) -> Position {
        Position {
            ts: ts.saturating_sub(1),
            id: u64::MAX,
        }
    }
}

pub(crate) fn encode(pos: Position) -> String {
    wrap(&format!("{}.0||{}|", pos.ts, pos.id))
}

/// Accepts only cursors this simulator could have produced (byte-for-byte canonical).
pub(crate) fn decode(cursor: &str) -> Option<Position> {
    let text = unwrap(cursor)?;
    let (ts, tail) = text.split_once(".0||")?;
    let id = tail.strip_suffix('|')?;
    let pos = Position {
        ts: ts.parse().ok()?,
        id: id.parse().ok()?,
    };
    (encode(pos) == cursor).then_some(pos)
}

/// An audit-log cursor: a record's `(created_at, id)` and the order it was served in, so a
/// cursor cannot silently be replayed against the other order (Zendesk's `"o"` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AuditCursor {
    pub newest_first: bool,
    pub pos: Position,
}

const NEWEST_FIRST: &str = "-created_at,id";
const OLDEST_FIRST: &str = "created_at,id";

pub(crate) fn encode_audit(cursor: AuditCursor) -> String {
    let order = if cursor.newest_first {
        NEWEST_FIRST
    } else {
        OLDEST_FIRST
    };
    let Position { ts, id } = cursor.pos;
    wrap(&format!(r#"{{"o":"{order}","v":"{ts}.{id}"}}"#))
}

/// Accepts only audit cursors this simulator could have produced (byte-for-byte canonical).
pub(crate) fn decode_audit(cursor: &str) -> Option<AuditCursor> {
    let text = unwrap(cursor)?;
    let rest = text.strip_prefix(r#"{"o":""#)?;
    let (order, rest) = rest.split_once(r#"","v":""#)?;
    let (ts, id) = rest.strip_suffix(r#""}"#)?.split_once('.')?;
    let newest_first = match order {
        NEWEST_FIRST => true,
        OLDEST_FIRST => false,
        _ => return None,
    };
    let decoded = AuditCursor {
        newest_first,
        pos: Position {
            ts: ts.parse().ok()?,
            id: id.parse().ok()?,
        },
    };
    (encode_audit(decoded) == cursor).then_some(decoded)
}

fn wrap(text: &str) -> String {
    let mut raw = PREFIX.to_vec();
    raw.extend_from_slice(text.as_bytes());
    // A length that is a multiple of 3 would encode without `=`; one filler byte prevents it.
    if raw.len().is_multiple_of(3) {
        raw.push(b' ');
    }
    STANDARD.encode(raw)
}

/// The text inside one of our cursors, filler removed; callers re-encode to check it.
fn unwrap(cursor: &str) -> Option<String> {
    let raw = STANDARD.decode(cursor).ok()?;
    let rest = raw.strip_prefix(&PREFIX)?;
    let text = std::str::from_utf8(rest).ok()?;
    Some(text.strip_suffix(' ').unwrap_or(text).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_always_need_url_encoding() {
        for (ts, id) in [
            (0, 0),
            (-1, u64::MAX),
            (1_695_052_663, 28),
            (1_700_000_000, 12345),
        ] {
            let pos = Position { ts, id };
            let c = encode(pos);
            assert!(c.starts_with("+/+/") && c.ends_with('='), "{c}");
            assert_eq!(decode(&c), Some(pos));
        }
    }

    #[test]
    fn foreign_or_damaged_cursors_are_rejected() {
        let good = encode(Position {
            ts: 1_700_000_000,
            id: 7,
        });
        let unencoded_plus = good.replace('+', " ");
        let unpadded = good.trim_end_matches('=').to_owned();
        for bad in [
            "",
            "garbage!!",
            "MTY5NTA1MjY2My4wfHwyOHw=", // a real Zendesk cursor, but not one of ours
            unencoded_plus.as_str(),
            unpadded.as_str(),
        ] {
            assert_eq!(decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn audit_cursors_round_trip_and_carry_their_order() {
        for newest_first in [true, false] {
            for (ts, id) in [(0, 0), (-1, u64::MAX), (1_672_549_265, 6_139_157_572_367)] {
                let c = AuditCursor {
                    newest_first,
                    pos: Position { ts, id },
                };
                let text = encode_audit(c);
                assert!(text.starts_with("+/+/") && text.ends_with('='), "{text}");
                assert_eq!(decode_audit(&text), Some(c));
                // The two kinds of cursor are not interchangeable.
                assert_eq!(decode(&text), None);
            }
        }
        assert_eq!(decode_audit(&encode(Position { ts: 1, id: 2 })), None);
        // A live Zendesk list cursor is well-formed base64 JSON but not one of ours.
        let live = "eyJvIjoiLWNyZWF0ZWRfYXQsaWQiLCJ2IjoiWkp6YzBHUUFBQUFBYVJMMzZPL0RDd0FBIn0=";
        assert_eq!(decode_audit(live), None);
    }
}
