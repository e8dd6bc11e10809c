//! The OAuth modes end to end: the real binary obtains and renews its own access tokens from
//! the simulator's `/oauth/tokens`, keeps a rotating refresh token in a file, and names every
//! refusal with its exit code. Lifetimes are a second or two; the tests assert on counts.
//!
//! This file holds what the modes' tests share: a collector per mode and a grant as
//! `oauth login` leaves it.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use sha2::Digest as _;
use zendesk_crm_tests::Simulator;
use zendesk_crm_tests::raw_http;

use crate::harness::Collector;

/// `client_credentials`: renewal on demand, scopes, refusals, retried token requests, `serve`.
mod client_credentials;
/// The feeds file mixing the modes, and a feed whose grant is gone in `serve`.
mod feeds;
/// `bearer` and `token` (API token) modes, and a client ID that changes no mode.
mod older_modes;
/// `refresh_token`: rotation, a revoked grant, crashes around the save, the lock, `oauth login`.
mod refresh_token;
/// No client secret, access token or refresh token in any output, cassette or other origin.
mod secrets;

/// A collector in `client_credentials` mode: the simulator's OAuth client, no API token.
pub fn client_credentials(sim: &Simulator) -> Collector {
    let client = &sim.config().oauth_client;
    let mut c = Collector::new(sim);
    c.unset("ZENDESK_API_TOKEN")
        .unset("ZENDESK_EMAIL")
        .env("AUTH_MODE", "client_credentials")
        .env("ZENDESK_CLIENT_ID", &client.id)
        .env("ZENDESK_CLIENT_SECRET", &client.secret);
    c
}

/// Granted `client_credentials` token requests so far.
fn granted(sim: &Simulator, grant_type: &str) -> usize {
    sim.token_requests()
        .iter()
        .filter(|r| r.granted && r.grant_type == grant_type)
        .count()
}

fn pkce(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier))
}

/// A grant as `oauth login` would leave it: the first refresh token, written to `file`.
fn approve_into(sim: &Simulator, file: &Path) -> String {
    let client = &sim.config().oauth_client;
    let verifier = "test-verifier-0123456789-0123456789-0123456789";
    let code = sim.approve("http://127.0.0.1:1/cb", &pkce(verifier), &["read"]);
    let resp = raw_http::post(
        &sim.base_url(),
        "/oauth/tokens",
        "application/json",
        serde_json::json!({"grant_type": "authorization_code", "code": code,
            "client_id": client.id, "client_secret": client.secret,
            "redirect_uri": "http://127.0.0.1:1/cb", "code_verifier": verifier})
        .to_string()
        .as_bytes(),
    )
    .unwrap();
    let answer = resp.json().unwrap();
    let refresh = answer["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_owned();
    std::fs::write(file, format!("{refresh}\n")).unwrap();
    refresh
}

pub(crate) struct RefreshFeed {
    pub(crate) c: Collector,
    dir: tempfile::TempDir,
}

impl RefreshFeed {
    pub(crate) fn file(&self) -> PathBuf {
        self.dir.path().join("zendesk-refresh-token")
    }
    pub(crate) fn token(&self) -> String {
        std::fs::read_to_string(self.file())
            .unwrap()
            .trim()
            .to_owned()
    }
}

pub(crate) fn refresh_feed(sim: &Simulator) -> RefreshFeed {
    let dir = tempfile::tempdir().unwrap();
    let mut c = client_credentials(sim);
    let file = dir.path().join("zendesk-refresh-token");
    approve_into(sim, &file);
    c.env("AUTH_MODE", "refresh_token")
        .env("ZENDESK_REFRESH_TOKEN_FILE", file.display());
    RefreshFeed { c, dir }
}
