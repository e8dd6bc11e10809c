//! Credential checks: API token over Basic (`{email}/token:{token}`) or an OAuth Bearer token,
//! failing with the two 401 bodies Zendesk is known to send (zendesk-api.md §5.2).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::SimConfig;
use super::wire::SimResponse;

pub(crate) fn check(config: &SimConfig, authorization: Option<&str>) -> Result<(), SimResponse> {
    let (scheme, credentials) = authorization
        .and_then(|h| h.trim().split_once(' '))
        .map(|(s, c)| (s, c.trim()))
        .unwrap_or(("", ""));
    if scheme.eq_ignore_ascii_case("bearer") {
        return if credentials == config.bearer_token {
            Ok(())
        } else {
            Err(invalid_token())
        };
    }
    let expected = format!("{}/token:{}", config.email, config.api_token);
    let decoded = scheme
        .eq_ignore_ascii_case("basic")
        .then(|| STANDARD.decode(credentials).ok())
        .flatten();
    if decoded.as_deref() == Some(expected.as_bytes()) {
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
