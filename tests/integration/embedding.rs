//! The component outside our host: the same `zendesk_crm_guest.wasm`, unmodified, run by
//! Node.js through jco (`embed/node/run.mjs`), must store exactly what our host stores, with
//! the embedder's credentials, and fail the same way with wrong ones.

use crate::harness::files_under;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::harness::{Collector, T0, simulator};

/// `embed/node`, checked to be installed. Fails (never skips) when it is not.
fn embed_node() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../embed/node");
    for package in ["jco", "preview2-shim"] {
        let installed = dir.join("node_modules/@bytecodealliance").join(package);
        assert!(
            installed.is_dir(),
            "{} is missing: run `npm ci --prefix embed/node` (scripts/setup does) to install the \
             Node.js embedding's pinned packages",
            installed.display()
        );
    }
    dir
}

fn node() -> Command {
    let mut command = Command::new("node");
    // Nothing of the test's environment reaches the runner but what a pass needs.
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    command
}

/// The component our host embeds, as a file for the other runtime.
fn component_file(dir: &Path) -> PathBuf {
    let path = dir.join("zendesk_crm_guest.wasm");
    std::fs::write(&path, zendesk_crm::runtime::EMBEDDED_COMPONENT).expect("write the component");
    path
}

/// One `node run.mjs` pass: its exit code and the one JSON line it prints.
struct NodePass {
    code: i32,
    result: Value,
    stderr: String,
}

fn run_node(
    embed: &Path,
    component: &Path,
    out: &Path,
    settings: &Path,
    email: &str,
    token: &str,
) -> NodePass {
    let output = node()
        .arg(embed.join("run.mjs"))
        .arg("--component")
        .arg(component)
        .arg("--out")
        .arg(out)
        .arg("--settings")
        .arg(settings)
        .env("ZENDESK_EMAIL", email)
        .env("ZENDESK_API_TOKEN", token)
        .output()
        .expect("running node (Node.js 20 or newer must be on PATH)");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "run.mjs must print one JSON line:\nstdout: {stdout}\nstderr: {stderr}"
    );
    let result = serde_json::from_str(lines[0])
        .unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}\nstderr: {stderr}"));
    NodePass {
        code: output.status.code().unwrap_or(-1),
        result,
        stderr,
    }
}

/// The settings our host gives the component for this configuration (host/src/config/settings.rs).
fn settings(base_url: &str, pass_start: i64) -> Value {
    json!({
        "baseUrl": base_url,
        "resources": [
            {"name": "audit_logs", "pageSize": 10, "lagSeconds": 120},
            {"name": "incremental_tickets", "pageSize": 10},
        ],
        "maxPages": 20,
        "startTime": 0,
        "lookbackSeconds": 3600,
        "passStart": pass_start,
        "objectPrefix": "zendesk/crm/",
        "outputFormat": "json",
        "retry": {
            "retries": 3,
            "timeoutMs": 60_000,
            "initialBackoffMs": 1000,
            "maxBackoffMs": 300_000,
            // Past 2^53: a string, so JSON keeps every bit.
            "jitterSeed": (pass_start as u64 ^ 0x5a3d_e5c0_11ec_7042).to_string(),
        },
        "maxPageBytes": 268_435_456,
        // The harness's short rate windows (and our host's default account limit).
        "rate": {"windowMs": 50, "accountRequests": 200},
        "stateKey": "zendesk/crm/state.json",
    })
}

/// `Authorization` for Zendesk's API-token auth: Basic `{email}/token:{token}`.
fn basic(email: &str, token: &str) -> String {
    let credentials = format!("{email}/token:{token}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(credentials)
    )
}

#[test]
fn node_embedding_stores_exactly_what_our_host_stores() {
    let embed = embed_node();
    let sim = simulator();
    sim.add_tickets(1, 25, T0 - 3000);
    sim.add_audit_events(1, 120, T0 - 3000);
    let pass_start = sim.now();

    let mut host = Collector::new(&sim);
    host.env("RESOURCES", "audit_logs,incremental_tickets")
        .env("PAGE_SIZE", 10);
    let ours = host.run_at(pass_start, &[]);
    assert_eq!(ours.code, 0, "{}", ours.output());

    let work = tempfile::tempdir().expect("temp dir");
    let component = component_file(work.path());
    let settings_path = work.path().join("settings.json");
    std::fs::write(
        &settings_path,
        settings(&sim.base_url(), pass_start).to_string(),
    )
    .expect("write settings");
    let out = work.path().join("out");
    let email = sim.config().email.clone();
    let token = sim.config().api_token.clone();
    sim.clear_requests();
    let theirs = run_node(&embed, &component, &out, &settings_path, &email, &token);
    assert_eq!(theirs.code, 0, "{}\n{}", theirs.result, theirs.stderr);

    // The outcomes agree with our host's summary, resource by resource.
    let outcomes = theirs.result["ok"].as_array().unwrap_or_else(|| {
        panic!("no outcomes: {}", theirs.result);
    });
    assert_eq!(outcomes.len(), 2, "{}", theirs.result);
    for outcome in outcomes {
        let name = outcome["name"].as_str().expect("name");
        let summary = ours.resource(name);
        for (js, rust) in [
            ("pages", "pages"),
            ("records", "records"),
            ("objectsCreated", "objects_created"),
            ("objectsExisting", "objects_existing"),
            ("caughtUp", "caught_up"),
            ("firstRun", "first_run"),
            ("startedAt", "started_at"),
            ("behindSeconds", "behind_seconds"),
        ] {
            assert_eq!(
                outcome[js], summary[rust],
                "{name}.{js}: {outcome} vs {summary}"
            );
        }
        assert_eq!(outcome["error"], Value::Null, "{outcome}");
    }
    assert_eq!(ours.resource("audit_logs")["records"], 120);
    assert_eq!(ours.resource("incremental_tickets")["records"], 25);

    // The stored objects and the checkpoint: the same keys, byte for byte.
    let mut expected = files_under(host.out.path());
    expected.remove("zendesk/crm/state.json.lock"); // our host's advisory lock
    let stored = files_under(&out);
    assert_eq!(
        stored.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "the Node.js embedding stored other keys than our host"
    );
    assert!(expected.len() > 10, "several pages each: {expected:?}");
    for (key, bytes) in &expected {
        assert!(stored[key] == *bytes, "{key} differs from our host's");
    }
    assert_eq!(
        stored["zendesk/crm/state.json"],
        std::fs::read(host.state_path()).expect("our checkpoint"),
        "the checkpoints differ"
    );

    // Every request went out with the embedder's credentials, to both endpoints.
    let basic = basic(&email, &token);
    let requests = sim.requests();
    assert!(requests.len() >= 12 + 3, "{requests:?}");
    for request in &requests {
        assert_eq!(request.method, "GET");
        assert_eq!(
            request.header("authorization"),
            Some(basic.as_str()),
            "{request:?}"
        );
    }
    for path in [
        "/api/v2/audit_logs.json",
        "/api/v2/incremental/tickets/cursor.json",
    ] {
        assert!(
            requests.iter().any(|r| r.path() == path),
            "no request to {path}"
        );
    }
}

#[test]
fn node_embedding_with_a_wrong_token_is_unauthorized() {
    let embed = embed_node();
    let sim = simulator();
    sim.add_tickets(1, 5, T0 - 3000);
    sim.add_audit_events(1, 5, T0 - 3000);
    let work = tempfile::tempdir().expect("temp dir");
    let component = component_file(work.path());
    let settings_path = work.path().join("settings.json");
    std::fs::write(
        &settings_path,
        settings(&sim.base_url(), sim.now()).to_string(),
    )
    .expect("write settings");
    let out = work.path().join("out");
    let email = sim.config().email.clone();
    let wrong = "wrong-token-0f1e2d3c";
    let pass = run_node(&embed, &component, &out, &settings_path, &email, wrong);
    assert_eq!(pass.code, 3, "{}\n{}", pass.result, pass.stderr);
    let outcomes = pass.result["ok"].as_array().expect("outcomes");
    assert_eq!(outcomes.len(), 2, "{}", pass.result);
    for outcome in outcomes {
        assert_eq!(outcome["error"]["tag"], "unauthorized", "{outcome}");
        assert_eq!(outcome["objectsCreated"], 0, "{outcome}");
    }
    assert!(!pass.stderr.contains(wrong), "the token in the logs");
    let stored: Vec<_> = files_under(&out).into_keys().collect();
    assert_eq!(
        stored,
        ["zendesk/crm/state.json"],
        "only the first-run start"
    );
    let requests = sim.requests();
    assert!(!requests.is_empty());
    let sent = basic(&email, wrong);
    for request in &requests {
        assert_eq!(request.header("authorization"), Some(sent.as_str()));
    }
}

/// The embedder's policies on their own (egress, keys, create-only storage, settings):
/// `node --test embed/node/policy.test.mjs`.
#[test]
fn node_embedding_policy_unit_tests_pass() {
    let embed = embed_node();
    let output = node()
        .current_dir(&embed)
        .args(["--test", "policy.test.mjs"])
        .output()
        .expect("running node --test");
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn node_embedding_in_client_credentials_mode_renews_its_token_on_demand() {
    let embed = embed_node();
    let sim = simulator();
    sim.set_token_lifetime(Some(std::time::Duration::from_secs(1)));
    sim.add_tickets(1, 24, T0 - 3000);
    let work = tempfile::tempdir().expect("temp dir");
    let component = component_file(work.path());
    let mut s = settings(&sim.base_url(), sim.now());
    // Tickets only, three per page, one request per 400 ms window: the pass spans several
    // one-second token lifetimes.
    s["resources"] =
        json!([{"name": "incremental_tickets", "pageSize": 3, "requestsPerWindow": 1}]);
    s["rate"] = json!({"windowMs": 400, "accountRequests": 200});
    let settings_path = work.path().join("settings.json");
    std::fs::write(&settings_path, s.to_string()).expect("write settings");
    let client = sim.config().oauth_client.clone();
    let started = std::time::Instant::now();
    let output = node()
        .arg(embed.join("run.mjs"))
        .arg("--component")
        .arg(&component)
        .arg("--out")
        .arg(work.path().join("out"))
        .arg("--settings")
        .arg(&settings_path)
        .env("AUTH_MODE", "client_credentials")
        .env("ZENDESK_CLIENT_ID", &client.id)
        .env("ZENDESK_CLIENT_SECRET", &client.secret)
        .output()
        .expect("running node");
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    let result: Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    assert_eq!(result["ok"][0]["records"], 24, "{result}");
    assert_eq!(
        sim.invalid_token_answers(),
        0,
        "a 401 reached the component"
    );
    let requests = sim.token_requests().iter().filter(|r| r.granted).count();
    let bound = elapsed.as_secs_f64().ceil() as usize + 1;
    assert!(requests >= 2, "{requests}: nothing was renewed");
    assert!(
        requests <= bound,
        "{requests} in {elapsed:?} (bound {bound})"
    );
    assert!(!stdout.contains(&client.secret) && !stderr.contains(&client.secret));
    for token in sim
        .requests()
        .iter()
        .filter_map(|r| r.header("authorization"))
        .filter_map(|a| a.strip_prefix("Bearer "))
    {
        assert!(!stderr.contains(token), "an access token in the log");
    }
}
