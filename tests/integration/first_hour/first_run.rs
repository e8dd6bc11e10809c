//! What counts as a first run and what it fixes: a refused pass is neither first nor resumed,
//! another account's checkpoint is refused, an older one adopted, and `START_TIME` holds only
//! once Zendesk answered.

use serde_json::Value;

use crate::harness::{Collector, T0, simulator, sorted_unique, visible};

#[test]
fn a_refused_pass_is_not_reported_as_a_first_run_nor_as_a_resumed_one() {
    let sim = simulator();
    sim.add_tickets(1, 3, T0 - 1000);
    let c = Collector::new(&sim);
    let first = c.run(&sim);
    assert_eq!(first.code, 0, "{}", first.output());
    assert_eq!(first.summary()["started"], true);
    assert_eq!(first.summary()["first_run"], true);
    let next = c.run(&sim);
    assert_eq!(
        (&next.summary()["started"], &next.summary()["first_run"]),
        (&Value::Bool(true), &Value::Bool(false))
    );

    std::fs::write(
        c.state_path(),
        b"{\"format\": \"zendesk-crm-checkpoint\", \"ver",
    )
    .unwrap();
    let refused = c.run(&sim);
    assert_eq!(refused.code, 4, "{}", refused.output());
    let summary = refused.summary();
    assert_eq!(summary["started"], false, "{summary}");
    assert_eq!(summary["first_run"], Value::Null, "{summary}");
    assert_eq!(summary["error"]["kind"], "corrupt_checkpoint");
}

#[test]
fn a_checkpoint_of_another_account_is_refused_and_adopted_only_on_purpose() {
    let sim = simulator();
    sim.add_tickets(1, 20, T0 - 1000);
    let mut c = Collector::new(&sim);
    c.env("PAGE_SIZE", 10);
    let first = c.run(&sim);
    assert_eq!(first.code, 0, "{}", first.output());
    let made_for = sim.base_url();
    assert_eq!(c.checkpoint()["origin"], made_for.as_str());
    assert_eq!(c.checkpoint()["version"], 3);
    let before = std::fs::read(c.state_path()).unwrap();

    // The same directory, another account: refused with the checkpoint exit code, untouched.
    let other = simulator();
    let refused = c.run_at(other.now(), &["--base-url", &other.base_url()]);
    assert_eq!(refused.code, 4, "{}", refused.output());
    let error = &refused.summary()["error"];
    assert_eq!(error["kind"], "foreign_checkpoint", "{error}");
    let message = error["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!(
            "made for {made_for}, not for {}",
            other.base_url()
        )),
        "{message}"
    );
    assert!(
        message.contains("set \"origin\" in the checkpoint"),
        "{message}"
    );
    assert!(message.contains("--reset-state"), "{message}");
    assert_eq!(std::fs::read(c.state_path()).unwrap(), before);

    // The same account at a new address: adopted by setting the origin, as documented.
    let renamed = made_for.replace("127.0.0.1", "localhost");
    let mut doc = c.checkpoint();
    doc["origin"] = Value::from(renamed.clone());
    std::fs::write(c.state_path(), serde_json::to_vec(&doc).unwrap()).unwrap();
    sim.add_tickets(21, 5, T0 - 500);
    let adopted = c.run_at(sim.now(), &["--base-url", &renamed]);
    assert_eq!(adopted.code, 0, "{}", adopted.output());
    assert_eq!(sorted_unique(c.stored_tickets()), visible(&sim));
}

#[test]
fn a_checkpoint_of_an_older_version_is_adopted_with_a_warning() {
    let sim = simulator();
    sim.add_tickets(1, 10, T0 - 1000);
    let c = Collector::new(&sim);
    assert_eq!(c.run(&sim).code, 0);
    // As version 2 wrote it: no origin.
    let mut doc = c.checkpoint();
    doc.as_object_mut().unwrap().remove("origin");
    doc["version"] = Value::from(2);
    std::fs::write(c.state_path(), serde_json::to_vec(&doc).unwrap()).unwrap();
    sim.add_tickets(11, 5, T0 - 500);
    let pass = c.run(&sim);
    assert_eq!(pass.code, 0, "{}", pass.output());
    assert!(
        pass.stderr.contains("the checkpoint names no account"),
        "{}",
        pass.stderr
    );
    assert_eq!(c.checkpoint()["origin"], sim.base_url().as_str());
    assert_eq!(c.checkpoint()["version"], 3);
    assert_eq!(sorted_unique(c.stored_tickets()), visible(&sim));
}

#[test]
fn a_first_run_zendesk_never_answered_does_not_fix_where_collection_starts() {
    let sim = simulator();
    sim.add_tickets(1, 20, T0 - 5000);
    let mut c = Collector::new(&sim);
    c.env("HTTP_RETRIES", 0).env("START_TIME", T0 - 1000);
    // The first request dies on the wire: Zendesk never answered.
    sim.push_fault(zendesk_crm_tests::Fault::Reset);
    let failed = c.run(&sim);
    assert_eq!(failed.code, 3, "{}", failed.output());
    assert_eq!(
        c.checkpoint()["unconfirmed"],
        serde_json::json!(["incremental_tickets"]),
        "{}",
        failed.output()
    );

    // A later first run with another START_TIME takes it: all history, nothing skipped.
    c.env("START_TIME", 0);
    let pass = c.run(&sim);
    assert_eq!(pass.code, 0, "{}", pass.output());
    let tickets = pass.tickets();
    assert_eq!(tickets["first_run"], true, "{tickets}");
    assert_eq!(tickets["started_at"], 0, "{tickets}");
    assert_eq!(sorted_unique(c.stored_tickets()), visible(&sim));
    assert!(c.checkpoint().get("unconfirmed").is_none());
}

#[test]
fn once_zendesk_answered_a_new_start_time_is_reported_not_used_and_nothing_is_skipped() {
    let sim = simulator();
    sim.add_tickets(1, 30, T0 - 5000);
    let mut c = Collector::new(&sim);
    c.env("PAGE_SIZE", 10)
        .env("START_TIME", T0 - 6000)
        // Zendesk answers the first page; the pass dies before storing it.
        .env("ZENDESK_CRM_FAILPOINT", "object.before-write:1");
    let killed = c.run(&sim);
    assert_ne!(killed.code, 0, "{}", killed.output());
    assert!(
        c.checkpoint().get("unconfirmed").is_none(),
        "the answer was saved"
    );

    // A later START_TIME would skip the first tickets: reported, not used.
    c.unset("ZENDESK_CRM_FAILPOINT").env("START_TIME", T0 - 100);
    let pass = c.run(&sim);
    assert_eq!(pass.code, 0, "{}", pass.output());
    let tickets = pass.tickets();
    assert_eq!(tickets["first_run"], false, "{tickets}");
    assert_eq!(tickets["requested_start"], T0 - 100, "{tickets}");
    assert!(
        pass.stderr
            .contains("START_TIME differs from where this checkpoint started")
            && pass.stderr.contains("--reset-state"),
        "{}",
        pass.stderr
    );
    assert_eq!(sorted_unique(c.stored_tickets()), visible(&sim));
}
