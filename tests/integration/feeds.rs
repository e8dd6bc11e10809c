//! Many accounts in one process: a feeds file with several accounts, each on a simulator of
//! its own, through `run --feeds` and `serve --feeds`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use zendesk_crm_tests::{Fault, Simulator};

use crate::harness::{T0, cache_dir, simulator, sorted_unique, visible};
use crate::schedule::{lines, sigterm, wait_for};

/// A feeds file and the directory everything is stored in, with one environment variable
/// per feed holding its token.
struct Feeds {
    dir: tempfile::TempDir,
    env: BTreeMap<String, String>,
}

impl Feeds {
    fn new() -> Feeds {
        Feeds {
            dir: tempfile::tempdir().expect("temp dir"),
            env: BTreeMap::new(),
        }
    }

    /// Writes the feeds file from `(name, simulator base URL, token)`; every feed stores under
    /// its own prefix and checkpoint in one shared directory.
    fn write(&mut self, feeds: &[(&str, String, String)], extra: &str) {
        let mut text = String::new();
        for (name, base_url, token) in feeds {
            let var = format!("{}_ZENDESK_TOKEN", name.to_uppercase());
            self.env.insert(var.clone(), token.clone());
            text.push_str(&format!(
                "[[feed]]\nname = \"{name}\"\nbase_url = \"{base_url}\"\n\
                 api_token_env = \"{var}\"\nprefix = \"{name}/\"\nstate_key = \"{name}/state.json\"\n{extra}\n"
            ));
        }
        std::fs::write(self.file(), text).expect("feeds file");
    }

    fn file(&self) -> std::path::PathBuf {
        self.dir.path().join("feeds.toml")
    }

    fn out(&self) -> std::path::PathBuf {
        self.dir.path().join("out")
    }

    fn command(&self, subcommand: &str, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_zendesk-crm"));
        command
            .env_clear()
            .envs(&self.env)
            .env("ZENDESK_EMAIL", "agent@example.com")
            .env("START_TIME", "0")
            .env("RESOURCES", "incremental_tickets")
            .env("PAGE_SIZE", "10")
            .env("HTTP_RETRIES", "0")
            .env("RUST_LOG", "info")
            .env("ZENDESK_CRM_CACHE_DIR", cache_dir())
            .env("ZENDESK_CRM_PASS_START", T0.to_string())
            .arg(subcommand)
            .arg("--feeds")
            .arg(self.file())
            .arg("--out")
            .arg(self.out())
            .args(args);
        command
    }

    /// (id, generated_timestamp) of every ticket stored under `feed`'s prefix.
    fn stored_tickets(&self, feed: &str) -> Vec<(u64, i64)> {
        let mut all = Vec::new();
        let root = self.out().join(feed);
        for path in files(&root) {
            let name = path.to_string_lossy().into_owned();
            if !name.ends_with(".json") || name.ends_with("state.json") {
                continue;
            }
            let page: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            for t in page["tickets"].as_array().expect("tickets") {
                all.push(crate::harness::stamp(t));
            }
        }
        all
    }
}

fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files(&path));
        } else {
            found.push(path);
        }
    }
    found
}

/// Summary lines by feed.
fn by_feed(stdout: &str) -> BTreeMap<String, Value> {
    stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            (v["feed"].as_str().expect("feed").to_owned(), v)
        })
        .collect()
}

fn sim_with_tickets(first: u64, count: u64) -> Simulator {
    let sim = simulator();
    sim.add_tickets(first, count, T0 - 1000);
    sim
}

#[test]
fn run_collects_every_feed_and_reports_a_failing_one_alone() {
    let acme = sim_with_tickets(1, 35);
    let beta = sim_with_tickets(500, 12);
    let wrong = sim_with_tickets(1, 5);
    let down_url = {
        let down = simulator();
        down.base_url()
        // Dropped here: nothing listens on its port any more.
    };
    let token = |s: &Simulator| s.config().api_token.clone();
    let mut feeds = Feeds::new();
    feeds.write(
        &[
            ("acme", acme.base_url(), token(&acme)),
            ("wrong", wrong.base_url(), "not-the-token".to_owned()),
            ("down", down_url, "whatever".to_owned()),
            ("torn", acme.base_url(), token(&acme)),
            ("beta", beta.base_url(), token(&beta)),
        ],
        "",
    );
    let torn_state = feeds.out().join("torn/state.json");
    std::fs::create_dir_all(torn_state.parent().unwrap()).unwrap();
    std::fs::write(&torn_state, b"{\"version\": 1, \"resour").unwrap();
    let output = feeds
        .command("run", &["--max-concurrent-passes", "2"])
        .env("LOG_FORMAT", "json")
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The first failing feed in file order sets the code: a resource failed.
    assert_eq!(output.status.code(), Some(3), "{stdout}\n{stderr}");
    let summaries = by_feed(&stdout);
    assert_eq!(summaries.len(), 5, "{stdout}");
    for healthy in ["acme", "beta"] {
        assert_eq!(summaries[healthy]["ok"], true, "{}", summaries[healthy]);
    }
    assert_eq!(sorted_unique(feeds.stored_tickets("acme")), visible(&acme));
    assert_eq!(sorted_unique(feeds.stored_tickets("beta")), visible(&beta));
    let error = |feed: &str| summaries[feed]["resources"][0]["error"]["kind"].clone();
    assert_eq!(error("wrong"), "unauthorized");
    assert_eq!(error("down"), "transport");
    assert!(feeds.stored_tickets("wrong").is_empty());
    assert_eq!(summaries["torn"]["error"]["kind"], "corrupt_checkpoint");
    assert_eq!(
        std::fs::read(&torn_state).unwrap(),
        b"{\"version\": 1, \"resour",
        "a corrupt checkpoint is left as it is"
    );
    // Each failure is logged under its own feed, and no token is printed anywhere.
    assert!(
        stderr
            .lines()
            .any(|l| l.contains(r#""feed":"wrong""#) && l.contains("resource failed")),
        "{stderr}"
    );
    assert!(
        !stderr
            .lines()
            .any(|l| l.contains(r#""feed":"acme""#) && l.contains("resource failed")),
        "{stderr}"
    );
    for secret in [token(&acme), "not-the-token".to_owned()] {
        assert!(!stdout.contains(&secret) && !stderr.contains(&secret));
    }

    // A fixed token is a fixed feed: the next run completes it and changes nothing else.
    feeds
        .env
        .insert("WRONG_ZENDESK_TOKEN".into(), token(&wrong));
    let again = feeds.command("run", &[]).output().expect("run");
    let summaries = by_feed(&String::from_utf8_lossy(&again.stdout));
    assert_eq!(summaries["wrong"]["ok"], true);
    assert_eq!(summaries["acme"]["resources"][0]["objects_created"], 0);
    assert_eq!(
        sorted_unique(feeds.stored_tickets("wrong")),
        visible(&wrong)
    );
}

#[test]
fn serve_runs_every_feed_on_its_interval_and_stops_cleanly() {
    let sims: Vec<(&str, Simulator)> = vec![
        ("acme", sim_with_tickets(1, 25)),
        ("beta", sim_with_tickets(100, 15)),
        ("gamma", sim_with_tickets(1000, 8)),
    ];
    let mut feeds = Feeds::new();
    let list: Vec<(&str, String, String)> = sims
        .iter()
        .map(|(name, sim)| (*name, sim.base_url(), sim.config().api_token.clone()))
        .collect();
    feeds.write(&list, "every = \"1s\"");
    let mut child = feeds
        .command(
            "serve",
            &[
                "--max-concurrent-passes",
                "2",
                "--metrics-addr",
                "127.0.0.1:0",
            ],
        )
        .env("LOG_FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve");
    let stdout = lines(child.stdout.take().expect("stdout"));
    let stderr = lines(child.stderr.take().expect("stderr"));
    let listening: Value = serde_json::from_str(&wait_for(&stderr, "metrics listening")).unwrap();
    let addr = listening["fields"]["addr"]
        .as_str()
        .expect("addr")
        .to_owned();

    // A first pass of each feed, then new data everywhere and a slow page for one.
    let mut seen = BTreeMap::new();
    while seen.len() < sims.len() {
        let line: Value = serde_json::from_str(&wait_for(&stdout, "\"feed\"")).unwrap();
        seen.insert(line["feed"].as_str().unwrap().to_owned(), line);
    }
    assert_eq!(seen["acme"]["resources"][0]["records"], 25);
    let scraped = zendesk_crm_tests::raw_http::get(&format!("http://{addr}"), "/metrics", &[])
        .expect("scrape");
    let text = String::from_utf8(scraped.body).unwrap();
    for (name, _) in &sims {
        assert!(
            text.contains(&format!(
                "zendesk_crm_records_total{{feed=\"{name}\",resource=\"incremental_tickets\"}}"
            )),
            "{text}"
        );
    }
    for (i, (_, sim)) in sims.iter().enumerate() {
        sim.add_tickets(5000 + 100 * i as u64, 12, T0 - 500);
    }
    sims[0].1.push_fault(Fault::Delay { ms: 1500 });
    let _ = wait_for(&stderr, "pass starting");
    std::thread::sleep(Duration::from_millis(500));
    sigterm(&child);
    let status = child.wait().expect("serve exits");
    assert_eq!(status.code(), Some(0));

    // Nothing was lost and nothing stored twice: one more run completes every feed.
    let after = feeds.command("run", &[]).output().expect("run");
    assert_eq!(
        after.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&after.stderr)
    );
    for (name, sim) in &sims {
        assert_eq!(
            sorted_unique(feeds.stored_tickets(name)),
            visible(sim),
            "{name}"
        );
    }
}

#[test]
fn a_bad_feeds_file_is_a_configuration_error_naming_the_line() {
    let sim = simulator();
    let good = format!(
        "[[feed]]\nname = \"acme\"\nbase_url = \"{}\"\napi_token_env = \"ACME_ZENDESK_TOKEN\"\n\
         state_key = \"acme/state.json\"\n",
        sim.base_url()
    );
    let cases = [
        (
            good.replace("state_key", "stat_key"),
            vec!["line 5", "unknown field `stat_key`"],
        ),
        (
            format!("{good}\n{}", good.replace("acme/state", "other/state")),
            vec!["line 8", "\"acme\" is already used on line 2"],
        ),
        (
            good.replace(
                "api_token_env = \"ACME_ZENDESK_TOKEN\"",
                "api_token = \"sim-api-token-0123456789\"",
            ),
            vec!["line 4", "`api_token` would put a secret in the feeds file"],
        ),
    ];
    for (text, expected) in cases {
        let mut feeds = Feeds::new();
        std::fs::write(feeds.file(), &text).unwrap();
        feeds
            .env
            .insert("ACME_ZENDESK_TOKEN".into(), sim.config().api_token.clone());
        let output = feeds.command("run", &[]).output().expect("run");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        for needle in expected {
            assert!(stderr.contains(needle), "{needle:?} not in {stderr}");
        }
        assert!(!stderr.contains("sim-api-token-0123456789"), "{stderr}");
        assert!(sim.requests().is_empty(), "nothing may run on a bad file");
    }
}
