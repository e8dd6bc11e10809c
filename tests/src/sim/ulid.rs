//! ULID-shaped ids like the access log's (`01H9KB1CDRX2RVDS7E2R4YJ0TS`, access-logs.md §4):
//! 26 Crockford base-32 characters, a 48-bit millisecond time prefix, then 80 bits that are
//! random in Zendesk and deterministic here. Lexical order is time order.

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// The id for `unix_ms`, with `tail` as its 80 low bits.
pub(crate) fn encode(unix_ms: u64, tail: u128) -> String {
    let value = (u128::from(unix_ms & 0xFFFF_FFFF_FFFF) << 80) | (tail & ((1u128 << 80) - 1));
    (0..26)
        .rev()
        .map(|i| ALPHABET[((value >> (i * 5)) & 31) as usize] as char)
        .collect()
}

/// The millisecond time prefix of a well-formed id; None for anything else.
pub(crate) fn time_ms(id: &str) -> Option<u64> {
    let b = id.as_bytes();
    if b.len() != 26 || b[0] > b'7' {
        return None;
    }
    let mut value: u128 = 0;
    for &c in b {
        let digit = ALPHABET.iter().position(|&a| a == c)?;
        value = (value << 5) | digit as u128;
    }
    u64::try_from(value >> 80).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_id_decodes_to_its_records_time() {
        // access-logs.md §6: 2023-09-05T18:52:50.488Z.
        assert_eq!(
            time_ms("01H9KB1CDRX2RVDS7E2R4YJ0TS"),
            Some(1_693_939_970_488)
        );
        let id = encode(1_693_939_970_488, 42);
        assert_eq!(&id[..10], "01H9KB1CDR");
        assert_eq!(time_ms(&id), Some(1_693_939_970_488));
        assert!(
            encode(1000, u128::MAX) < encode(1001, 0),
            "lexical order is time order"
        );
        assert_eq!(time_ms("not-a-ulid"), None);
        assert_eq!(time_ms("81H9KB1CDRX2RVDS7E2R4YJ0TS"), None);
        assert_eq!(
            time_ms("01H9KB1CDRX2RVDS7E2R4YJ0TU"),
            None,
            "U is not Crockford"
        );
    }
}
