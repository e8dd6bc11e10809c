//! The deployment recipes in deploy/, checked as shipped: the systemd unit and timer pass
//! `systemd-analyze verify`, the systemd service and each Kubernetes CronJob run their command
//! line as written against simulators (only paths, base URLs and the clock substituted), and
//! the container image runs that same command line.
//!
//! This file reads the recipes and runs a command line as a recipe wrote it, against one
//! simulator per feed of the recipe's feeds file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use serde_yaml_ng::Value as Yaml;
use zendesk_crm_tests::{SimConfig, Simulator};

use crate::harness::{T0, files_under, simulator_with, sorted_unique, stamp};

/// The container image's command line, and the Cloud Run job that runs the image.
mod container;
/// Each Kubernetes CronJob, one shard of the feeds each, run as written.
mod kubernetes;
/// The systemd unit and timer verified, and the service run as written.
mod systemd;

const BINARY_AS_INSTALLED: &str = "/usr/local/bin/zendesk-crm";

fn deploy(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy")
        .join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// `key=value` lines of one key in a systemd unit, in order.
fn unit_values<'a>(unit: &'a str, key: &str) -> Vec<&'a str> {
    unit.lines()
        .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .collect()
}

fn systemd_command() -> Vec<String> {
    let unit = deploy("systemd/zendesk-crm.service");
    let exec = unit_values(&unit, "ExecStart");
    assert_eq!(exec.len(), 1, "one ExecStart");
    exec[0].split_whitespace().map(str::to_owned).collect()
}

fn manifests() -> Vec<Yaml> {
    let text = deploy("kubernetes/zendesk-crm.yaml");
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|doc| serde::Deserialize::deserialize(doc).expect("valid YAML"))
        .collect()
}

fn cronjobs(all: &[Yaml]) -> Vec<&Yaml> {
    let jobs: Vec<&Yaml> = all.iter().filter(|d| d["kind"] == "CronJob").collect();
    assert!(jobs.len() >= 2, "one CronJob per shard");
    jobs
}

fn strings(v: &Yaml) -> Vec<String> {
    v.as_sequence()
        .expect("a list")
        .iter()
        .map(|s| s.as_str().expect("a string").to_owned())
        .collect()
}

fn container(job: &Yaml) -> &Yaml {
    &job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
}

/// Runs `argv` as a recipe wrote it, with each path prefix of `paths` (recipe path -> test
/// directory) replaced in the arguments and environment, at the simulators' clock.
fn run_as_written(
    argv: &[String],
    env: &[(String, String)],
    paths: &[(String, PathBuf)],
) -> std::process::Output {
    let map = |s: &str| {
        let mut s = s.to_owned();
        for (from, to) in paths {
            s = s.replace(from.as_str(), &to.to_string_lossy());
        }
        s
    };
    assert_eq!(argv[0], BINARY_AS_INSTALLED);
    Command::new(env!("CARGO_BIN_EXE_zendesk-crm"))
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.clone(), map(v))))
        .env("ZENDESK_CRM_PASS_START", T0.to_string())
        .args(argv[1..].iter().map(|a| map(a)))
        .output()
        .expect("running zendesk-crm")
}

/// One simulator per feed of `feeds_toml` (with the feed's e-mail, tickets and audit events),
/// the file rewritten to point at them, and each token written where the feed looks for it.
struct Accounts {
    sims: BTreeMap<String, (Simulator, String)>,
}

impl Accounts {
    fn start(feeds_toml: &str, paths: &[(String, PathBuf)], write_to: &Path) -> Accounts {
        let parsed: toml::Table =
            toml::from_str(feeds_toml).expect("the recipe's feeds file is TOML");
        let mut text = feeds_toml.to_owned();
        let mut sims = BTreeMap::new();
        for (i, feed) in parsed["feed"]
            .as_array()
            .expect("[[feed]]")
            .iter()
            .enumerate()
        {
            let name = feed["name"].as_str().expect("name").to_owned();
            // A recipe's feed uses an API token or (as the recipes now do) an OAuth client.
            let oauth = feed.get("client_secret_file").is_some();
            let secret = format!("token-of-{name}");
            let sim = simulator_with(SimConfig {
                email: feed
                    .get("email")
                    .and_then(|e| e.as_str())
                    .unwrap_or("agent@example.com")
                    .to_owned(),
                api_token: secret.clone(),
                oauth_client: zendesk_crm_tests::OAuthClientConfig {
                    id: feed
                        .get("client_id")
                        .and_then(|c| c.as_str())
                        .unwrap_or("none")
                        .to_owned(),
                    secret: secret.clone(),
                    ..Default::default()
                },
                ..SimConfig::default()
            });
            if oauth {
                // After 2027-04-30 an API token would not do.
                sim.refuse_api_tokens(true);
            }
            sim.add_tickets(1 + 1000 * i as u64, 25, T0 - 1000);
            sim.add_audit_events(1 + 1000 * i as u64, 7, T0 - 1000);
            let base_url = feed["base_url"].as_str().expect("base_url");
            text = text.replace(
                &format!("\"{base_url}\""),
                &format!("\"{}\"", sim.base_url()),
            );
            let token_at = feed
                .get("client_secret_file")
                .or_else(|| feed.get("api_token_file"))
                .and_then(|f| f.as_str())
                .expect("client_secret_file or api_token_file");
            let (from, to) = paths
                .iter()
                .find(|(from, _)| token_at.starts_with(from.as_str()))
                .expect("the token is on a mounted path");
            let file = PathBuf::from(token_at.replacen(from.as_str(), &to.to_string_lossy(), 1));
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, format!("token-of-{name}\n")).unwrap();
            let prefix = feed["prefix"].as_str().expect("prefix").to_owned();
            sims.insert(name, (sim, prefix));
        }
        for (from, to) in paths {
            text = text.replace(from.as_str(), &to.to_string_lossy());
        }
        std::fs::create_dir_all(write_to.parent().unwrap()).unwrap();
        std::fs::write(write_to, text).unwrap();
        Accounts { sims }
    }

    /// Every feed's tickets are stored, once each, under its own prefix in `out`.
    fn assert_collected(&self, out: &Path) {
        for (name, (sim, prefix)) in &self.sims {
            let mut stored = Vec::new();
            for body in files_under(&out.join(prefix)).values() {
                let Ok(page) = serde_json::from_slice::<Value>(body) else {
                    continue;
                };
                if let Some(tickets) = page["tickets"].as_array() {
                    stored.extend(tickets.iter().map(stamp));
                }
            }
            let mut visible = sim.tickets_visible();
            visible.sort();
            assert_eq!(sorted_unique(stored), visible, "feed {name}");
        }
    }
}
