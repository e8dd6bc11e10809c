//! `client_credentials`: the host renews the access token on demand across long passes and
//! `serve`, asks for the least scopes, retries token requests, and names every refusal.

use std::process::Stdio;
use std::time::{Duration, Instant};

use zendesk_crm_tests::{Fault, SimConfig};

use super::{client_credentials, granted};
use crate::harness::{
    T0, simulator, simulator_with, sorted_unique, stored_access_events, stored_audit_events,
    visible,
};
use crate::schedule::{lines, sigterm, wait_for};

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
