//! No OAuth secret leaks: not in any output at trace level, not in a cassette, and no token of
//! any mode reaches another origin.

use std::time::Duration;

use zendesk_crm_tests::raw_http;
use zendesk_crm_tests::{Fault, Simulator};

use super::{approve_into, client_credentials, refresh_feed};
use crate::harness::{Collector, T0, simulator, sorted_unique, visible};

const TRACE: &str = "trace,cranelift_codegen=off,cranelift_frontend=off,wasmtime_internal_cranelift=off,wasmtime_environ=off";

fn assert_none_of(haystack: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(!haystack.contains(s), "{s:?} leaked");
        let percent = raw_http::percent_encode(s);
        assert!(!haystack.contains(&percent), "{s:?} leaked percent-encoded");
    }
}

/// Every access and refresh token the simulator ever issued, from its token answers' traces:
/// read back from the requests the API saw and the refresh file.
fn issued_access_tokens(sim: &Simulator) -> Vec<String> {
    sim.requests()
        .iter()
        .filter_map(|r| r.header("authorization"))
        .filter_map(|a| a.strip_prefix("Bearer "))
        .map(str::to_owned)
        .collect()
}

#[test]
fn client_secrets_access_tokens_and_refresh_tokens_never_appear_in_any_output() {
    let sim = simulator();
    sim.set_token_lifetime(Some(Duration::from_secs(1)));
    sim.add_tickets(1, 12, T0 - 1000);
    // The revocation first: were it to fall on the resend after an expiry, the component
    // would rightly see that second 401 (the host renews once per request).
    sim.push_fault(Fault::RevokeAccessTokens);
    for _ in 0..6 {
        sim.push_fault(Fault::Delay { ms: 400 });
    }
    let secret = sim.config().oauth_client.secret.clone();
    let mut c = client_credentials(&sim);
    c.env("PAGE_SIZE", 2).env("RUST_LOG", TRACE);
    let pass = c.run(&sim);
    assert_eq!(pass.code, 0, "{}", pass.output());
    let tokens = issued_access_tokens(&sim);
    assert!(tokens.len() >= 2, "{tokens:?}");
    let mut secrets: Vec<&str> = tokens.iter().map(String::as_str).collect();
    secrets.push(&secret);
    assert_none_of(&pass.output(), &secrets);
    // The form body the host sent carried the secret; nothing printed it.
    let body = sim
        .requests()
        .into_iter()
        .find(|r| r.path() == "/oauth/tokens")
        .unwrap()
        .body;
    assert!(String::from_utf8_lossy(&body).contains("client_secret="));

    // Refused, at trace level, with a JSON-echoing wrong answer and a wrong secret.
    let mut wrong = client_credentials(&sim);
    wrong
        .env("ZENDESK_CLIENT_SECRET", "wrong-secret-0f0f0f")
        .env("RUST_LOG", TRACE);
    let refused = wrong.run(&sim);
    assert_eq!(refused.code, 10);
    assert_none_of(&refused.output(), &["wrong-secret-0f0f0f"]);

    // Refresh mode: the refresh tokens before and after, and the access tokens.
    let feed = refresh_feed(&sim);
    let before = feed.token();
    let mut traced = feed.c;
    traced.env("RUST_LOG", TRACE);
    let pass = traced.run(&sim);
    assert_eq!(pass.code, 0, "{}", pass.output());
    let after = std::fs::read_to_string(feed.dir.path().join("zendesk-refresh-token")).unwrap();
    let tokens = issued_access_tokens(&sim);
    let mut secrets: Vec<&str> = tokens.iter().map(String::as_str).collect();
    secrets.extend([before.as_str(), after.trim(), secret.as_str()]);
    assert_none_of(&pass.output(), &secrets);
}

#[test]
fn a_cassette_holds_what_the_component_saw_and_no_token_exchange() {
    let sim = simulator();
    sim.add_tickets(1, 6, T0 - 1000);
    sim.push_fault(Fault::Delay { ms: 0 });
    sim.push_fault(Fault::RevokeAccessTokens);
    let secret = sim.config().oauth_client.secret.clone();
    let c = client_credentials(&sim);
    let cassette = c.out.path().join("pass.cassette.json");
    let output = c
        .command("record", sim.now())
        .arg("--cassette")
        .arg(&cassette)
        .env("PAGE_SIZE", "2")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = std::fs::read_to_string(&cassette).unwrap();
    assert!(
        !text.contains("/oauth/"),
        "a token exchange in the cassette"
    );
    assert!(
        !text.contains("invalid_token"),
        "the absorbed 401 in the cassette"
    );
    let tokens = issued_access_tokens(&sim);
    let mut secrets: Vec<&str> = tokens.iter().map(String::as_str).collect();
    secrets.push(&secret);
    assert_none_of(&text, &secrets);
    let replay_out = tempfile::tempdir().unwrap();
    let replayed = std::process::Command::new(env!("CARGO_BIN_EXE_zendesk-crm"))
        .env_clear()
        .env("ZENDESK_CRM_CACHE_DIR", crate::harness::cache_dir())
        .args(["replay", "--cassette"])
        .arg(&cassette)
        .arg("--out")
        .arg(replay_out.path().join("r"))
        .output()
        .unwrap();
    assert!(
        replayed.status.success(),
        "{}",
        String::from_utf8_lossy(&replayed.stderr)
    );
}

#[test]
fn no_token_of_any_mode_reaches_another_origin() {
    // The other origin is a simulator too, so it records whatever reaches it.
    let evil = simulator();
    let sim = simulator();
    sim.add_tickets(1, 6, T0 - 1000);
    sim.set_after_url_origin(Some(evil.base_url()));
    let dir = tempfile::tempdir().unwrap();
    let mut modes: Vec<Collector> = Vec::new();
    modes.push(Collector::new(&sim));
    let mut bearer = Collector::new(&sim);
    bearer
        .env("AUTH_MODE", "bearer")
        .env("ZENDESK_BEARER_TOKEN", &sim.config().bearer_token);
    modes.push(bearer);
    modes.push(client_credentials(&sim));
    let mut refresh = client_credentials(&sim);
    let file = dir.path().join("refresh");
    approve_into(&sim, &file);
    refresh
        .env("AUTH_MODE", "refresh_token")
        .env("ZENDESK_REFRESH_TOKEN_FILE", file.display());
    modes.push(refresh);
    for mut c in modes {
        c.env("PAGE_SIZE", 2);
        let pass = c.run(&sim);
        // The guest follows only the path of a next URL, on its own origin.
        assert_eq!(pass.code, 0, "{}", pass.output());
        assert_eq!(sorted_unique(c.stored_tickets()), visible(&sim));
        assert!(
            evil.requests().is_empty(),
            "a request reached the other origin"
        );
    }
    assert!(evil.token_requests().is_empty());
}
