//! Zendesk's OAuth: `POST /oauth/tokens` for the `client_credentials`, `refresh_token` and
//! `authorization_code` (PKCE S256) grants, in JSON or form bodies; the authorization page
//! (`GET /oauth/authorizations/new`, approved at once); access tokens that expire after a
//! settable lifetime (real time: tests use a second or two); refresh tokens that rotate on
//! every use, revoking the previous pair; and the token errors (oauth.md, zendesk-api.md §5).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::Digest as _;

use super::wire::{RecordedRequest, SimResponse, form_decode, percent_encode};

pub(crate) const TOKENS: &str = "/oauth/tokens";
pub(crate) const AUTHORIZE: &str = "/oauth/authorizations/new";

/// The confidential OAuth client the simulated account has (Admin Center > Apps and
/// integrations > APIs > OAuth clients).
#[derive(Debug, Clone)]
pub struct OAuthClientConfig {
    /// The client's "Identifier".
    pub id: String,
    pub secret: String,
    /// Scopes the client may be granted; a request for any other is `invalid_scope`.
    pub scopes: Vec<String>,
    /// False models a public client: `client_credentials` is then `unauthorized_client`.
    pub confidential: bool,
}

impl Default for OAuthClientConfig {
    fn default() -> OAuthClientConfig {
        OAuthClientConfig {
            id: "sim-collector".to_owned(),
            secret: "sim-client-secret-5e6f7a8b9c".to_owned(),
            scopes: ["read", "tickets:read", "auditlogs:read"]
                .map(str::to_owned)
                .to_vec(),
            confidential: true,
        }
    }
}

struct Access {
    expires: Option<Instant>,
    scopes: Vec<String>,
    revoked: bool,
}

struct Refresh {
    client_id: String,
    scopes: Vec<String>,
    /// The access token issued with it, revoked when this one is used.
    access: String,
}

struct Code {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    scopes: Vec<String>,
}

/// One token request as the simulator saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    pub grant_type: String,
    pub client_id: String,
    /// Whether it was answered with a token.
    pub granted: bool,
}

pub(crate) struct OAuthState {
    pub lifetime: Option<Duration>,
    pub refuse_api_tokens: bool,
    access: HashMap<String, Access>,
    refresh: HashMap<String, Refresh>,
    codes: HashMap<String, Code>,
    pub token_requests: Vec<TokenRequest>,
    /// 401 `invalid_token` answers to API requests.
    pub invalid_token_answers: u32,
    seq: u64,
}

impl Default for OAuthState {
    fn default() -> OAuthState {
        OAuthState {
            // Zendesk's default where expiry is enforced.
            lifetime: Some(Duration::from_secs(1800)),
            refuse_api_tokens: false,
            access: HashMap::new(),
            refresh: HashMap::new(),
            codes: HashMap::new(),
            token_requests: Vec::new(),
            invalid_token_answers: 0,
            seq: 0,
        }
    }
}

/// Whether a bearer token may be used, and for what.
pub(crate) enum Bearer {
    Valid(Vec<String>),
    Invalid,
    Unknown,
}

impl OAuthState {
    fn fresh(&mut self, kind: &str) -> String {
        self.seq += 1;
        let digest = sha2::Sha256::digest(format!("{kind}-{}-{:?}", self.seq, Instant::now()));
        format!("{kind}{}", hex(&digest[..20]))
    }

    pub fn check(&self, token: &str) -> Bearer {
        match self.access.get(token) {
            None => Bearer::Unknown,
            Some(a) if a.revoked || a.expires.is_some_and(|e| Instant::now() >= e) => {
                Bearer::Invalid
            }
            Some(a) => Bearer::Valid(a.scopes.clone()),
        }
    }

    /// Every access token issued so far stops working (an admin revoked them).
    pub fn revoke_access_tokens(&mut self) {
        for a in self.access.values_mut() {
            a.revoked = true;
        }
    }

    /// Every refresh token is revoked too (the grant is gone).
    pub fn revoke_grants(&mut self) {
        self.revoke_access_tokens();
        self.refresh.clear();
    }

    pub fn refresh_token_alive(&self, token: &str) -> bool {
        self.refresh.contains_key(token)
    }

    fn issue(&mut self, client_id: &str, scopes: Vec<String>, with_refresh: bool) -> SimResponse {
        let access = self.fresh("sim-at-");
        let expires = self.lifetime.map(|l| Instant::now() + l);
        self.access.insert(
            access.clone(),
            Access {
                expires,
                scopes: scopes.clone(),
                revoked: false,
            },
        );
        let mut body = serde_json::json!({
            "access_token": access,
            "token_type": "bearer",
            "scope": scopes.join(" "),
        });
        if let Some(lifetime) = self.lifetime {
            body["expires_in"] = lifetime.as_secs().into();
        }
        if with_refresh {
            let refresh = self.fresh("sim-rt-");
            self.refresh.insert(
                refresh.clone(),
                Refresh {
                    client_id: client_id.to_owned(),
                    scopes,
                    access,
                },
            );
            body["refresh_token"] = refresh.into();
            body["refresh_token_expires_in"] = 2_592_000.into();
        }
        SimResponse::json(200, &body)
    }

    /// A grant the admin approved in the browser, for tests that skip the page.
    pub fn approve(
        &mut self,
        client_id: &str,
        redirect_uri: &str,
        challenge: &str,
        scopes: Vec<String>,
    ) -> String {
        let code = self.fresh("sim-code-");
        self.codes.insert(
            code.clone(),
            Code {
                client_id: client_id.to_owned(),
                redirect_uri: redirect_uri.to_owned(),
                challenge: challenge.to_owned(),
                scopes,
            },
        );
        code
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The request's parameters, from a JSON object or a form body (Zendesk takes both).
fn params(req: &RecordedRequest) -> Result<HashMap<String, String>, SimResponse> {
    let json = req
        .header("content-type")
        .is_some_and(|t| t.to_ascii_lowercase().contains("json"));
    if json {
        let value: serde_json::Value = serde_json::from_slice(&req.body)
            .map_err(|_| error(400, "invalid_request", "The request body is not JSON."))?;
        let object = value
            .as_object()
            .ok_or_else(|| error(400, "invalid_request", "The request body is not an object."))?;
        Ok(object
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), v)
            })
            .collect())
    } else {
        let text = String::from_utf8_lossy(&req.body);
        Ok(text
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (form_decode(k), form_decode(v))
            })
            .collect())
    }
}

/// RFC 6749's error body, as Zendesk sends it.
pub(crate) fn error(status: u16, code: &str, description: &str) -> SimResponse {
    SimResponse::json(
        status,
        &serde_json::json!({"error": code, "error_description": description}),
    )
}

fn invalid_client() -> SimResponse {
    error(
        401,
        "invalid_client",
        "Client authentication failed due to unknown client, no client authentication \
         included, or unsupported authentication method.",
    )
}

fn invalid_grant() -> SimResponse {
    error(
        400,
        "invalid_grant",
        "The provided authorization grant is invalid, expired, revoked, does not match the \
         redirection URI used in the authorization request, or was issued to another client.",
    )
}

fn scopes_of(
    text: Option<&String>,
    client: &OAuthClientConfig,
) -> Result<Vec<String>, SimResponse> {
    let scopes: Vec<String> = match text {
        None => vec!["read".to_owned()],
        Some(s) => s.split_whitespace().map(str::to_owned).collect(),
    };
    if scopes.is_empty() || scopes.iter().any(|s| !client.scopes.contains(s)) {
        return Err(error(
            400,
            "invalid_scope",
            "The requested scope is invalid, unknown, or malformed.",
        ));
    }
    Ok(scopes)
}

/// `POST /oauth/tokens`.
pub(crate) fn tokens(
    state: &mut OAuthState,
    client: &OAuthClientConfig,
    req: &RecordedRequest,
) -> SimResponse {
    if req.method != "POST" {
        return SimResponse::error(405, "MethodNotAllowed", "Only POST is allowed here")
            .with_header("allow", "POST");
    }
    let p = match params(req) {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let grant_type = p.get("grant_type").cloned().unwrap_or_default();
    let client_id = p.get("client_id").cloned().unwrap_or_default();
    let resp = grant(state, client, &p, &grant_type, &client_id);
    state.token_requests.push(TokenRequest {
        grant_type,
        client_id,
        granted: resp.status == 200,
    });
    resp
}

fn grant(
    state: &mut OAuthState,
    client: &OAuthClientConfig,
    p: &HashMap<String, String>,
    grant_type: &str,
    client_id: &str,
) -> SimResponse {
    if client_id != client.id || p.get("client_secret") != Some(&client.secret) {
        return invalid_client();
    }
    match grant_type {
        "client_credentials" => {
            if !client.confidential {
                return error(
                    400,
                    "unauthorized_client",
                    "The client is not authorized to perform this request using this method.",
                );
            }
            match scopes_of(p.get("scope"), client) {
                Ok(scopes) => state.issue(client_id, scopes, false),
                Err(resp) => resp,
            }
        }
        "refresh_token" => {
            let token = p.get("refresh_token").cloned().unwrap_or_default();
            match state.refresh.remove(&token) {
                Some(old) if old.client_id == client_id => {
                    // Rotation: the previous pair is gone the moment the answer is sent.
                    if let Some(a) = state.access.get_mut(&old.access) {
                        a.revoked = true;
                    }
                    state.issue(client_id, old.scopes, true)
                }
                Some(other) => {
                    state.refresh.insert(token, other);
                    invalid_grant()
                }
                None => invalid_grant(),
            }
        }
        "authorization_code" => {
            let code = p.get("code").cloned().unwrap_or_default();
            let Some(c) = state.codes.remove(&code) else {
                return invalid_grant();
            };
            let verifier = p.get("code_verifier").cloned().unwrap_or_default();
            let challenge = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
            if c.client_id != client_id
                || Some(&c.redirect_uri) != p.get("redirect_uri")
                || challenge != c.challenge
            {
                return invalid_grant();
            }
            state.issue(client_id, c.scopes, true)
        }
        _ => error(
            400,
            "unsupported_grant_type",
            "The authorization grant type is not supported by the authorization server.",
        ),
    }
}

/// `GET /oauth/authorizations/new`: the admin approves at once; the answer redirects to the
/// `redirect_uri` with a `code` (and the `state` given).
pub(crate) fn authorize(
    state: &mut OAuthState,
    client: &OAuthClientConfig,
    req: &RecordedRequest,
) -> SimResponse {
    let q: HashMap<String, String> = req.query().into_iter().collect();
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    if get("client_id") != client.id || get("response_type") != "code" {
        return SimResponse::error(400, "invalid_request", "Unknown client or response type");
    }
    if get("code_challenge_method") != "S256" || get("code_challenge").is_empty() {
        return SimResponse::error(400, "invalid_request", "PKCE with S256 is required");
    }
    let scopes = match scopes_of(q.get("scope"), client) {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let redirect_uri = get("redirect_uri");
    let code = state.approve(&client.id, &redirect_uri, &get("code_challenge"), scopes);
    let sep = if redirect_uri.contains('?') { '&' } else { '?' };
    let location = format!(
        "{redirect_uri}{sep}code={}&state={}",
        percent_encode(&code),
        percent_encode(&get("state"))
    );
    SimResponse::text(302, "text/html; charset=utf-8", "<html>Redirecting</html>")
        .with_header("location", location)
}

/// The scope an API path needs besides `read`.
pub(crate) fn scope_for(path: &str) -> Option<&'static str> {
    let path = path.strip_suffix(".json").unwrap_or(path);
    match path {
        super::export::ENDPOINT => Some("tickets:read"),
        super::audit_logs::ENDPOINT => Some("auditlogs:read"),
        // Zendesk's resource scopes name no access-log resource (access-logs.md §1), and the
        // finer table announced for 2026-08-10 could not be read: only `read` opens it.
        _ => None,
    }
}
