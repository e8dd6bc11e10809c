//! Cloud IAM: the README's least-privilege grant suffices for every run and `--reset-state`;
//! without delete, without get, or without the bucket the missing permission is named; and
//! `check` proves the grant without writing.

use serde_json::Value;
use zendesk_crm_tests::gcs::Permissions;

use super::{Bucket, CREATE, STATE, error_message};
use crate::buckets::{DEFAULT_STATE_KEY, OUTSIDE_STATE_KEY, PREFIX, assert_ok, pages};
use crate::harness::{Collector, T0, simulator, sorted_unique, tickets_in, visible};

#[test]
fn the_least_privilege_grant_suffices_for_first_and_later_runs_and_reset_state() {
    let sim = simulator();
    sim.add_tickets(1, 30, T0 - 5000);
    let bucket = Bucket::new();
    bucket.least_privilege(OUTSIDE_STATE_KEY);
    let mut c = bucket.collector(&sim);
    c.env("STATE_KEY", OUTSIDE_STATE_KEY).env("PAGE_SIZE", 10);
    let first = c.run(&sim);
    assert_ok(&first);
    assert_eq!(first.summary()["first_run"], true);
    assert!(first.stderr.contains("FIRST RUN"), "{}", first.stderr);

    sim.advance(600);
    sim.add_tickets(100, 4, T0 + 100);
    let later = c.run(&sim);
    assert_ok(&later);
    assert_eq!(later.summary()["first_run"], false);
    assert_eq!(later.tickets()["records"], 4);
    assert_eq!(sorted_unique(tickets_in(&bucket.bodies())), visible(&sim));

    // --reset-state with the same grant: the checkpoint is copied aside and replaced.
    let old = bucket.bodies()[OUTSIDE_STATE_KEY].clone();
    let reset = c.run_at(sim.now(), &["--reset-state"]);
    assert_ok(&reset);
    assert_eq!(reset.summary()["first_run"], true);
    let copy = format!("{OUTSIDE_STATE_KEY}.reset-{}", sim.now());
    assert_eq!(bucket.bodies()[&copy], old);
    assert!(
        !bucket.proxy.requests().iter().any(|r| r.status == 403),
        "{:#?}",
        bucket.proxy.requests()
    );
}

#[test]
fn without_delete_on_the_state_key_the_second_save_names_the_missing_permission() {
    let sim = simulator();
    sim.add_tickets(1, 25, T0 - 5000);
    let bucket = Bucket::new();
    bucket.proxy.grant_only(&[
        (PREFIX, CREATE),
        (
            OUTSIDE_STATE_KEY,
            Permissions {
                get: true,
                create: true,
                delete: false,
            },
        ),
    ]);
    let mut c = bucket.collector(&sim);
    c.env("STATE_KEY", OUTSIDE_STATE_KEY).env("PAGE_SIZE", 10);
    // The first save creates the checkpoint, which needs no delete; the next replaces it,
    // and the resource fails there (exit 3) with its pages stored.
    let pass = c.run(&sim);
    assert_eq!(pass.code, 3, "{}", pass.output());
    let message = pass.tickets()["error"]["message"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(message.contains("storage.objects.delete"), "{message}");
    assert!(
        message.contains("counts an overwrite as a delete"),
        "{message}"
    );
    assert!(
        message.contains(&format!("gs://{}/{OUTSIDE_STATE_KEY}", bucket.name)),
        "{message}"
    );
    // Nothing lost and nothing twice once the grant is fixed.
    bucket.least_privilege(OUTSIDE_STATE_KEY);
    let fixed = c.run(&sim);
    assert_ok(&fixed);
    assert_eq!(sorted_unique(tickets_in(&bucket.bodies())), visible(&sim));
}

#[test]
fn a_checkpoint_the_account_cannot_read_is_reported_as_access_denied_and_left_alone() {
    let sim = simulator();
    sim.add_tickets(1, 5, T0 - 5000);
    let bucket = Bucket::new();
    let existing = br#"{"version":1,"resources":{}}"#;
    bucket
        .emulator
        .put(&bucket.name, DEFAULT_STATE_KEY, existing);
    // Create everywhere under the prefix, but no get on the checkpoint.
    bucket.proxy.grant_only(&[(PREFIX, CREATE)]);
    let pass = bucket.collector(&sim).run(&sim);
    assert_eq!(pass.code, 6, "{}", pass.output());
    let message = error_message(&pass);
    assert!(
        message.contains("exists but this account cannot read it"),
        "{message}"
    );
    assert_eq!(bucket.bodies()[DEFAULT_STATE_KEY], existing.to_vec());
    assert_eq!(pages(&bucket.bodies()).len(), 0, "nothing collected");
}

#[test]
fn a_denied_bucket_and_a_missing_bucket_are_named() {
    let sim = simulator();
    sim.add_tickets(1, 5, T0 - 5000);
    let bucket = Bucket::new();
    bucket.proxy.grant_only(&[]);
    let denied = bucket.collector(&sim).run(&sim);
    assert_eq!(denied.code, 6, "{}", denied.output());
    let message = error_message(&denied);
    assert!(message.contains("denied (403)"), "{message}");
    assert!(message.contains("storage.objects.create"), "{message}");

    let other = Bucket::new();
    let mut missing = other.collector(&sim);
    missing.env("GCS_BUCKET", "no-such-bucket-here");
    let pass = missing.run(&sim);
    assert_eq!(pass.code, 6, "{}", pass.output());
    let message = error_message(&pass);
    assert!(
        message.contains("the bucket no-such-bucket-here does not exist"),
        "{message}"
    );
}

#[test]
fn check_proves_the_least_privilege_grant_and_names_a_missing_bucket_writing_nothing() {
    let sim = simulator();
    let bucket = Bucket::new();
    bucket.least_privilege(DEFAULT_STATE_KEY);
    let c = bucket.collector(&sim);
    let output = c.command("check", T0).arg("--json").output().unwrap();
    let report: Value = serde_json::from_slice(&output.stdout).expect("a JSON report");
    let findings = report["feeds"][0]["findings"].as_array().unwrap().clone();
    let status = |check: &str| {
        findings
            .iter()
            .find(|f| f["check"] == check)
            .map(|f| f["status"].clone())
            .unwrap_or_else(|| panic!("no {check} in {findings:#?}"))
    };
    for store in ["store", "objects", "checkpoint_write", "checkpoint"] {
        assert_eq!(status(store), "ok", "{store}: {findings:#?}");
    }
    assert!(bucket.objects().is_empty(), "{:?}", bucket.objects().keys());

    // Without create on the prefix, the objects probe names the permission.
    bucket.proxy.grant_only(&[(DEFAULT_STATE_KEY, STATE)]);
    let denied = c.command("check", T0).arg("--json").output().unwrap();
    let report: Value = serde_json::from_slice(&denied.stdout).unwrap();
    let objects = report["feeds"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "objects")
        .cloned()
        .unwrap();
    assert_eq!(objects["status"], "problem", "{objects}");
    assert!(
        objects["message"]
            .as_str()
            .unwrap()
            .contains("storage.objects.create"),
        "{objects}"
    );

    let mut missing = Collector::new(&sim);
    bucket.attach(&mut missing);
    missing.env("GCS_BUCKET", "no-such-gcs-bucket");
    let output = missing.command("check", T0).arg("--json").output().unwrap();
    assert_eq!(output.status.code(), Some(13));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let store = &report["feeds"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "store")
        .cloned()
        .unwrap();
    assert_eq!(store["status"], "problem", "{store}");
    assert!(
        store["message"]
            .as_str()
            .unwrap()
            .contains("no-such-gcs-bucket does not exist"),
        "{store}"
    );
}
