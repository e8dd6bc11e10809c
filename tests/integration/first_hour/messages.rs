//! What a pass says when it cannot start or cannot reach Zendesk: a DNS failure, a refused
//! connection, a TLS failure, a silent host, a missing base URL, every configuration problem.

use std::net::TcpListener;

use super::zendesk_crm;
use crate::harness::{Collector, simulator};

/// A pass against `base_url` with no retries: its one resource's transport error message.
fn transport_error(base_url: &str, extra: &[(&str, &str)]) -> String {
    let sim = simulator();
    let mut c = Collector::new(&sim);
    c.env("HTTP_RETRIES", 0);
    for (k, v) in extra {
        c.env(k, v);
    }
    let pass = c.run_at(sim.now(), &["--base-url", base_url]);
    assert_eq!(pass.code, 3, "{}", pass.output());
    let error = &pass.tickets()["error"];
    assert_eq!(error["kind"], "transport", "{}", pass.output());
    let message = error["message"].as_str().expect("message").to_owned();
    assert!(
        !message.contains("ErrorCode") && !message.contains("Payload"),
        "Rust syntax in a message for people: {message}"
    );
    message
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[test]
fn a_host_that_does_not_resolve_is_named_as_a_dns_failure_with_the_fix() {
    let message = transport_error("https://no-such-account.invalid", &[]);
    assert!(
        message.contains("cannot resolve no-such-account.invalid (DNS"),
        "{message}"
    );
    assert!(message.contains("ZENDESK_BASE_URL"), "{message}");
}

#[test]
fn a_refused_connection_names_the_host_and_port_and_what_to_check() {
    let port = closed_port();
    let message = transport_error(&format!("http://127.0.0.1:{port}"), &[]);
    assert!(
        message.contains(&format!("cannot connect to 127.0.0.1:{port}")),
        "{message}"
    );
    assert!(message.contains("refused"), "{message}");
    assert!(message.contains("ZENDESK_BASE_URL"), "{message}");
}

#[test]
fn a_tls_failure_names_the_host_and_the_ca_bundle() {
    // Something on the port that does not speak TLS: it answers the handshake with plain text.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let _ = std::io::Write::write_all(
                &mut stream,
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
            );
        }
    });
    let message = transport_error(&format!("https://127.0.0.1:{port}"), &[]);
    assert!(
        message.contains(&format!("TLS handshake with 127.0.0.1:{port}")),
        "{message}"
    );
    assert!(message.contains("ZENDESK_CA_BUNDLE"), "{message}");
}

#[test]
fn a_host_that_never_answers_is_named_with_the_timeout_setting() {
    // Accepts connections and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    let message = transport_error(
        &format!("http://127.0.0.1:{port}"),
        &[("HTTP_TIMEOUT", "1")],
    );
    assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
    assert!(message.contains("HTTP_TIMEOUT"), "{message}");
}

#[test]
fn a_missing_base_url_names_the_variable_that_sets_it() {
    let out = zendesk_crm(&["run"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--base-url"), "{stderr}");
    assert!(
        stderr.contains("set the environment variable ZENDESK_BASE_URL"),
        "{stderr}"
    );
}

#[test]
fn every_configuration_problem_comes_in_one_run() {
    // A plain-http URL, no e-mail, no token, MAX_PAGES=0: all four named at once.
    let out = zendesk_crm(&[
        "run",
        "--base-url",
        "http://acme.zendesk.com",
        "--max-pages",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("3 problems in the configuration: (1) "),
        "{stderr}"
    );
    for part in [
        "\"http://acme.zendesk.com\" must use https",
        "needs ZENDESK_EMAIL and ZENDESK_API_TOKEN",
        "MAX_PAGES must be at least 1",
    ] {
        assert!(stderr.contains(part), "{part} missing from: {stderr}");
    }
}
