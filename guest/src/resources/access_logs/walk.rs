//! The access log's requests: this pass's window and page size, and the server's
//! `links.next` followed only on the configured origin and this path, with the window put
//! back, so a hostile or careless link can neither leave the account nor widen the walk.

use percent_encoding::{NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::PATH;
use crate::resources::events::iso;
use crate::settings::Origin;

const FILTER_START: &str = "filter[start]";
const FILTER_END: &str = "filter[end]";
const PAGE_SIZE: &str = "page[size]";

fn enc(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

/// The window of one pass: inclusive `timestamp` bounds, and the page size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Walk {
    pub start: i64,
    pub end: i64,
    pub size: u32,
}

impl Walk {
    /// This pass's own parameters, encoded: the window and the page size.
    fn params(&self) -> String {
        format!(
            "{}={}&{}={}&{}={}",
            enc(FILTER_START),
            enc(&iso(self.start)),
            enc(FILTER_END),
            enc(&iso(self.end)),
            enc(PAGE_SIZE),
            self.size
        )
    }

    /// The first request of the walk.
    pub fn first(&self) -> String {
        format!("{PATH}?{}", self.params())
    }

    /// The next request when the server gave no `links.next`: `page[after]`.
    pub fn after(&self, cursor: &str) -> String {
        format!(
            "{PATH}?{}&{}={}",
            self.params(),
            enc("page[after]"),
            enc(cursor)
        )
    }

    /// The server's `links.next`, checked to be on `origin` and this path, with the window
    /// and page size replaced by ours; the rest (the cursor) is kept as sent.
    pub fn follow(&self, next: &str, origin: &Origin) -> Result<String, String> {
        let refuse = |why: &str| format!("links.next {next:?} {why}; not following it");
        if next
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '#')
        {
            return Err(refuse("is not a plain URL"));
        }
        let scheme = if origin.https { "https://" } else { "http://" };
        let path_and_query = if next.starts_with('/') && !next.starts_with("//") {
            next
        } else {
            let rest = next
                .get(..scheme.len())
                .filter(|s| s.eq_ignore_ascii_case(scheme))
                .map(|_| &next[scheme.len()..])
                .ok_or_else(|| refuse("is not on the configured origin"))?;
            let slash = rest.find('/').unwrap_or(rest.len());
            if !rest[..slash].eq_ignore_ascii_case(&origin.authority) {
                return Err(refuse("is not on the configured origin"));
            }
            &rest[slash..]
        };
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        // The `.json` suffix is optional on Zendesk's API; the host allows only the bare path.
        if path != PATH && path != format!("{PATH}.json") {
            return Err(refuse("is not the access log endpoint"));
        }
        let ours = [FILTER_START, FILTER_END, PAGE_SIZE];
        let mut kept: Vec<&str> = query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .filter(|pair| {
                let key = pair.split_once('=').map_or(*pair, |(k, _)| k);
                let key = percent_decode_str(&key.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned();
                !ours.contains(&key.as_str())
            })
            .collect();
        let params = self.params();
        kept.push(&params);
        Ok(format!("{PATH}?{}", kept.join("&")))
    }
}

/// The window a request built by [`Walk`] asked for, so the page an interrupted pass was
/// storing is checked against its own window when it is asked for again.
pub(crate) fn parse_window(request: &str) -> Option<(i64, i64)> {
    let query = request.strip_prefix(PATH)?.strip_prefix('?')?;
    let (mut start, mut end) = (None, None);
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=')?;
        let k = percent_decode_str(k).decode_utf8().ok()?;
        let v = percent_decode_str(v).decode_utf8().ok()?;
        let at = || {
            OffsetDateTime::parse(&v, &Rfc3339)
                .ok()
                .map(|t| t.unix_timestamp())
        };
        match k.as_ref() {
            FILTER_START => start = at(),
            FILTER_END => end = at(),
            _ => {}
        }
    }
    Some((start?, end?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const WALK: Walk = Walk {
        start: 0,
        end: 86_400,
        size: 2500,
    };
    const OURS: &str = "filter%5Bstart%5D=1970%2D01%2D01T00%3A00%3A00Z\
                        &filter%5Bend%5D=1970%2D01%2D02T00%3A00%3A00Z&page%5Bsize%5D=2500";

    fn origin() -> Origin {
        Origin::parse("https://acme.zendesk.com").unwrap()
    }

    #[test]
    fn the_first_request_carries_the_window_and_the_size() {
        assert_eq!(WALK.first(), format!("{PATH}?{OURS}"));
        assert_eq!(
            WALK.after("01H+/="),
            format!("{PATH}?{OURS}&page%5Bafter%5D=01H%2B%2F%3D")
        );
    }

    #[test]
    fn links_next_is_followed_with_our_window_put_back() {
        // The sample's shape: filters repeated, then the cursor.
        let next = "https://acme.zendesk.com/api/v2/access_logs?filter%5Bend%5D=2030-01-01T00%3A00%3A00Z\
                    &filter%5Bstart%5D=1960-01-01T00%3A00%3A00Z&page%5Bafter%5D=01HABC&page%5Bsize%5D=1";
        assert_eq!(
            WALK.follow(next, &origin()).unwrap(),
            format!("{PATH}?page%5Bafter%5D=01HABC&{OURS}")
        );
        // A link that drops them gets them back; unencoded brackets are recognised too.
        let bare = "https://ACME.zendesk.com/api/v2/access_logs.json?page[after]=01HABC";
        assert_eq!(
            WALK.follow(bare, &origin()).unwrap(),
            format!("{PATH}?page[after]=01HABC&{OURS}")
        );
        let relative = "/api/v2/access_logs?filter[start]=x&page%5Bafter%5D=Z";
        assert_eq!(
            WALK.follow(relative, &origin()).unwrap(),
            format!("{PATH}?page%5Bafter%5D=Z&{OURS}")
        );
    }

    #[test]
    fn links_next_elsewhere_is_refused_by_name() {
        for next in [
            "https://evil.example/api/v2/access_logs?page%5Bafter%5D=x",
            "http://acme.zendesk.com/api/v2/access_logs?page%5Bafter%5D=x",
            "https://acme.zendesk.com.evil.example/api/v2/access_logs",
            "https://acme.zendesk.com@evil.example/api/v2/access_logs",
            "//evil.example/api/v2/access_logs",
            "https://acme.zendesk.com/api/v2/users.json?page%5Bafter%5D=x",
            "https://acme.zendesk.com/api/v2/access_logs/../users",
            "https://acme.zendesk.com/api/v2/access_logs?a=b c",
        ] {
            let err = WALK.follow(next, &origin()).unwrap_err();
            assert!(err.contains(&format!("{next:?}")), "{err}");
        }
    }
}
