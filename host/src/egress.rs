//! The one door out of the sandbox. Every request the component makes passes through
//! [`Egress::send_request`]: it must be a `GET` to the configured Zendesk origin on a path the
//! collector uses, any `Authorization` or `Cookie` the guest set is dropped, and the host's
//! own credentials are attached. Anything else is answered with `HttpRequestDenied` (the guest
//! sees a typed error) and never sent.
//!
//! The hook reads as vet, then intercept, then send: the policy vets every request; the pass's
//! record/replay [`Session`] then keeps the exchange for a cassette (record) or answers from
//! one (replay: nothing is sent and there are no credentials); a live or recorded request is
//! sent.

use std::net::IpAddr;
use std::sync::Arc;

use http::header::{AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION};
use http::uri::Scheme;
use http::{HeaderValue, Method, Request};
use wasmtime_wasi_http::{RequestOptions, WasiBody, WasiHttpHooks};

use crate::cassette::record;
use crate::cassette::replay::{self, Answer};
use crate::cassette::session::Session;
use crate::credentials::Credentials;
use crate::oauth::TokenSource;
use crate::sender::{Sender, SenderError};
use crate::stats::PassStats;

/// API paths the collector reads, and the resource each serves. Exact matches: no prefix
/// tricks, no `..`.
pub const API_PATHS: &[(&str, &str)] = &[
    (
        "/api/v2/incremental/tickets/cursor.json",
        "incremental_tickets",
    ),
    ("/api/v2/audit_logs.json", "audit_logs"),
    ("/api/v2/access_logs", "access_logs"),
];

/// Why the base URL cannot be used as the origin.
#[derive(Debug, thiserror::Error)]
pub enum OriginError {
    #[error("ZENDESK_BASE_URL {0:?} is not a URL: {1}")]
    NotAUrl(String, String),
    #[error(
        "ZENDESK_BASE_URL {0:?} must use https (plain http is allowed only to loopback, for tests)"
    )]
    NotHttps(String),
    #[error("ZENDESK_BASE_URL {0:?} must be scheme and host only, like https://acme.zendesk.com")]
    HasPath(String),
}

/// Why a request from the component was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("method {0} is not allowed (only GET)")]
    Method(String),
    #[error("origin {0} is not the configured Zendesk origin")]
    Origin(String),
    #[error("path {0} is not one the collector uses")]
    Path(String),
}

/// The configured origin and the credentials to attach.
#[derive(Debug)]
pub struct EgressPolicy {
    https: bool,
    host: String,
    port: u16,
    /// None in a replay, which holds no credentials.
    authorization: Option<HeaderValue>,
    /// Our own sender, when a proxy or CA bundle calls for one (`sender.rs`).
    sender: Option<Arc<Sender>>,
    /// The OAuth modes' access tokens (`oauth.rs`), added after the policy let a request
    /// through; `authorization` is then none.
    tokens: Option<Arc<TokenSource>>,
}

impl EgressPolicy {
    pub fn new(base_url: &str, credentials: &Credentials) -> Result<EgressPolicy, OriginError> {
        Ok(EgressPolicy::without_credentials(base_url)?.with_credentials(credentials))
    }

    /// This policy, adding `credentials` to every request it lets through.
    pub fn with_credentials(mut self, credentials: &Credentials) -> EgressPolicy {
        self.authorization = credentials.authorization();
        self
    }

    /// The same origin rules with no credentials to add (replay).
    pub fn without_credentials(base_url: &str) -> Result<EgressPolicy, OriginError> {
        let uri: http::Uri = base_url.parse().map_err(|e: http::uri::InvalidUri| {
            OriginError::NotAUrl(base_url.into(), e.to_string())
        })?;
        let (Some(scheme), Some(host)) = (uri.scheme(), uri.host()) else {
            return Err(OriginError::NotAUrl(
                base_url.into(),
                "no scheme or host".into(),
            ));
        };
        let https = *scheme == Scheme::HTTPS;
        let loopback_http = *scheme == Scheme::HTTP && is_loopback(host);
        if !(https || loopback_http) {
            return Err(OriginError::NotHttps(base_url.into()));
        }
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err(OriginError::HasPath(base_url.into()));
        }
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        Ok(EgressPolicy {
            https,
            host: host.to_ascii_lowercase(),
            port,
            authorization: None,
            sender: None,
            tokens: None,
        })
    }

    /// Sends through `HTTPS_PROXY` (unless `NO_PROXY` names the origin) and trusts
    /// `ZENDESK_CA_BUNDLE` as well as the web roots; with neither, the default sender is kept.
    /// Plain `http` (loopback only) always goes direct.
    pub fn route(
        mut self,
        https_proxy: Option<&str>,
        no_proxy: Option<&str>,
        ca_bundle: Option<&std::path::Path>,
    ) -> Result<EgressPolicy, SenderError> {
        if self.https {
            self.sender =
                Sender::configure(&self.host, https_proxy, no_proxy, ca_bundle)?.map(Arc::new);
        }
        Ok(self)
    }

    /// The sender requests to the origin take (none: the default one).
    pub fn sender(&self) -> Option<Arc<Sender>> {
        self.sender.clone()
    }

    /// Adds the feed's access tokens to every request let through.
    pub fn with_tokens(mut self, tokens: Arc<TokenSource>) -> EgressPolicy {
        self.tokens = Some(tokens);
        self
    }

    pub fn tokens(&self) -> Option<&Arc<TokenSource>> {
        self.tokens.as_ref()
    }

    #[cfg(test)]
    pub(crate) fn authorization_for_tests(&self) -> Option<&HeaderValue> {
        self.authorization.as_ref()
    }

    /// Checks `request` and, when it may go, replaces its credentials with ours. Returns the
    /// resource its path serves.
    pub fn vet<B>(&self, request: &mut Request<B>) -> Result<&'static str, Refusal> {
        if request.method() != Method::GET {
            return Err(Refusal::Method(request.method().to_string()));
        }
        let uri = request.uri();
        let https = uri.scheme() == Some(&Scheme::HTTPS);
        let same_scheme = https == self.https && uri.scheme().is_some();
        let host = uri.host().map(str::to_ascii_lowercase);
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        if !same_scheme || host.as_deref() != Some(self.host.as_str()) || port != self.port {
            let origin = format!(
                "{}://{}",
                uri.scheme_str().unwrap_or("?"),
                uri.authority().map(|a| a.as_str()).unwrap_or("?")
            );
            return Err(Refusal::Origin(origin));
        }
        let Some(&(_, resource)) = API_PATHS.iter().find(|(path, _)| *path == uri.path()) else {
            return Err(Refusal::Path(uri.path().to_owned()));
        };
        let headers = request.headers_mut();
        headers.remove(AUTHORIZATION);
        headers.remove(PROXY_AUTHORIZATION);
        headers.remove(COOKIE);
        if let Some(authorization) = &self.authorization {
            headers.insert(AUTHORIZATION, authorization.clone());
        }
        Ok(resource)
    }
}

fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The `wasi:http` hooks of one pass.
pub struct Egress {
    policy: Arc<EgressPolicy>,
    stats: PassStats,
    session: Session,
    /// The most of a gzip body inflated for the component (content_decoding.rs).
    max_body_bytes: u64,
}

impl Egress {
    pub fn new(policy: Arc<EgressPolicy>, stats: PassStats) -> Egress {
        Egress::with_session(policy, stats, Session::Live)
    }

    /// The hooks of a pass that records or replays as `session` says.
    pub fn with_session(policy: Arc<EgressPolicy>, stats: PassStats, session: Session) -> Egress {
        Egress {
            policy,
            stats,
            session,
            max_body_bytes: u64::MAX,
        }
    }

    /// Gzip bodies are inflated up to `max_page_bytes`, the component's own cap, plus room
    /// for the read that finds the body too large, so the component's error is the one seen.
    pub fn inflating_up_to(mut self, max_page_bytes: u64) -> Egress {
        self.max_body_bytes = max_page_bytes.saturating_add(1 << 20);
        self
    }
}

type ResponseFuture = Box<
    dyn Future<
            Output = wasmtime_wasi_http::Result<(
                http::Response<WasiBody>,
                Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
            )>,
        > + Send,
>;

impl WasiHttpHooks for Egress {
    fn send_request(
        &mut self,
        mut request: Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> ResponseFuture {
        // Taken before the policy touches the headers: the cassette holds what the guest
        // sent, never the credentials the host adds.
        let taken = match &self.session {
            Session::Record { .. } => Some(record::take(&request)),
            _ => None,
        };
        let resource = match self.policy.vet(&mut request) {
            Ok(resource) => resource,
            Err(refusal) => {
                tracing::warn!(%refusal, "refused a request from the component; nothing was sent");
                return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
            }
        };
        tracing::debug!(method = %request.method(), path = %request.uri().path(), "request");
        crate::failpoint::hit(crate::failpoint::REQUEST_BEFORE_SEND);
        // Refused requests are not recorded: the policy refuses them again in a replay.
        let pending = match (&self.session, taken) {
            (Session::Record { recorder, .. }, Some(taken)) => Some(recorder.begin(taken)),
            _ => None,
        };
        let stats = self.stats.clone();
        let count = move |response: &http::Response<WasiBody>| {
            if response.status() == http::StatusCode::TOO_MANY_REQUESTS {
                stats.add_rate_limited(resource);
            }
        };
        if let Session::Replay { player, .. } = &self.session {
            let answer = player.answer(request.method().as_str(), &request.uri().to_string());
            let wait = replay::timeout_wait(options.as_ref());
            return Box::new(async move {
                match answer {
                    Answer::Response(response) => {
                        count(&response);
                        Ok((
                            response,
                            Box::new(async { Ok(()) }) as Box<dyn Future<Output = _> + Send>,
                        ))
                    }
                    Answer::Error { error, timeout } => {
                        // A recorded timeout keeps the guest waiting as long as it did (on
                        // the virtual clock, so at no real cost).
                        if timeout {
                            match wait {
                                Some(wait) => tokio::time::sleep(wait).await,
                                None => std::future::pending().await,
                            }
                        }
                        Err(error)
                    }
                    Answer::Unmatched(unmatched) => {
                        tracing::error!(%unmatched, "replay: the component made a request the cassette does not hold");
                        Err(wasmtime_wasi_http::Error::InternalError(Some(format!(
                            "refused: replay: {unmatched}"
                        ))))
                    }
                }
            });
        }
        let sender = self.policy.sender.clone();
        let tokens = self.policy.tokens.clone();
        let max_body_bytes = self.max_body_bytes;
        Box::new(async move {
            let sent = match tokens {
                None => crate::sender::send_with(sender.as_deref(), request, options).await,
                Some(tokens) => {
                    crate::oauth::send_authorized(&tokens, sender.as_deref(), request, options)
                        .await
                }
            };
            let (response, io) = match sent {
                Ok(sent) => sent,
                Err(e) => {
                    if let Some(pending) = pending {
                        pending.failed(&e);
                    }
                    return Err(e);
                }
            };
            count(&response);
            // Inflated before the recorder sees it: a cassette holds what the guest read.
            let response = crate::content_decoding::gunzip(response, max_body_bytes);
            let response = match pending {
                Some(pending) => pending.responded(response),
                None => response,
            };
            Ok((response, io))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn policy(base: &str) -> EgressPolicy {
        EgressPolicy::new(base, &Credentials::Bearer(SecretString::from("tok"))).unwrap()
    }

    fn get(uri: &str) -> Request<()> {
        Request::get(uri).body(()).unwrap()
    }

    const TICKETS: &str = "/api/v2/incremental/tickets/cursor.json?cursor=a%2B";

    #[test]
    fn allowed_request_gets_host_credentials_and_loses_the_guests() {
        let p = policy("https://acme.zendesk.com");
        let mut r = get(&format!("https://acme.zendesk.com{TICKETS}"));
        r.headers_mut()
            .insert(AUTHORIZATION, HeaderValue::from_static("Basic guest"));
        r.headers_mut()
            .insert(COOKIE, HeaderValue::from_static("session=x"));
        assert_eq!(p.vet(&mut r).unwrap(), "incremental_tickets");
        assert_eq!(r.headers()[AUTHORIZATION], "Bearer tok");
        assert_eq!(r.headers().get_all(AUTHORIZATION).iter().count(), 1);
        assert!(r.headers().get(COOKIE).is_none());
    }

    #[test]
    fn next_url_on_other_origin_is_refused() {
        let p = policy("https://acme.zendesk.com");
        for uri in [
            format!("https://evil.example{TICKETS}"),
            format!("http://acme.zendesk.com{TICKETS}"),
            format!("https://acme.zendesk.com:8443{TICKETS}"),
            format!("https://acme.zendesk.com.evil.example{TICKETS}"),
        ] {
            assert!(
                matches!(p.vet(&mut get(&uri)), Err(Refusal::Origin(_))),
                "{uri} was not refused"
            );
        }
    }

    #[test]
    fn other_methods_and_paths_are_refused() {
        let p = policy("https://acme.zendesk.com");
        let mut post = Request::post(format!("https://acme.zendesk.com{TICKETS}"))
            .body(())
            .unwrap();
        assert!(matches!(p.vet(&mut post), Err(Refusal::Method(_))));
        for path in [
            "/api/v2/users.json",
            "/api/v2/incremental/tickets/cursor.json/../../users",
            "/",
        ] {
            let mut r = get(&format!("https://acme.zendesk.com{path}"));
            assert!(matches!(p.vet(&mut r), Err(Refusal::Path(_))), "{path}");
        }
    }

    #[test]
    fn a_policy_without_credentials_adds_none_and_still_drops_the_guests() {
        let p = EgressPolicy::without_credentials("https://acme.zendesk.com").unwrap();
        let mut r = get(&format!("https://acme.zendesk.com{TICKETS}"));
        r.headers_mut()
            .insert(AUTHORIZATION, HeaderValue::from_static("Basic guest"));
        assert_eq!(p.vet(&mut r).unwrap(), "incremental_tickets");
        assert!(r.headers().get(AUTHORIZATION).is_none());
        let mut other = get(&format!("https://evil.example{TICKETS}"));
        assert!(matches!(p.vet(&mut other), Err(Refusal::Origin(_))));
    }

    #[test]
    fn plain_http_only_to_loopback() {
        let c = Credentials::Bearer(SecretString::from("tok"));
        assert!(EgressPolicy::new("http://127.0.0.1:8080", &c).is_ok());
        assert!(EgressPolicy::new("http://localhost:8080/", &c).is_ok());
        assert!(EgressPolicy::new("http://[::1]:8080", &c).is_ok());
        assert!(matches!(
            EgressPolicy::new("http://acme.zendesk.com", &c),
            Err(OriginError::NotHttps(_))
        ));
        assert!(matches!(
            EgressPolicy::new("https://acme.zendesk.com/api", &c),
            Err(OriginError::HasPath(_))
        ));
    }
}
