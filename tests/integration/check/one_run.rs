//! One `check` finds every problem at once: four feeds each with its own, a configuration
//! with several, and an unreachable Zendesk said once, with what needed it not checked.

use serde_json::{Value, json};

use super::{check, checked, finding};
use crate::harness::{Collector, T0, files_under, simulator};
use crate::s3::Bucket;

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
