//! Sending a request with the feed's access token, and the token's own small HTTP pieces: the
//! `401 invalid_token` test, a bounded body read, the form encoding of token requests.

use bytes::Bytes;
use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full};
use wasmtime_wasi_http::{RequestOptions, WasiBody};

use crate::sender::{IoFuture, Sender, send_with};

use super::{MAX_ANSWER, OAuthError, TokenSource};

/// Sends a request the egress policy let through with the feed's access token; after a `401
/// invalid_token`, renews the token once and sends the same `GET` again. The component gets
/// the answer to the last request sent.
pub async fn send_authorized(
    tokens: &TokenSource,
    sender: Option<&Sender>,
    request: Request<WasiBody>,
    options: Option<RequestOptions>,
) -> wasmtime_wasi_http::Result<(Response<WasiBody>, IoFuture)> {
    let header = tokens.authorization().await.map_err(refused)?;
    // A GET (the policy allows nothing else): its body is empty, so it can be sent twice.
    let (mut parts, _empty) = request.into_parts();
    let again = copy_parts(&parts);
    parts.headers.insert(AUTHORIZATION, header.clone());
    let (response, io) = send_with(sender, Request::from_parts(parts, empty()), options).await?;
    if response.status() != StatusCode::UNAUTHORIZED {
        return Ok((response, io));
    }
    tokio::spawn(Box::into_pin(io));
    let (answer, body) = response.into_parts();
    let bytes = read_bounded(body)
        .await
        .ok_or(wasmtime_wasi_http::Error::HttpResponseIncomplete)?;
    if !is_invalid_token(&answer, &bytes) {
        return Ok((Response::from_parts(answer, full(bytes)), ready()));
    }
    tracing::info!(
        path = %again.uri.path(),
        "Zendesk refused the access token (401 invalid_token); renewing it and sending the request again"
    );
    let header = tokens
        .renew_after_rejection(&header)
        .await
        .map_err(refused)?;
    let mut parts = again;
    parts.headers.insert(AUTHORIZATION, header);
    send_with(sender, Request::from_parts(parts, empty()), options).await
}

/// What the guest sees when no token could be had: a refusal naming the cause (the guest
/// reports it as the resource's error and does not retry it).
pub(super) fn refused(e: OAuthError) -> wasmtime_wasi_http::Error {
    wasmtime_wasi_http::Error::InternalError(Some(format!("refused: OAuth: {e}")))
}

pub(super) fn is_invalid_token(answer: &http::response::Parts, body: &[u8]) -> bool {
    let in_header = answer
        .headers
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .any(|v| v.to_str().is_ok_and(|v| v.contains("invalid_token")));
    if in_header {
        return true;
    }
    let gzip = answer
        .headers
        .get(http::header::CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
    let text = if gzip {
        let mut out = Vec::new();
        let _ = std::io::Read::read_to_end(
            &mut std::io::Read::take(flate2::read::GzDecoder::new(body), MAX_ANSWER as u64),
            &mut out,
        );
        out
    } else {
        body.to_vec()
    };
    String::from_utf8_lossy(&text).contains("\"invalid_token\"")
}

/// A small body, whole: none when it fails or passes `MAX_ANSWER`.
pub(super) async fn read_bounded(mut body: WasiBody) -> Option<Bytes> {
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.ok()?.into_data() {
            if out.len() + data.len() > MAX_ANSWER {
                return None;
            }
            out.extend_from_slice(&data);
        }
    }
    Some(Bytes::from(out))
}

pub(super) fn copy_parts(parts: &http::request::Parts) -> http::request::Parts {
    let mut copy = Request::new(());
    *copy.method_mut() = parts.method.clone();
    *copy.uri_mut() = parts.uri.clone();
    *copy.version_mut() = parts.version;
    *copy.headers_mut() = parts.headers.clone();
    copy.into_parts().0
}

pub(super) fn full(bytes: Bytes) -> WasiBody {
    Full::new(bytes)
        .map_err(|never| match never {})
        .boxed_unsync()
}

pub(super) fn empty() -> WasiBody {
    full(Bytes::new())
}

pub(super) fn ready() -> IoFuture {
    Box::new(async { Ok(()) })
}

/// `application/x-www-form-urlencoded`.
pub(super) fn form(pairs: &[(&str, &str)]) -> String {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    // Everything but RFC 3986's unreserved characters.
    const FORM: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                utf8_percent_encode(k, FORM),
                utf8_percent_encode(v, FORM)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_body_encodes_every_reserved_character() {
        assert_eq!(
            form(&[("grant_type", "x y&z=+/"), ("b", "ok-._~")]),
            "grant_type=x%20y%26z%3D%2B%2F&b=ok-._~"
        );
    }
}
