//! A small blocking HTTP client over the imported `wasi:http/outgoing-handler`.
//!
//! One `GET` at a time is all a paging collector needs, so this waits on pollables instead of
//! bringing in an async runtime. Every wait is bounded by the attempt's deadline, and the body
//! is read and inflated under a size cap, so a slow, endless or gzip-bomb body is an error.

use std::io::Read;

use crate::bindings::wasi::clocks::monotonic_clock;
use crate::bindings::wasi::http::outgoing_handler;
use crate::bindings::wasi::http::types::{
    ErrorCode, Fields, IncomingResponse, Method, OutgoingRequest, RequestOptions, Scheme,
};
use crate::bindings::wasi::io::poll;
use crate::bindings::wasi::io::streams::StreamError;
use crate::settings::Origin;

/// A response whose body has been read in full and decoded.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// Header names lower-case, values as sent.
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
            .map(str::trim)
    }
}

/// Why no response could be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// The host refused to send the request (egress policy); retrying cannot help.
    Refused(String),
    /// No complete response within the attempt's time.
    Timeout,
    /// The connection failed or broke mid-body.
    Transport(String),
    /// The body (after decoding) is larger than allowed.
    TooLarge(u64),
    /// The body could not be decoded (unknown encoding, corrupt or truncated gzip).
    Undecodable(String),
}

impl HttpError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, HttpError::Timeout | HttpError::Transport(_))
    }
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpError::Refused(m) => write!(f, "refused by the host: {m}"),
            HttpError::Timeout => write!(f, "timed out"),
            // A sentence of its own, naming the host (see `error_code`).
            HttpError::Transport(m) => write!(f, "{m}"),
            HttpError::TooLarge(cap) => write!(f, "body larger than {cap} bytes"),
            HttpError::Undecodable(m) => write!(f, "body could not be decoded: {m}"),
        }
    }
}

/// Sends `GET {origin}{path_and_query}` asking for gzip, and reads the whole body, all within
/// `timeout_ms`; the decoded body may be at most `max_bytes`.
pub fn get(
    origin: &Origin,
    path_and_query: &str,
    timeout_ms: u64,
    max_bytes: u64,
) -> Result<Response, HttpError> {
    exchange(origin, path_and_query, timeout_ms, max_bytes).map_err(|e| match e {
        // The attempt's own deadline: say whom we waited for, and for how long.
        HttpError::Timeout => HttpError::Transport(format!(
            "no complete answer from {} within {} s (HTTP_TIMEOUT, or the pass deadline when \
             it comes first); check the network path to it, or raise HTTP_TIMEOUT",
            origin.authority,
            timeout_ms.div_ceil(1000)
        )),
        other => other,
    })
}

fn exchange(
    origin: &Origin,
    path_and_query: &str,
    timeout_ms: u64,
    max_bytes: u64,
) -> Result<Response, HttpError> {
    let timeout_ns = timeout_ms.saturating_mul(1_000_000);
    let deadline = monotonic_clock::now().saturating_add(timeout_ns);
    let request = build_request(origin, path_and_query)?;
    let options = RequestOptions::new();
    // Best effort: a runtime that cannot set these still has the overall deadline below.
    let _ = options.set_connect_timeout(Some(timeout_ns));
    let _ = options.set_first_byte_timeout(Some(timeout_ns));
    let _ = options.set_between_bytes_timeout(Some(timeout_ns));
    let host = origin.authority.as_str();
    let future =
        outgoing_handler::handle(request, Some(options)).map_err(|c| error_code(c, host))?;
    let response = {
        let ready = future.subscribe();
        loop {
            if let Some(result) = future.get() {
                break result
                    .map_err(|()| HttpError::Transport("response taken twice".into()))?
                    .map_err(|c| error_code(c, host))?;
            }
            wait(&ready, deadline)?;
        }
    };
    let status = response.status();
    let headers = response.headers().entries();
    let raw = read_body(&response, deadline, max_bytes)?;
    let encoding = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-encoding"))
        .map(|(_, v)| String::from_utf8_lossy(v).trim().to_ascii_lowercase());
    let body = match encoding.as_deref() {
        None | Some("") | Some("identity") => raw,
        Some("gzip") => inflate(&raw, max_bytes)?,
        Some(other) => {
            return Err(HttpError::Undecodable(format!(
                "unexpected Content-Encoding {other:?}"
            )));
        }
    };
    Ok(Response {
        status,
        headers: headers
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect(),
        body,
    })
}

fn build_request(origin: &Origin, path_and_query: &str) -> Result<OutgoingRequest, HttpError> {
    let invalid = |what: &str| HttpError::Refused(format!("invalid request {what}"));
    let headers = Fields::from_list(&[
        ("accept".to_owned(), b"application/json".to_vec()),
        ("accept-encoding".to_owned(), b"gzip".to_vec()),
        (
            "user-agent".to_owned(),
            concat!("zendesk-crm/", env!("CARGO_PKG_VERSION"))
                .as_bytes()
                .to_vec(),
        ),
    ])
    .map_err(|_| invalid("headers"))?;
    let request = OutgoingRequest::new(headers);
    request
        .set_method(&Method::Get)
        .map_err(|()| invalid("method"))?;
    let scheme = if origin.https {
        Scheme::Https
    } else {
        Scheme::Http
    };
    request
        .set_scheme(Some(&scheme))
        .map_err(|()| invalid("scheme"))?;
    request
        .set_authority(Some(&origin.authority))
        .map_err(|()| invalid("authority"))?;
    request
        .set_path_with_query(Some(path_and_query))
        .map_err(|()| invalid("path"))?;
    Ok(request)
}

/// Blocks until `ready` fires or the deadline passes.
fn wait(ready: &poll::Pollable, deadline: u64) -> Result<(), HttpError> {
    let timer = monotonic_clock::subscribe_instant(deadline);
    let fired = poll::poll(&[ready, &timer]);
    if fired.contains(&0) {
        Ok(())
    } else {
        Err(HttpError::Timeout)
    }
}

fn read_body(
    response: &IncomingResponse,
    deadline: u64,
    max_bytes: u64,
) -> Result<Vec<u8>, HttpError> {
    let body = response
        .consume()
        .map_err(|()| HttpError::Transport("response body already taken".into()))?;
    let stream = body
        .stream()
        .map_err(|()| HttpError::Transport("response body stream already taken".into()))?;
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    let mut len = 0u64;
    let ready = stream.subscribe();
    // Each read takes all the host has (one frame) up to one byte past the cap. Our host
    // hands an inflated page over as one frame, so one read takes it whole and nothing is
    // joined; a runtime that streams frames gets them joined once at the end, into a buffer of
    // the body's size (appending each to a growing buffer copied a page about twice more).
    let most = max_bytes.saturating_add(1);
    loop {
        match stream.read(most.saturating_sub(len).max(1)) {
            Ok(chunk) if chunk.is_empty() => wait(&ready, deadline)?,
            Ok(chunk) => {
                len += chunk.len() as u64;
                chunks.push(chunk);
                if len > max_bytes {
                    return Err(HttpError::TooLarge(max_bytes));
                }
            }
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => {
                return Err(HttpError::Transport(format!(
                    "body ended early: {}",
                    e.to_debug_string()
                )));
            }
        }
    }
    // A body that came in one piece is used as it is.
    if chunks.len() == 1 {
        return Ok(chunks.pop().unwrap_or_default());
    }
    Ok(chunks.concat())
}

/// Inflates a gzip body, refusing to produce more than `max_bytes` (a gzip bomb is an error,
/// not an allocation).
pub fn inflate(raw: &[u8], max_bytes: u64) -> Result<Vec<u8>, HttpError> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(raw)
        .take(max_bytes.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| HttpError::Undecodable(format!("gzip: {e}")))?;
    if out.len() as u64 > max_bytes {
        return Err(HttpError::TooLarge(max_bytes));
    }
    Ok(out)
}

/// A `wasi:http` error code as a sentence for whoever reads the summary: what failed (DNS,
/// connect, TLS, HTTP), at which host, and what to check. wasmtime's own sender reports any
/// connect failure other than DNS as `connection-refused` and any TLS failure (an untrusted
/// certificate included) as `tls-protocol-error`, so those sentences name the likely causes.
fn error_code(code: ErrorCode, host: &str) -> HttpError {
    let transport = HttpError::Transport;
    match code {
        ErrorCode::HttpRequestDenied => {
            HttpError::Refused("the host does not allow this request".into())
        }
        ErrorCode::InternalError(Some(m)) if m.starts_with("refused:") => HttpError::Refused(m),
        ErrorCode::DnsTimeout => transport(format!(
            "looking up {host} timed out (DNS); check the DNS resolver of this machine or \
             container"
        )),
        ErrorCode::DnsError(p) => transport(format!(
            "cannot resolve {host} (DNS: {}); check the subdomain in ZENDESK_BASE_URL and the \
             DNS resolver of this machine or container",
            p.rcode.as_deref().unwrap_or("no answer")
        )),
        ErrorCode::DestinationNotFound => transport(format!(
            "{host} was not found; check the subdomain in ZENDESK_BASE_URL"
        )),
        ErrorCode::DestinationUnavailable | ErrorCode::DestinationIpUnroutable => {
            transport(format!(
                "no route to {host} from this network; check the firewall, or set HTTPS_PROXY \
                 if outbound traffic must go through a proxy"
            ))
        }
        ErrorCode::DestinationIpProhibited => transport(format!(
            "connecting to {host} is prohibited on this network; check the firewall, or set \
             HTTPS_PROXY"
        )),
        ErrorCode::ConnectionRefused => transport(format!(
            "cannot connect to {host}: the connection was refused or could not be made; check \
             the host and port in ZENDESK_BASE_URL, the firewall, or HTTPS_PROXY"
        )),
        ErrorCode::ConnectionTerminated => {
            transport(format!("{host} closed the connection before answering"))
        }
        ErrorCode::ConnectionTimeout => transport(format!(
            "connecting to {host} timed out; check the firewall, or set HTTPS_PROXY if \
             outbound traffic must go through a proxy"
        )),
        ErrorCode::ConnectionReadTimeout
        | ErrorCode::ConnectionWriteTimeout
        | ErrorCode::HttpResponseTimeout => transport(format!(
            "{host} did not answer in time (HTTP_TIMEOUT); check the network path to it, or \
             raise HTTP_TIMEOUT"
        )),
        ErrorCode::ConnectionLimitReached => transport(format!(
            "too many connections to {host} are open on this machine"
        )),
        ErrorCode::TlsProtocolError => transport(format!(
            "the TLS handshake with {host} failed: its certificate is not trusted (behind a \
             TLS-inspecting proxy, set ZENDESK_CA_BUNDLE to the proxy's CA) or it does not \
             speak TLS on that port (check the scheme and port in ZENDESK_BASE_URL)"
        )),
        ErrorCode::TlsCertificateError => transport(format!(
            "the TLS certificate of {host} is not trusted; behind a TLS-inspecting proxy, set \
             ZENDESK_CA_BUNDLE to the proxy's CA"
        )),
        ErrorCode::TlsAlertReceived(p) => transport(format!(
            "{host} ended the TLS handshake with alert {} ({}); check ZENDESK_CA_BUNDLE and \
             HTTPS_PROXY",
            p.alert_id
                .map_or_else(|| "?".to_owned(), |id| id.to_string()),
            p.alert_message.as_deref().unwrap_or("no message")
        )),
        ErrorCode::InternalError(Some(m)) => transport(format!("{host}: {m}")),
        other => transport(format!(
            "{host} sent no usable HTTP response ({})",
            code_name(&other)
        )),
    }
}

/// The error code's name without its payload's Rust syntax, e.g. `HttpProtocolError`.
fn code_name(code: &ErrorCode) -> String {
    let debug = format!("{code:?}");
    let name = debug.strip_prefix("ErrorCode::").unwrap_or(&debug);
    name.split(['(', ' ', '{'])
        .next()
        .unwrap_or(name)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn transport_errors_are_sentences_naming_the_host_and_the_fix() {
        use crate::bindings::wasi::http::types::DnsErrorPayload;
        let dns = error_code(
            ErrorCode::DnsError(DnsErrorPayload {
                rcode: Some("address not available".into()),
                info_code: None,
            }),
            "acme.zendesk.com",
        )
        .to_string();
        assert!(
            dns.starts_with("cannot resolve acme.zendesk.com (DNS: address not available)"),
            "{dns}"
        );
        assert!(dns.contains("ZENDESK_BASE_URL"), "{dns}");
        assert!(
            !dns.contains("ErrorCode") && !dns.contains("Payload"),
            "{dns}"
        );
        let refused = error_code(ErrorCode::ConnectionRefused, "127.0.0.1:9").to_string();
        assert!(
            refused.contains("cannot connect to 127.0.0.1:9"),
            "{refused}"
        );
        let tls = error_code(ErrorCode::TlsProtocolError, "acme.zendesk.com").to_string();
        assert!(tls.contains("TLS handshake with acme.zendesk.com"), "{tls}");
        assert!(tls.contains("ZENDESK_CA_BUNDLE"), "{tls}");
        let other = error_code(ErrorCode::HttpResponseBodySize(Some(7)), "h").to_string();
        assert_eq!(
            other,
            "h sent no usable HTTP response (HttpResponseBodySize)"
        );
    }

    #[test]
    fn inflates_within_the_cap() {
        assert_eq!(inflate(&gzip(b"hello"), 5).unwrap(), b"hello");
    }

    #[test]
    fn gzip_bomb_is_too_large() {
        let bomb = gzip(&vec![0u8; 1 << 20]);
        assert!(bomb.len() < 4096);
        assert_eq!(inflate(&bomb, 1000), Err(HttpError::TooLarge(1000)));
    }

    #[test]
    fn truncated_gzip_is_undecodable() {
        let g = gzip(b"{\"tickets\":[]}");
        assert!(matches!(
            inflate(&g[..g.len() - 6], 1000),
            Err(HttpError::Undecodable(_))
        ));
    }
}
