//! Bad input gets a clear error naming the cause: never a silent reset, never a panic, never
//! an object made of something that is not a page.

use std::fs::File;

use crate::harness::{Collector, T0, simulator, simulator_with, sorted_unique, visible};
use zendesk_crm_tests::{Fault, SimConfig};

#[test]
fn wrong_credentials_fail_with_a_clear_error() {
    let sim = simulator();
    sim.add_tickets(1, 3, T0 - 1000);
    let mut c = Collector::new(&sim);
    c.env("ZENDESK_API_TOKEN", "not-the-token");
    let pass = c.run(&sim);
    assert_eq!(pass.code, 3, "{}", pass.output());
    let error = &pass.tickets()["error"];
    assert_eq!(error["kind"], "unauthorized");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("Couldn't authenticate you")
    );
    assert!(c.objects().is_empty());
}

#[test]
fn bearer_tokens_work() {
    let sim = simulator();
    sim.add_tickets(1, 3, T0 - 1000);
    let mut c = Collector::new(&sim);
    c.unset("ZENDESK_API_TOKEN")
        .unset("ZENDESK_EMAIL")
        .env("AUTH_MODE", "bearer")
        .env("ZENDESK_BEARER_TOKEN", sim.config().bearer_token.clone());
    let pass = c.run(&sim);
    assert_eq!(pass.code, 0, "{}", pass.output());
    assert_eq!(pass.tickets()["records"], 3);
}

#[test]
fn missing_credentials_are_a_configuration_error() {
    let sim = simulator();
    let mut c = Collector::new(&sim);
    c.unset("ZENDESK_API_TOKEN");
    let pass = c.run(&sim);
    assert_eq!(pass.code, 2, "{}", pass.output());
    assert!(pass.stderr.contains("ZENDESK_API_TOKEN"), "{}", pass.stderr);
    assert!(sim.requests().is_empty());
}

#[test]
fn html_page_with_status_200_is_an_error_never_an_object() {
    for fault in [Fault::Html, Fault::NotJson] {
        let sim = simulator();
        sim.add_tickets(1, 3, T0 - 1000);
        sim.push_fault(fault.clone());
        let c = Collector::new(&sim);
        let pass = c.run(&sim);
        assert_eq!(pass.code, 3, "{fault:?}: {}", pass.output());
        assert_eq!(
            pass.tickets()["error"]["kind"],
            "invalid_response",
            "{fault:?}"
        );
        assert!(c.objects().is_empty(), "{fault:?} became an object");
        // The first run's start is saved; no cursor, so the next pass asks the same question.
        let entry = &c.checkpoint()["resources"]["incremental_tickets"];
        assert_eq!(entry["start_time"], 0);
        assert!(entry.get("cursor").is_none());
        assert_eq!(c.run(&sim).code, 0);
        assert_eq!(sorted_unique(c.stored_tickets()), visible(&sim));
    }
}

#[test]
fn next_url_on_another_origin_is_never_followed() {
    let elsewhere = simulator();
    let sim = simulator();
    sim.add_tickets(1, 30, T0 - 1000);
    sim.set_after_url_origin(Some(elsewhere.base_url()));
    let mut c = Collector::new(&sim);
    c.env("PAGE_SIZE", 10);
    let pass = c.run(&sim);
    assert_eq!(pass.code, 0, "{}", pass.output());
    assert!(
        elsewhere.requests().is_empty(),
        "a request left the configured origin"
    );
    assert_eq!(sorted_unique(c.stored_tickets()), visible(&sim));
}

#[test]
fn too_recent_start_time_is_reported_as_such() {
    let sim = simulator_with(SimConfig {
        too_recent_status: 400,
        ..SimConfig::default()
    });
    let mut c = Collector::new(&sim);
    c.unset("START_TIME").env("LOOKBACK_SECONDS", 0);
    // The host's clock runs ten minutes ahead of Zendesk's.
    let pass = c.run_at(sim.now() + 600, &[]);
    assert_eq!(pass.code, 3, "{}", pass.output());
    assert_eq!(pass.tickets()["error"]["kind"], "start_time_rejected");
}

#[test]
fn corrupt_checkpoint_stops_the_pass_and_is_left_as_it_is() {
    let sim = simulator();
    let c = Collector::new(&sim);
    std::fs::create_dir_all(c.state_path().parent().unwrap()).unwrap();
    let torn = br#"{"format":"zendesk-crm-checkpoint","version":1,"resou"#;
    std::fs::write(c.state_path(), torn).unwrap();
    let pass = c.run(&sim);
    assert_eq!(pass.code, 4, "{}", pass.output());
    let error = &pass.summary()["error"];
    assert_eq!(error["kind"], "corrupt_checkpoint");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains(c.state_path().to_str().unwrap()),
        "{message}"
    );
    assert!(message.contains("--reset-state"), "{message}");
    assert_eq!(std::fs::read(c.state_path()).unwrap(), torn);
    assert!(
        sim.requests().is_empty(),
        "a request was made without a checkpoint"
    );
}

#[test]
fn the_original_lambdas_state_is_refused_by_name() {
    let sim = simulator();
    let c = Collector::new(&sim);
    std::fs::create_dir_all(c.state_path().parent().unwrap()).unwrap();
    let lambda = br#"{"audit_logs":{"next_url":null},"incremental_tickets":{"next":null}}"#;
    std::fs::write(c.state_path(), lambda).unwrap();
    let pass = c.run(&sim);
    assert_eq!(pass.code, 4, "{}", pass.output());
    assert_eq!(pass.summary()["error"]["kind"], "foreign_checkpoint");
    assert_eq!(std::fs::read(c.state_path()).unwrap(), lambda);
}

#[test]
fn reset_state_moves_the_checkpoint_aside_and_starts_again() {
    let sim = simulator();
    sim.add_tickets(1, 3, T0 - 1000);
    let c = Collector::new(&sim);
    std::fs::create_dir_all(c.state_path().parent().unwrap()).unwrap();
    std::fs::write(c.state_path(), b"garbage").unwrap();
    let pass = c.run_at(sim.now(), &["--reset-state"]);
    assert_eq!(pass.code, 0, "{}", pass.output());
    assert_eq!(pass.tickets()["first_run"], true);
    let aside = c
        .out
        .path()
        .join(format!("zendesk/crm/state.json.reset-{}", sim.now()));
    assert_eq!(std::fs::read(aside).unwrap(), b"garbage");
}

#[test]
fn hostile_prefix_cannot_write_outside_the_store() {
    let sim = simulator();
    sim.add_tickets(1, 3, T0 - 1000);
    let mut c = Collector::new(&sim);
    c.env("S3_PREFIX", "../escape");
    let pass = c.run(&sim);
    assert_eq!(pass.code, 3, "{}", pass.output());
    let error = &pass.tickets()["error"];
    assert_eq!(error["kind"], "store");
    assert!(
        error["message"].as_str().unwrap().contains("key refused"),
        "{error}"
    );
    let parent = c.out.path().parent().unwrap();
    assert!(!parent.join("escape").exists());
}

#[test]
fn a_second_pass_on_a_locked_checkpoint_exits_without_touching_it() {
    let sim = simulator();
    let c = Collector::new(&sim);
    std::fs::create_dir_all(c.state_path().parent().unwrap()).unwrap();
    let lock = File::create(c.out.path().join("zendesk/crm/state.json.lock")).unwrap();
    lock.try_lock().unwrap();
    let pass = c.run(&sim);
    assert_eq!(pass.code, 5, "{}", pass.output());
    assert!(!c.state_path().exists());
    assert!(sim.requests().is_empty());
}

#[test]
fn unknown_resources_and_s3_are_configuration_errors() {
    let sim = simulator();
    let mut c = Collector::new(&sim);
    c.env("RESOURCES", "incremental_tickets,tickets_everything");
    let pass = c.run(&sim);
    assert_eq!(pass.code, 2, "{}", pass.output());
    assert_eq!(pass.summary()["error"]["kind"], "unknown_resource");
    assert!(sim.requests().is_empty());

    let mut c = Collector::new(&sim);
    c.env("S3_BUCKET", "zendesk-crm-logs");
    let pass = c.run(&sim);
    assert_eq!(pass.code, 2, "{}", pass.output());
    assert!(pass.stderr.contains("S3_BUCKET"), "{}", pass.stderr);
}

#[test]
fn plain_http_to_a_remote_host_is_refused_before_any_request() {
    let sim = simulator();
    let mut c = Collector::new(&sim);
    c.env("ZENDESK_CRM_OUT", "unused");
    let pass = {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_zendesk-crm"))
            .env_clear()
            .env("ZENDESK_BASE_URL", "http://acme.zendesk.com")
            .env("ZENDESK_EMAIL", "a@example.com")
            .env("ZENDESK_API_TOKEN", "x")
            .args(["run", "--out"])
            .arg(c.out.path())
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    assert_eq!(pass.0, Some(2), "{}", pass.1);
    assert!(pass.1.contains("must use https"), "{}", pass.1);
}
