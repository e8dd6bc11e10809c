//! Access tokens the host obtains itself (`AUTH_MODE=client_credentials` and
//! `AUTH_MODE=refresh_token`): `POST {base_url}/oauth/tokens`, one token per feed, in memory
//! only, renewed on demand and never on a timer:
//! - before a request, when the token's `expires_in` (less a margin) has passed;
//! - after a `401 invalid_token`, once, and the same `GET` is sent again. The component sees
//!   only the answer to the resent request, never the 401 and never a token.
//!
//! Token requests are the host's own: the guest's door (`egress.rs`) still refuses every
//! `POST` and every path under `/oauth/`. They go through the same sender (proxy, CA bundle),
//! bounded by `HTTP_TIMEOUT`, with 429 and 5xx retried.
//!
//! In `refresh_token` mode Zendesk rotates the refresh token on every use and deletes the old
//! one, so the new one is saved durably (temporary file, fsync, rename, directory fsync)
//! before the new access token is used. A crash between Zendesk's answer and the rename loses
//! the grant: the file still holds the old, revoked token, and a person must approve again
//! (`zendesk-crm oauth login`). The window is one small write and one rename.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderValue, Request, StatusCode};
use secrecy::{ExposeSecret as _, SecretString};
use tokio::time::Instant;
use wasmtime_wasi_http::RequestOptions;

use crate::credentials::{OAuthClient, OAuthGrant, bearer_value};
use crate::exit::Exit;
use crate::sender::{Sender, send_with};

mod refresh_file;
mod send;

use refresh_file::read_refresh_token;
pub use refresh_file::{lock, lock_path, save_refresh_token};
pub use send::send_authorized;
use send::{form, full, read_bounded};

/// The token endpoint, on the account's own origin.
pub const TOKEN_PATH: &str = "/oauth/tokens";
/// The most of a token answer (or of a 401 body) read.
const MAX_ANSWER: usize = 64 * 1024;
/// The longest renewal margin: a token is renewed this long before it expires (less for
/// short lifetimes: a thirtieth of the lifetime).
const MAX_MARGIN: Duration = Duration::from_secs(60);

/// Why no access token could be had. Messages name the cause and what to change; none holds
/// a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthError {
    #[error("Zendesk refused the OAuth client {client_id:?} ({code}): {hint}")]
    Refused {
        client_id: String,
        code: String,
        hint: String,
    },
    #[error(
        "the refresh token in {file} no longer works (invalid_grant: it expired, was revoked, or \
         was already used, e.g. by a process that crashed before saving the rotated one). An \
         admin must approve the client again: run `zendesk-crm oauth login` with \
         ZENDESK_REFRESH_TOKEN_FILE={file}"
    )]
    GrantGone { file: String },
    #[error("the token endpoint {endpoint} gave no token: {message}")]
    Unavailable { endpoint: String, message: String },
    #[error("the refresh-token file {file}: {message}")]
    File { file: String, message: String },
}

impl OAuthError {
    /// The summary's error kind.
    pub fn kind(&self) -> &'static str {
        match self {
            OAuthError::Refused { .. } => "oauth_refused",
            OAuthError::GrantGone { .. } => "oauth_grant_gone",
            OAuthError::Unavailable { .. } => "oauth_unavailable",
            OAuthError::File { .. } => "refresh_token_file",
        }
    }

    pub fn exit(&self) -> Exit {
        match self {
            OAuthError::Refused { .. } => Exit::OAuthRefused,
            OAuthError::GrantGone { .. } => Exit::OAuthGrantGone,
            OAuthError::Unavailable { .. } => Exit::ResourceFailed,
            OAuthError::File { .. } => Exit::Storage,
        }
    }
}

/// Why a token source cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(
        "the refresh-token file {file} is in use by another zendesk-crm process (it holds \
         {lock}); one process, and one feed, per refresh-token file"
    )]
    Locked { file: PathBuf, lock: PathBuf },
    #[error("cannot open the lock file {path}: {source}")]
    LockFile {
        path: PathBuf,
        source: std::io::Error,
    },
}

enum Grant {
    ClientCredentials {
        scopes: String,
    },
    RefreshToken {
        file: PathBuf,
        /// Held for the life of the source: one writer per refresh-token file.
        _lock: std::fs::File,
    },
}

struct Token {
    header: HeaderValue,
    renew_at: Option<Instant>,
}

/// The access token of one feed.
pub struct TokenSource {
    endpoint: String,
    client_id: String,
    client_secret: SecretString,
    grant: Grant,
    sender: Option<Arc<Sender>>,
    timeout: Duration,
    retries: u32,
    max_wait: Duration,
    current: tokio::sync::Mutex<Option<Token>>,
    /// The refusal of this pass: later requests of the pass fail at once with it, instead of
    /// asking again (each pass tries afresh).
    refused: std::sync::Mutex<Option<OAuthError>>,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("endpoint", &self.endpoint)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// How the token source sends and retries, from the pass's settings.
#[derive(Debug, Clone, Copy)]
pub struct Transport {
    pub timeout: Duration,
    pub retries: u32,
    pub max_wait: Duration,
}

impl TokenSource {
    /// A source for `client` at `base_url`'s token endpoint. In `refresh_token` mode this
    /// takes the refresh-token file's lock (a sibling `.lock` file), or fails at once.
    pub fn new(
        client: &OAuthClient,
        base_url: &str,
        sender: Option<Arc<Sender>>,
        transport: Transport,
    ) -> Result<TokenSource, SetupError> {
        let grant = match &client.grant {
            OAuthGrant::ClientCredentials { scopes } => Grant::ClientCredentials {
                scopes: scopes.clone(),
            },
            OAuthGrant::RefreshToken { file } => Grant::RefreshToken {
                _lock: lock(file)?,
                file: file.clone(),
            },
        };
        Ok(TokenSource {
            endpoint: format!("{}{TOKEN_PATH}", base_url.trim_end_matches('/')),
            client_id: client.client_id.clone(),
            client_secret: client.client_secret.clone(),
            grant,
            sender,
            timeout: transport.timeout,
            retries: transport.retries,
            max_wait: transport.max_wait,
            current: tokio::sync::Mutex::new(None),
            refused: std::sync::Mutex::new(None),
        })
    }

    /// A new pass asks again, whatever the last one was refused.
    pub fn begin_pass(&self) {
        *self.refused.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// The refusal that ended this pass's requests, if any.
    pub fn refusal(&self) -> Option<OAuthError> {
        self.refused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The `Authorization` value to send now: the current token, or a new one when it is
    /// about to expire (or there is none yet).
    pub async fn authorization(&self) -> Result<HeaderValue, OAuthError> {
        if let Some(e) = self.refusal() {
            return Err(e);
        }
        let mut current = self.current.lock().await;
        if let Some(token) = current.as_ref()
            && token.renew_at.is_none_or(|at| Instant::now() < at)
        {
            return Ok(token.header.clone());
        }
        self.renew(&mut current).await
    }

    /// A new token after Zendesk refused `rejected`, unless another request renewed it
    /// meanwhile.
    pub async fn renew_after_rejection(
        &self,
        rejected: &HeaderValue,
    ) -> Result<HeaderValue, OAuthError> {
        if let Some(e) = self.refusal() {
            return Err(e);
        }
        let mut current = self.current.lock().await;
        if let Some(token) = current.as_ref()
            && token.header != *rejected
        {
            return Ok(token.header.clone());
        }
        self.renew(&mut current).await
    }

    async fn renew(&self, current: &mut Option<Token>) -> Result<HeaderValue, OAuthError> {
        *current = None;
        match self.fetch().await {
            Ok(token) => {
                let header = token.header.clone();
                *current = Some(token);
                Ok(header)
            }
            Err(e) => {
                tracing::error!(kind = e.kind(), error = %e, "no OAuth access token");
                *self.refused.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.clone());
                Err(e)
            }
        }
    }

    async fn fetch(&self) -> Result<Token, OAuthError> {
        let asked = Instant::now();
        let refresh;
        let (grant_type, extra) = match &self.grant {
            Grant::ClientCredentials { scopes } => {
                ("client_credentials", ("scope", scopes.as_str()))
            }
            Grant::RefreshToken { file, .. } => {
                refresh = read_refresh_token(file)?;
                ("refresh_token", ("refresh_token", refresh.expose_secret()))
            }
        };
        let body = form(&[
            ("grant_type", grant_type),
            ("client_id", &self.client_id),
            ("client_secret", self.client_secret.expose_secret()),
            extra,
        ]);
        let answer = self.post(SecretString::from(body)).await?;
        let access = answer
            .get("access_token")
            .and_then(|v| v.as_str())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| self.unavailable("the answer has no access_token".into()))?;
        let expires_in = answer.get("expires_in").and_then(|v| v.as_u64());
        if let Grant::RefreshToken { file, .. } = &self.grant {
            crate::failpoint::hit(crate::failpoint::REFRESH_TOKEN_ANSWERED);
            match answer.get("refresh_token").and_then(|v| v.as_str()) {
                Some(rotated) if !rotated.is_empty() => save_refresh_token(file, rotated)?,
                // No rotation: the old one stays valid and stays in the file.
                _ => {}
            }
        }
        tracing::info!(
            grant_type,
            expires_in = expires_in.map_or_else(|| "never".to_owned(), |s| format!("{s}s")),
            "obtained an OAuth access token"
        );
        Ok(Token {
            header: bearer_value(&format!("Bearer {access}")),
            renew_at: expires_in.map(|secs| {
                let lifetime = Duration::from_secs(secs);
                asked + lifetime - (lifetime / 30).min(MAX_MARGIN)
            }),
        })
    }

    /// `oauth login`'s exchange: trades an authorization code (with its PKCE verifier) for a
    /// grant and saves the refresh token to the source's file.
    pub async fn exchange_code(
        &self,
        code: &str,
        verifier: &str,
        redirect_uri: &str,
    ) -> Result<(), OAuthError> {
        let Grant::RefreshToken { file, .. } = &self.grant else {
            return Err(self.unavailable("not a refresh-token source".into()));
        };
        let body = form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("client_id", &self.client_id),
            ("client_secret", self.client_secret.expose_secret()),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
        ]);
        let answer = match self.post(SecretString::from(body)).await {
            Err(OAuthError::GrantGone { .. }) => {
                return Err(OAuthError::Refused {
                    client_id: self.client_id.clone(),
                    code: "invalid_grant".into(),
                    hint: "the code expired, was already used, or its redirect URI or PKCE \
                           verifier did not match; run `zendesk-crm oauth login` again"
                        .into(),
                });
            }
            other => other?,
        };
        let refresh = answer
            .get("refresh_token")
            .and_then(|v| v.as_str())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| self.unavailable("the answer has no refresh_token".into()))?;
        save_refresh_token(file, refresh)
    }

    fn unavailable(&self, message: String) -> OAuthError {
        OAuthError::Unavailable {
            endpoint: self.endpoint.clone(),
            message,
        }
    }

    /// Sends the token request, retrying 429, 5xx, timeouts and transport errors like the
    /// component's requests; a 200 answer's JSON, or the refusal it names.
    async fn post(&self, body: SecretString) -> Result<serde_json::Value, OAuthError> {
        let mut attempt = 0u32;
        loop {
            let (failure, retry_after) =
                match tokio::time::timeout(self.timeout, self.post_once(&body)).await {
                    Err(_) => (
                        format!(
                            "no answer within HTTP_TIMEOUT ({} s)",
                            self.timeout.as_secs()
                        ),
                        None,
                    ),
                    Ok(Err(e)) => (e, None),
                    Ok(Ok((status, retry_after, bytes))) => {
                        if status == StatusCode::OK {
                            return serde_json::from_slice(&bytes).map_err(|_| {
                                self.unavailable("the answer to a token request is not JSON".into())
                            });
                        }
                        if status != StatusCode::TOO_MANY_REQUESTS && !status.is_server_error() {
                            return Err(self.refusal_of(status, &bytes));
                        }
                        (format!("HTTP {}", status.as_u16()), retry_after)
                    }
                };
            if attempt >= self.retries {
                return Err(self.unavailable(format!(
                    "{failure} (after {} attempts; HTTP_RETRIES)",
                    attempt + 1
                )));
            }
            let wait = retry_after
                .unwrap_or(Duration::from_secs(1 << attempt.min(6)))
                .min(self.max_wait);
            tracing::warn!(%failure, attempt = attempt + 1, wait = %humantime::format_duration(wait), "token request failed; retrying");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    async fn post_once(
        &self,
        body: &SecretString,
    ) -> Result<(StatusCode, Option<Duration>, Bytes), String> {
        let request = Request::post(self.endpoint.as_str())
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(ACCEPT, "application/json")
            .body(full(Bytes::from(body.expose_secret().to_owned())))
            .map_err(|_| "the token endpoint is not a valid URL".to_owned())?;
        let options = Some(RequestOptions {
            connect_timeout: Some(self.timeout),
            first_byte_timeout: Some(self.timeout),
            between_bytes_timeout: Some(self.timeout),
        });
        let (response, io) = send_with(self.sender.as_deref(), request, options)
            .await
            .map_err(|e| format!("transport error: {e:?}"))?;
        tokio::spawn(Box::into_pin(io));
        let (parts, body) = response.into_parts();
        let retry_after = parts
            .headers
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let bytes = read_bounded(body)
            .await
            .ok_or_else(|| "the answer to a token request was cut off or too large".to_owned())?;
        Ok((parts.status, retry_after, bytes))
    }

    /// The refusal in a 4xx answer, with what to fix. Only the error code is taken from the
    /// answer: nothing it echoes can reach a message.
    fn refusal_of(&self, status: StatusCode, bytes: &[u8]) -> OAuthError {
        let code = serde_json::from_slice::<serde_json::Value>(bytes)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
            .filter(|c| c.len() <= 64 && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
            .unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
        const WHERE: &str = "Admin Center > Apps and integrations > APIs > OAuth clients";
        let hint = match (code.as_str(), &self.grant) {
            ("invalid_grant", Grant::RefreshToken { file, .. }) => {
                return OAuthError::GrantGone {
                    file: file.display().to_string(),
                };
            }
            ("invalid_client", _) => format!(
                "the client id or secret is wrong, or the client was deleted. Check that \
                 ZENDESK_CLIENT_ID is the client's Identifier in {WHERE}, and that the secret \
                 (ZENDESK_CLIENT_SECRET or ZENDESK_CLIENT_SECRET_FILE) is the one shown when it \
                 was created or last regenerated there"
            ),
            ("unauthorized_client", _) => format!(
                "the client may not use this grant. client_credentials needs a confidential \
                 client: in {WHERE}, create one with Client kind \"Confidential\""
            ),
            ("invalid_scope", Grant::ClientCredentials { scopes }) => format!(
                "the client may not request the scopes {scopes:?}. Add them to the client's \
                 allowed scopes in {WHERE}, or set ZENDESK_OAUTH_SCOPES to scopes it allows \
                 (`read` covers every resource)"
            ),
            ("invalid_scope", _) => format!(
                "the grant's scopes are no longer allowed for the client: check its allowed \
                 scopes in {WHERE}, then approve again with `zendesk-crm oauth login`"
            ),
            _ => format!("the token endpoint answered HTTP {}", status.as_u16()),
        };
        OAuthError::Refused {
            client_id: self.client_id.clone(),
            code,
            hint,
        }
    }
}
