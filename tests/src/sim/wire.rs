//! HTTP-level value types shared by the simulator's modules: the recorded request, the
//! response before it becomes a hyper response, and URL (de)coding.

use serde::Serialize;

/// One request as the simulator received it, recorded before any fault, auth or routing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    pub path_and_query: String,
    /// Names are lower-case (as hyper delivers them); values decoded lossily as UTF-8.
    pub headers: Vec<(String, String)>,
    /// The body (read only for `POST`s; empty otherwise).
    pub body: Vec<u8>,
}

impl RecordedRequest {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The path without the query string.
    pub fn path(&self) -> &str {
        self.path_and_query
            .split_once('?')
            .map_or(self.path_and_query.as_str(), |(p, _)| p)
    }

    /// Query parameters in order, decoded the way Zendesk's Rails stack does it: `%XX`
    /// escapes and `+` as a space (so an unencoded cursor is corrupted, as in production).
    pub fn query(&self) -> Vec<(String, String)> {
        let Some((_, query)) = self.path_and_query.split_once('?') else {
            return Vec::new();
        };
        query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (form_decode(k), form_decode(v))
            })
            .collect()
    }
}

/// Decodes one `application/x-www-form-urlencoded` component; malformed escapes are kept
/// literally rather than rejected, like most servers.
pub(crate) fn form_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes everything except RFC 3986 unreserved characters (what Rails'
/// `CGI.escape` does to a cursor: `+` → `%2B`, `/` → `%2F`, `=` → `%3D`).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A response as the simulator's logic produces it; `server` turns it into hyper's type
/// (adding gzip, request id and rate-limit headers).
#[derive(Debug, Clone)]
pub(crate) struct SimResponse {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
    /// Whether gzip may be applied when the client asks (fault bodies stay as they are).
    pub compressible: bool,
}

pub(crate) const JSON: &str = "application/json; charset=utf-8";

impl SimResponse {
    pub fn json<T: Serialize>(status: u16, value: &T) -> SimResponse {
        // Serialising our own derive(Serialize) types cannot fail (no maps with non-string keys).
        let body = serde_json::to_vec(value).expect("serialisable response");
        SimResponse {
            status,
            headers: vec![("content-type", JSON.to_owned())],
            body,
            compressible: true,
        }
    }

    /// The `{"error":…,"description":…}` envelope Zendesk uses for 400/404/422.
    pub fn error(status: u16, error: &str, description: &str) -> SimResponse {
        #[derive(Serialize)]
        struct Body<'a> {
            error: &'a str,
            description: &'a str,
        }
        SimResponse::json(status, &Body { error, description })
    }

    pub fn text(status: u16, content_type: &str, body: &str) -> SimResponse {
        SimResponse {
            status,
            headers: vec![("content-type", content_type.to_owned())],
            body: body.as_bytes().to_vec(),
            compressible: false,
        }
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> SimResponse {
        self.headers.push((name, value.into()));
        self
    }
}
