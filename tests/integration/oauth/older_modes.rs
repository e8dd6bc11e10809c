//! The older modes: an expired `bearer` token, the retiring API token, and a client ID alone.

use std::time::Duration;

use zendesk_crm_tests::raw_http;

use super::client_credentials;
use crate::harness::{Collector, T0, simulator};

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
