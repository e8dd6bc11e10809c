//! Recording: the egress hook sends each request as usual and keeps what the guest got. The
//! request is taken as the guest made it (before the host adds credentials); the response
//! body is captured by wrapping its stream, so the cassette holds the bytes the guest read:
//! after the host's gzip decoding, byte for byte.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{AUTHORIZATION, COOKIE, HOST, PROXY_AUTHORIZATION, SET_COOKIE};
use http::{HeaderMap, Request};
use http_body_util::BodyExt as _;
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use wasmtime_wasi_http::{Error, WasiBody};

use super::{Body, BodyEnd, ErrorRecord, Exchange, Outcome, RequestRecord, ResponseRecord};

/// The exchanges of one pass, in the order the guest made them. Shared by the hook and the
/// response bodies it hands out.
#[derive(Debug, Clone, Default)]
pub struct Recorder(Arc<Mutex<Vec<Slot>>>);

#[derive(Debug)]
struct Slot {
    request: RequestRecord,
    outcome: Option<Outcome>,
}

impl Recorder {
    /// Opens the next exchange, for a request taken with [`take`].
    pub fn begin(&self, record: RequestRecord) -> Pending {
        let index = match self.0.lock() {
            Ok(mut slots) => {
                slots.push(Slot {
                    request: record,
                    outcome: None,
                });
                slots.len() - 1
            }
            Err(_) => usize::MAX,
        };
        Pending {
            recorder: self.clone(),
            index,
            done: false,
        }
    }

    fn set(&self, index: usize, outcome: Outcome, only_if_open: bool) {
        if let Ok(mut slots) = self.0.lock()
            && let Some(slot) = slots.get_mut(index)
            && (slot.outcome.is_none() || !only_if_open)
        {
            slot.outcome = Some(outcome);
        }
    }

    /// Every exchange so far. One still open (the pass ended while the guest waited) is
    /// recorded as abandoned.
    pub fn exchanges(&self) -> Vec<Exchange> {
        let Ok(slots) = self.0.lock() else {
            return Vec::new();
        };
        slots
            .iter()
            .map(|s| Exchange {
                request: s.request.clone(),
                outcome: s
                    .outcome
                    .clone()
                    .unwrap_or_else(|| Outcome::Error(abandoned())),
            })
            .collect()
    }
}

/// The request as the guest made it: call before the host touches its headers.
pub fn take<B>(request: &Request<B>) -> RequestRecord {
    RequestRecord {
        method: request.method().to_string(),
        url: request.uri().to_string(),
        headers: guest_headers(request.headers()),
    }
}

fn abandoned() -> ErrorRecord {
    ErrorRecord {
        kind: "timeout".into(),
        code: "abandoned".into(),
    }
}

/// An exchange whose answer has not come yet. Dropped unfinished (the guest stopped waiting,
/// and wasmtime cancelled the send), it records that the guest saw no answer.
pub struct Pending {
    recorder: Recorder,
    index: usize,
    done: bool,
}

impl Pending {
    pub fn failed(mut self, error: &Error) {
        self.done = true;
        self.recorder
            .set(self.index, Outcome::Error(classify(error)), true);
    }

    /// The response arrived: its body is wrapped so what the guest reads is recorded.
    pub fn responded(mut self, response: http::Response<WasiBody>) -> http::Response<WasiBody> {
        self.done = true;
        let (parts, body) = response.into_parts();
        let head = ResponseRecord {
            status: parts.status.as_u16(),
            headers: response_headers(&parts.headers),
            body: Body::Text(String::new()),
            body_end: BodyEnd::Abandoned,
        };
        let capture = Capture {
            inner: body,
            recorder: self.recorder.clone(),
            index: self.index,
            head: Some(head),
            bytes: Vec::new(),
            polled: false,
        };
        http::Response::from_parts(parts, capture.boxed_unsync())
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.done {
            self.recorder
                .set(self.index, Outcome::Error(abandoned()), true);
        }
    }
}

/// A response body that keeps a copy of every byte the guest reads.
struct Capture {
    inner: WasiBody,
    recorder: Recorder,
    index: usize,
    /// Status and headers, until the exchange is written.
    head: Option<ResponseRecord>,
    bytes: Vec<u8>,
    polled: bool,
}

impl Capture {
    fn finish(&mut self, end: BodyEnd) {
        let Some(mut head) = self.head.take() else {
            return;
        };
        let outcome = if !self.polled {
            // The guest never asked for the body: it had stopped waiting for the response
            // before it came (our guest always reads the body of a response it takes).
            Outcome::Error(abandoned())
        } else {
            head.body = Body::from_bytes(&self.bytes);
            head.body_end = end;
            Outcome::Response(head)
        };
        self.recorder.set(self.index, outcome, false);
    }
}

impl HttpBody for Capture {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        this.polled = true;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.bytes.extend_from_slice(data);
                }
            }
            Poll::Ready(Some(Err(e))) => this.finish(BodyEnd::Error(classify(e))),
            Poll::Ready(None) => this.finish(BodyEnd::Complete),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        // Always polled to its end, so the end is seen and recorded.
        false
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.finish(BodyEnd::Abandoned);
    }
}

/// The headers the guest set, without `host` (wasmtime adds it) and without any credential
/// header (the policy drops those before sending).
fn guest_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(name, _)| ![HOST, AUTHORIZATION, PROXY_AUTHORIZATION, COOKIE].contains(name))
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// Response headers as received, except session cookies, which are no business of a
/// cassette that may be attached to a bug report.
fn response_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            let value = if *name == SET_COOKIE {
                "redacted".to_owned()
            } else {
                String::from_utf8_lossy(value.as_bytes()).into_owned()
            };
            (name.as_str().to_owned(), value)
        })
        .collect()
}

/// The `wasi:http` error code the guest is given for `error` (as wasmtime-wasi-http maps it),
/// and what kind of failure that is.
pub fn classify(error: &Error) -> ErrorRecord {
    use std::error::Error as _;
    let code = match error {
        Error::Hyper(e) => e
            .source()
            .and_then(|s| {
                s.downcast_ref::<wasmtime_wasi_http::p2::bindings::http::types::ErrorCode>()
            })
            .map(|c| format!("{c:?}"))
            .unwrap_or_else(|| "HttpProtocolError".to_owned()),
        Error::Connect(e)
            if e.to_string()
                .starts_with("failed to lookup address information") =>
        {
            "DnsError".to_owned()
        }
        Error::Connect(_) => "ConnectionRefused".to_owned(),
        Error::Tls(_) => "TlsProtocolError".to_owned(),
        other => {
            let debug = format!("{other:?}");
            // Unit variants print as their name; keep only the name of the others.
            debug
                .split(['(', ' ', '{'])
                .next()
                .unwrap_or("InternalError")
                .to_owned()
        }
    };
    let kind = match (error, code.as_str()) {
        (Error::Hyper(e), _) if e.is_incomplete_message() || e.is_closed() => "reset",
        (_, c) if c.contains("Timeout") => "timeout",
        (_, "ConnectionRefused") => "refused",
        (_, "ConnectionTerminated" | "HttpResponseIncomplete" | "HttpProtocolError") => "reset",
        _ => "other",
    };
    ErrorRecord {
        kind: kind.to_owned(),
        code,
    }
}
