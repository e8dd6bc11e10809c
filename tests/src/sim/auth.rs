//! Credential checks: API token over Basic (`{email}/token:{token}`) or an OAuth Bearer token
//! (the configured static one, or one `POST /oauth/tokens` issued, while it lives and with the
//! scope the endpoint needs), failing with the bodies Zendesk is known to send
//! (zendesk-api.md §5.2, §5.3).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::oauth::{self, Bearer};
use super::state::Shared;
use super::wire::SimResponse;

pub(crate) fn check(
    shared: &Shared,
    authorization: Option<&str>,
    path: &str,
) -> Result<(), SimResponse> {
    let config = &shared.config;
    let (scheme, credentials) = authorization
        .and_then(|h| h.trim().split_once(' '))
        .map(|(s, c)| (s, c.trim()))
        .unwrap_or(("", ""));
    if scheme.eq_ignore_ascii_case("bearer") {
        if credentials == config.bearer_token {
            return Ok(());
        }
        let mut state = shared.state.lock().unwrap();
        return match state.oauth.check(credentials) {
            Bearer::Valid(scopes) => {
                let needed = oauth::scope_for(path);
                let allowed = scopes.iter().any(|s| s == "read")
                    || needed.is_some_and(|n| scopes.iter().any(|s| s == n));
                if allowed {
                    Ok(())
                } else {
                    Err(SimResponse::json(
                        403,
                        &serde_json::json!({
                            "error": "Forbidden",
                            "description": format!(
                                "You are missing the following required scopes: {}",
                                needed.unwrap_or("read")
                            ),
                        }),
                    ))
                }
            }
            Bearer::Invalid | Bearer::Unknown => {
                state.oauth.invalid_token_answers += 1;
                Err(invalid_token())
            }
        };
    }
    let expected = format!("{}/token:{}", config.email, config.api_token);
    let decoded = scheme
        .eq_ignore_ascii_case("basic")
        .then(|| STANDARD.decode(credentials).ok())
        .flatten();
    let refused = shared.state.lock().unwrap().oauth.refuse_api_tokens;
    if decoded.as_deref() == Some(expected.as_bytes()) && !refused {
        Ok(())
    } else {
        Err(could_not_authenticate())
    }
}

fn could_not_authenticate() -> SimResponse {
    let mut resp = SimResponse::text(
        401,
        "application/json; charset=UTF-8",
        r#"{"error":"Couldn't authenticate you"}"#,
    )
    .with_header("www-authenticate", r#"Basic realm="Web Password""#);
    resp.compressible = true;
    resp
}

fn invalid_token() -> SimResponse {
    let mut resp = SimResponse::text(
        401,
        "application/json; charset=utf-8",
        r#"{"error":"invalid_token","error_description":"The access token provided is expired, revoked, malformed or invalid for other reasons."}"#,
    )
    .with_header("www-authenticate", r#"Bearer realm="Zendesk", error="invalid_token""#);
    resp.compressible = true;
    resp
}
