//! The HTTP/1.1 server: its thread and runtime, request recording, fault dispatch, and the
//! conversion of a `SimResponse` to the wire (gzip, common headers, cut-off bodies).

use std::io::Write as _;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::sync::oneshot;

use super::access_logs;
use super::faults::{self, Fault};
use super::oauth;
use super::rate_limits::{AccountHeaders, Verdict};
use super::routes;
use super::state::Shared;
use super::wire::{JSON, RecordedRequest, SimResponse};

/// Thread entry point: serves until `shutdown` fires (or its sender is dropped).
pub(crate) fn run(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    shutdown: oneshot::Receiver<()>,
) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("simulator runtime");
    runtime.block_on(serve(listener, shared, shutdown));
    // Dropping the runtime here cancels the connection tasks still open (keep-alive clients).
}

async fn serve(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    mut shutdown: oneshot::Receiver<()>,
) {
    let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
    loop {
        let stream = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Transient (e.g. too many open files); keep serving.
                Err(_) => continue,
            },
        };
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(Arc::clone(&shared), req));
            // Errors here are client hang-ups and injected resets; nothing to report.
            // No `Date` header: it would read the machine's clock, not the simulated one, and
            // make every re-recorded cassette differ.
            let _ = hyper::server::conn::http1::Builder::new()
                .auto_date_header(false)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<SimBody>, std::io::Error> {
    use http_body_util::BodyExt as _;
    let (parts, incoming) = req.into_parts();
    let body = if parts.method == hyper::Method::POST {
        // Token requests are small; anything larger than this is cut, not buffered.
        let limited = http_body_util::Limited::new(incoming, 64 * 1024);
        limited
            .collect()
            .await
            .map(|b| b.to_bytes().to_vec())
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let req = Request::from_parts(parts, ());
    let recorded = RecordedRequest {
        method: req.method().as_str().to_owned(),
        path_and_query: req
            .uri()
            .path_and_query()
            .map_or_else(|| req.uri().path().to_owned(), |pq| pq.as_str().to_owned()),
        headers: req
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
    };
    if recorded.path().starts_with("/oauth/") {
        return Ok(oauth_answer(&shared, &recorded).into_response(SimBody::full));
    }
    let is_api = recorded.path().starts_with("/api/");
    // The access log sends none of the account's rate-limit headers (access-logs.md §5).
    let account_headers = is_api && !recorded.path().starts_with(access_logs::ENDPOINT);
    let received = Instant::now();
    let (fault, verdict) = {
        let mut state = shared.state.lock().unwrap();
        state.requests.push(recorded.clone());
        if is_api {
            let verdict = state
                .limiter
                .as_mut()
                .map(|l| l.hit(recorded.path(), received));
            (state.faults.pop_front(), verdict)
        } else {
            (None, None)
        }
    };
    let account = verdict.as_ref().map(|v| v.account);
    // An injected fault comes first; past a limit, the answer is Zendesk's 429.
    let fault = fault.or_else(|| {
        verdict
            .and_then(|Verdict { limited, .. }| limited)
            .map(|secs| Fault::RateLimited {
                retry_after: Some(secs),
            })
    });
    let gzip = shared.config.gzip
        && recorded
            .header("accept-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("gzip"));
    let normal = |shared: &Shared| {
        finish(
            shared,
            routes::route(shared, &recorded),
            account_headers,
            gzip,
            account,
        )
    };
    match fault {
        None => Ok(normal(&shared).into_response(SimBody::full)),
        Some(Fault::Delay { ms }) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok(normal(&shared).into_response(SimBody::full))
        }
        // Returning an error makes hyper drop the connection without writing anything.
        Some(Fault::Reset) => Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "injected reset",
        )),
        Some(Fault::Truncated) => Ok(normal(&shared).into_response(SimBody::truncated)),
        Some(Fault::RevokeAccessTokens) => {
            shared.state.lock().unwrap().oauth.revoke_access_tokens();
            Ok(normal(&shared).into_response(SimBody::full))
        }
        Some(Fault::Endless) => {
            let start = SimResponse::text(200, JSON, "{\"tickets\":[");
            Ok(finish(&shared, start, account_headers, false, account)
                .into_response(SimBody::endless))
        }
        Some(Fault::GzipBomb { inflated }) => {
            let mut bomb =
                SimResponse::text(200, JSON, "").with_header("content-encoding", "gzip".to_owned());
            bomb.body = gzip_bytes(&vec![b' '; inflated]);
            Ok(finish(&shared, bomb, account_headers, false, account).into_response(SimBody::full))
        }
        Some(other) => {
            let resp =
                faults::replacement(&other).unwrap_or_else(|| routes::route(&shared, &recorded));
            Ok(finish(&shared, resp, account_headers, gzip, account).into_response(SimBody::full))
        }
    }
}

/// The OAuth endpoints: recorded like any request, then a token fault if one is queued, else
/// the answer. No rate-limit headers and no gzip (Zendesk sends neither here).
fn oauth_answer(shared: &Shared, recorded: &RecordedRequest) -> Wire {
    let resp = {
        let mut state = shared.state.lock().unwrap();
        state.requests.push(recorded.clone());
        let fault = if recorded.path() == oauth::TOKENS {
            state.token_faults.pop_front()
        } else {
            None
        };
        match fault.as_ref().and_then(faults::replacement) {
            Some(resp) => {
                state.oauth.token_requests.push(oauth::TokenRequest {
                    grant_type: "(fault)".to_owned(),
                    client_id: String::new(),
                    granted: false,
                });
                resp
            }
            None => match recorded.path() {
                oauth::TOKENS => {
                    oauth::tokens(&mut state.oauth, &shared.config.oauth_client, recorded)
                }
                oauth::AUTHORIZE => {
                    oauth::authorize(&mut state.oauth, &shared.config.oauth_client, recorded)
                }
                _ => super::wire::SimResponse::error(404, "InvalidEndpoint", "Not found"),
            },
        }
    };
    finish(shared, resp, false, false, None)
}

/// A response with its final headers and (possibly compressed) body.
struct Wire {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Bytes,
}

/// `account`: the enforced limits' account-level headers; `None` counts a simulated minute.
fn finish(
    shared: &Shared,
    mut resp: SimResponse,
    account_headers: bool,
    gzip: bool,
    account: Option<AccountHeaders>,
) -> Wire {
    let mut headers = std::mem::take(&mut resp.headers);
    {
        let mut state = shared.state.lock().unwrap();
        headers.push(("x-request-id", state.next_request_id()));
        if shared.config.date_header {
            let now = std::time::UNIX_EPOCH
                + std::time::Duration::from_secs(u64::try_from(state.clock.now()).unwrap_or(0));
            headers.push(("date", httpdate::fmt_http_date(now)));
        }
        if account_headers {
            let AccountHeaders {
                limit,
                remaining,
                reset,
            } = account.unwrap_or_else(|| {
                let now = state.clock.now();
                let limit = shared.config.header_rate_limit;
                let (mut remaining, reset) = state.rate.hit(now, limit);
                if resp.status == 429 {
                    remaining = 0;
                }
                AccountHeaders {
                    limit,
                    remaining,
                    reset: u64::try_from(reset).unwrap_or(0),
                }
            });
            headers.extend([
                ("x-rate-limit", limit.to_string()),
                ("x-rate-limit-remaining", remaining.to_string()),
                ("ratelimit-limit", limit.to_string()),
                ("ratelimit-remaining", remaining.to_string()),
                ("ratelimit-reset", reset.to_string()),
                ("x-zendesk-api-version", "v2".to_owned()),
            ]);
        }
    }
    headers.push((
        "cache-control",
        "max-age=0, private, must-revalidate".to_owned(),
    ));
    let body = if gzip && resp.compressible {
        headers.push(("content-encoding", "gzip".to_owned()));
        headers.push(("vary", "Accept-Encoding".to_owned()));
        gzip_bytes(&resp.body)
    } else {
        resp.body
    };
    Wire {
        status: resp.status,
        headers,
        body: Bytes::from(body),
    }
}

fn gzip_bytes(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(data.len() / 4), Compression::fast());
    // Writing into a Vec cannot fail.
    encoder.write_all(data).expect("gzip into memory");
    encoder.finish().expect("gzip into memory")
}

impl Wire {
    fn into_response(self, body: fn(Bytes) -> SimBody) -> Response<SimBody> {
        let len = self.body.len();
        // A test may inject any number as a status; an impossible one becomes a 500.
        let status = hyper::StatusCode::from_u16(self.status)
            .unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
        let mut builder = Response::builder().status(status);
        for (name, value) in self.headers {
            builder = builder.header(name, value);
        }
        let body = body(self.body);
        // The full length is announced even when the body will be cut off; an endless body
        // has none.
        if !body.endless {
            builder = builder.header("content-length", len.to_string());
        }
        // Our header names and values are all valid, so the builder cannot fail.
        builder.body(body).expect("valid response")
    }
}

/// A body sent in one frame, or (truncated) half of it followed by an error that makes
/// hyper close the connection. The pause before the error lets hyper flush the half.
pub(crate) struct SimBody {
    data: Option<Bytes>,
    cut: Option<Pin<Box<tokio::time::Sleep>>>,
    exact_len: Option<u64>,
    /// After `data`, padding forever.
    endless: bool,
}

/// What an endless body sends after its start, frame after frame.
static PADDING: [u8; 64 * 1024] = [b' '; 64 * 1024];

impl SimBody {
    fn full(data: Bytes) -> SimBody {
        SimBody {
            exact_len: Some(data.len() as u64),
            data: Some(data),
            cut: None,
            endless: false,
        }
    }

    fn endless(data: Bytes) -> SimBody {
        SimBody {
            data: Some(data),
            cut: None,
            exact_len: None,
            endless: true,
        }
    }

    fn truncated(data: Bytes) -> SimBody {
        SimBody {
            data: Some(data.slice(..data.len() / 2)),
            cut: Some(Box::pin(tokio::time::sleep(Duration::from_millis(50)))),
            exact_len: None,
            endless: false,
        }
    }
}

impl Body for SimBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = self.get_mut();
        if let Some(data) = this.data.take().filter(|d| !d.is_empty()) {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        if this.endless {
            return Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(&PADDING)))));
        }
        match this.cut.as_mut() {
            None => Poll::Ready(None),
            Some(sleep) => {
                std::task::ready!(sleep.as_mut().poll(cx));
                this.cut = None;
                Poll::Ready(Some(Err(std::io::Error::other("injected truncation"))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        !self.endless && self.data.as_ref().is_none_or(Bytes::is_empty) && self.cut.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        self.exact_len
            .map_or_else(SizeHint::default, SizeHint::with_exact)
    }
}
