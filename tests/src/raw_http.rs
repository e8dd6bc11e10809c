//! A tiny blocking HTTP/1.1 client over `TcpStream` for tests: one request per connection
//! (`Connection: close`), read to EOF, nothing hidden (no redirects, no automatic gunzip).

use std::io::{self, Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

pub use crate::sim::percent_encode;

#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    /// Names lower-cased, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body as sent (still compressed if it was), de-chunked.
    pub body: Vec<u8>,
    /// False when the connection closed before Content-Length (or the last chunk) arrived.
    pub complete: bool,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body with any `Content-Encoding: gzip` removed.
    pub fn decoded_body(&self) -> io::Result<Vec<u8>> {
        if self
            .header("content-encoding")
            .is_some_and(|e| e.eq_ignore_ascii_case("gzip"))
        {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(self.body.as_slice()).read_to_end(&mut out)?;
            Ok(out)
        } else {
            Ok(self.body.clone())
        }
    }

    pub fn text(&self) -> io::Result<String> {
        Ok(String::from_utf8_lossy(&self.decoded_body()?).into_owned())
    }

    pub fn json(&self) -> anyhow::Result<serde_json::Value> {
        Ok(serde_json::from_slice(&self.decoded_body()?)?)
    }
}

/// `Basic base64("{email}/token:{api_token}")`, the API-token credential.
pub fn basic_auth(email: &str, api_token: &str) -> String {
    format!(
        "Basic {}",
        STANDARD.encode(format!("{email}/token:{api_token}"))
    )
}

/// `GET base_url + path_and_query` with extra headers (e.g. Authorization, Accept-Encoding).
pub fn get(
    base_url: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
) -> io::Result<RawResponse> {
    request("GET", base_url, path_and_query, headers)
}

/// `POST base_url + path` with a body of `content_type`.
pub fn post(
    base_url: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> io::Result<RawResponse> {
    request_with_body(
        "POST",
        base_url,
        path,
        &[("Content-Type", content_type)],
        body,
    )
}

/// Sends one request and reads the response to EOF. A connection closed before any byte
/// of a response is an `UnexpectedEof` (or the reset error the OS reported).
pub fn request(
    method: &str,
    base_url: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
) -> io::Result<RawResponse> {
    request_with_body(method, base_url, path_and_query, headers, b"")
}

/// [`request`] with a body (sent with its `Content-Length` when not empty).
pub fn request_with_body(
    method: &str,
    base_url: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<RawResponse> {
    let host = base_url
        .strip_prefix("http://")
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "only http:// is supported"))?
        .trim_end_matches('/');
    let mut stream = TcpStream::connect(host)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut head = format!("{method} {path_and_query} HTTP/1.1\r\nHost: {host}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("Connection: close\r\n\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut raw = Vec::new();
    if let Err(e) = stream.read_to_end(&mut raw) {
        // A reset after part of a response still leaves that part to inspect.
        if raw.is_empty()
            || e.kind() == io::ErrorKind::WouldBlock
            || e.kind() == io::ErrorKind::TimedOut
        {
            return Err(e);
        }
    }
    if raw.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed without a response",
        ));
    }
    parse_response(&raw)
}

/// Splits a raw HTTP/1.1 response into status, headers and (de-chunked) body.
pub fn parse_response(raw: &[u8]) -> io::Result<RawResponse> {
    let bad = |msg: &str| io::Error::new(io::ErrorKind::InvalidData, msg.to_owned());
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of headers"))?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|_| bad("non-UTF-8 head"))?;
    let rest = &raw[split + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("bad status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut resp = RawResponse {
        status,
        headers,
        body: Vec::new(),
        complete: true,
    };
    if resp
        .header("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        let (body, complete) = dechunk(rest);
        resp.body = body;
        resp.complete = complete;
    } else if let Some(len) = resp.header("content-length") {
        let len: usize = len.parse().map_err(|_| bad("bad content-length"))?;
        resp.complete = rest.len() >= len;
        resp.body = rest[..rest.len().min(len)].to_vec();
    } else {
        resp.body = rest.to_vec();
    }
    Ok(resp)
}

/// Returns the joined chunks and whether the terminating zero-size chunk arrived.
fn dechunk(mut rest: &[u8]) -> (Vec<u8>, bool) {
    let mut body = Vec::new();
    loop {
        let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") else {
            return (body, false);
        };
        let size_text = String::from_utf8_lossy(&rest[..eol]);
        let size_hex = size_text.split(';').next().unwrap_or_default().trim();
        let Ok(size) = usize::from_str_radix(size_hex, 16) else {
            return (body, false);
        };
        rest = &rest[eol + 2..];
        if size == 0 {
            return (body, true);
        }
        if rest.len() < size {
            body.extend_from_slice(rest);
            return (body, false);
        }
        body.extend_from_slice(&rest[..size]);
        rest = rest.get(size + 2..).unwrap_or_default();
    }
}
