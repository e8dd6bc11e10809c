//! Record and replay: `record` writes a cassette of a real pass against the simulator, and
//! `replay` runs it again with no network and no credentials, storing byte-identical objects
//! and checkpoint.
//!
//! The committed cassettes under `tests/cassettes/` each replay to their golden output (the
//! directory of the same name). When a change to the collector alters its requests:
//! - `RECORD_CASSETTES=1 cargo test -p zendesk-crm --test integration replay::committed`
//!   records them again from the simulator (on fixed loopback ports, so nothing but the
//!   collector's own changes shows in the diff), checking each recorded pass replays to what
//!   it stored;
//! - `UPDATE_GOLDEN=1 cargo test -p zendesk-crm --test integration replay::committed`
//!   rewrites the golden files from the replays.

use crate::harness::files_under;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use serde_json::Value;
use zendesk_crm_tests::{Fault, SimConfig, Simulator};

use crate::harness::{Collector, Pass, T0};

const FIRST_AUDIT_ID: u64 = 6_139_157_000_000;

fn cassettes() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/cassettes")
}

fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("compiled-component-cache")
}

fn flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v == "1")
}

/// A simulator at `T0` on `port` (0 = any free one).
fn sim(port: u16, gzip: bool) -> Simulator {
    Simulator::start_on(
        SimConfig {
            now: Some(T0),
            gzip,
            ..SimConfig::default()
        },
        port,
    )
    .expect("start the simulator")
}

/// A finished `record`: the pass, the collector (whose directory holds what it stored), and
/// what that directory held before the recorded pass.
struct Recorded {
    pass: Pass,
    collector: Collector,
    before: BTreeMap<String, Vec<u8>>,
}

impl Recorded {
    /// What the recorded pass stored: every file it created or changed.
    fn stored(&self) -> BTreeMap<String, Vec<u8>> {
        let mut after = tree(self.collector.out.path());
        after.retain(|k, v| self.before.get(k) != Some(v) || k.ends_with("state.json"));
        after
    }
}

fn record(sim: &Simulator, c: Collector, cassette: &Path) -> Recorded {
    let before = tree(c.out.path());
    let output = c
        .command("record", sim.now())
        .arg("--cassette")
        .arg(cassette)
        .output()
        .expect("running zendesk-crm record");
    let pass = Pass {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert_eq!(pass.code, 0, "{}", pass.output());
    Recorded {
        pass,
        collector: c,
        before,
    }
}

/// `zendesk-crm replay` with an empty environment: no credentials, no base URL.
fn replay(cassette: &Path, out: &Path) -> Pass {
    let output = Command::new(env!("CARGO_BIN_EXE_zendesk-crm"))
        .env_clear()
        .env("RUST_LOG", "info")
        .env("ZENDESK_CRM_CACHE_DIR", cache_dir())
        .arg("replay")
        .arg("--cassette")
        .arg(cassette)
        .arg("--out")
        .arg(out)
        .output()
        .expect("running zendesk-crm replay");
    Pass {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Every file under `root` by relative path, lock files left out.
fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut found = files_under(root);
    found.retain(|k, _| !k.ends_with(".lock"));
    found
}

fn keys(t: &BTreeMap<String, Vec<u8>>) -> Vec<&str> {
    t.keys().map(String::as_str).collect()
}

fn waits_ms(pass: &Pass) -> Vec<u64> {
    pass.summary()["cassette"]["waits_ms"]
        .as_array()
        .unwrap_or_else(|| panic!("no waits in {}", pass.stdout))
        .iter()
        .map(|w| w.as_u64().expect("a number"))
        .collect()
}

// The committed scenarios. Each sets up the simulator, runs any earlier pass, and records one.

/// Three ticket pages (gzip, as Zendesk sends them) ending in `end_of_stream`.
fn tickets_multi_page(port: u16, cassette: &Path) -> Recorded {
    let sim = sim(port, true);
    sim.add_tickets(1, 10, T0 - 5000);
    sim.add_tickets(11, 10, T0 - 4000);
    sim.add_tickets(21, 5, T0 - 3000);
    let mut c = Collector::new(&sim);
    c.env("PAGE_SIZE", 10);
    record(&sim, c, cassette)
}

/// A 429 with `Retry-After: 30`, a 503 with `Retry-After: 2`, then a 500 (back-off).
fn tickets_retries(port: u16, cassette: &Path) -> Recorded {
    let sim = sim(port, false);
    sim.add_tickets(1, 20, T0 - 2000);
    sim.push_fault(Fault::RateLimited {
        retry_after: Some(30),
    });
    sim.push_fault(Fault::Status {
        status: 503,
        retry_after: Some(2),
    });
    sim.push_fault(Fault::Status {
        status: 500,
        retry_after: None,
    });
    let mut c = Collector::new(&sim);
    c.env("PAGE_SIZE", 10).env("HTTP_RETRIES", 5);
    record(&sim, c, cassette)
}

/// A second pass, resuming from the checkpoint of a first one (not recorded).
fn tickets_resume(port: u16, cassette: &Path) -> Recorded {
    let sim = sim(port, false);
    sim.add_tickets(1, 15, T0 - 5000);
    let mut c = Collector::new(&sim);
    c.env("PAGE_SIZE", 10);
    let first = c.run(&sim);
    assert_eq!(first.code, 0, "{}", first.output());
    sim.advance(600);
    sim.add_tickets(16, 5, T0 + 100);
    sim.upsert_ticket(3, T0 + 200);
    record(&sim, c, cassette)
}

/// Three audit-log pages.
fn audit_logs(port: u16, cassette: &Path) -> Recorded {
    let sim = sim(port, false);
    sim.add_audit_events(FIRST_AUDIT_ID, 20, T0 - 7200);
    sim.add_audit_events(FIRST_AUDIT_ID + 20, 20, T0 - 5000);
    sim.add_audit_events(FIRST_AUDIT_ID + 40, 10, T0 - 3000);
    let mut c = Collector::new(&sim);
    c.env("RESOURCES", "audit_logs").env("PAGE_SIZE", 20);
    record(&sim, c, cassette)
}

/// A second access-log pass: it starts an overlap before the first pass's mark, so its first
/// page repeats stored events (left out by id) before the new ones.
fn access_logs(port: u16, cassette: &Path) -> Recorded {
    let sim = sim(port, false);
    sim.add_access_events(8, T0 - 3000);
    sim.add_access_events(8, T0 - 1000);
    let mut c = Collector::new(&sim);
    c.env("RESOURCES", "access_logs").env("PAGE_SIZE", 10);
    let first = c.run(&sim);
    assert_eq!(first.code, 0, "{}", first.output());
    sim.advance(600);
    sim.add_access_events(6, T0 + 100);
    record(&sim, c, cassette)
}

/// Replays `tests/cassettes/{name}.json` twice and checks both against its golden output;
/// records it first with `RECORD_CASSETTES=1`, rewrites the golden files with
/// `UPDATE_GOLDEN=1`.
fn committed(name: &str, scenario: fn(u16, &Path) -> Recorded, port: u16) -> Pass {
    let cassette = cassettes().join(format!("{name}.json"));
    let golden = cassettes().join(name);
    if flag("RECORD_CASSETTES") {
        let recorded = scenario(port, &cassette);
        let out = tempfile::tempdir().expect("temp dir");
        let started = std::time::Instant::now();
        let replayed = replay(&cassette, &out.path().join("out"));
        // For the one re-recording it: what the recording cost against what its replay costs.
        eprintln!(
            "{name}: recorded pass {} ms, replay {} ms (wall, process included), cassette {} bytes",
            recorded.pass.summary()["duration_ms"],
            started.elapsed().as_millis(),
            std::fs::metadata(&cassette).map(|m| m.len()).unwrap_or(0)
        );
        assert_eq!(replayed.code, 0, "{}", replayed.output());
        assert_eq!(tree(&out.path().join("out")), recorded.stored());
        assert_eq!(waits_ms(&replayed), waits_ms(&recorded.pass));
    }
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let first = replay(&cassette, a.path());
    assert_eq!(first.code, 0, "{}", first.output());
    let second = replay(&cassette, b.path());
    assert_eq!(second.code, 0, "{}", second.output());
    let output = tree(a.path());
    assert_eq!(output, tree(b.path()), "two replays of {name} differ");
    if flag("UPDATE_GOLDEN") {
        let _ = std::fs::remove_dir_all(&golden);
        for (key, bytes) in &output {
            let path = golden.join(key);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
        }
    }
    let expected = tree(&golden);
    assert_eq!(
        keys(&output),
        keys(&expected),
        "{name}: keys differ from the golden files"
    );
    for (key, bytes) in &output {
        assert!(
            expected.get(key) == Some(bytes),
            "{name}: {key} differs from its golden file"
        );
    }
    first
}

#[test]
fn committed_multi_page_ticket_export_replays_to_its_golden_output() {
    let pass = committed("tickets_multi_page", tickets_multi_page, 47811);
    let t = pass.tickets();
    assert_eq!(
        (t["pages"].as_u64(), t["records"].as_u64()),
        (Some(3), Some(25))
    );
    assert_eq!(t["caught_up"], true);
}

#[test]
fn committed_retries_replay_their_long_waits_on_virtual_time() {
    let pass = committed("tickets_retries", tickets_retries, 47812);
    let t = pass.tickets();
    assert_eq!(t["retries"], 3);
    assert_eq!(t["rate_limited"], 1);
    // The waits the guest asked for, from the host's record of them: Retry-After 30 s and
    // 2 s, then a jittered back-off. The replay's clock shows at least their sum while the
    // pass ran on virtual time.
    let waits = waits_ms(&pass);
    assert_eq!(waits.len(), 3, "{waits:?}");
    assert_eq!(&waits[..2], &[30_000, 2_000]);
    assert!((2_000..=4_000).contains(&waits[2]), "{waits:?}");
    let clock = pass.summary()["cassette"]["clock_ms"].as_u64().unwrap();
    assert!(
        clock >= waits.iter().sum::<u64>(),
        "clock {clock} < waits {waits:?}"
    );
}

#[test]
fn committed_second_pass_resumes_from_the_recorded_checkpoint() {
    let pass = committed("tickets_resume", tickets_resume, 47813);
    let cassette: Value =
        serde_json::from_slice(&std::fs::read(cassettes().join("tickets_resume.json")).unwrap())
            .unwrap();
    assert!(cassette["initial_checkpoint"]["text"].is_string());
    assert_eq!(pass.summary()["first_run"], false);
    assert_eq!(pass.tickets()["records"], 6);
}

#[test]
fn committed_audit_log_pages_replay_to_their_golden_output() {
    let pass = committed("audit_logs", audit_logs, 47814);
    let a = pass.resource("audit_logs");
    assert_eq!(
        (a["pages"].as_u64(), a["records"].as_u64()),
        (Some(3), Some(50))
    );
}

#[test]
fn committed_access_log_pass_replays_its_overlap_and_new_events_to_its_golden_output() {
    let pass = committed("access_logs", access_logs, 47815);
    let a = pass.resource("access_logs");
    assert_eq!(a["first_run"], false);
    // The overlap's repeats are read again and left out: only the 6 new events are stored.
    assert_eq!(a["records"].as_u64(), Some(6));
}

#[test]
fn a_recorded_pass_with_transport_failures_replays_byte_for_byte_with_the_simulator_gone() {
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("pass.json");
    let recorded = {
        let sim = sim(0, true);
        sim.add_tickets(1, 12, T0 - 3000);
        sim.add_tickets(13, 12, T0 - 2000);
        sim.push_fault(Fault::Reset);
        sim.push_fault(Fault::Truncated);
        sim.push_fault(Fault::Status {
            status: 503,
            retry_after: Some(0),
        });
        // The first page comes at once; the second page's request times out once.
        sim.push_fault(Fault::Delay { ms: 0 });
        sim.push_fault(Fault::Delay { ms: 3000 });
        let mut c = Collector::new(&sim);
        c.env("PAGE_SIZE", 10)
            .env("HTTP_RETRIES", 4)
            .env("HTTP_TIMEOUT", 1);
        record(&sim, c, &cassette)
        // The simulator stops here: the replay has no server to reach.
    };
    let out = dir.path().join("replayed");
    let replayed = replay(&cassette, &out);
    assert_eq!(replayed.code, 0, "{}", replayed.output());
    assert_eq!(tree(&out), recorded.stored());
    assert_eq!(keys(&tree(&out)).len(), 4, "three pages and the checkpoint");
    for field in ["pages", "records", "retries", "objects_created", "bytes"] {
        assert_eq!(
            replayed.tickets()[field],
            recorded.pass.tickets()[field],
            "{field}"
        );
    }
    assert_eq!(waits_ms(&replayed), waits_ms(&recorded.pass));
    let c: Value = serde_json::from_slice(&std::fs::read(&cassette).unwrap()).unwrap();
    let outcomes: Vec<String> = c["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| match (&e["error"], &e["response"]) {
            (Value::Object(err), _) => format!("error {}", err["kind"].as_str().unwrap()),
            (_, r) if r["body_end"].is_object() => format!("{} broken", r["status"]),
            (_, r) => r["status"].to_string(),
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            "error reset",
            "200 broken",
            "503",
            "200",
            "error timeout",
            "200",
            "200"
        ],
        "{c}"
    );
}

fn assert_no_secret(text: &str, secret: &str, email: &str) {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{email}/token:{secret}"));
    assert!(!text.contains(secret), "raw secret in the cassette");
    assert!(
        !text.contains(&basic),
        "base64 Basic credentials in the cassette"
    );
    assert!(
        !text.contains(&format!("Bearer {secret}")),
        "Bearer header in the cassette"
    );
}

#[test]
fn cassettes_hold_no_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let sim = sim(0, true);
    sim.add_tickets(1, 5, T0 - 3000);
    let (email, token, bearer) = {
        let c = sim.config();
        (c.email.clone(), c.api_token.clone(), c.bearer_token.clone())
    };

    let basic = dir.path().join("basic.json");
    record(&sim, Collector::new(&sim), &basic);
    assert_no_secret(&std::fs::read_to_string(&basic).unwrap(), &token, &email);

    let oauth = dir.path().join("bearer.json");
    let mut c = Collector::new(&sim);
    c.env("AUTH_MODE", "bearer")
        .env("ZENDESK_BEARER_TOKEN", &bearer)
        .unset("ZENDESK_API_TOKEN");
    record(&sim, c, &oauth);
    assert_no_secret(&std::fs::read_to_string(&oauth).unwrap(), &bearer, "");

    // Nor does any committed cassette (all recorded from the simulator's default account).
    for entry in std::fs::read_dir(cassettes()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path).unwrap();
            assert_no_secret(&text, &token, &email);
            assert_no_secret(&text, &bearer, "");
        }
    }
}

#[test]
fn a_request_the_cassette_does_not_hold_fails_the_replay_and_names_the_closest() {
    let dir = tempfile::tempdir().unwrap();
    let mut cassette: Value = serde_json::from_slice(
        &std::fs::read(cassettes().join("tickets_multi_page.json")).unwrap(),
    )
    .unwrap();
    // A different page size: the guest's first request no longer matches.
    cassette["settings"]["resources"][0]["page_size"] = 5.into();
    let edited = dir.path().join("edited.json");
    std::fs::write(&edited, serde_json::to_vec(&cassette).unwrap()).unwrap();
    let pass = replay(&edited, &dir.path().join("out"));
    assert_eq!(pass.code, 9, "{}", pass.output());
    let summary = pass.summary();
    let unmatched = &summary["cassette"]["unmatched"][0];
    assert!(
        unmatched["request"]
            .as_str()
            .unwrap()
            .contains("per_page=5"),
        "{unmatched}"
    );
    assert!(
        unmatched["closest"]
            .as_str()
            .unwrap()
            .contains("per_page=10"),
        "{unmatched}"
    );
    assert_eq!(unmatched["closest_position"], 0);
    assert_eq!(summary["cassette"]["used"], 0);
    assert_eq!(pass.tickets()["error"]["kind"], "request_refused");
    assert!(
        pass.stderr.contains("is not in the cassette"),
        "{}",
        pass.stderr
    );

    // Fewer requests than recorded is a divergence too: with one page allowed, the guest
    // leaves two recorded pages unused.
    cassette["settings"]["resources"][0]["page_size"] = 10.into();
    cassette["settings"]["max_pages"] = 1.into();
    std::fs::write(&edited, serde_json::to_vec(&cassette).unwrap()).unwrap();
    let pass = replay(&edited, &dir.path().join("out1"));
    assert_eq!(pass.code, 9, "{}", pass.output());
    assert_eq!(pass.summary()["cassette"]["used"], 1);
    assert_eq!(pass.summary()["cassette"]["exchanges"], 3);

    // A cassette of another version is refused by name, before anything runs.
    cassette["version"] = 2.into();
    std::fs::write(&edited, serde_json::to_vec(&cassette).unwrap()).unwrap();
    let pass = replay(&edited, &dir.path().join("out2"));
    assert_eq!(pass.code, 2, "{}", pass.output());
    assert!(pass.stderr.contains("version 2"), "{}", pass.stderr);
}

#[test]
fn a_redacted_cassette_holds_no_customer_text_and_replays_to_the_same_keys_and_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let redacted = dir.path().join("redacted.json");
    let output = Command::new(env!("CARGO_BIN_EXE_zendesk-crm"))
        .env_clear()
        .arg("redact-cassette")
        .arg("--cassette")
        .arg(cassettes().join("tickets_multi_page.json"))
        .arg("--out")
        .arg(&redacted)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let done: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(done["bodies"], 3);

    let out = dir.path().join("out");
    let pass = replay(&redacted, &out);
    assert_eq!(pass.code, 0, "{}", pass.output());
    let replayed = tree(&out);
    let golden = tree(&cassettes().join("tickets_multi_page"));
    assert_eq!(keys(&replayed), keys(&golden));
    let state = "zendesk/crm/state.json";
    assert_eq!(replayed[state], golden[state]);
    for (key, bytes) in replayed.iter().filter(|(k, _)| k.as_str() != state) {
        let page: Value = serde_json::from_slice(bytes).unwrap();
        let original: Value = serde_json::from_slice(&golden[key]).unwrap();
        for (t, o) in page["tickets"]
            .as_array()
            .unwrap()
            .iter()
            .zip(original["tickets"].as_array().unwrap())
        {
            assert_eq!(t["subject"], "redacted");
            assert_eq!(t["description"], "redacted");
            assert_ne!(o["subject"], "redacted");
            assert_eq!(
                (&t["id"], &t["generated_timestamp"]),
                (&o["id"], &o["generated_timestamp"])
            );
        }
    }
}

#[test]
fn a_pass_stopped_by_a_signal_replays_to_the_same_stop() {
    use std::io::BufRead as _;
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("stopped.json");
    let sim = sim(0, false);
    sim.add_tickets(1, 30, T0 - 3000);
    // The first page comes at once; the second is still in flight when the signal comes.
    sim.push_fault(Fault::Delay { ms: 0 });
    sim.push_fault(Fault::Delay { ms: 1500 });
    let mut c = Collector::new(&sim);
    c.env("PAGE_SIZE", 10);
    let mut child = c
        .command("record", sim.now())
        .arg("--cassette")
        .arg(&cassette)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starting record");
    let stderr = std::io::BufReader::new(child.stderr.take().expect("stderr"));
    let mut lines = stderr.lines().map_while(Result::ok);
    assert!(
        lines.by_ref().any(|l| l.contains("page stored")),
        "record ended before storing a page"
    );
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    // Drain stderr so the child never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    let output = child.wait_with_output().expect("record exits");
    let recorded = Pass {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::new(),
    };
    assert_eq!(recorded.code, 0, "{}", recorded.stdout);
    assert_eq!(recorded.tickets()["stopped"], "shutdown");
    let c_json: Value = serde_json::from_slice(&std::fs::read(&cassette).unwrap()).unwrap();
    assert_eq!(
        c_json["stops"][0]["reason"], "shutdown",
        "{}",
        c_json["stops"]
    );

    // The replay stops at the same call, with the same pages stored and nothing unused.
    let out = dir.path().join("out");
    let replayed = replay(&cassette, &out);
    assert_eq!(replayed.code, 0, "{}", replayed.output());
    assert_eq!(replayed.tickets()["stopped"], "shutdown");
    assert_eq!(replayed.tickets()["pages"], recorded.tickets()["pages"]);
    assert_eq!(
        replayed.summary()["cassette"]["used"],
        replayed.summary()["cassette"]["exchanges"]
    );
    assert_eq!(tree(&out), tree(c.out.path()));
}
