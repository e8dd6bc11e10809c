//! Zendesk's OAuth token endpoint and what its tokens open.

use std::time::Duration;

use base64::Engine as _;
use sha2::Digest as _;

use super::*;
use crate::sim::Fault;

fn client(sim: &Simulator) -> (String, String) {
    let c = &sim.config().oauth_client;
    (c.id.clone(), c.secret.clone())
}

fn form(sim: &Simulator, body: &str) -> RawResponse {
    raw_http::post(
        &sim.base_url(),
        "/oauth/tokens",
        "application/x-www-form-urlencoded",
        body.as_bytes(),
    )
    .expect("token response")
}

fn json(sim: &Simulator, body: &Value) -> RawResponse {
    raw_http::post(
        &sim.base_url(),
        "/oauth/tokens",
        "application/json",
        body.to_string().as_bytes(),
    )
    .expect("token response")
}

fn client_credentials(sim: &Simulator, scope: &str) -> RawResponse {
    let (id, secret) = client(sim);
    form(
        sim,
        &format!(
            "grant_type=client_credentials&client_id={id}&client_secret={secret}&scope={}",
            raw_http::percent_encode(scope)
        ),
    )
}

fn bearer_get(sim: &Simulator, path: &str, token: &str) -> RawResponse {
    let auth = format!("Bearer {token}");
    raw_http::get(&sim.base_url(), path, &[("Authorization", &auth)]).expect("response")
}

fn token_of(resp: &RawResponse) -> Value {
    assert_eq!(resp.status, 200, "{}", resp.text().unwrap_or_default());
    resp.json().expect("JSON token answer")
}

fn error_of(resp: &RawResponse) -> String {
    resp.json().expect("JSON error")["error"]
        .as_str()
        .expect("error code")
        .to_owned()
}

#[test]
fn client_credentials_in_a_form_or_json_body_grant_a_token_that_opens_the_api() {
    let sim = sim();
    let answer = token_of(&client_credentials(&sim, "tickets:read auditlogs:read"));
    assert_eq!(answer["token_type"], "bearer");
    assert_eq!(answer["scope"], "tickets:read auditlogs:read");
    assert_eq!(answer["expires_in"], 1800);
    assert!(answer.get("refresh_token").is_none(), "{answer}");
    let token = answer["access_token"].as_str().unwrap();
    assert_eq!(bearer_get(&sim, &start(0, 10), token).status, 200);
    assert_eq!(bearer_get(&sim, AUDIT, token).status, 200);

    let (id, secret) = client(&sim);
    let answer = token_of(&json(
        &sim,
        &serde_json::json!({"grant_type": "client_credentials", "client_id": id,
            "client_secret": secret, "scope": "read"}),
    ));
    assert_eq!(answer["scope"], "read");
    let counted: Vec<_> = sim
        .token_requests()
        .into_iter()
        .map(|r| (r.grant_type, r.granted))
        .collect();
    assert_eq!(
        counted,
        [
            ("client_credentials".to_owned(), true),
            ("client_credentials".to_owned(), true)
        ]
    );
}

#[test]
fn a_token_without_the_endpoints_scope_gets_403_naming_it() {
    let sim = sim();
    let answer = token_of(&client_credentials(&sim, "tickets:read"));
    let resp = bearer_get(&sim, AUDIT, answer["access_token"].as_str().unwrap());
    assert_eq!(resp.status, 403);
    assert!(
        resp.text()
            .unwrap()
            .contains("missing the following required scopes: auditlogs:read")
    );
    // Access logs have no resource scope: only `read` opens them.
    let resp = bearer_get(
        &sim,
        "/api/v2/access_logs",
        answer["access_token"].as_str().unwrap(),
    );
    assert_eq!(resp.status, 403);
}

#[test]
fn a_token_expires_after_the_set_lifetime_with_401_invalid_token() {
    let sim = sim();
    sim.set_token_lifetime(Some(Duration::from_secs(1)));
    let answer = token_of(&client_credentials(&sim, "read"));
    assert_eq!(answer["expires_in"], 1);
    let token = answer["access_token"].as_str().unwrap().to_owned();
    assert_eq!(bearer_get(&sim, &start(0, 10), &token).status, 200);
    std::thread::sleep(Duration::from_millis(1100));
    let resp = bearer_get(&sim, &start(0, 10), &token);
    assert_eq!(resp.status, 401);
    assert_eq!(error_of(&resp), "invalid_token");
    assert_eq!(sim.invalid_token_answers(), 1);
}

#[test]
fn revoked_and_unknown_tokens_get_401_invalid_token() {
    let sim = sim();
    let token = token_of(&client_credentials(&sim, "read"))["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    sim.revoke_access_tokens();
    for t in [token.as_str(), "made-up-token"] {
        let resp = bearer_get(&sim, &start(0, 10), t);
        assert_eq!(resp.status, 401);
        assert_eq!(error_of(&resp), "invalid_token");
    }
}

#[test]
fn wrong_secrets_unknown_scopes_and_public_clients_are_refused_by_name() {
    let sim = sim();
    let (id, _) = client(&sim);
    let wrong = form(
        &sim,
        &format!("grant_type=client_credentials&client_id={id}&client_secret=nope"),
    );
    assert_eq!(
        (wrong.status, error_of(&wrong)),
        (401, "invalid_client".into())
    );
    let scope = client_credentials(&sim, "users:write");
    assert_eq!(
        (scope.status, error_of(&scope)),
        (400, "invalid_scope".into())
    );
    assert!(sim.token_requests().iter().all(|r| !r.granted));

    let public = sim_with(|c| c.oauth_client.confidential = false);
    let resp = client_credentials(&public, "read");
    assert_eq!(
        (resp.status, error_of(&resp)),
        (400, "unauthorized_client".into())
    );
}

fn pkce(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier))
}

#[test]
fn authorization_code_with_pkce_then_refresh_rotates_and_revokes_the_previous_pair() {
    let sim = sim();
    let (id, secret) = client(&sim);
    let verifier = "a-verifier-of-at-least-forty-three-characters-0123";
    let redirect = "http://127.0.0.1:8765/callback";
    let page = raw_http::get(
        &sim.base_url(),
        &format!(
            "/oauth/authorizations/new?response_type=code&client_id={id}&redirect_uri={}\
             &scope=read&state=xyz&code_challenge={}&code_challenge_method=S256",
            raw_http::percent_encode(redirect),
            pkce(verifier)
        ),
        &[],
    )
    .unwrap();
    assert_eq!(page.status, 302);
    let location = page.header("location").unwrap().to_owned();
    assert!(
        location.starts_with(&format!("{redirect}?code=")),
        "{location}"
    );
    assert!(location.ends_with("&state=xyz"), "{location}");
    let code = location
        .split("code=")
        .nth(1)
        .and_then(|c| c.split('&').next())
        .unwrap()
        .to_owned();
    let exchange = |verifier: &str| {
        json(
            &sim,
            &serde_json::json!({"grant_type": "authorization_code", "code": code,
                "client_id": id, "client_secret": secret, "redirect_uri": redirect,
                "code_verifier": verifier}),
        )
    };
    // A wrong verifier spends nothing: the code is gone either way, as Zendesk does.
    let first = token_of(&exchange(verifier));
    let again = exchange(verifier);
    assert_eq!(error_of(&again), "invalid_grant", "a code is used once");

    let old_access = first["access_token"].as_str().unwrap().to_owned();
    let old_refresh = first["refresh_token"].as_str().unwrap().to_owned();
    assert!(sim.refresh_token_alive(&old_refresh));
    let refresh = |token: &str| {
        form(
            &sim,
            &format!(
                "grant_type=refresh_token&refresh_token={token}&client_id={id}&client_secret={secret}"
            ),
        )
    };
    let second = token_of(&refresh(&old_refresh));
    let new_refresh = second["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(new_refresh, old_refresh);
    assert!(!sim.refresh_token_alive(&old_refresh));
    assert_eq!(bearer_get(&sim, &start(0, 10), &old_access).status, 401);
    let new_access = second["access_token"].as_str().unwrap();
    assert_eq!(bearer_get(&sim, &start(0, 10), new_access).status, 200);
    assert_eq!(error_of(&refresh(&old_refresh)), "invalid_grant");
    sim.revoke_grants();
    assert_eq!(error_of(&refresh(&new_refresh)), "invalid_grant");
}

#[test]
fn a_code_exchanged_with_the_wrong_verifier_is_invalid_grant() {
    let sim = sim();
    let (id, secret) = client(&sim);
    let code = sim.approve("http://127.0.0.1:1/cb", &pkce("right-verifier"), &["read"]);
    let resp = form(
        &sim,
        &format!(
            "grant_type=authorization_code&code={code}&client_id={id}&client_secret={secret}\
             &redirect_uri=http%3A%2F%2F127.0.0.1%3A1%2Fcb&code_verifier=wrong-verifier"
        ),
    );
    assert_eq!(
        (resp.status, error_of(&resp)),
        (400, "invalid_grant".into())
    );
}

#[test]
fn api_tokens_can_be_refused_as_after_2027_04_30() {
    let sim = sim();
    assert_eq!(get(&sim, &start(0, 10)).status, 200);
    sim.refuse_api_tokens(true);
    let resp = get(&sim, &start(0, 10));
    assert_eq!(resp.status, 401);
    assert!(
        resp.decoded_body()
            .map(|b| String::from_utf8_lossy(&b).contains("Couldn't authenticate you"))
            .unwrap()
    );
}

#[test]
fn a_token_fault_replaces_one_answer_and_is_counted() {
    let sim = sim();
    sim.push_token_fault(Fault::Status {
        status: 503,
        retry_after: Some(1),
    });
    assert_eq!(client_credentials(&sim, "read").status, 503);
    assert_eq!(client_credentials(&sim, "read").status, 200);
    let requests = sim.token_requests();
    assert_eq!(requests.len(), 2);
    assert!(!requests[0].granted && requests[1].granted);
}
