//! Injected failures: what a collector meets between it and Zendesk (rate limits, 5xx,
//! proxy pages, cut-off or garbled bodies, dropped connections, slow answers).

use super::wire::SimResponse;

/// One failure, consumed by the next `/api/` request (FIFO) before auth and routing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// 429, text/plain "Number of allowed API requests per minute exceeded", `Retry-After` if set.
    RateLimited { retry_after: Option<u64> },
    /// Any status (typically 500/502/503/504) with a small body, `Retry-After` if set.
    Status {
        status: u16,
        retry_after: Option<u64>,
    },
    /// 200 text/html maintenance page, as a proxy in front of the API would send.
    Html,
    /// 200 application/json announcing the full Content-Length, sending half, then closing.
    Truncated,
    /// 200 application/json whose body is not JSON.
    NotJson,
    /// The connection is closed without any response.
    Reset,
    /// The normal answer, after this many milliseconds of real time.
    Delay { ms: u64 },
    /// 200 application/json, no Content-Length, whose body never ends (a page-size cap while
    /// reading is the only way out).
    Endless,
    /// 200 `Content-Encoding: gzip` whose body inflates to this many bytes of JSON-looking
    /// padding: a few kilobytes on the wire.
    GzipBomb { inflated: usize },
    /// This status and JSON body instead of the answer: a page Zendesk might send but the
    /// simulator would not (a cursor that does not advance, say).
    Canned { status: u16, body: String },
    /// 302 to `location` (another origin, typically).
    Redirect { location: String },
    /// Every OAuth access token issued so far is revoked, then the request is answered as
    /// usual (so a request with one of them gets 401 `invalid_token`).
    RevokeAccessTokens,
}

/// The response for faults that replace the answer outright (not Truncated/Reset/Delay,
/// which the server handles because they need the connection or the normal answer).
pub(crate) fn replacement(fault: &Fault) -> Option<SimResponse> {
    let resp = match *fault {
        Fault::RateLimited { retry_after } => with_retry_after(
            SimResponse::text(
                429,
                "text/plain; charset=utf-8",
                "Number of allowed API requests per minute exceeded",
            ),
            retry_after,
        ),
        Fault::Status {
            status,
            retry_after,
        } => with_retry_after(status_body(status), retry_after),
        Fault::Html => SimResponse::text(
            200,
            "text/html; charset=utf-8",
            "<!DOCTYPE html>\n<html><head><title>Zendesk is down for maintenance</title></head>\
             <body><h1>We'll be right back</h1><p>Zendesk is undergoing scheduled maintenance. \
             Please try again in a few minutes.</p></body></html>\n",
        ),
        Fault::NotJson => SimResponse::text(
            200,
            "application/json; charset=utf-8",
            "{\"tickets\": [ \u{1}garbage<<not json>>",
        ),
        Fault::Canned { status, ref body } => {
            SimResponse::text(status, "application/json; charset=utf-8", body)
        }
        Fault::Redirect { ref location } => SimResponse::text(
            302,
            "text/html; charset=utf-8",
            "<html><body>Moved</body></html>",
        )
        .with_header("location", location.clone()),
        Fault::Truncated
        | Fault::Reset
        | Fault::Delay { .. }
        | Fault::Endless
        | Fault::GzipBomb { .. }
        | Fault::RevokeAccessTokens => return None,
    };
    Some(resp)
}

fn with_retry_after(resp: SimResponse, retry_after: Option<u64>) -> SimResponse {
    match retry_after {
        Some(secs) => resp.with_header("retry-after", secs.to_string()),
        None => resp,
    }
}

/// Gateways answer in plain text; the application answers in JSON.
fn status_body(status: u16) -> SimResponse {
    match status {
        502 => SimResponse::text(502, "text/plain; charset=utf-8", "502 Bad Gateway"),
        504 => SimResponse::text(504, "text/plain; charset=utf-8", "504 Gateway Timeout"),
        503 => SimResponse::error(
            503,
            "ServiceUnavailable",
            "Zendesk is temporarily unavailable. Please try again later.",
        ),
        _ => SimResponse::error(status, "InternalError", "Something went wrong"),
    }
}
