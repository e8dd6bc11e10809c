//! The container image: its `ENTRYPOINT` and `CMD` are the command line the other recipes run,
//! and the Cloud Run job runs the image's arguments and environment as written.

use serde_json::Value;
use serde_yaml_ng::Value as Yaml;
use zendesk_crm_tests::SimConfig;

use super::{
    BINARY_AS_INSTALLED, container, cronjobs, deploy, manifests, run_as_written, strings,
    systemd_command, unit_values,
};
use crate::harness::{T0, cache_dir, simulator_with, sorted_unique, stamp};

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
