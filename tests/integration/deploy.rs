//! The deployment recipes in deploy/, checked as shipped: the systemd unit and timer pass
//! `systemd-analyze verify`, the systemd service and each Kubernetes CronJob run their command
//! line as written against simulators (only paths, base URLs and the clock substituted), and
//! the container image runs that same command line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use serde_yaml_ng::Value as Yaml;
use zendesk_crm_tests::{SimConfig, Simulator};

use crate::harness::{T0, cache_dir, simulator_with, sorted_unique, stamp};

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
            for file in files(&out.join(prefix)) {
                let Ok(page) = serde_json::from_slice::<Value>(&std::fs::read(&file).unwrap())
                else {
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

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files(&path));
        } else {
            found.push(path);
        }
    }
    found
}

#[test]
fn the_systemd_unit_and_timer_pass_systemd_analyze_verify() {
    // scripts/setup installs it; without it the recipe would go unverified, so this fails.
    assert!(
        Command::new("systemd-analyze")
            .arg("--version")
            .output()
            .is_ok(),
        "systemd-analyze is not installed: run scripts/setup (Debian package: systemd)"
    );
    let dir = tempfile::tempdir().unwrap();
    // verify checks that ExecStart exists: point it at the binary under test.
    let service = deploy("systemd/zendesk-crm.service")
        .replace(BINARY_AS_INSTALLED, env!("CARGO_BIN_EXE_zendesk-crm"));
    std::fs::write(dir.path().join("zendesk-crm.service"), service).unwrap();
    std::fs::write(
        dir.path().join("zendesk-crm.timer"),
        deploy("systemd/zendesk-crm.timer"),
    )
    .unwrap();
    let output = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(dir.path().join("zendesk-crm.service"))
        .arg(dir.path().join("zendesk-crm.timer"))
        .output()
        .expect("systemd-analyze");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    // A misspelt directive is only a warning to systemd; here it fails.
    assert!(
        stderr.trim().is_empty(),
        "systemd-analyze warned:\n{stderr}"
    );
}

#[test]
fn the_systemd_service_runs_its_command_as_written() {
    let unit = deploy("systemd/zendesk-crm.service");
    let root = tempfile::tempdir().unwrap();
    let paths = vec![
        ("/etc/zendesk-crm".to_owned(), root.path().join("etc")),
        (
            "/run/credentials/zendesk-crm.service".to_owned(),
            root.path().join("credentials"),
        ),
        ("/var/lib/zendesk-crm".to_owned(), root.path().join("state")),
        (
            "/var/cache/zendesk-crm".to_owned(),
            PathBuf::from(cache_dir()),
        ),
    ];
    let accounts = Accounts::start(
        &deploy("systemd/feeds.toml"),
        &paths,
        &root.path().join("etc/feeds.toml"),
    );
    // Every LoadCredential= names a token a feed reads.
    for credential in unit_values(&unit, "LoadCredential") {
        let name = credential.split(':').next().unwrap();
        assert!(
            root.path().join("credentials").join(name).exists(),
            "{name}"
        );
    }
    let env: Vec<(String, String)> = unit_values(&unit, "Environment")
        .iter()
        .map(|kv| {
            let (k, v) = kv.split_once('=').expect("Environment=KEY=value");
            (k.to_owned(), v.to_owned())
        })
        .collect();
    let output = run_as_written(&systemd_command(), &env, &paths);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    accounts.assert_collected(&root.path().join("state"));
}

#[test]
fn each_kubernetes_cronjob_runs_its_shard_as_written() {
    let all = manifests();
    let config_map = all
        .iter()
        .find(|d| d["kind"] == "ConfigMap")
        .expect("a ConfigMap of feeds");
    // Shards share one data volume; each has its own pods and so its own other volumes.
    let data = tempfile::tempdir().unwrap();
    let mut feeds_seen = Vec::new();
    for job in cronjobs(&all) {
        let name = job["metadata"]["name"].as_str().unwrap();
        assert_eq!(job["spec"]["concurrencyPolicy"], "Forbid", "{name}");
        let pod = &job["spec"]["jobTemplate"]["spec"]["template"]["spec"];
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true, "{name}");
        let c = container(job);
        assert_eq!(
            c["securityContext"]["readOnlyRootFilesystem"], true,
            "{name}"
        );
        assert_eq!(
            c["securityContext"]["allowPrivilegeEscalation"], false,
            "{name}"
        );
        assert!(c["resources"]["limits"]["memory"].is_string(), "{name}");

        let pod_dir = tempfile::tempdir().unwrap();
        let volumes: BTreeMap<&str, &Yaml> = pod["volumes"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|v| (v["name"].as_str().unwrap(), v))
            .collect();
        let mut paths = Vec::new();
        let mut feeds_file = None;
        for mount in c["volumeMounts"].as_sequence().unwrap() {
            let at = mount["mountPath"].as_str().unwrap().to_owned();
            let volume = volumes[mount["name"].as_str().unwrap()];
            let dir = if volume["persistentVolumeClaim"].is_mapping() {
                data.path().to_owned()
            } else {
                pod_dir.path().join(mount["name"].as_str().unwrap())
            };
            std::fs::create_dir_all(&dir).unwrap();
            if volume["configMap"].is_mapping() {
                let item = &volume["configMap"]["items"][0];
                let text = config_map["data"][item["key"].as_str().unwrap()]
                    .as_str()
                    .expect("the shard's feeds file is in the ConfigMap")
                    .to_owned();
                feeds_file = Some((text, dir.join(item["path"].as_str().unwrap())));
            }
            paths.push((at, dir));
        }
        let (text, write_to) = feeds_file.expect("a mounted feeds file");
        let accounts = Accounts::start(&text, &paths, &write_to);
        feeds_seen.extend(accounts.sims.keys().cloned());

        let env: Vec<(String, String)> = c["env"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["name"].as_str().unwrap().to_owned(),
                    e["value"]
                        .as_str()
                        .expect("plain values; secrets are files")
                        .to_owned(),
                )
            })
            .collect();
        let mut argv = strings(&c["command"]);
        argv.extend(strings(&c["args"]));
        let output = run_as_written(&argv, &env, &paths);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{name}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        accounts.assert_collected(data.path());
    }
    feeds_seen.sort();
    let before = feeds_seen.len();
    feeds_seen.dedup();
    assert_eq!(before, feeds_seen.len(), "a feed is in two shards");
}

#[test]
fn the_container_image_runs_the_command_the_other_recipes_run() {
    let containerfile = deploy("Containerfile");
    let instruction = |name: &str| -> Vec<String> {
        let line = containerfile
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no {name}"));
        serde_json::from_str(line).unwrap_or_else(|e| panic!("{name} is not exec form: {e}"))
    };
    let mut image = instruction("ENTRYPOINT");
    image.extend(instruction("CMD"));
    assert_eq!(image, systemd_command());
    for job in cronjobs(&manifests()) {
        let c = container(job);
        let mut argv = strings(&c["command"]);
        argv.extend(strings(&c["args"]));
        assert_eq!(argv, image);
    }
    // A non-root user, and the compiled-code cache where every recipe gives a writable volume.
    let user = containerfile
        .lines()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("USER");
    assert!(
        !user.starts_with('0') && !user.starts_with("root"),
        "{user}"
    );
    assert!(containerfile.contains("ZENDESK_CRM_CACHE_DIR=/var/cache/zendesk-crm"));
    assert!(containerfile.contains("wasm32-wasip2"));
    assert!(
        unit_values(&deploy("systemd/zendesk-crm.service"), "Environment")
            .contains(&"ZENDESK_CRM_CACHE_DIR=/var/cache/zendesk-crm")
    );
}

/// The Cloud Run job (deploy/cloudrun/job.yaml) as written: the image's entrypoint with the
/// job's arguments and environment, the OAuth client secret where the Secret Manager volume
/// mounts it, and the recipe's own bucket on the GCS emulator (only the base URL, the mount
/// path and the clock substituted, and `STORAGE_EMULATOR_HOST` added).
#[test]
fn the_cloud_run_job_runs_its_arguments_and_environment_as_written() {
    let text = deploy("cloudrun/job.yaml");
    let job: Yaml = serde_yaml_ng::from_str(&text).expect("valid YAML");
    assert_eq!(job["kind"], "Job");
    let task = &job["spec"]["template"]["spec"]["template"]["spec"];
    let container = &task["containers"][0];
    assert!(
        deploy("Containerfile").contains(&format!("ENTRYPOINT [\"{BINARY_AS_INSTALLED}\"]")),
        "the image's entrypoint is the installed binary"
    );
    let mut argv = vec![BINARY_AS_INSTALLED.to_owned()];
    argv.extend(strings(&container["args"]));
    let env: Vec<(String, String)> = container["env"]
        .as_sequence()
        .expect("env")
        .iter()
        .map(|e| {
            (
                e["name"].as_str().expect("name").to_owned(),
                e["value"].as_str().expect("a literal value").to_owned(),
            )
        })
        .collect();
    let var = |name: &str| {
        env.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("the job sets {name}"))
    };
    assert_eq!(var("AUTH_MODE"), "client_credentials");
    assert!(
        !env.iter()
            .any(|(k, _)| k == "ZENDESK_CLIENT_SECRET" || k == "ZENDESK_API_TOKEN"),
        "the secret is a mounted file, never a variable"
    );

    // The secret volume: Secret Manager's latest version, at mountPath/path.
    let mount = &container["volumeMounts"][0];
    let volume = task["volumes"]
        .as_sequence()
        .expect("volumes")
        .iter()
        .find(|v| v["name"] == mount["name"])
        .expect("the mounted volume");
    let mount_path = mount["mountPath"].as_str().expect("mountPath").to_owned();
    let secret_path = format!(
        "{mount_path}/{}",
        volume["secret"]["items"][0]["path"].as_str().expect("path")
    );
    assert_eq!(var("ZENDESK_CLIENT_SECRET_FILE"), secret_path);

    let sim = simulator_with(SimConfig {
        oauth_client: zendesk_crm_tests::OAuthClientConfig {
            id: var("ZENDESK_CLIENT_ID"),
            secret: "secret-of-the-job".into(),
            ..Default::default()
        },
        ..SimConfig::default()
    });
    // After 2027-04-30 an API token would not do.
    sim.refuse_api_tokens(true);
    sim.add_tickets(1, 25, T0 - 1000);
    sim.add_audit_events(1, 7, T0 - 1000);
    let secrets = tempfile::tempdir().unwrap();
    std::fs::write(secrets.path().join("client-secret"), "secret-of-the-job\n").unwrap();

    let emulator = zendesk_crm_tests::gcs::Emulator::shared();
    // A bucket of this test's own, so that tests running together do not share one.
    let bucket = format!("{}-{}", var("GCS_BUCKET"), std::process::id());
    emulator.create_bucket(&bucket);
    let proxy = zendesk_crm_tests::gcs::GcsProxy::start(emulator.port());
    let mut run_env: Vec<(String, String)> = env
        .iter()
        .cloned()
        .map(|(k, v)| match k.as_str() {
            "ZENDESK_BASE_URL" => (k, sim.base_url()),
            "GCS_BUCKET" => (k, bucket.clone()),
            _ => (k, v),
        })
        .collect();
    run_env.push(("STORAGE_EMULATOR_HOST".into(), proxy.host()));
    run_env.push(("ZENDESK_CRM_CACHE_DIR".into(), cache_dir()));
    let out = run_as_written(&argv, &run_env, &[(mount_path, secrets.path().to_owned())]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_str(stdout.trim()).expect("one JSON summary");
    assert_eq!(
        summary["checkpoint"],
        format!("gs://{bucket}/{}", var("STATE_KEY"))
    );
    let objects = emulator.objects(&bucket);
    assert!(
        objects.contains_key(&var("STATE_KEY")),
        "{:?}",
        objects.keys()
    );
    let prefix = var("GCS_PREFIX");
    let mut tickets = Vec::new();
    let mut audit = 0;
    for (key, o) in &objects {
        if !key.starts_with(&prefix) {
            continue;
        }
        let page: Value = serde_json::from_slice(&o.body).expect("a JSON page");
        if let Some(t) = page["tickets"].as_array() {
            tickets.extend(t.iter().map(stamp));
        }
        audit += page["audit_logs"].as_array().map_or(0, Vec::len);
    }
    let mut visible = sim.tickets_visible();
    visible.sort();
    assert_eq!(sorted_unique(tickets), visible);
    assert_eq!(audit, 7);
}
