//! The OAuth modes end to end: the real binary obtains and renews its own access tokens from
//! the simulator's `/oauth/tokens`, keeps a rotating refresh token in a file, and names every
//! refusal with its exit code. Lifetimes are a second or two; the tests assert on counts.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use base64::Engine as _;
use sha2::Digest as _;
use zendesk_crm_tests::raw_http;
use zendesk_crm_tests::{Fault, SimConfig, Simulator};

use crate::harness::{
    Collector, T0, simulator, simulator_with, sorted_unique, stored_access_events,
    stored_audit_events, visible,
};
use crate::schedule::{lines, sigterm, wait_for};

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

#[test]
fn a_pass_longer_than_several_token_lifetimes_renews_on_demand_and_no_401_reaches_the_component() {
    let sim = simulator();
    sim.set_token_lifetime(Some(Duration::from_secs(1)));
    sim.add_tickets(1, 30, T0 - 1000);
    // Every page takes 400 ms to answer: ten pages and more span several lifetimes, and a
    // token that was fresh when a request left may expire while Zendesk is answering.
    for _ in 0..40 {
        sim.push_fault(Fault::Delay { ms: 400 });
    }
    let mut c = client_credentials(&sim);
    c.env("PAGE_SIZE", 3);
    let started = Instant::now();
    let pass = c.run(&sim);
    let elapsed = started.elapsed();
    assert_eq!(pass.code, 0, "{}", pass.output());
    assert_eq!(sorted_unique(c.stored_tickets()), visible(&sim));
    let tickets = pass.tickets();
    assert!(tickets["error"].is_null(), "{tickets}");
    assert!(tickets["pages"].as_u64().unwrap() >= 10, "{tickets}");
    let requests = granted(&sim, "client_credentials");
    let bound = elapsed.as_secs_f64().ceil() as usize + 1;
    assert!(
        requests >= 3,
        "only {requests} token requests: nothing was renewed"
    );
    assert!(
        requests <= bound,
        "{requests} token requests in {elapsed:?} with a 1 s lifetime (bound {bound})"
    );
    // What the host absorbed; the component saw none of it (its resource has no error and
    // every ticket is stored).
    let absorbed = sim.invalid_token_answers();
    println!(
        "long pass: {requests} token requests in {:.1} s with a 1 s lifetime (bound {bound}); \
         {absorbed} 401 invalid_token answered to the host and resent; 0 reached the component",
        elapsed.as_secs_f64()
    );
    assert!(
        pass.stderr.contains("obtained an OAuth access token"),
        "{}",
        pass.stderr
    );
}

#[test]
fn a_token_revoked_mid_pass_is_renewed_once_and_the_same_get_is_sent_again() {
    let sim = simulator();
    sim.add_tickets(1, 9, T0 - 1000);
    sim.push_fault(Fault::Delay { ms: 0 });
    sim.push_fault(Fault::RevokeAccessTokens);
    let mut c = client_credentials(&sim);
    c.env("PAGE_SIZE", 3);
    let pass = c.run(&sim);
    assert_eq!(pass.code, 0, "{}", pass.output());
    assert_eq!(sorted_unique(c.stored_tickets()), visible(&sim));
    assert_eq!(sim.invalid_token_answers(), 1);
    assert_eq!(granted(&sim, "client_credentials"), 2);
    let api: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.path().starts_with("/api/"))
        .collect();
    assert_eq!(
        api[1].path_and_query, api[2].path_and_query,
        "the refused GET is sent again as it was"
    );
    assert_ne!(
        api[1].header("authorization"),
        api[2].header("authorization")
    );
    // The guest's door stays shut: it never sent a POST nor reached /oauth itself.
    assert!(api.iter().all(|r| r.method == "GET"));
}

#[test]
fn all_three_resources_are_collected_with_the_least_scopes_the_resources_need() {
    let sim = simulator();
    sim.add_tickets(1, 5, T0 - 1000);
    sim.add_audit_events(1, 5, T0 - 1000);
    sim.add_access_events(5, T0 - 1000);
    let mut c = client_credentials(&sim);
    c.env("RESOURCES", "audit_logs,incremental_tickets");
    let pass = c.run(&sim);
    assert_eq!(pass.code, 0, "{}", pass.output());
    assert_eq!(stored_audit_events(&c).len(), 5);
    let body = String::from_utf8_lossy(
        &sim.requests()
            .into_iter()
            .find(|r| r.path() == "/oauth/tokens")
            .expect("a token request")
            .body,
    )
    .into_owned();
    assert!(
        body.contains("scope=auditlogs%3Aread%20tickets%3Aread"),
        "{body}"
    );

    let mut all = client_credentials(&sim);
    all.env("RESOURCES", "audit_logs,incremental_tickets,access_logs")
        .env("START_TIME", T0 - 5000);
    let pass = all.run(&sim);
    assert_eq!(pass.code, 0, "{}", pass.output());
    assert_eq!(stored_access_events(&all).len(), 5);
    assert_eq!(stored_audit_events(&all).len(), 5);
    assert_eq!(sorted_unique(all.stored_tickets()).len(), 5);
}

#[test]
fn a_wrong_client_secret_ends_the_pass_with_invalid_client_and_exit_10() {
    let sim = simulator();
    sim.add_tickets(1, 5, T0 - 1000);
    let mut c = client_credentials(&sim);
    c.env("ZENDESK_CLIENT_SECRET", "wrong-secret-77aa");
    let pass = c.run(&sim);
    assert_eq!(pass.code, 10, "{}", pass.output());
    let error = &pass.summary()["error"];
    assert_eq!(error["kind"], "oauth_refused");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("invalid_client"), "{message}");
    assert!(message.contains("Admin Center"), "{message}");
    assert!(c.objects().is_empty());
    assert!(!pass.output().contains("wrong-secret-77aa"));
    assert!(
        sim.requests()
            .iter()
            .all(|r| !r.path().starts_with("/api/")),
        "the component ran without a token"
    );
}

#[test]
fn a_refused_scope_exits_10_naming_the_scopes_and_where_to_allow_them() {
    let sim = simulator_with(SimConfig {
        oauth_client: zendesk_crm_tests::OAuthClientConfig {
            scopes: vec!["tickets:read".into()],
            ..Default::default()
        },
        ..SimConfig::default()
    });
    let mut c = client_credentials(&sim);
    c.env("RESOURCES", "audit_logs,incremental_tickets");
    let pass = c.run(&sim);
    assert_eq!(pass.code, 10, "{}", pass.output());
    let message = pass.summary()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("invalid_scope"), "{message}");
    assert!(message.contains("auditlogs:read tickets:read"), "{message}");
    assert!(message.contains("ZENDESK_OAUTH_SCOPES"), "{message}");
    // With the scopes the client allows, the same account works.
    c.env("RESOURCES", "incremental_tickets");
    assert_eq!(c.run(&sim).code, 0);
}

#[test]
fn a_public_client_is_unauthorized_client_with_exit_10() {
    let sim = simulator_with(SimConfig {
        oauth_client: zendesk_crm_tests::OAuthClientConfig {
            confidential: false,
            ..Default::default()
        },
        ..SimConfig::default()
    });
    let pass = client_credentials(&sim).run(&sim);
    assert_eq!(pass.code, 10, "{}", pass.output());
    let message = pass.summary()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("unauthorized_client"), "{message}");
    assert!(message.contains("Confidential"), "{message}");
}

#[test]
fn token_requests_are_retried_after_429_and_5xx() {
    let sim = simulator();
    sim.add_tickets(1, 5, T0 - 1000);
    sim.push_token_fault(Fault::RateLimited {
        retry_after: Some(1),
    });
    sim.push_token_fault(Fault::Status {
        status: 503,
        retry_after: None,
    });
    let c = client_credentials(&sim);
    let pass = c.run(&sim);
    assert_eq!(pass.code, 0, "{}", pass.output());
    assert_eq!(sim.token_requests().len(), 3);
    assert_eq!(sorted_unique(c.stored_tickets()), visible(&sim));

    for _ in 0..4 {
        sim.push_token_fault(Fault::Status {
            status: 502,
            retry_after: None,
        });
    }
    let mut c = client_credentials(&sim);
    c.env("HTTP_RETRIES", 1);
    let pass = c.run(&sim);
    assert_eq!(pass.code, 3, "{}", pass.output());
    assert_eq!(pass.summary()["error"]["kind"], "oauth_unavailable");
}

#[test]
fn serve_renews_across_many_lifetimes_and_every_pass_collects() {
    let sim = simulator();
    sim.set_token_lifetime(Some(Duration::from_secs(1)));
    sim.add_tickets(1, 5, T0 - 1000);
    let c = client_credentials(&sim);
    let started = Instant::now();
    let mut child = c
        .command("serve", sim.now())
        .args(["--every", "700ms"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = lines(child.stdout.take().unwrap());
    for _ in 0..6 {
        let line = wait_for(&out, "\"ok\"");
        assert!(line.contains("\"ok\":true"), "{line}");
    }
    sigterm(&child);
    assert!(child.wait().unwrap().success());
    let elapsed = started.elapsed();
    let requests = granted(&sim, "client_credentials");
    let bound = elapsed.as_secs_f64().ceil() as usize + 1;
    assert!(requests >= 2, "{requests}");
    assert!(
        requests <= bound,
        "{requests} in {elapsed:?} (bound {bound})"
    );
    assert_eq!(sorted_unique(c.stored_tickets()), visible(&sim));
}

// ---- refresh_token ----

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

#[test]
fn a_refresh_token_feed_rotates_the_file_on_every_pass_and_the_old_token_dies() {
    let sim = simulator();
    sim.add_tickets(1, 5, T0 - 1000);
    let feed = refresh_feed(&sim);
    let mut previous = feed.token();
    for round in 0..3 {
        if round > 0 {
            sim.add_tickets(100 + round, 1, T0 - 500);
        }
        let pass = feed.c.run(&sim);
        assert_eq!(pass.code, 0, "round {round}: {}", pass.output());
        let now = feed.token();
        assert_ne!(now, previous, "round {round}: the file was not rotated");
        assert!(sim.refresh_token_alive(&now));
        assert!(
            !sim.refresh_token_alive(&previous),
            "the old token still works"
        );
        assert!(!pass.output().contains(&now) && !pass.output().contains(&previous));
        previous = now;
    }
    assert_eq!(sorted_unique(feed.c.stored_tickets()), visible(&sim));
    assert_eq!(granted(&sim, "refresh_token"), 3);
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(feed.file()).unwrap().permissions(),
    );
    assert_eq!(mode & 0o077, 0, "{mode:o}");
}

#[test]
fn a_revoked_grant_exits_11_saying_an_admin_must_approve_again() {
    let sim = simulator();
    let feed = refresh_feed(&sim);
    sim.revoke_grants();
    let pass = feed.c.run(&sim);
    assert_eq!(pass.code, 11, "{}", pass.output());
    let error = &pass.summary()["error"];
    assert_eq!(error["kind"], "oauth_grant_gone");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("zendesk-crm oauth login"), "{message}");
    assert!(message.contains("approve"), "{message}");
}

#[test]
fn a_crash_after_zendesk_answered_a_refresh_but_before_the_rename_loses_the_grant() {
    let sim = simulator();
    sim.add_tickets(1, 5, T0 - 1000);
    let mut feed = refresh_feed(&sim);
    let before = feed.token();
    feed.c
        .env("ZENDESK_CRM_FAILPOINT", "refresh-token.answered:1");
    let crashed = feed.c.run(&sim);
    assert_ne!(crashed.code, 0, "{}", crashed.output());
    assert!(
        crashed
            .stderr
            .contains("failpoint refresh-token.answered:1")
    );
    // The file still holds the old token, which Zendesk deleted with its answer.
    assert_eq!(feed.token(), before);
    assert!(!sim.refresh_token_alive(&before));
    feed.c.unset("ZENDESK_CRM_FAILPOINT");
    let next = feed.c.run(&sim);
    assert_eq!(next.code, 11, "{}", next.output());
    assert!(feed.c.objects().is_empty());
}

#[test]
fn a_crash_just_after_the_rotated_token_is_saved_loses_nothing() {
    let sim = simulator();
    sim.add_tickets(1, 5, T0 - 1000);
    let mut feed = refresh_feed(&sim);
    let before = feed.token();
    feed.c
        .env("ZENDESK_CRM_FAILPOINT", "refresh-token.after-write:1");
    let crashed = feed.c.run(&sim);
    assert_ne!(crashed.code, 0, "{}", crashed.output());
    let saved = feed.token();
    assert_ne!(saved, before);
    assert!(sim.refresh_token_alive(&saved));
    let names: Vec<_> = std::fs::read_dir(feed.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
    feed.c.unset("ZENDESK_CRM_FAILPOINT");
    let next = feed.c.run(&sim);
    assert_eq!(next.code, 0, "{}", next.output());
    assert_eq!(sorted_unique(feed.c.stored_tickets()), visible(&sim));
}

#[test]
fn a_second_process_on_one_refresh_file_fails_at_once_with_exit_12() {
    let sim = simulator();
    sim.add_tickets(1, 5, T0 - 1000);
    let feed = refresh_feed(&sim);
    let mut first = feed
        .c
        .command("serve", sim.now())
        .args(["--every", "1h"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = lines(first.stdout.take().unwrap());
    let line = wait_for(&out, "\"ok\"");
    assert!(line.contains("\"ok\":true"), "{line}");
    let token = feed.token();
    // Another process, with its own store, on the same refresh-token file.
    let mut second = client_credentials(&sim);
    second
        .env("AUTH_MODE", "refresh_token")
        .env("ZENDESK_REFRESH_TOKEN_FILE", feed.file().display());
    let pass = second.run(&sim);
    sigterm(&first);
    assert!(first.wait().unwrap().success());
    assert_eq!(pass.code, 12, "{}", pass.output());
    assert!(
        pass.stderr
            .contains("in use by another zendesk-crm process"),
        "{}",
        pass.stderr
    );
    assert_eq!(feed.token(), token, "the second process touched the file");
    assert!(second.objects().is_empty());
}

#[test]
fn oauth_login_with_a_pasted_code_writes_the_refresh_token_file() {
    let sim = simulator();
    sim.add_tickets(1, 5, T0 - 1000);
    let client = sim.config().oauth_client.clone();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("refresh");
    let mut login = std::process::Command::new(env!("CARGO_BIN_EXE_zendesk-crm"))
        .env_clear()
        .env("ZENDESK_BASE_URL", sim.base_url())
        .env("ZENDESK_CLIENT_ID", &client.id)
        .env("ZENDESK_CLIENT_SECRET", &client.secret)
        .env("ZENDESK_REFRESH_TOKEN_FILE", &file)
        .args(["oauth", "login", "--paste"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = lines(login.stdout.take().unwrap());
    let url = wait_for(&out, "/oauth/authorizations/new?");
    assert!(url.contains("code_challenge_method=S256"), "{url}");
    assert!(
        url.contains("redirect_uri=http%3A%2F%2F127%2E0%2E0%2E1%3A8765%2Fcallback"),
        "the default redirect URI: {url}"
    );
    // The admin approves in the browser; the browser lands on the redirect URI.
    let path = url.strip_prefix(&sim.base_url()).unwrap();
    let approved = raw_http::get(&sim.base_url(), path, &[]).unwrap();
    assert_eq!(approved.status, 302);
    let landed = approved.header("location").unwrap().to_owned();
    let mut stdin = login.stdin.take().unwrap();
    writeln!(stdin, "{landed}").unwrap();
    drop(stdin);
    let status = login.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut login.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "{stderr}");
    let token = std::fs::read_to_string(&file).unwrap().trim().to_owned();
    assert!(sim.refresh_token_alive(&token));
    assert!(!stderr.contains(&token) && !stderr.contains(&client.secret));
    assert_eq!(granted(&sim, "authorization_code"), 1);

    let mut c = client_credentials(&sim);
    c.env("AUTH_MODE", "refresh_token")
        .env("ZENDESK_REFRESH_TOKEN_FILE", file.display());
    let pass = c.run(&sim);
    assert_eq!(pass.code, 0, "{}", pass.output());
    assert_eq!(sorted_unique(c.stored_tickets()), visible(&sim));
}

// ---- the older modes ----

#[test]
fn an_expired_bearer_token_says_so_and_names_client_credentials() {
    let sim = simulator();
    sim.add_tickets(1, 5, T0 - 1000);
    sim.set_token_lifetime(Some(Duration::from_secs(1)));
    let client = &sim.config().oauth_client;
    let resp = raw_http::post(
        &sim.base_url(),
        "/oauth/tokens",
        "application/x-www-form-urlencoded",
        format!(
            "grant_type=client_credentials&client_id={}&client_secret={}&scope=read",
            client.id, client.secret
        )
        .as_bytes(),
    )
    .unwrap();
    let token = resp.json().unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    std::thread::sleep(Duration::from_millis(1100));
    let mut c = Collector::new(&sim);
    c.env("AUTH_MODE", "bearer")
        .env("ZENDESK_BEARER_TOKEN", &token);
    let pass = c.run(&sim);
    assert_eq!(pass.code, 3, "{}", pass.output());
    let message = pass.tickets()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("expired or was revoked"), "{message}");
    assert!(
        message.contains("AUTH_MODE=client_credentials"),
        "{message}"
    );
    assert!(!pass.output().contains(&token));
}

#[test]
fn token_mode_warns_every_pass_and_after_2027_04_30_its_401_says_why() {
    let sim = simulator();
    sim.add_tickets(1, 5, T0 - 1000);
    let c = Collector::new(&sim);
    let pass = c.run(&sim);
    assert_eq!(pass.code, 0, "{}", pass.output());
    assert!(pass.stderr.contains("2027-04-30"), "{}", pass.stderr);
    assert!(pass.stderr.contains("AUTH_MODE=client_credentials"));

    sim.refuse_api_tokens(true);
    let after = 1_809_043_200 + 86_400;
    let pass = c.run_at(after, &[]);
    assert_eq!(pass.code, 3, "{}", pass.output());
    let message = pass.tickets()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains("Zendesk deactivated every API token on 2027-04-30"),
        "{message}"
    );
    // Before the date a 401 is just a 401: nothing is blamed on the retirement.
    let before = c.run(&sim);
    let message = before.tickets()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!message.contains("deactivated"), "{message}");
}

#[test]
fn client_id_alone_does_not_change_the_mode_and_the_error_says_what_to_set() {
    let sim = simulator();
    let mut c = client_credentials(&sim);
    c.unset("AUTH_MODE").env("ZENDESK_EMAIL", "a@example.com");
    let pass = c.run(&sim);
    assert_eq!(pass.code, 2, "{}", pass.output());
    assert!(
        pass.stderr.contains("AUTH_MODE=client_credentials"),
        "{}",
        pass.stderr
    );
}

// ---- secrets ----

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

// ---- the feeds file ----

#[test]
fn a_feeds_file_mixing_the_modes_collects_every_feed() {
    let (a, b, r) = (simulator(), simulator(), simulator());
    for sim in [&a, &b, &r] {
        sim.add_tickets(1, 4, T0 - 1000);
    }
    let dir = tempfile::tempdir().unwrap();
    let refresh = dir.path().join("r.refresh");
    approve_into(&r, &refresh);
    let secret_file = dir.path().join("b.secret");
    std::fs::write(
        &secret_file,
        format!("{}\n", b.config().oauth_client.secret),
    )
    .unwrap();
    let text = format!(
        r#"
[[feed]]
name = "apitoken"
base_url = "{}"
email = "{}"
api_token_env = "A_TOKEN"
prefix = "a/"
state_key = "a/state.json"

[[feed]]
name = "client"
base_url = "{}"
auth_mode = "client_credentials"
client_id = "{}"
client_secret_file = "{}"
prefix = "b/"
state_key = "b/state.json"

[[feed]]
name = "refresh"
base_url = "{}"
auth_mode = "refresh_token"
client_id = "{}"
client_secret_env = "R_SECRET"
refresh_token_file = "{}"
prefix = "r/"
state_key = "r/state.json"
"#,
        a.base_url(),
        a.config().email,
        b.base_url(),
        b.config().oauth_client.id,
        secret_file.display(),
        r.base_url(),
        r.config().oauth_client.id,
        refresh.display()
    );
    let feeds = dir.path().join("feeds.toml");
    std::fs::write(&feeds, &text).unwrap();
    let out = dir.path().join("out");
    let run = |feeds: &Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_zendesk-crm"))
            .env_clear()
            .env("A_TOKEN", &a.config().api_token)
            .env("R_SECRET", &r.config().oauth_client.secret)
            .env("START_TIME", "0")
            .env("RESOURCES", "incremental_tickets")
            .env("ZENDESK_CRM_CACHE_DIR", crate::harness::cache_dir())
            .env("ZENDESK_CRM_PASS_START", T0.to_string())
            .args(["run", "--feeds"])
            .arg(feeds)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap()
    };
    let done = run(&feeds);
    let stdout = String::from_utf8_lossy(&done.stdout);
    assert!(
        done.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert_eq!(stdout.matches("\"ok\":true").count(), 3, "{stdout}");
    assert_eq!(granted(&b, "client_credentials"), 1);
    assert_eq!(granted(&r, "refresh_token"), 1);

    // Two feeds on one refresh-token file: refused before anything runs.
    let shared = text.replace(
        "auth_mode = \"client_credentials\"",
        &format!(
            "auth_mode = \"refresh_token\"\nrefresh_token_file = \"{}\"",
            refresh.display()
        ),
    );
    let shared_file = dir.path().join("shared.toml");
    std::fs::write(&shared_file, shared).unwrap();
    let before = r.requests().len();
    let refused = run(&shared_file);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("shares the refresh-token file"), "{stderr}");
    assert_eq!(r.requests().len(), before, "something ran");

    // An inline secret is refused without echoing it.
    let inline = text.replace(
        "client_secret_env = \"R_SECRET\"",
        "client_secret = \"Inline-Secret-123\"",
    );
    let inline_file = dir.path().join("inline.toml");
    std::fs::write(&inline_file, inline).unwrap();
    let refused = run(&inline_file);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("client_secret_env or client_secret_file"),
        "{stderr}"
    );
    assert!(!stderr.contains("Inline-Secret-123"));
}

#[test]
fn in_serve_a_feed_whose_grant_is_gone_keeps_failing_at_its_interval_while_others_go_on() {
    let (good, gone) = (simulator(), simulator());
    good.add_tickets(1, 4, T0 - 1000);
    let dir = tempfile::tempdir().unwrap();
    let refresh = dir.path().join("gone.refresh");
    approve_into(&gone, &refresh);
    gone.revoke_grants();
    let text = format!(
        r#"
[[feed]]
name = "good"
base_url = "{}"
auth_mode = "client_credentials"
client_id = "{}"
client_secret_env = "GOOD_SECRET"
prefix = "g/"
state_key = "g/state.json"

[[feed]]
name = "gone"
base_url = "{}"
auth_mode = "refresh_token"
client_id = "{}"
client_secret_env = "GONE_SECRET"
refresh_token_file = "{}"
prefix = "r/"
state_key = "r/state.json"
"#,
        good.base_url(),
        good.config().oauth_client.id,
        gone.base_url(),
        gone.config().oauth_client.id,
        refresh.display()
    );
    let feeds = dir.path().join("feeds.toml");
    std::fs::write(&feeds, text).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_zendesk-crm"))
        .env_clear()
        .env("GOOD_SECRET", &good.config().oauth_client.secret)
        .env("GONE_SECRET", &gone.config().oauth_client.secret)
        .env("START_TIME", "0")
        .env("RESOURCES", "incremental_tickets")
        .env("ZENDESK_CRM_CACHE_DIR", crate::harness::cache_dir())
        .env("ZENDESK_CRM_PASS_START", T0.to_string())
        .args(["serve", "--every", "300ms", "--feeds"])
        .arg(&feeds)
        .arg("--out")
        .arg(dir.path().join("out"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = lines(child.stdout.take().unwrap());
    let (mut good_passes, mut gone_passes) = (0, 0);
    while good_passes < 3 || gone_passes < 3 {
        let line = wait_for(&out, "\"feed\"");
        if line.contains("\"feed\":\"good\"") {
            assert!(line.contains("\"ok\":true"), "{line}");
            good_passes += 1;
        } else {
            assert!(line.contains("oauth_grant_gone"), "{line}");
            assert!(line.contains("oauth login"), "{line}");
            gone_passes += 1;
        }
    }
    sigterm(&child);
    assert!(child.wait().unwrap().success());
    // One refused refresh per pass of the feed, at its interval: no loop.
    let refused = gone.token_requests().len();
    assert!(
        refused <= gone_passes + 2,
        "{refused} token requests in {gone_passes} passes"
    );
    assert!(
        gone.requests()
            .iter()
            .all(|r| !r.path().starts_with("/api/"))
    );
}
