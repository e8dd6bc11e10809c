//! What `check` finds on the store's side: where each resource's checkpoint stands after a
//! pass, with nothing changed, and an S3 role that may not write, named with the grant.

use serde_json::json;

use super::{check, finding};
use crate::harness::{Collector, T0, files_under, simulator};
use crate::s3::{Bucket, least_privilege_policy, unique_user};

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
