//! Configuring GCS: `GCS_BUCKET` beside `S3_BUCKET` or `--out`, both prefix names, and a feed
//! of a feeds file storing in a bucket of its own under `GCS_PREFIX`.

use std::collections::BTreeMap;

use super::Bucket;
use crate::harness::{Collector, T0, simulator, sorted_unique, tickets_in};

#[test]
fn gcs_bucket_with_s3_bucket_or_out_and_both_prefix_names_are_configuration_errors() {
    let sim = simulator();
    let mut with_out = Collector::new(&sim);
    with_out.env("GCS_BUCKET", "b");
    let pass = with_out.run(&sim);
    assert_eq!(pass.code, 2, "{}", pass.output());
    assert!(
        pass.stderr
            .contains("GCS_BUCKET is set together with --out (ZENDESK_CRM_OUT)"),
        "{}",
        pass.stderr
    );
    let mut with_s3 = Collector::new(&sim);
    with_s3
        .without_out()
        .env("GCS_BUCKET", "b")
        .env("S3_BUCKET", "b");
    let pass = with_s3.run(&sim);
    assert_eq!(pass.code, 2, "{}", pass.output());
    assert!(
        pass.stderr
            .contains("GCS_BUCKET is set together with S3_BUCKET"),
        "{}",
        pass.stderr
    );
    let mut prefixes = Collector::new(&sim);
    prefixes.env("GCS_PREFIX", "a/").env("S3_PREFIX", "b/");
    let pass = prefixes.run(&sim);
    assert_eq!(pass.code, 2, "{}", pass.output());
    assert!(
        pass.stderr
            .contains("set only one of S3_PREFIX and GCS_PREFIX"),
        "{}",
        pass.stderr
    );
}

#[test]
fn a_feed_stores_in_a_gcs_bucket_of_its_own_and_gcs_prefix_names_its_prefix() {
    let acme = simulator();
    acme.add_tickets(1, 15, T0 - 1000);
    let beta = simulator();
    beta.add_tickets(500, 6, T0 - 1000);
    let bucket = Bucket::new();
    let dir = tempfile::tempdir().unwrap();
    let feeds = dir.path().join("feeds.toml");
    std::fs::write(
        &feeds,
        format!(
            "[[feed]]\nname = \"acme\"\nbase_url = \"{}\"\napi_token_env = \"ACME_TOKEN\"\n\
             state_key = \"acme/state.json\"\ngcs_bucket = \"{}\"\n\n\
             [[feed]]\nname = \"beta\"\nbase_url = \"{}\"\napi_token_env = \"BETA_TOKEN\"\n\
             prefix = \"beta/\"\nstate_key = \"beta/state.json\"\n",
            acme.base_url(),
            bucket.name,
            beta.base_url()
        ),
    )
    .unwrap();
    let out = dir.path().join("out");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_zendesk-crm"))
        .env_clear()
        .env("ACME_TOKEN", &acme.config().api_token)
        .env("BETA_TOKEN", &beta.config().api_token)
        .env("ZENDESK_EMAIL", "agent@example.com")
        .env("START_TIME", "0")
        .env("RESOURCES", "incremental_tickets")
        .env("GCS_PREFIX", "acme/")
        .env("STORAGE_EMULATOR_HOST", bucket.proxy.host())
        .env("ZENDESK_CRM_CACHE_DIR", crate::harness::cache_dir())
        .env("ZENDESK_CRM_PASS_START", T0.to_string())
        .args(["run", "--feeds"])
        .arg(&feeds)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let bodies = bucket.bodies();
    assert!(
        bodies.contains_key("acme/state.json"),
        "{:?}",
        bodies.keys()
    );
    assert!(
        bodies.keys().all(|k| k.starts_with("acme/")),
        "{:?}",
        bodies.keys()
    );
    assert_eq!(tickets_in_prefix(&bodies, "acme/").len(), 15);
    assert!(
        out.join("beta/state.json").exists(),
        "beta keeps the local store"
    );
}

fn tickets_in_prefix(bodies: &BTreeMap<String, Vec<u8>>, prefix: &str) -> Vec<(u64, i64)> {
    let under: BTreeMap<String, Vec<u8>> = bodies
        .iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    sorted_unique(tickets_in(&under))
}
