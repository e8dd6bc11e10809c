//! What `check` finds on the account's side: a skewed clock, a missing add-on or OAuth scope,
//! a refused OAuth client, and a refresh token rotated and saved as a pass would.

use zendesk_crm_tests::SimConfig;

use super::{check, checked, finding};
use crate::harness::{Collector, T0, simulator, simulator_with};

#[test]
fn a_clock_far_from_zendesks_date_is_a_warning_naming_both() {
    let sim = simulator_with(SimConfig {
        date_header: true,
        ..SimConfig::default()
    });
    let c = Collector::new(&sim);
    let skewed = checked(c.command("check", T0 + 600).arg("--json").output().unwrap());
    assert_eq!(
        skewed.code,
        0,
        "a skew is not a problem: {}",
        skewed.output()
    );
    let clock = finding(&skewed.report()["feeds"][0], "clock", None).clone();
    assert_eq!(clock["status"], "warning", "{clock}");
    assert!(
        clock["message"]
            .as_str()
            .unwrap()
            .contains("10m ahead of Zendesk's"),
        "{clock}"
    );
    assert!(clock["fix"].as_str().unwrap().contains("NTP"));

    let fine = checked(c.command("check", T0 + 5).arg("--json").output().unwrap());
    assert_eq!(
        finding(&fine.report()["feeds"][0], "clock", None)["status"],
        "ok"
    );
}

#[test]
fn missing_access_log_add_on_and_oauth_scope_are_named_with_their_fix() {
    let sim = simulator();
    sim.set_access_logs_enabled(false);
    let mut c = crate::oauth::client_credentials(&sim);
    // A client whose token may read tickets only.
    c.env("RESOURCES", "incremental_tickets,audit_logs,access_logs")
        .env("ZENDESK_OAUTH_SCOPES", "tickets:read");
    let checked = check(&c, &["--json"]);
    assert_eq!(checked.code, 13, "{}", checked.output());
    let report = checked.report();
    let feed = &report["feeds"][0];
    assert_eq!(finding(feed, "credentials", None)["status"], "ok");
    assert_eq!(
        finding(feed, "resource", Some("incremental_tickets"))["status"],
        "ok"
    );
    let audit = finding(feed, "resource", Some("audit_logs"));
    assert!(
        audit["message"].as_str().unwrap().contains("missing"),
        "{audit}"
    );
    assert!(
        audit["fix"].as_str().unwrap().contains("auditlogs:read"),
        "{audit}"
    );
    let access = finding(feed, "resource", Some("access_logs"));
    assert_eq!(access["status"], "problem");
    assert!(
        access["fix"]
            .as_str()
            .unwrap()
            .contains("Advanced Data Privacy"),
        "{access}"
    );
    let secret = &sim.config().oauth_client.secret;
    assert!(
        !checked.output().contains(secret.as_str()),
        "the client secret leaked"
    );
}

#[test]
fn a_refused_oauth_client_leaves_every_request_not_checked() {
    let sim = simulator();
    let mut c = crate::oauth::client_credentials(&sim);
    c.env("ZENDESK_CLIENT_SECRET", "not-the-secret");
    let checked = check(&c, &["--json"]);
    assert_eq!(checked.code, 13, "{}", checked.output());
    let report = checked.report();
    let feed = &report["feeds"][0];
    let credentials = finding(feed, "credentials", None);
    assert_eq!(credentials["status"], "problem");
    assert!(
        credentials["message"]
            .as_str()
            .unwrap()
            .contains("refused the OAuth client")
    );
    let tickets = finding(feed, "resource", Some("incremental_tickets"));
    assert_eq!(tickets["status"], "not_checked");
    assert!(
        tickets["message"]
            .as_str()
            .unwrap()
            .contains("no access token")
    );
    // The store is checked all the same.
    assert_eq!(finding(feed, "checkpoint", None)["status"], "ok");
    assert!(!checked.output().contains("not-the-secret"));
}

#[test]
fn check_in_refresh_token_mode_rotates_and_saves_the_refresh_token_like_a_pass() {
    let sim = simulator();
    let feed = crate::oauth::refresh_feed(&sim);
    let before = feed.token();
    let checked = check(&feed.c, &[]);
    assert_eq!(checked.code, 0, "{}", checked.output());
    let after = feed.token();
    assert_ne!(after, before, "the rotated refresh token was not saved");
    assert!(sim.refresh_token_alive(&after));
    assert!(!sim.refresh_token_alive(&before));
    assert!(!checked.output().contains(&after) && !checked.output().contains(&before));
}
