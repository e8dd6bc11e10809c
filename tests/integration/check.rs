//! `zendesk-crm check`: every problem a pass would meet, found in one run with its fix,
//! without storing a page or moving a checkpoint.

use std::process::Output;

use serde_json::{Value, json};
use zendesk_crm_tests::SimConfig;

use crate::harness::{Collector, T0, files_under, simulator, simulator_with};
use crate::s3::{Bucket, least_privilege_policy, unique_user};

/// What a `check` printed and how it exited.
struct Checked {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Checked {
    fn report(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("no JSON report ({e}):\n{}\n{}", self.stdout, self.stderr))
    }

    fn output(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

fn checked(output: Output) -> Checked {
    Checked {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn check(c: &Collector, args: &[&str]) -> Checked {
    checked(
        c.command("check", T0)
            .args(args)
            .output()
            .expect("zendesk-crm check"),
    )
}

/// The finding `check` (and `resource`, for resource findings) of `feed`.
fn finding<'a>(feed: &'a Value, check: &str, resource: Option<&str>) -> &'a Value {
    feed["findings"]
        .as_array()
        .and_then(|all| {
            all.iter()
                .find(|f| f["check"] == check && resource.is_none_or(|r| f["resource"] == r))
        })
        .unwrap_or_else(|| panic!("no {check} {resource:?} finding in {feed:#}"))
}

fn feed<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["feeds"]
        .as_array()
        .and_then(|all| all.iter().find(|f| f["feed"] == name))
        .unwrap_or_else(|| panic!("no feed {name} in {report:#}"))
}

/// A checkpoint another account's pass left.
fn foreign_checkpoint() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "format": "zendesk-crm-checkpoint",
        "version": 3,
        "origin": "https://other.zendesk.com",
        "resources": {"audit_logs": {"high_water": T0 - 100, "ids_at_mark": []}}
    }))
    .unwrap()
}

#[test]
fn one_check_finds_a_wrong_token_a_missing_plan_a_missing_bucket_and_another_accounts_checkpoint() {
    let sim = simulator();
    let no_audit = simulator();
    no_audit.set_audit_logs_enabled(false);
    let bucket = Bucket::new();
    let dir = tempfile::tempdir().unwrap();
    let theirs = dir.path().join("theirs");
    std::fs::create_dir_all(theirs.join("zendesk/crm")).unwrap();
    std::fs::write(theirs.join("zendesk/crm/state.json"), foreign_checkpoint()).unwrap();
    let feeds = dir.path().join("feeds.toml");
    std::fs::write(
        &feeds,
        format!(
            r#"
[[feed]]
name = "wrong-token"
base_url = "{sim}"
api_token_env = "WRONG_TOKEN"
out = "{wrong_out}"

[[feed]]
name = "no-enterprise"
base_url = "{no_audit}"
api_token_env = "GOOD_TOKEN"
resources = ["audit_logs", "incremental_tickets"]
out = "{theirs}"

[[feed]]
name = "no-bucket"
base_url = "{sim}"
api_token_env = "GOOD_TOKEN"
s3_bucket = "no-such-bucket-for-check"
"#,
            sim = sim.base_url(),
            no_audit = no_audit.base_url(),
            wrong_out = dir.path().join("wrong").display(),
            theirs = theirs.display(),
        ),
    )
    .unwrap();
    let mut c = Collector::new(&sim);
    bucket.attach(&mut c, &bucket.moto.admin().clone());
    c.unset("S3_BUCKET")
        .unset("ZENDESK_API_TOKEN")
        .env("WRONG_TOKEN", "not-the-token")
        .env("GOOD_TOKEN", &sim.config().api_token)
        .env("FEEDS_FILE", feeds.display());
    let before = files_under(dir.path());

    let json = check(&c, &["--json"]);
    assert_eq!(json.code, 13, "{}", json.output());
    let report = json.report();
    assert_eq!(report["ok"], false);

    let wrong = feed(&report, "wrong-token");
    let credentials = finding(wrong, "credentials", None);
    assert_eq!(credentials["status"], "problem", "{wrong:#}");
    assert!(
        credentials["message"]
            .as_str()
            .unwrap()
            .contains("refused the e-mail and API token (401"),
        "{credentials}"
    );
    assert!(
        credentials["fix"]
            .as_str()
            .unwrap()
            .contains("ZENDESK_API_TOKEN")
    );
    let tickets = finding(wrong, "resource", Some("incremental_tickets"));
    assert_eq!(tickets["status"], "not_checked");
    assert!(
        tickets["message"]
            .as_str()
            .unwrap()
            .contains("refused the credentials")
    );

    let no_plan = feed(&report, "no-enterprise");
    let audit = finding(no_plan, "resource", Some("audit_logs"));
    assert_eq!(audit["status"], "problem", "{no_plan:#}");
    assert!(
        audit["message"].as_str().unwrap().contains("403"),
        "{audit}"
    );
    assert!(
        audit["fix"].as_str().unwrap().contains("Enterprise"),
        "{audit}"
    );
    assert_eq!(
        finding(no_plan, "resource", Some("incremental_tickets"))["status"],
        "ok"
    );
    let checkpoint = finding(no_plan, "checkpoint", None);
    assert_eq!(checkpoint["status"], "problem");
    let message = checkpoint["message"].as_str().unwrap();
    assert!(
        message.contains("https://other.zendesk.com") && message.contains(&no_audit.base_url()),
        "{message}"
    );

    let no_bucket = feed(&report, "no-bucket");
    let store = finding(no_bucket, "store", None);
    assert_eq!(store["status"], "problem", "{no_bucket:#}");
    assert!(
        store["message"]
            .as_str()
            .unwrap()
            .contains("no-such-bucket-for-check does not exist"),
        "{store}"
    );
    for dependent in ["objects", "checkpoint_write", "checkpoint"] {
        assert_eq!(finding(no_bucket, dependent, None)["status"], "not_checked");
    }

    // The text says the same, a fix under each problem, and the count.
    let text = check(&c, &[]);
    assert_eq!(text.code, 13);
    for said in [
        "PROBLEM  credentials",
        "PROBLEM  resource audit_logs",
        "PROBLEM  checkpoint",
        "PROBLEM  store",
        "fix: ",
        "4 problems",
    ] {
        assert!(
            text.stdout.contains(said),
            "{said:?} missing:\n{}",
            text.stdout
        );
    }
    // Nothing was stored or moved, nor a directory created; the bucket holds nothing.
    assert_eq!(files_under(dir.path()), before);
    assert!(!dir.path().join("wrong").exists());
    assert!(bucket.objects().is_empty());
    for output in [json.output(), text.output()] {
        assert!(
            !output.contains(&sim.config().api_token),
            "the token leaked"
        );
        assert!(!output.contains("not-the-token"), "the wrong token leaked");
    }
}

#[test]
fn check_after_a_pass_says_where_each_resource_stands_and_changes_nothing() {
    let sim = simulator();
    sim.add_tickets(1, 5, T0 - 5000);
    sim.add_audit_events(1, 5, T0 - 5000);
    let mut c = Collector::new(&sim);
    c.env("RESOURCES", "audit_logs,incremental_tickets,access_logs")
        .env("START_TIME", T0 - 6000);
    assert_eq!(c.run(&sim).code, 0);
    let before = files_under(c.out.path());

    let checked = check(&c, &["--json"]);
    assert_eq!(checked.code, 0, "{}", checked.output());
    let report = checked.report();
    let feed = &report["feeds"][0];
    let view = &feed["checkpoint"];
    assert_eq!(view["exists"], true);
    assert_eq!(view["origin"], sim.base_url());
    let position = |name: &str| {
        view["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(position("incremental_tickets")["has_cursor"], true);
    assert_eq!(position("incremental_tickets")["start"], T0 - 6000);
    assert!(position("audit_logs")["reached"].as_i64().unwrap() >= T0 - 5000);
    assert_eq!(position("access_logs")["started"], true);
    let said = finding(feed, "checkpoint", None)["message"]
        .as_str()
        .unwrap();
    assert!(
        said.contains("incremental_tickets resumes from a saved cursor"),
        "{said}"
    );
    // API tokens work today, and end on 2027-04-30: a warning, not a problem.
    let credentials = finding(feed, "credentials", None);
    assert_eq!(credentials["status"], "warning");
    assert!(
        credentials["message"]
            .as_str()
            .unwrap()
            .contains("2027-04-30")
    );
    assert_eq!(files_under(c.out.path()), before, "check changed the store");
}

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

#[test]
fn a_role_that_may_not_write_is_named_with_the_permission_to_grant() {
    let sim = simulator();
    let bucket = Bucket::new();
    // Reads the checkpoint, writes nothing.
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": format!("arn:aws:s3:::{}/*", bucket.name)
        }]
    });
    let keys = bucket.moto.create_user(&unique_user(), &policy);
    let mut c = Collector::new(&sim);
    bucket.attach(&mut c, &keys);
    let checked = check(&c, &["--json"]);
    assert_eq!(checked.code, 13, "{}", checked.output());
    let report = checked.report();
    let feed = &report["feeds"][0];
    for write in ["objects", "checkpoint_write"] {
        let f = finding(feed, write, None);
        assert_eq!(f["status"], "problem", "{f}");
        assert!(
            f["message"].as_str().unwrap().contains("s3:PutObject"),
            "{f}"
        );
    }
    assert_eq!(finding(feed, "store", None)["status"], "ok");

    // The least-privilege role passes every store check, and nothing is left in the bucket.
    let keys = bucket.moto.create_user(
        &unique_user(),
        &least_privilege_policy(&bucket.name, "zendesk/crm/", "zendesk/crm/state.json"),
    );
    bucket.attach(&mut c, &keys);
    let fine = check(&c, &["--json"]);
    let report = fine.report();
    let feed = &report["feeds"][0];
    for store in ["store", "objects", "checkpoint_write", "checkpoint"] {
        assert_eq!(finding(feed, store, None)["status"], "ok", "{feed:#}");
    }
    assert!(bucket.objects().is_empty(), "{:?}", bucket.objects().keys());
}

#[test]
fn an_unreadable_configuration_is_every_problem_at_once_and_exit_2() {
    let sim = simulator();
    let mut c = Collector::new(&sim);
    c.unset("ZENDESK_API_TOKEN").unset("ZENDESK_EMAIL");
    let checked = checked(
        c.command("check", T0)
            .env("ZENDESK_BASE_URL", "acme.zendesk.com")
            .arg("--json")
            .output()
            .unwrap(),
    );
    assert_eq!(checked.code, 2, "{}", checked.output());
    let report = checked.report();
    let feed = &report["feeds"][0];
    let config = finding(feed, "configuration", None);
    assert_eq!(config["status"], "problem");
    assert!(
        config["message"].as_str().unwrap().contains("problems"),
        "{config}"
    );
    assert_eq!(finding(feed, "credentials", None)["status"], "not_checked");
}

#[test]
fn an_unreachable_zendesk_is_said_once_and_what_needed_it_is_not_checked() {
    let sim = simulator();
    let c = Collector::new(&sim);
    let checked = checked(
        c.command("check", T0)
            .env("ZENDESK_BASE_URL", "http://127.0.0.1:1")
            .arg("--json")
            .output()
            .unwrap(),
    );
    assert_eq!(checked.code, 13, "{}", checked.output());
    let report = checked.report();
    let feed = &report["feeds"][0];
    let connection = finding(feed, "connection", None);
    assert!(
        connection["message"]
            .as_str()
            .unwrap()
            .contains("cannot connect to 127.0.0.1"),
        "{connection}"
    );
    for dependent in ["credentials", "resource", "clock"] {
        assert_eq!(finding(feed, dependent, None)["status"], "not_checked");
    }
    assert_eq!(finding(feed, "checkpoint", None)["status"], "ok");
}
