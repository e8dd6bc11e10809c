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

/// A loopback stand-in for Google's metadata server and OAuth token endpoint: every request
/// for a token gets `token`; the other metadata queries get plain answers.
fn google_token_server(token: &'static str) -> std::net::SocketAddr {
    use std::io::{BufRead as _, BufReader, Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let mut reader = BufReader::new(stream);
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() || line == "\r\n" || line.is_empty() {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let path = request_line.split_whitespace().nth(1).unwrap_or("");
            let (content_type, answer) = if path.contains("token") {
                (
                    "application/json",
                    format!(
                        "{{\"access_token\":\"{token}\",\"expires_in\":3600,\"token_type\":\"Bearer\"}}"
                    ),
                )
            } else if path.contains("universe") {
                ("text/plain", "googleapis.com".to_owned())
            } else if path.contains("email") {
                (
                    "text/plain",
                    "collector@test-project.iam.gserviceaccount.com".to_owned(),
                )
            } else if path.contains("scopes") {
                (
                    "text/plain",
                    "https://www.googleapis.com/auth/cloud-platform".to_owned(),
                )
            } else {
                ("text/plain", String::new())
            };
            let status = if answer.is_empty() {
                "404 Not Found"
            } else {
                "200 OK"
            };
            let mut stream = reader.into_inner();
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nMetadata-Flavor: Google\r\nContent-Type: {content_type}\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    addr
}

/// A GCS pass whose credentials come from `configure`, storing through the GCS proxy with the
/// real credentials (the test-only endpoint): one pass that succeeds, and one whose
/// checkpoint write the proxy refuses. Returns both outputs and the bearer tokens the proxy saw.
fn gcs_passes(configure: impl Fn(&mut Collector)) -> (String, Vec<String>) {
    let sim = simulator();
    sim.add_tickets(1, 15, T0 - 1000);
    let bucket = crate::gcs::Bucket::new();
    let mut c = Collector::new(&sim);
    c.without_out()
        .env("GCS_BUCKET", &bucket.name)
        .env(
            "ZENDESK_CRM_GCS_ENDPOINT",
            format!("http://{}", bucket.proxy.host()),
        )
        .env("PAGE_SIZE", 10)
        .env("RUST_LOG", TRACE_ALL_BUT_COMPILER);
    configure(&mut c);
    let ok = c.run(&sim);
    assert_eq!(ok.code, 0, "{}", ok.output());
    sim.add_tickets(100, 3, T0 - 500);
    bucket.proxy.inject("POST", "state.json", 10, 403);
    let denied = c.run(&sim);
    assert_eq!(denied.code, 3, "{}", denied.output());
    let bearers = bucket
        .proxy
        .requests()
        .into_iter()
        .filter_map(|r| r.authorization)
        .collect();
    (format!("{}\n{}", ok.output(), denied.output()), bearers)
}

#[test]
fn a_metadata_server_token_never_appears_in_any_output() {
    const TOKEN: &str = "ya29.metadata-token-secret-7d1f";
    let metadata = google_token_server(TOKEN);
    let (output, bearers) = gcs_passes(|c| {
        c.env("GCE_METADATA_HOST", metadata.to_string());
    });
    assert!(
        bearers.iter().all(|b| b == &format!("Bearer {TOKEN}")) && !bearers.is_empty(),
        "the metadata server's token was used: {bearers:?}"
    );
    assert!(
        !output.contains(TOKEN),
        "metadata token in output:\n{output}"
    );
}

#[test]
fn service_account_key_material_never_appears_in_any_output() {
    const TOKEN: &str = "ya29.service-account-token-secret-3b9a";
    const KEY_ID: &str = "throwaway-key-id-5e0c41";
    let token_server = google_token_server(TOKEN);
    let pem = include_str!("../gcs/throwaway-service-account-key.pem");
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("key.json");
    std::fs::write(
        &key_file,
        serde_json::json!({
            "type": "service_account",
            "project_id": "test-project",
            "private_key_id": KEY_ID,
            "private_key": pem,
            "client_email": "collector@test-project.iam.gserviceaccount.com",
            "client_id": "1234567890",
            "token_uri": format!("http://{token_server}/token"),
        })
        .to_string(),
    )
    .unwrap();
    let (output, bearers) = gcs_passes(|c| {
        c.env("GOOGLE_APPLICATION_CREDENTIALS", key_file.display())
            // No metadata server to fall back to.
            .env("GCE_METADATA_HOST", "127.0.0.1:9");
    });
    assert!(!bearers.is_empty(), "the key's credentials were sent");
    for bearer in &bearers {
        let token = bearer.strip_prefix("Bearer ").expect("a bearer token");
        assert!(!output.contains(token), "bearer token in output:\n{output}");
    }
    assert!(!output.contains(KEY_ID), "private_key_id in output");
    for line in pem.lines().filter(|l| !l.starts_with("-----")) {
        assert!(!output.contains(line), "private key material in output");
    }
}
