//! Replay: the egress hook answers from the cassette instead of the network.
//!
//! Matching: the n-th request the guest makes must have the method, path and query of the
//! n-th recorded exchange (the origin is the settings' base URL, which the egress policy
//! checks as in a live pass; headers are recorded for the reader and not compared). A retry
//! of the same request therefore takes the next recorded answer, as it did when recorded.
//! A request that does not match is refused at once (the guest sees a refusal, never a hang
//! and never a network call) and reported with the closest recorded request; the replay
//! then exits non-zero.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use http_body_util::BodyExt as _;
use hyper::body::{Body as HttpBody, Frame};
use serde::Serialize;
use wasmtime_wasi_http::{Error, WasiBody};

use super::{BodyEnd, Cassette, CassetteError, ErrorRecord, Exchange, Outcome, path_and_query};

/// A request the cassette could not answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unmatched {
    /// `GET /path?query` as the guest asked.
    pub request: String,
    /// Its position among the guest's requests (0-based).
    pub position: usize,
    /// What the cassette holds at that position; none past its end.
    pub expected: Option<String>,
    /// The recorded request most like it, and its position.
    pub closest: Option<String>,
    pub closest_position: Option<usize>,
}

impl std::fmt::Display for Unmatched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "request #{} {} is not in the cassette",
            self.position, self.request
        )?;
        match &self.expected {
            Some(e) => write!(f, " (expected {e})")?,
            None => write!(f, " (all recorded exchanges were used)")?,
        }
        if let (Some(c), Some(i)) = (&self.closest, self.closest_position) {
            write!(f, "; closest recorded: #{i} {c}")?;
        }
        Ok(())
    }
}

#[derive(Debug)]
struct State {
    exchanges: Vec<Exchange>,
    /// Requests seen so far (matched or not).
    seen: usize,
    /// Exchanges used.
    used: usize,
    unmatched: Vec<Unmatched>,
}

/// The cassette's exchanges, handed out in order. Shared by the hook of one pass.
#[derive(Debug, Clone)]
pub struct Player(Arc<Mutex<State>>);

/// What the hook should give the guest.
pub enum Answer {
    Response(http::Response<WasiBody>),
    /// The recorded error, after the recorded wait.
    Error {
        error: Error,
        timeout: bool,
    },
    Unmatched(Unmatched),
}

impl Player {
    pub fn new(cassette: &Cassette) -> Player {
        Player(Arc::new(Mutex::new(State {
            exchanges: cassette.exchanges.clone(),
            seen: 0,
            used: 0,
            unmatched: Vec::new(),
        })))
    }

    /// The answer to `method url`.
    pub fn answer(&self, method: &str, url: &str) -> Answer {
        let key = format!("{method} {}", path_and_query(url));
        let Ok(mut state) = self.0.lock() else {
            return Answer::Error {
                error: Error::InternalError(Some("replay state poisoned".into())),
                timeout: false,
            };
        };
        let position = state.seen;
        state.seen += 1;
        let next = state.used;
        let matched = state
            .exchanges
            .get(next)
            .filter(|e| e.request.key() == key)
            .cloned();
        let Some(exchange) = matched else {
            let expected = state.exchanges.get(next).map(|e| e.request.key());
            let closest = closest(&state.exchanges, &key, next);
            let unmatched = Unmatched {
                request: key,
                position,
                expected,
                closest_position: closest.as_ref().map(|(i, _)| *i),
                closest: closest.map(|(_, k)| k),
            };
            state.unmatched.push(unmatched.clone());
            return Answer::Unmatched(unmatched);
        };
        state.used += 1;
        drop(state);
        match build(exchange.outcome) {
            Ok(answer) => answer,
            Err(e) => Answer::Error {
                error: Error::InternalError(Some(format!("replay: {e}"))),
                timeout: false,
            },
        }
    }

    /// (exchanges used, exchanges in the cassette, requests that did not match).
    pub fn report(&self) -> (usize, usize, Vec<Unmatched>) {
        match self.0.lock() {
            Ok(s) => (s.used, s.exchanges.len(), s.unmatched.clone()),
            Err(_) => (0, 0, Vec::new()),
        }
    }
}

/// The recorded request sharing the longest prefix with `key`; ties go to the one nearest
/// the expected position.
fn closest(exchanges: &[Exchange], key: &str, next: usize) -> Option<(usize, String)> {
    exchanges
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let k = e.request.key();
            let common = k
                .bytes()
                .zip(key.bytes())
                .take_while(|(a, b)| a == b)
                .count();
            (common, std::cmp::Reverse(i.abs_diff(next)), i, k)
        })
        .max_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)))
        .map(|(_, _, i, k)| (i, k))
}

fn build(outcome: Outcome) -> Result<Answer, CassetteError> {
    match outcome {
        Outcome::Error(e) => Ok(Answer::Error {
            timeout: e.kind == "timeout",
            error: error_of(&e),
        }),
        Outcome::Response(r) => {
            let mut builder = http::Response::builder().status(r.status);
            for (name, value) in &r.headers {
                let name = HeaderName::from_bytes(name.as_bytes())
                    .map_err(|e| CassetteError::Invalid(format!("header name {name:?}: {e}")))?;
                let value = HeaderValue::from_str(value)
                    .map_err(|e| CassetteError::Invalid(format!("header {name}: {e}")))?;
                builder = builder.header(name, value);
            }
            let body = Recorded {
                data: Some(Bytes::from(r.body.to_bytes()?)),
                end: Some(r.body_end),
            };
            builder
                .body(body.boxed_unsync())
                .map(Answer::Response)
                .map_err(|e| CassetteError::Invalid(format!("response: {e}")))
        }
    }
}

/// The `wasi:http` error for a recorded code: the guest is given the same code it was.
fn error_of(e: &ErrorRecord) -> Error {
    match e.code.as_str() {
        "DnsTimeout" => Error::DnsTimeout,
        "DnsError" => Error::DnsError {
            rcode: Some("address not available".into()),
            info_code: None,
        },
        "DestinationNotFound" => Error::DestinationNotFound,
        "DestinationUnavailable" => Error::DestinationUnavailable,
        "ConnectionRefused" => Error::ConnectionRefused,
        "ConnectionTerminated" => Error::ConnectionTerminated,
        "ConnectionTimeout" => Error::ConnectionTimeout,
        "ConnectionReadTimeout" => Error::ConnectionReadTimeout,
        "ConnectionWriteTimeout" => Error::ConnectionWriteTimeout,
        "ConnectionLimitReached" => Error::ConnectionLimitReached,
        "TlsProtocolError" => Error::TlsProtocolError,
        "TlsCertificateError" => Error::TlsCertificateError,
        "HttpResponseIncomplete" => Error::HttpResponseIncomplete,
        "HttpResponseTimeout" | "abandoned" => Error::HttpResponseTimeout,
        "HttpProtocolError" => Error::HttpProtocolError,
        other => Error::InternalError(Some(format!("recorded error {other}"))),
    }
}

/// How long a recorded timeout keeps the guest waiting: the request's own timeout, on the
/// (virtual) clock. With none set, until the guest gives up.
pub fn timeout_wait(options: Option<&wasmtime_wasi_http::RequestOptions>) -> Option<Duration> {
    options.and_then(|o| o.first_byte_timeout.or(o.connect_timeout))
}

/// A recorded body: its bytes in one frame, then its recorded end.
struct Recorded {
    data: Option<Bytes>,
    end: Option<BodyEnd>,
}

impl HttpBody for Recorded {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        if let Some(data) = self.data.take().filter(|d| !d.is_empty()) {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        match &self.end {
            Some(BodyEnd::Complete) | None => Poll::Ready(None),
            Some(BodyEnd::Error(e)) => {
                let error = error_of(e);
                self.end = None;
                Poll::Ready(Some(Err(error)))
            }
            // The guest stopped reading here when recorded; nothing more comes.
            Some(BodyEnd::Abandoned) => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cassette::{Body, RequestRecord, ResponseRecord};

    fn exchange(url: &str, status: u16) -> Exchange {
        Exchange {
            request: RequestRecord {
                method: "GET".into(),
                url: format!("https://acme.zendesk.com{url}"),
                headers: vec![],
            },
            outcome: Outcome::Response(ResponseRecord {
                status,
                headers: vec![],
                body: Body::Text("{}".into()),
                body_end: BodyEnd::Complete,
            }),
        }
    }

    fn player(exchanges: Vec<Exchange>) -> Player {
        Player(Arc::new(Mutex::new(State {
            exchanges,
            seen: 0,
            used: 0,
            unmatched: Vec::new(),
        })))
    }

    fn status(answer: Answer) -> u16 {
        match answer {
            Answer::Response(r) => r.status().as_u16(),
            _ => panic!("not a response"),
        }
    }

    #[test]
    fn retries_of_one_request_take_successive_answers_in_order() {
        let p = player(vec![exchange("/a?x=1", 429), exchange("/a?x=1", 200)]);
        assert_eq!(
            status(p.answer("GET", "https://acme.zendesk.com/a?x=1")),
            429
        );
        assert_eq!(
            status(p.answer("GET", "https://acme.zendesk.com/a?x=1")),
            200
        );
        assert_eq!(p.report().0, 2);
    }

    #[test]
    fn an_unmatched_request_names_what_was_expected_and_the_closest() {
        let p = player(vec![
            exchange("/api/v2/audit_logs.json?page=1", 200),
            exchange("/api/v2/incremental/tickets/cursor.json?per_page=10", 200),
        ]);
        let Answer::Unmatched(u) = p.answer(
            "GET",
            "https://acme.zendesk.com/api/v2/incremental/tickets/cursor.json?per_page=5",
        ) else {
            panic!("matched");
        };
        assert_eq!(u.position, 0);
        assert_eq!(
            u.expected.as_deref(),
            Some("GET /api/v2/audit_logs.json?page=1")
        );
        assert_eq!(u.closest_position, Some(1));
        let (used, total, unmatched) = p.report();
        assert_eq!((used, total, unmatched.len()), (0, 2, 1));
        // Past the end of the cassette nothing is expected, and nothing is sent.
        let q = player(vec![]);
        assert!(matches!(
            q.answer("GET", "https://acme.zendesk.com/a"),
            Answer::Unmatched(Unmatched { expected: None, .. })
        ));
    }
}
