//! The audit log's requests: the window sent twice as `filter[created_at][]`, the sort, the
//! page size and the cursor; and a pending request read back into its window and cursor.

use std::borrow::Cow;

use percent_encoding::{NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::PATH;
use crate::resources::events::iso;

pub(crate) fn request_path(start: i64, end: i64, size: u32, after: Option<&str>) -> String {
    let enc = |s: &str| utf8_percent_encode(s, NON_ALPHANUMERIC).to_string();
    let filter = enc("filter[created_at][]");
    let mut path = format!(
        "{PATH}?{filter}={}&{filter}={}&sort=created_at&{}={size}",
        enc(&iso(start)),
        enc(&iso(end)),
        enc("page[size]"),
    );
    if let Some(cursor) = after {
        path.push_str(&format!("&{}={}", enc("page[after]"), enc(cursor)));
    }
    path
}

/// The window and cursor of a request [`request_path`] built.
pub(crate) fn parse_request(request: &str) -> Option<(i64, i64, Option<String>)> {
    let query = request.strip_prefix(PATH)?.strip_prefix('?')?;
    let decode = |s: &str| {
        percent_decode_str(s)
            .decode_utf8()
            .ok()
            .map(Cow::into_owned)
    };
    let mut bounds = Vec::with_capacity(2);
    let mut after = None;
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=')?;
        let (k, v) = (decode(k)?, decode(v)?);
        match k.as_str() {
            "filter[created_at][]" => {
                bounds.push(OffsetDateTime::parse(&v, &Rfc3339).ok()?.unix_timestamp());
            }
            "page[after]" => after = Some(v),
            _ => {}
        }
    }
    match bounds[..] {
        [start, end] => Some((start, end, after)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_carry_the_window_twice_the_sort_and_the_encoded_cursor() {
        let p = request_path(0, 86_400, 100, Some("a+b/="));
        assert_eq!(
            p,
            "/api/v2/audit_logs.json?filter%5Bcreated%5Fat%5D%5B%5D=1970%2D01%2D01T00%3A00%3A00Z\
             &filter%5Bcreated%5Fat%5D%5B%5D=1970%2D01%2D02T00%3A00%3A00Z&sort=created_at\
             &page%5Bsize%5D=100&page%5Bafter%5D=a%2Bb%2F%3D"
        );
    }

    #[test]
    fn a_request_gives_back_its_window_and_cursor() {
        let p = request_path(1_700_000_000, 1_700_086_400, 7, Some("a+b/="));
        assert_eq!(
            parse_request(&p),
            Some((1_700_000_000, 1_700_086_400, Some("a+b/=".to_owned())))
        );
        let p = request_path(0, 5, 100, None);
        assert_eq!(parse_request(&p), Some((0, 5, None)));
        assert_eq!(
            parse_request("/api/v2/audit_logs.json?sort=created_at"),
            None
        );
        assert_eq!(parse_request("/api/v2/other.json?x=1"), None);
    }
}
