//! The one door out of the sandbox. Every request the component makes passes through
//! [`Egress::send_request`]: it must be a `GET` to the configured Zendesk origin on a path the
//! collector uses, any `Authorization` or `Cookie` the guest set is dropped, and the host's
//! own credentials are attached. Anything else is answered with `HttpRequestDenied` (the guest
//! sees a typed error) and never sent.

use std::net::IpAddr;
use std::sync::Arc;

use http::header::{AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION};
use http::uri::Scheme;
use http::{HeaderValue, Method, Request};
use wasmtime_wasi_http::{RequestOptions, WasiBody, WasiHttpHooks};

use crate::credentials::Credentials;
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
    authorization: HeaderValue,
    /// Our own sender, when a proxy or CA bundle calls for one (`sender.rs`).
    sender: Option<Arc<Sender>>,
}

impl EgressPolicy {
    pub fn new(base_url: &str, credentials: &Credentials) -> Result<EgressPolicy, OriginError> {
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
            authorization: credentials.authorization(),
            sender: None,
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

    #[cfg(test)]
    pub(crate) fn authorization_for_tests(&self) -> &HeaderValue {
        &self.authorization
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
        headers.insert(AUTHORIZATION, self.authorization.clone());
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
}

impl Egress {
    pub fn new(policy: Arc<EgressPolicy>, stats: PassStats) -> Egress {
        Egress { policy, stats }
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
        let resource = match self.policy.vet(&mut request) {
            Ok(resource) => resource,
            Err(refusal) => {
                tracing::warn!(%refusal, "refused a request from the component; nothing was sent");
                return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
            }
        };
        tracing::debug!(method = %request.method(), path = %request.uri().path(), "request");
        let stats = self.stats.clone();
        let sender = self.policy.sender.clone();
        Box::new(async move {
            use http_body_util::BodyExt;
            let (response, io) = match sender {
                Some(sender) => sender.send(request, options).await?,
                None => {
                    let (response, io) =
                        wasmtime_wasi_http::default_send_request(request, options).await?;
                    (
                        response.map(BodyExt::boxed_unsync),
                        Box::new(io) as Box<dyn Future<Output = _> + Send>,
                    )
                }
            };
            if response.status() == http::StatusCode::TOO_MANY_REQUESTS {
                stats.add_rate_limited(resource);
            }
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
