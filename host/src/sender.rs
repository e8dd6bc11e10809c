//! Our own HTTPS sender, used only when a proxy (`HTTPS_PROXY`, minus `NO_PROXY`) or a custom
//! CA bundle (`ZENDESK_CA_BUNDLE`) is configured. Otherwise requests go out through
//! wasmtime-wasi-http's default sender, which dials directly and trusts only the built-in web
//! roots. This is a deliberate exception to delegating: corporate networks need both.
//!
//! The request has already passed the egress policy (`egress.rs`); this only moves it: TCP to
//! the proxy or the origin, `CONNECT` through the proxy, TLS with the configured roots, and
//! HTTP/1.1 on top.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use http::{HeaderValue, Request, Response};
use http_body_util::BodyExt as _;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

/// The future that drives a response's connection, as the `wasi:http` hook returns it.
pub type IoFuture = Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>;

/// Sends a vetted request through `sender`, or wasmtime-wasi-http's default sender when
/// there is none (no proxy, no CA bundle, or plain loopback http).
pub async fn send_with(
    sender: Option<&Sender>,
    request: Request<WasiBody>,
    options: Option<RequestOptions>,
) -> wasmtime_wasi_http::Result<(Response<WasiBody>, IoFuture)> {
    match sender {
        Some(sender) => sender.send(request, options).await,
        None => wasmtime_wasi_http::default_send_request(request, options)
            .await
            .map(|(response, io)| {
                (
                    response.map(http_body_util::BodyExt::boxed_unsync),
                    Box::new(io) as IoFuture,
                )
            }),
    }
}

/// The most a proxy's answer to `CONNECT` may hold before its blank line.
const MAX_PROXY_HEAD: usize = 16 * 1024;
/// Connect and first-byte bounds when the component gives none (it always does).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

#[derive(Debug, thiserror::Error)]
pub enum SenderError {
    #[error(
        "HTTPS_PROXY must be http://[user:password@]host:port (a TLS connection to the proxy \
         itself is not supported)"
    )]
    ProxyUrl,
    #[error("reading the CA bundle ZENDESK_CA_BUNDLE {path}: {message}")]
    CaBundle { path: PathBuf, message: String },
}

/// Where a proxy is and how to authenticate to it.
struct Proxy {
    /// `host:port`, for `TcpStream::connect` and in messages (never the credentials).
    address: String,
    authorization: Option<HeaderValue>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("address", &self.address)
            .field(
                "authorization",
                &self.authorization.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

pub struct Sender {
    proxy: Option<Proxy>,
    tls: tokio_rustls::TlsConnector,
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("proxy", &self.proxy)
            .finish()
    }
}

impl Sender {
    /// The sender for requests to `host`, or none when the default one will do: no proxy
    /// applies to `host` (unset, or `NO_PROXY` names it) and no CA bundle is given.
    pub fn configure(
        host: &str,
        https_proxy: Option<&str>,
        no_proxy: Option<&str>,
        ca_bundle: Option<&Path>,
    ) -> Result<Option<Sender>, SenderError> {
        let https_proxy = https_proxy.map(str::trim).filter(|p| !p.is_empty());
        let proxy = match https_proxy {
            Some(url) if !no_proxy.is_some_and(|list| bypasses(list, host)) => {
                Some(parse_proxy(url)?)
            }
            _ => None,
        };
        if proxy.is_none() && ca_bundle.is_none() {
            return Ok(None);
        }
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.into(),
        };
        if let Some(path) = ca_bundle {
            let bad = |message: String| SenderError::CaBundle {
                path: path.to_owned(),
                message,
            };
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| bad(e.to_string()))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| bad(e.to_string()))?;
            if certs.is_empty() {
                return Err(bad("no PEM certificate in it".into()));
            }
            for cert in certs {
                roots.add(cert).map_err(|e| bad(e.to_string()))?;
            }
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| SenderError::CaBundle {
            path: PathBuf::new(),
            message: e.to_string(),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(Some(Sender {
            proxy,
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
        }))
    }

    /// Sends `request` (already vetted: `GET`, https, the Zendesk origin) and returns the
    /// response and the future that drives the connection, as the `wasi:http` hook expects.
    pub async fn send(
        &self,
        mut request: Request<WasiBody>,
        options: Option<RequestOptions>,
    ) -> wasmtime_wasi_http::Result<(
        Response<WasiBody>,
        Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    )> {
        let connect_timeout = options
            .and_then(|o| o.connect_timeout)
            .unwrap_or(DEFAULT_TIMEOUT);
        let first_byte_timeout = options
            .and_then(|o| o.first_byte_timeout)
            .unwrap_or(DEFAULT_TIMEOUT);
        let uri = request.uri().clone();
        let host = uri.host().ok_or(Error::HttpRequestUriInvalid)?.to_owned();
        let port = uri.port_u16().unwrap_or(443);
        let target = format!("{host}:{port}");

        let tcp = tokio::time::timeout(connect_timeout, self.open(&target))
            .await
            .map_err(|_| Error::ConnectionTimeout)??;
        let name = ServerName::try_from(
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
        )
        .map_err(|_| Error::HttpRequestUriInvalid)?;
        let tls = tokio::time::timeout(connect_timeout, self.tls.connect(name, tcp))
            .await
            .map_err(|_| Error::ConnectionTimeout)?
            .map_err(|e| {
                tracing::warn!(%target, error = %e, "TLS handshake failed");
                Error::TlsCertificateError
            })?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                .await
                .map_err(Error::from)?;
        // Origin form on the wire: the CONNECT tunnel already names the host.
        *request.uri_mut() = uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
            .parse()
            .map_err(|_| Error::HttpRequestUriInvalid)?;
        let mut connection = Box::pin(connection);
        let response = tokio::select! {
            response = tokio::time::timeout(first_byte_timeout, sender.send_request(request)) => {
                response.map_err(|_| Error::ConnectionReadTimeout)?.map_err(Error::from)?
            }
            ended = &mut connection => {
                ended.map_err(Error::from)?;
                return Err(Error::HttpResponseIncomplete);
            }
        };
        // No between-bytes timer here: the component bounds each request, body included, by
        // its own deadline (guest/src/http.rs), and the pass deadline bounds the component.
        let response = response.map(|body| body.map_err(Error::from).boxed_unsync());
        let io = async move { connection.await.map_err(Error::from) };
        Ok((response, Box::new(io)))
    }

    /// A TCP stream to `target`: directly, or through the proxy's `CONNECT` tunnel.
    async fn open(&self, target: &str) -> wasmtime_wasi_http::Result<TcpStream> {
        let Some(proxy) = &self.proxy else {
            return TcpStream::connect(target).await.map_err(Error::Connect);
        };
        let mut stream = TcpStream::connect(&proxy.address).await.map_err(|e| {
            tracing::warn!(proxy = %proxy.address, error = %e, "cannot reach the proxy");
            Error::Connect(e)
        })?;
        let mut head = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
        if let Some(auth) = &proxy.authorization {
            head.push_str("Proxy-Authorization: ");
            head.push_str(auth.to_str().unwrap_or_default());
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        stream
            .write_all(head.as_bytes())
            .await
            .map_err(Error::Connect)?;
        let mut answer = Vec::with_capacity(256);
        let mut byte = [0u8; 1];
        // Byte by byte, so nothing of the tunnel after the blank line is read here.
        while !answer.ends_with(b"\r\n\r\n") {
            if answer.len() >= MAX_PROXY_HEAD
                || stream.read(&mut byte).await.map_err(Error::Connect)? == 0
            {
                tracing::warn!(proxy = %proxy.address, "the proxy closed or overflowed its answer to CONNECT");
                return Err(Error::HttpProtocolError);
            }
            answer.push(byte[0]);
        }
        let status_line = String::from_utf8_lossy(&answer);
        let status_line = status_line.lines().next().unwrap_or_default();
        let status = status_line.split_whitespace().nth(1).unwrap_or_default();
        if status != "200" {
            tracing::warn!(proxy = %proxy.address, answer = %status_line, "the proxy refused CONNECT");
            return Err(Error::ConnectionRefused);
        }
        Ok(stream)
    }
}

fn parse_proxy(url: &str) -> Result<Proxy, SenderError> {
    let rest = url.strip_prefix("http://").unwrap_or(url);
    if rest.contains("://") {
        return Err(SenderError::ProxyUrl);
    }
    let rest = rest.trim_end_matches('/');
    let (userinfo, address) = match rest.rsplit_once('@') {
        Some((user, address)) => (Some(user), address),
        None => (None, rest),
    };
    if address.is_empty() || address.contains('/') {
        return Err(SenderError::ProxyUrl);
    }
    let address = if address
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        address.to_owned()
    } else {
        format!("{address}:80")
    };
    let authorization = userinfo.map(|user| {
        let decoded = percent_decode(user);
        let mut value = HeaderValue::from_str(&format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(decoded)
        ))
        .unwrap_or_else(|_| HeaderValue::from_static("invalid"));
        value.set_sensitive(true);
        value
    });
    Ok(Proxy {
        address,
        authorization,
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether `NO_PROXY` (comma-separated host names or domain suffixes, `*` for all) names
/// `host`.
fn bypasses(no_proxy: &str, host: &str) -> bool {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    no_proxy
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .any(|entry| {
            if entry == "*" {
                return true;
            }
            let entry = entry
                .trim_start_matches("*.")
                .trim_start_matches('.')
                .to_ascii_lowercase();
            host == entry || host.ends_with(&format!(".{entry}"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_proxy_names_hosts_and_domain_suffixes() {
        assert!(bypasses("localhost, .corp.example", "api.corp.example"));
        assert!(bypasses("corp.example", "corp.example"));
        assert!(bypasses("*", "acme.zendesk.com"));
        assert!(!bypasses("zendesk.com.evil", "acme.zendesk.com"));
        assert!(!bypasses("desk.com", "acme.zendesk.com"));
    }

    #[test]
    fn the_proxy_url_gives_an_address_and_hidden_credentials() {
        let p = parse_proxy("http://user:p%40ss@proxy.corp:3128/").unwrap();
        assert_eq!(p.address, "proxy.corp:3128");
        let auth = p.authorization.unwrap();
        assert!(auth.is_sensitive());
        let expected = base64::engine::general_purpose::STANDARD.encode("user:p@ss");
        assert_eq!(auth.to_str().unwrap(), format!("Basic {expected}"));
        assert_eq!(parse_proxy("proxy.corp").unwrap().address, "proxy.corp:80");
        assert!(matches!(
            parse_proxy("https://proxy.corp:443"),
            Err(SenderError::ProxyUrl)
        ));
    }

    #[test]
    fn nothing_configured_means_the_default_sender() {
        assert!(
            Sender::configure("acme.zendesk.com", None, None, None)
                .unwrap()
                .is_none()
        );
        let bypassed = Sender::configure(
            "acme.zendesk.com",
            Some("http://p:3128"),
            Some("zendesk.com"),
            None,
        );
        assert!(bypassed.unwrap().is_none());
        assert!(
            Sender::configure("acme.zendesk.com", Some("http://p:3128"), None, None)
                .unwrap()
                .is_some()
        );
        let missing = Sender::configure("a", None, None, Some(Path::new("/nonexistent/ca.pem")));
        assert!(
            missing
                .unwrap_err()
                .to_string()
                .contains("/nonexistent/ca.pem")
        );
    }
}
