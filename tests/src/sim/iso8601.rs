//! Zendesk's body timestamps: ISO 8601, UTC, second precision, `Z` suffix
//! (`2012-03-05T11:32:44Z`, zendesk-api.md §0), both ways.

/// `YYYY-MM-DDTHH:MM:SSZ`; negative times (never real) render as the epoch.
pub(crate) fn format(unix: i64) -> String {
    let unix = unix.max(0);
    let (days, secs) = (unix / 86_400, unix % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3_600,
        secs % 3_600 / 60,
        secs % 60
    )
}

/// Parses exactly `YYYY-MM-DDTHH:MM:SSZ` (the form Zendesk documents and collectors send);
/// anything looser — offsets, fractions, a date alone, Feb 30 — is `None`, so a collector
/// that sends another shape learns it here rather than against an account that may differ.
pub(crate) fn parse(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let shape_ok = b.len() == 20
        && b.iter().enumerate().all(|(i, &c)| match i {
            4 | 7 => c == b'-',
            10 => c == b'T',
            13 | 16 => c == b':',
            19 => c == b'Z',
            _ => c.is_ascii_digit(),
        });
    if !shape_ok {
        return None;
    }
    // All digits by now, so these parses cannot fail; `?` keeps that a non-panic anyway.
    let num = |from: usize, to: usize| s[from..to].parse::<i64>().ok();
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if !(1..=month_days).contains(&day) || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second)
}

/// Howard Hinnant's days_from_civil (days since 1970-01-01, proleptic Gregorian).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_matches_known_dates() {
        assert_eq!(format(0), "1970-01-01T00:00:00Z");
        assert_eq!(format(1_685_142_121), "2023-05-26T23:02:01Z");
        assert_eq!(format(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn parse_inverts_format_and_reaches_before_the_epoch() {
        for t in [
            0,
            1,
            951_782_400,
            1_685_142_121,
            1_700_000_000,
            4_102_444_799,
        ] {
            assert_eq!(parse(&format(t)), Some(t), "{t}");
        }
        assert_eq!(parse("1969-12-31T23:59:59Z"), Some(-1));
        assert_eq!(parse("2000-01-01T00:00:00Z"), Some(946_684_800));
    }

    #[test]
    fn parse_rejects_every_other_shape() {
        for bad in [
            "",
            "2023-05-26",
            "2023-05-26T23:02:01",
            "2023-05-26T23:02:01.000Z",
            "2023-05-26T23:02:01+00:00",
            "2023-05-26 23:02:01Z",
            "2023-02-29T00:00:00Z",
            "2023-13-01T00:00:00Z",
            "2023-00-01T00:00:00Z",
            "2023-05-26T24:00:00Z",
            "2023-05-26T23:60:00Z",
            "2023-05-26T23:02:60Z",
            "+023-05-26T23:02:01Z",
            "1685142121",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
