//! IAM: the README's least-privilege policy suffices for every run and `--reset-state`; a
//! checkpoint the role cannot read and a bucket it may not use are named, nothing touched.

use serde_json::json;

use super::{Bucket, least_privilege_policy, unique_user};
use crate::buckets::{DEFAULT_STATE_KEY, OUTSIDE_STATE_KEY, PREFIX, assert_ok, pages};
use crate::harness::{T0, simulator, sorted_unique, tickets_in, visible};

#[test]
fn the_least_privilege_policy_suffices_for_a_first_run_and_later_runs() {
    let sim = simulator();
    sim.add_tickets(1, 30, T0 - 5000);
    let bucket = Bucket::new();
    let keys = bucket.least_privilege_user(OUTSIDE_STATE_KEY);
    // Without s3:ListBucket, AWS answers a missing key with 403 (moto with 404).
    bucket
        .proxy
        .missing_key_as_denied(&bucket.name, OUTSIDE_STATE_KEY);
    let mut c = bucket.collector(&sim, &keys);
    c.env("STATE_KEY", OUTSIDE_STATE_KEY).env("PAGE_SIZE", 10);

    let first = c.run(&sim);
    assert_ok(&first);
    assert_eq!(first.summary()["first_run"], true);
    assert!(first.stderr.contains("FIRST RUN"), "{}", first.stderr);
    assert!(first.stderr.contains("denied (403)"), "{}", first.stderr);
    assert!(
        !first.stderr.contains("STATE_KEY lies under"),
        "{}",
        first.stderr
    );
    let denied_gets = bucket
        .proxy
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.status == 403)
        .count();
    assert_eq!(denied_gets, 1);

    sim.advance(600);
    sim.add_tickets(100, 4, T0 + 100);
    let later = c.run(&sim);
    assert_ok(&later);
    assert_eq!(later.summary()["first_run"], false);
    assert_eq!(later.tickets()["records"], 4);
    assert_eq!(sorted_unique(tickets_in(&bucket.bodies())), visible(&sim));

    // --reset-state needs no DeleteObject: the old checkpoint is copied aside and replaced.
    let old = bucket.bodies()[OUTSIDE_STATE_KEY].clone();
    let reset = c.run_at(sim.now(), &["--reset-state"]);
    assert_ok(&reset);
    assert_eq!(reset.summary()["first_run"], true);
    let copy = format!("{OUTSIDE_STATE_KEY}.reset-{}", sim.now());
    assert_eq!(bucket.bodies()[&copy], old);
}

#[test]
fn a_checkpoint_the_role_cannot_read_is_reported_as_access_denied_and_left_alone() {
    let sim = simulator();
    sim.add_tickets(1, 5, T0 - 5000);
    let bucket = Bucket::new();
    let existing = br#"{"version":1,"resources":{}}"#;
    bucket.moto.put(&bucket.name, DEFAULT_STATE_KEY, existing);
    // PutObject everywhere it needs, but no GetObject on the checkpoint.
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Action": "s3:PutObject",
            "Resource": format!("arn:aws:s3:::{}/{PREFIX}*", bucket.name)
        }]
    });
    let keys = bucket.moto.create_user(&unique_user(), &policy);
    let c = bucket.collector(&sim, &keys);
    let pass = c.run(&sim);
    assert_eq!(pass.code, 6, "{}", pass.output());
    let summary = pass.summary();
    assert_eq!(summary["started"], false, "{summary}");
    assert_eq!(summary["first_run"], serde_json::Value::Null, "{summary}");
    let message = summary["error"]["message"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(
        message.contains("exists but this role cannot read it"),
        "{message}"
    );
    assert!(
        message.contains(&format!("s3://{}/{DEFAULT_STATE_KEY}", bucket.name)),
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
    let elsewhere = least_privilege_policy("some-other-bucket", PREFIX, DEFAULT_STATE_KEY);
    let keys = bucket.moto.create_user(&unique_user(), &elsewhere);
    let denied = bucket.collector(&sim, &keys).run(&sim);
    assert_eq!(denied.code, 6, "{}", denied.output());
    let message = denied.summary()["error"]["message"].to_string();
    assert!(message.contains("denied"), "{message}");
    assert!(
        message.contains(&format!("s3://{}/{DEFAULT_STATE_KEY}", bucket.name)),
        "{message}"
    );

    let admin = bucket.moto.admin().clone();
    let mut missing = bucket.collector(&sim, &admin);
    missing.env("S3_BUCKET", "no-such-bucket-here");
    let pass = missing.run(&sim);
    assert_eq!(pass.code, 6, "{}", pass.output());
    let message = pass.summary()["error"]["message"].to_string();
    assert!(
        message.contains("no-such-bucket-here does not exist"),
        "{message}"
    );
}
