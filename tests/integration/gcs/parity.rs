//! GCS holds what a local directory holds: the same keys and bodies for all three resources,
//! from `run` and from `serve`, and the same gzip bytes marked `contentEncoding: gzip`.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::process::Stdio;

use serde_json::Value;

use super::Bucket;
use crate::buckets::{DEFAULT_STATE_KEY, OUTSIDE_STATE_KEY, assert_ok};
use crate::harness::{Collector, T0, simulator, sorted_unique, tickets_in, visible};
use crate::schedule::{lines, sigterm, wait_for};

#[test]
fn gcs_holds_the_same_keys_and_bodies_as_a_local_directory_for_all_three_resources() {
    let sim = simulator();
    sim.add_tickets(1, 150, T0 - 5000);
    sim.add_audit_events(1, 30, T0 - 5000);
    sim.add_access_events(12, T0 - 5000);
    let bucket = Bucket::new();
    let mut gcs = bucket.collector(&sim);
    let mut local = Collector::new(&sim);
    for c in [&mut gcs, &mut local] {
        c.env("PAGE_SIZE", 100)
            .env("RESOURCES", "incremental_tickets,audit_logs,access_logs");
    }
    for round in 0..2 {
        let (a, b) = (gcs.run(&sim), local.run(&sim));
        assert_ok(&a);
        assert_ok(&b);
        assert_eq!(a.summary()["first_run"], round == 0);
        assert_eq!(
            a.summary()["checkpoint"],
            format!("gs://{}/{DEFAULT_STATE_KEY}", bucket.name)
        );
        let mut expected = local.objects();
        expected.insert(
            DEFAULT_STATE_KEY.to_owned(),
            std::fs::read(local.state_path()).expect("local checkpoint"),
        );
        assert_eq!(bucket.bodies(), expected, "round {round}");
        assert!(
            a.stderr.contains("STATE_KEY lies under the object prefix"),
            "{}",
            a.stderr
        );
        sim.advance(600);
        sim.add_tickets(1000 + round * 10, 5, T0 + 100 + round as i64 * 600);
    }
    let objects = bucket.objects();
    for resource in ["incremental_tickets", "audit_logs", "access_logs"] {
        assert!(
            objects
                .keys()
                .any(|k| k.contains(&format!("-zendesk-{resource}."))),
            "{resource}: {:?}",
            objects.keys()
        );
    }
    // The 150 of the start and the 5 added after the first round (the last 5 arrive after
    // the last pass).
    assert_eq!(sorted_unique(tickets_in(&bucket.bodies())).len(), 155);
    for (key, o) in &objects {
        assert!(o.metadata.is_empty(), "{key}: {:?}", o.metadata);
    }
    // What the collector asked for (the emulator drops a multipart upload's contentType).
    for (key, metadata) in bucket.uploads() {
        assert_eq!(metadata["contentType"], "application/json", "{key}");
        assert!(metadata.get("contentEncoding").is_none(), "{key}");
        assert!(metadata.get("metadata").is_none(), "{key}: {metadata}");
    }
    // Every upload was conditional and the emulator was reached (nothing answered by the
    // proxy but the checks it makes itself).
    let uploads: Vec<_> = bucket
        .proxy
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert!(!uploads.is_empty());
    assert!(
        uploads
            .iter()
            .all(|r| r.target.contains("ifGenerationMatch=")),
        "{uploads:#?}"
    );
}

#[test]
fn serve_collects_every_resource_into_gcs_and_stops_cleanly() {
    let sim = simulator();
    sim.add_tickets(1, 20, T0 - 5000);
    sim.add_audit_events(1, 7, T0 - 5000);
    sim.add_access_events(4, T0 - 5000);
    let bucket = Bucket::new();
    let mut c = bucket.collector(&sim);
    c.env("RESOURCES", "incremental_tickets,audit_logs,access_logs")
        .env("STATE_KEY", OUTSIDE_STATE_KEY);
    let mut child = c
        .command("serve", sim.now())
        .args(["--every", "1h"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve");
    let stdout = lines(child.stdout.take().expect("stdout"));
    let _stderr = lines(child.stderr.take().expect("stderr"));
    let summary: Value = serde_json::from_str(&wait_for(&stdout, "\"resources\"")).unwrap();
    sigterm(&child);
    let status = child.wait().expect("serve exits");
    assert_eq!(status.code(), Some(0));
    assert_eq!(summary["ok"], true, "{summary}");
    let records: BTreeMap<String, u64> = summary["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap_or("").to_owned(),
                r["records"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(records["incremental_tickets"], 20, "{summary}");
    assert_eq!(records["audit_logs"], 7, "{summary}");
    assert_eq!(records["access_logs"], 4, "{summary}");
    let bodies = bucket.bodies();
    assert_eq!(sorted_unique(tickets_in(&bodies)), visible(&sim));
    assert!(bodies.contains_key(OUTSIDE_STATE_KEY));
}

#[test]
fn gzip_objects_are_identical_to_the_local_store_and_marked_content_encoding_gzip() {
    let sim = simulator();
    sim.add_tickets(1, 120, T0 - 5000);
    let bucket = Bucket::new();
    let mut gcs = bucket.collector(&sim);
    let mut local = Collector::new(&sim);
    let mut plain = Collector::new(&sim);
    for c in [&mut gcs, &mut local, &mut plain] {
        c.env("PAGE_SIZE", 50);
    }
    for c in [&mut gcs, &mut local] {
        c.env("OUTPUT_COMPRESSION", "gzip");
    }
    assert_ok(&gcs.run(&sim));
    assert_ok(&local.run(&sim));
    assert_ok(&plain.run(&sim));
    let objects = bucket.objects();
    let gz: Vec<_> = objects.keys().filter(|k| k.ends_with(".json.gz")).collect();
    assert_eq!(gz.len(), 3, "{:?}", objects.keys());
    for (key, body) in plain.objects() {
        let o = &objects[&format!("{key}.gz")];
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&o.body[..])
            .read_to_end(&mut out)
            .expect("gzip");
        assert_eq!(out, body, "{key}");
        let sent = &bucket.uploads()[&format!("{key}.gz")];
        assert_eq!(sent["contentEncoding"], "gzip", "{key}");
        assert_eq!(sent["contentType"], "application/json", "{key}");
        let local_bytes = std::fs::read(local.out.path().join(format!("{key}.gz"))).unwrap();
        assert_eq!(
            o.body, local_bytes,
            "{key}: same gzip bytes as the local store"
        );
    }
    // The checkpoint is never compressed.
    assert!(
        bucket.uploads()[DEFAULT_STATE_KEY]
            .get("contentEncoding")
            .is_none()
    );
}
