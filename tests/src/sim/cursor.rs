//! The opaque incremental-export cursor: a position `(generated_timestamp, id)` in the stream.
//!
//! Real cursors are padded base64 of `"<ts>.0||<id>|"`. Ours prefix three high bytes so every
//! cursor starts with `+/+/` and pad the text so `=` always appears: a client that forgets to
//! URL-encode the cursor fails here the way it would against Zendesk only occasionally.

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
    let mut raw = PREFIX.to_vec();
    raw.extend_from_slice(format!("{}.0||{}|", pos.ts, pos.id).as_bytes());
    // A length that is a multiple of 3 would encode without `=`; one filler byte prevents it.
    if raw.len().is_multiple_of(3) {
        raw.push(b' ');
    }
    STANDARD.encode(raw)
}

/// Accepts only cursors this simulator could have produced (byte-for-byte canonical).
pub(crate) fn decode(cursor: &str) -> Option<Position> {
    let raw = STANDARD.decode(cursor).ok()?;
    let rest = raw.strip_prefix(&PREFIX)?;
    let text = std::str::from_utf8(rest).ok()?;
    let text = text.strip_suffix(' ').unwrap_or(text);
    let (ts, tail) = text.split_once(".0||")?;
    let id = tail.strip_suffix('|')?;
    let pos = Position {
        ts: ts.parse().ok()?,
        id: id.parse().ok()?,
    };
    (encode(pos) == cursor).then_some(pos)
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
}
