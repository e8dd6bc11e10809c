//! The first hour of a new user, with the real binary: what it prints when something is
//! wrong (each message names the cause, the host or file, and the fix), what it offers
//! besides passes (completions, man pages, `--version`), and what a long pass and a crashed
//! one leave to read.

use crate::harness::temp_files;
use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::harness::{Collector, Pass, T0, simulator, sorted_unique, visible};

fn zendesk_crm(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_zendesk-crm"))
        .env_clear()
        .args(args)
        .output()
        .expect("running zendesk-crm")
}

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

#[test]
fn logs_written_to_a_pipe_carry_no_colour_codes() {
    let sim = simulator();
    sim.add_tickets(1, 3, T0 - 1000);
    let c = Collector::new(&sim);
    let pass = c.run(&sim);
    assert_eq!(pass.code, 0, "{}", pass.output());
    assert!(pass.stderr.contains("pass starting"), "{}", pass.stderr);
    assert!(!pass.stderr.contains('\u{1b}'), "{:?}", pass.stderr);
}

/// `command` run on a pseudo-terminal by util-linux `script`, stdout and stderr together;
/// none when `script` is not installed.
fn on_a_terminal(command: &mut Command) -> Option<String> {
    let program = command.get_program().to_string_lossy().into_owned();
    let args: Vec<String> = command
        .get_args()
        .map(|a| format!("'{}'", a.to_string_lossy()))
        .collect();
    let line = format!("'{program}' {}", args.join(" "));
    let mut script = Command::new("script");
    script.args(["-qec", &line, "/dev/null"]).env_clear();
    for (k, v) in command.get_envs() {
        if let Some(v) = v {
            script.env(k, v);
        }
    }
    match script.output() {
        Ok(out) => Some(String::from_utf8_lossy(&out.stdout).into_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => panic!("running script: {e}"),
    }
}

#[test]
fn a_terminal_gets_colour_unless_no_color_is_set() {
    let sim = simulator();
    sim.add_tickets(1, 3, T0 - 1000);
    let c = Collector::new(&sim);
    let coloured = on_a_terminal(&mut c.command("run", sim.now()))
        .expect("util-linux `script` (a pseudo-terminal for this test) is not installed");
    assert!(coloured.contains("pass starting"), "{coloured}");
    assert!(
        coloured.contains('\u{1b}'),
        "no colour on a terminal: {coloured}"
    );
    let mut plain = c.command("run", sim.now());
    plain.env("NO_COLOR", "1");
    let plain = on_a_terminal(&mut plain).expect("script ran before");
    assert!(plain.contains("pass starting"), "{plain}");
    assert!(!plain.contains('\u{1b}'), "NO_COLOR ignored: {plain:?}");
}

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

/// The JSON log lines of a pass (stderr with `LOG_FORMAT=json`).
fn json_logs(pass: &Pass) -> Vec<Value> {
    pass.stderr
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {l}"))
        })
        .collect()
}

#[test]
fn json_logs_carry_guest_fields_as_fields_and_a_backfill_shows_its_progress() {
    let sim = simulator();
    // Five days of history, ten tickets a day: a backfill of five pages of ten.
    for day in 0..5u64 {
        sim.add_tickets(1 + day * 10, 10, T0 - 86_400 * (5 - day as i64));
    }
    let mut c = Collector::new(&sim);
    c.env("LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .env("PAGE_SIZE", 10);
    let pass = c.run(&sim);
    assert_eq!(pass.code, 0, "{}", pass.output());
    assert_eq!(sorted_unique(c.stored_tickets()), visible(&sim));

    let logs = json_logs(&pass);
    // Queried by `resource` like any log pipeline would.
    let pages: Vec<&Value> = logs
        .iter()
        .filter(|l| l["fields"]["resource"] == "incremental_tickets")
        .filter(|l| l["fields"]["message"] == "page stored")
        .collect();
    assert_eq!(pages.len(), 5, "{}", pass.stderr);
    assert!(
        logs.iter().all(|l| l["fields"].get("fields").is_none()),
        "a guest field was left in a string: {}",
        pass.stderr
    );
    let field = |l: &Value, name: &str| l["fields"][name].clone();
    let totals: Vec<u64> = pages
        .iter()
        .map(|l| field(l, "records_total").as_u64().expect("a number"))
        .collect();
    assert_eq!(totals, [10, 20, 30, 40, 50]);
    let behind: Vec<i64> = pages
        .iter()
        .map(|l| field(l, "behind_seconds").as_i64().expect("a number"))
        .collect();
    assert!(
        behind.windows(2).all(|w| w[1] < w[0]),
        "the position does not move towards now: {behind:?}"
    );
    assert_eq!(behind[0], sim.now() - (T0 - 86_400 * 5));
    let positions: Vec<String> = pages
        .iter()
        .map(|l| field(l, "position").as_str().expect("a time").to_owned())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    assert!(positions[0].ends_with('Z'), "{positions:?}");
    for l in &pages {
        assert_eq!(field(l, "records"), 10);
        assert!(field(l, "records_per_s").is_u64(), "{l}");
        assert!(
            field(l, "behind").as_str().is_some_and(|b| b.contains('d')),
            "{l}"
        );
    }
}

#[test]
fn a_pass_removes_the_temporary_files_a_killed_pass_left_and_says_so() {
    let sim = simulator();
    sim.add_tickets(1, 30, T0 - 1000);
    let mut c = Collector::new(&sim);
    c.env("PAGE_SIZE", 10)
        .env("ZENDESK_CRM_FAILPOINT", "object.after-temp-write:2");
    let killed = c.run(&sim);
    assert_ne!(killed.code, 0, "{}", killed.output());
    let left = temp_files(c.out.path());
    assert_eq!(left.len(), 1, "{left:?}");

    // Long enough ago that no live writer can own it.
    let long_ago = SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&left[0])
        .unwrap()
        .set_modified(long_ago)
        .unwrap();
    c.unset("ZENDESK_CRM_FAILPOINT");
    let pass = c.run(&sim);
    assert_eq!(pass.code, 0, "{}", pass.output());
    assert!(temp_files(c.out.path()).is_empty(), "{}", pass.stderr);
    let said = pass
        .stderr
        .lines()
        .find(|l| l.contains("removed temporary files an interrupted pass left"))
        .unwrap_or_else(|| panic!("no log line: {}", pass.stderr));
    assert!(
        said.contains(&*left[0].file_name().unwrap().to_string_lossy()),
        "{said}"
    );
    assert_eq!(sorted_unique(c.stored_tickets()), visible(&sim));
}

#[test]
fn completions_and_man_pages_come_from_the_command_line_definition() {
    let bash = zendesk_crm(&["completions", "bash"]);
    assert_eq!(bash.status.code(), Some(0));
    let script = String::from_utf8_lossy(&bash.stdout);
    assert!(script.contains("complete -F _zendesk__crm"), "{script}");
    assert!(script.contains("--base-url"), "{script}");
    let fish = zendesk_crm(&["completions", "fish"]);
    assert_eq!(fish.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&fish.stdout).contains("complete -c zendesk-crm"));

    let man = zendesk_crm(&["man"]);
    assert_eq!(man.status.code(), Some(0));
    let page = String::from_utf8_lossy(&man.stdout);
    assert!(page.starts_with(".ie") || page.starts_with(".TH"), "{page}");
    assert!(page.contains("zendesk\\-crm"), "{page}");
    let run = zendesk_crm(&["man", "run"]);
    assert_eq!(run.status.code(), Some(0));
    let page = String::from_utf8_lossy(&run.stdout);
    assert!(page.contains("zendesk\\-crm\\-run"), "{page}");
    assert!(page.contains("base\\-url"), "{page}");
    assert!(page.contains("ZENDESK_BASE_URL"), "{page}");
    let unknown = zendesk_crm(&["man", "nope"]);
    assert_eq!(unknown.status.code(), Some(2));
}

#[test]
fn version_names_the_commit_and_the_embedded_component() {
    let out = zendesk_crm(&["--version"]);
    assert_eq!(out.status.code(), Some(0));
    let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let (_, hash) = version
        .split_once("component sha256:")
        .unwrap_or_else(|| panic!("{version}"));
    let hash = hash.trim_end_matches(')');
    assert_eq!(hash.len(), 64, "{version}");
    assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()), "{version}");
    assert!(
        version.starts_with(concat!(
            "zendesk-crm ",
            env!("CARGO_PKG_VERSION"),
            " (commit "
        )),
        "{version}"
    );
    // Built in a clone: the commit is the one checked out (cargo rebuilds when HEAD moves).
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output();
    if let Ok(head) = head
        && head.status.success()
    {
        let head = String::from_utf8_lossy(&head.stdout).trim().to_owned();
        assert!(
            version.contains(&format!("(commit {head}, ")),
            "{version}, HEAD {head}"
        );
    }
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
