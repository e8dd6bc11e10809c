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
//!
//! This file holds what the replay tests share: recording a pass, replaying a cassette with an
//! empty environment, and reading back what either stored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use zendesk_crm_tests::{SimConfig, Simulator};

use crate::harness::{Collector, Pass, T0, cache_dir, files_under};

/// What a cassette may hold and what it refuses: no credentials, no request it lacks, no text.
mod cassette;
/// The committed cassettes: each scenario, replayed twice to its golden output.
mod committed;
/// A pass recorded here replays the same: through transport failures, and to a signal's stop.
mod fidelity;

fn cassettes() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/cassettes")
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
