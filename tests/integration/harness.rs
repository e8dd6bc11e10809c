//! Starting simulators and collector passes, and reading back what a pass stored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use zendesk_crm_tests::{SimConfig, Simulator};

/// A fixed simulated "now", so tests never depend on the machine's clock.
pub const T0: i64 = 1_750_000_000;

pub fn simulator() -> Simulator {
    simulator_with(SimConfig::default())
}

pub fn simulator_with(config: SimConfig) -> Simulator {
    Simulator::start(SimConfig {
        now: Some(T0),
        ..config
    })
}

/// What a finished `zendesk-crm run` left behind.
#[derive(Debug)]
pub struct Pass {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Pass {
    pub fn summary(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "no JSON summary ({e}):\nstdout: {}\nstderr: {}",
                self.stdout, self.stderr
            )
        })
    }

    /// The summary of the one resource collected.
    pub fn tickets(&self) -> Value {
        self.summary()["resources"][0].clone()
    }

    /// The summary of the resource named `name`.
    pub fn resource(&self, name: &str) -> Value {
        let summary = self.summary();
        summary["resources"]
            .as_array()
            .and_then(|all| all.iter().find(|r| r["name"] == name))
            .cloned()
            .unwrap_or_else(|| panic!("no {name} in {summary}"))
    }

    pub fn output(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// A collector configured like a user would, against `sim`, storing into its own directory.
pub struct Collector {
    pub out: tempfile::TempDir,
    base_url: String,
    env: BTreeMap<String, String>,
    /// Whether passes get `--out` (false when the test stores to S3).
    local: bool,
}

impl Collector {
    pub fn new(sim: &Simulator) -> Collector {
        let config = sim.config();
        let mut env = BTreeMap::new();
        env.insert("ZENDESK_EMAIL".into(), config.email.clone());
        env.insert("ZENDESK_API_TOKEN".into(), config.api_token.clone());
        env.insert("START_TIME".into(), "0".into());
        env.insert("RESOURCES".into(), "incremental_tickets".into());
        env.insert("RUST_LOG".into(), "debug".into());
        // Compile the component once per test run, not once per pass.
        env.insert("ZENDESK_CRM_CACHE_DIR".into(), cache_dir());
        // Rate windows of 50 ms instead of a minute: the budget stays on in every test (10
        // ticket requests a window), but a pass of many pages is not paced for minutes.
        // Tests of the budget itself set their own window.
        env.insert("ZENDESK_CRM_RATE_WINDOW".into(), "50ms".into());
        Collector {
            out: tempfile::tempdir().expect("temp dir"),
            base_url: sim.base_url(),
            env,
            local: true,
        }
    }

    /// Passes store where the environment says (S3), with no `--out`.
    pub fn without_out(&mut self) -> &mut Collector {
        self.local = false;
        self
    }

    pub fn env(&mut self, name: &str, value: impl ToString) -> &mut Collector {
        self.env.insert(name.into(), value.to_string());
        self
    }

    pub fn unset(&mut self, name: &str) -> &mut Collector {
        self.env.remove(name);
        self
    }

    /// One pass whose start is the simulator's current time.
    pub fn run(&self, sim: &Simulator) -> Pass {
        self.run_at(sim.now(), &[])
    }

    pub fn run_at(&self, pass_start: i64, args: &[&str]) -> Pass {
        let output = self
            .command("run", pass_start)
            .args(args)
            .output()
            .expect("running zendesk-crm");
        Pass {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// `zendesk-crm <subcommand>` configured like [`Collector::run`], to run as the test likes.
    pub fn command(&self, subcommand: &str, pass_start: i64) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_zendesk-crm"));
        command
            .env_clear()
            .envs(&self.env)
            .env("ZENDESK_BASE_URL", &self.base_url)
            .env("ZENDESK_CRM_PASS_START", pass_start.to_string())
            .arg(subcommand);
        if self.local {
            command.arg("--out").arg(self.out.path());
        }
        command
    }

    pub fn state_path(&self) -> PathBuf {
        self.out.path().join("zendesk/crm/state.json")
    }

    pub fn checkpoint(&self) -> Value {
        let bytes = std::fs::read(self.state_path()).expect("checkpoint exists");
        serde_json::from_slice(&bytes).expect("checkpoint is JSON")
    }

    /// Every page object stored, by key.
    pub fn objects(&self) -> BTreeMap<String, Vec<u8>> {
        let mut found = files_under(self.out.path());
        found.retain(|k, _| k.ends_with(".json") || k.ends_with(".ndjson"));
        found.remove("zendesk/crm/state.json");
        found
    }

    /// (id, generated_timestamp) of every ticket stored, in key order then page order.
    pub fn stored_tickets(&self) -> Vec<(u64, i64)> {
        tickets_in(&self.objects())
    }
}

/// (id, created_at) of every audit event stored, in key order then page order.
pub fn stored_audit_events(c: &Collector) -> Vec<(u64, i64)> {
    audit_events_in(&c.objects())
}

/// (id, timestamp) of every access-log event stored, asserted free of duplicates, sorted.
pub fn stored_access_events(c: &Collector) -> Vec<(String, i64)> {
    let mut all = access_events_in(&c.objects());
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), n, "an access-log event was stored twice");
    all
}

/// The records of `resource`'s page objects among `objects` (any store's, any resource's:
/// other keys are passed over), in key order then page order: the `array` of a `.json` page,
/// each line of an `.ndjson` one, either of them gzip-compressed when the key ends in `.gz`.
fn records_in(objects: &BTreeMap<String, Vec<u8>>, resource: &str, array: &str) -> Vec<Value> {
    let mut records = Vec::new();
    for (key, body) in objects {
        if !key.contains(&format!("-zendesk-{resource}.")) {
            continue;
        }
        let (name, body) = match key.strip_suffix(".gz") {
            Some(name) => {
                let mut plain = Vec::new();
                std::io::Read::read_to_end(
                    &mut flate2::read::GzDecoder::new(&body[..]),
                    &mut plain,
                )
                .unwrap_or_else(|e| panic!("{key} is not gzip: {e}"));
                (name, plain)
            }
            None => (key.as_str(), body.clone()),
        };
        let json = |bytes: &[u8]| -> Value {
            serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("{key} is not JSON: {e}"))
        };
        if name.ends_with(".ndjson") {
            records.extend(
                body.split(|b| *b == b'\n')
                    .filter(|l| !l.is_empty())
                    .map(json),
            );
        } else {
            let page = json(&body);
            let Some(Value::Array(items)) = page.get(array) else {
                panic!("{key} has no {array} array");
            };
            records.extend(items.iter().cloned());
        }
    }
    records
}

fn unix(record: &Value, field: &str) -> i64 {
    let text = record[field]
        .as_str()
        .unwrap_or_else(|| panic!("no {field}: {record}"));
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{field} {text:?} is not RFC 3339: {e}"))
        .unix_timestamp()
}

/// (id, generated_timestamp) of every ticket among `objects`, in key order then page order.
pub fn tickets_in(objects: &BTreeMap<String, Vec<u8>>) -> Vec<(u64, i64)> {
    records_in(objects, "incremental_tickets", "tickets")
        .iter()
        .map(stamp)
        .collect()
}

/// (id, created_at) of every audit event among `objects`, in key order then page order.
pub fn audit_events_in(objects: &BTreeMap<String, Vec<u8>>) -> Vec<(u64, i64)> {
    records_in(objects, "audit_logs", "audit_logs")
        .iter()
        .map(|e| (e["id"].as_u64().expect("id"), unix(e, "created_at")))
        .collect()
}

/// (id, timestamp) of every access-log event among `objects`, in key order then page order.
pub fn access_events_in(objects: &BTreeMap<String, Vec<u8>>) -> Vec<(String, i64)> {
    records_in(objects, "access_logs", "access_logs")
        .iter()
        .map(|e| {
            (
                e["id"].as_str().expect("id").to_owned(),
                unix(e, "timestamp"),
            )
        })
        .collect()
}

/// The simulator's audit events that are visible now, sorted: what a pass should store.
pub fn audit_truth(sim: &Simulator) -> Vec<(u64, i64)> {
    let mut v = sim.audit_events_visible();
    v.sort();
    v
}

/// A simulator holding 30 tickets from before the pass (three pages of ten with
/// [`ten_per_page`]).
pub fn sim_with_tickets() -> Simulator {
    let sim = simulator();
    sim.add_tickets(1, 30, T0 - 1000);
    sim
}

/// A collector asking for ten records a page.
pub fn ten_per_page(sim: &Simulator) -> Collector {
    let mut c = Collector::new(sim);
    c.env("PAGE_SIZE", 10);
    c
}

/// Every file under `root` by relative path, with its bytes; none when `root` is absent.
pub fn files_under(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut found = BTreeMap::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                let key = path.strip_prefix(root).expect("under root");
                let key = key.to_string_lossy().into_owned();
                found.insert(key, std::fs::read(&path).expect("readable file"));
            }
        }
    }
    found
}

/// Every temporary file (name ending in `.tmp`) under `dir`.
pub fn temp_files(dir: &Path) -> Vec<PathBuf> {
    files_under(dir)
        .into_keys()
        .filter(|k| k.ends_with(".tmp"))
        .map(|k| dir.join(k))
        .collect()
}

pub fn stamp(ticket: &Value) -> (u64, i64) {
    (
        ticket["id"].as_u64().expect("id"),
        ticket["generated_timestamp"]
            .as_i64()
            .expect("generated_timestamp"),
    )
}

/// A compiled-code cache in cargo's per-target temporary directory, shared by the test run.
pub fn cache_dir() -> String {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("compiled-component-cache")
        .to_string_lossy()
        .into_owned()
}

/// Sorted, and asserted free of duplicates.
pub fn sorted_unique(mut v: Vec<(u64, i64)>) -> Vec<(u64, i64)> {
    let n = v.len();
    v.sort();
    v.dedup();
    assert_eq!(v.len(), n, "a ticket version was stored twice");
    v
}

/// The simulator's ground truth, sorted.
pub fn visible(sim: &Simulator) -> Vec<(u64, i64)> {
    let mut v = sim.tickets_visible();
    v.sort();
    v
}
