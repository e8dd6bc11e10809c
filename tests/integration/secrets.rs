//! Credentials never leave the host's egress hook: not in logs (even at debug), errors,
//! summaries or `--help`, whatever happens in the pass.

use base64::Engine as _;

use crate::harness::{Collector, T0, simulator};
use zendesk_crm_tests::Simulator;

/// Everything at trace level except the compiler, whose millions of lines are about code, not
/// requests.
const TRACE_ALL_BUT_COMPILER: &str = "trace,cranelift_codegen=off,cranelift_frontend=off,wasmtime_internal_cranelift=off,wasmtime_environ=off";
use zendesk_crm_tests::Fault;

fn assert_no_secret(output: &str, secret: &str, email: &str) {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{email}/token:{secret}"));
    assert!(!output.contains(secret), "raw secret in output:\n{output}");
    assert!(!output.contains(&basic), "base64 credentials in output");
    assert!(
        !output.contains(&format!("Bearer {secret}")),
        "bearer header in output"
    );
}

#[test]
fn the_api_token_never_appears_in_any_output() {
    let sim = simulator();
    sim.add_tickets(1, 25, T0 - 1000);
    sim.push_fault(Fault::Status {
        status: 500,
        retry_after: None,
    });
    let token = sim.config().api_token.clone();
    let email = sim.config().email.clone();
    let mut c = Collector::new(&sim);
    c.env("PAGE_SIZE", 10)
        .env("RUST_LOG", TRACE_ALL_BUT_COMPILER);
    let ok = c.run(&sim);
    assert_eq!(ok.code, 0, "{}", ok.output());
    assert_no_secret(&ok.output(), &token, &email);

    let wrong = "wrong-token-9f8e7d6c";
    c.env("ZENDESK_API_TOKEN", wrong);
    let failed = c.run(&sim);
    assert_eq!(failed.code, 3);
    assert_no_secret(&failed.output(), wrong, &email);
}

#[test]
fn the_bearer_token_never_appears_in_any_output() {
    let sim = simulator();
    sim.push_fault(Fault::Reset);
    let token = "bearer-secret-0a1b2c3d";
    let mut c = Collector::new(&sim);
    c.env("AUTH_MODE", "bearer")
        .env("ZENDESK_BEARER_TOKEN", token)
        .env("RUST_LOG", TRACE_ALL_BUT_COMPILER);
    let pass = c.run(&sim);
    assert_eq!(pass.code, 3, "{}", pass.output());
    assert_eq!(pass.tickets()["error"]["kind"], "unauthorized");
    assert_no_secret(&pass.output(), token, "");
}

#[test]
fn help_names_no_secret_setting_and_shows_no_environment_value() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_zendesk-crm"))
        .args(["run", "--help"])
        .env("ZENDESK_API_TOKEN", "help-secret-1234")
        .env("ZENDESK_EMAIL", "someone@example.com")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("--base-url"), "{help}");
    assert!(!help.contains("help-secret-1234"));
    assert!(!help.contains("someone@example.com"));
    assert!(!help.contains("--api-token") && !help.contains("--bearer-token"));
}

/// Every file a pass left under its output directory (objects, checkpoint, leftovers), as text.
fn everything_stored(c: &Collector) -> String {
    let mut all = String::new();
    let mut dirs = vec![c.out.path().to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                all.push_str(&String::from_utf8_lossy(&std::fs::read(&path).unwrap()));
            }
        }
    }
    all
}

#[test]
fn a_pass_failing_at_any_stage_leaks_no_secret_anywhere() {
    type Setup = fn(&Simulator, &mut Collector);
    let stages: &[(&str, Setup)] = &[
        ("server errors until giving up", |sim, _| {
            for _ in 0..2 {
                sim.push_fault(Fault::Status {
                    status: 500,
                    retry_after: None,
                });
            }
        }),
        ("dropped connections", |sim, _| {
            sim.push_fault(Fault::Reset);
            sim.push_fault(Fault::Reset);
        }),
        ("truncated bodies", |sim, _| {
            sim.push_fault(Fault::Truncated);
            sim.push_fault(Fault::Truncated);
        }),
        ("timeouts", |sim, c| {
            c.env("HTTP_TIMEOUT", 1);
            sim.push_fault(Fault::Delay { ms: 1500 });
            sim.push_fault(Fault::Delay { ms: 1500 });
        }),
        ("an HTML page", |sim, _| sim.push_fault(Fault::Html)),
        ("a redirect", |sim, _| {
            sim.push_fault(Fault::Redirect {
                location: "http://127.0.0.1:9/x".into(),
            })
        }),
        ("a refused object key", |_, c| {
            c.env("S3_PREFIX", "../escape");
        }),
        ("a corrupt checkpoint", |_, c| {
            std::fs::create_dir_all(c.state_path().parent().unwrap()).unwrap();
            std::fs::write(c.state_path(), b"{torn").unwrap();
        }),
        ("a crash after an object is written", |_, c| {
            c.env("ZENDESK_CRM_FAILPOINT", "object.after-write:1");
        }),
    ];
    for (stage, setup) in stages {
        let sim = simulator();
        sim.add_tickets(1, 25, T0 - 1000);
        let token = sim.config().api_token.clone();
        let email = sim.config().email.clone();
        let mut c = Collector::new(&sim);
        c.env("PAGE_SIZE", 10)
            .env("HTTP_RETRIES", 1)
            .env("RUST_LOG", TRACE_ALL_BUT_COMPILER);
        setup(&sim, &mut c);
        let pass = c.run(&sim);
        assert_ne!(pass.code, 0, "{stage} did not fail: {}", pass.output());
        assert_no_secret(&pass.output(), &token, &email);
        assert_no_secret(&everything_stored(&c), &token, &email);
    }
}

#[test]
fn check_leaks_no_secret_at_trace_level_whatever_it_finds() {
    let sim = simulator();
    sim.add_tickets(1, 5, T0 - 1000);
    let token = sim.config().api_token.clone();
    let email = sim.config().email.clone();
    for (case, audit_logs) in [("all allowed", true), ("a 403", false)] {
        sim.set_audit_logs_enabled(audit_logs);
        let mut c = Collector::new(&sim);
        c.env("RESOURCES", "audit_logs,incremental_tickets")
            .env("RUST_LOG", TRACE_ALL_BUT_COMPILER);
        for args in [&[][..], &["--json"][..]] {
            let output = c.command("check", T0).args(args).output().unwrap();
            let text = format!(
                "{}\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            assert!(text.contains("audit_logs"), "{case}: {text}");
            assert_no_secret(&text, &token, &email);
        }
    }
}
