//! Google Cloud Storage against a real emulator (fake-gcs-server) through the enforcing proxy
//! (preconditions made atomic, Cloud IAM, injected failures): the same keys and bodies as a
//! local directory, conditional checkpoint writes under concurrent passes and crashes, the
//! least-privilege grant, and GCS's failures.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::Value;
use zendesk_crm_tests::Fault;
use zendesk_crm_tests::gcs::{
    Emulator, GcsProxy, Permissions, StoredObject, media_upload, multipart_upload,
};

use crate::harness::{Collector, Pass, T0, simulator, sorted_unique, stamp, visible};
use crate::schedule::{lines, sigterm, wait_for};

const PREFIX: &str = "zendesk/crm/";
const DEFAULT_STATE_KEY: &str = "zendesk/crm/state.json";
/// The key the README recommends: outside the feed's prefix.
const OUTSIDE_STATE_KEY: &str = "zendesk/crm-state/state.json";

const CREATE: Permissions = Permissions {
    get: false,
    create: true,
    delete: false,
};
const STATE: Permissions = Permissions {
    get: true,
    create: true,
    delete: true,
};

/// A bucket of its own on the shared emulator, behind a proxy of its own.
pub struct Bucket {
    pub emulator: &'static Emulator,
    pub proxy: GcsProxy,
    pub name: String,
}

impl Bucket {
    pub fn new() -> Bucket {
        let emulator = Emulator::shared();
        let name = unique_bucket();
        emulator.create_bucket(&name);
        Bucket {
            emulator,
            proxy: GcsProxy::start(emulator.port()),
            name,
        }
    }

    /// Configures `c` to store here, as a user would (no `--out`).
    pub fn attach(&self, c: &mut Collector) {
        c.without_out()
            .env("GCS_BUCKET", &self.name)
            .env("STORAGE_EMULATOR_HOST", self.proxy.host());
    }

    fn collector(&self, sim: &zendesk_crm_tests::Simulator) -> Collector {
        let mut c = Collector::new(sim);
        self.attach(&mut c);
        c
    }

    pub fn objects(&self) -> BTreeMap<String, StoredObject> {
        self.emulator.objects(&self.name)
    }

    /// The metadata of the last upload of each object that reached the emulator.
    pub fn uploads(&self) -> BTreeMap<String, Value> {
        self.proxy
            .requests()
            .into_iter()
            .filter(|r| r.method == "POST" && !r.by_proxy)
            .filter_map(|r| Some((r.object?, r.metadata?)))
            .collect()
    }

    pub fn bodies(&self) -> BTreeMap<String, Vec<u8>> {
        self.objects()
            .into_iter()
            .map(|(k, o)| (k, o.body))
            .collect()
    }

    /// The README's least-privilege grant: create on the prefix; get, create and delete on
    /// the state key and its `--reset-state` copies (one IAM condition: names starting with
    /// the state key).
    fn least_privilege(&self, state_key: &str) {
        self.proxy
            .grant_only(&[(PREFIX, CREATE), (state_key, STATE)]);
    }
}

fn unique_bucket() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "zc-gcs-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Page objects only (no checkpoint, no reset copies).
fn pages(all: &BTreeMap<String, Vec<u8>>) -> BTreeMap<String, Vec<u8>> {
    all.iter()
        .filter(|(k, _)| {
            (k.ends_with(".json") || k.ends_with(".json.gz")) && !k.ends_with("state.json")
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// (id, generated_timestamp) of every ticket in the page objects, asserted free of duplicates.
fn tickets_in(bodies: &BTreeMap<String, Vec<u8>>) -> Vec<(u64, i64)> {
    let mut all = Vec::new();
    for (key, body) in pages(bodies) {
        if !key.contains("-zendesk-incremental_tickets.") {
            continue;
        }
        let page: Value = serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{key}: {e}"));
        all.extend(
            page["tickets"]
                .as_array()
                .expect("tickets")
                .iter()
                .map(stamp),
        );
    }
    sorted_unique(all)
}

/// (id, created_at) of every audit event in the page objects, asserted free of duplicates.
fn audit_events_in(bodies: &BTreeMap<String, Vec<u8>>) -> Vec<(u64, i64)> {
    let mut all = Vec::new();
    for (key, body) in pages(bodies) {
        if !key.contains("-zendesk-audit_logs.") {
            continue;
        }
        let page: Value = serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{key}: {e}"));
        for e in page["audit_logs"].as_array().expect("audit_logs") {
            let at = time::OffsetDateTime::parse(
                e["created_at"].as_str().expect("created_at"),
                &time::format_description::well_known::Rfc3339,
            )
            .expect("RFC 3339 created_at");
            all.push((e["id"].as_u64().expect("id"), at.unix_timestamp()));
        }
    }
    sorted_unique(all)
}

fn assert_ok(pass: &Pass) {
    assert_eq!(pass.code, 0, "{}", pass.output());
}

fn error_message(pass: &Pass) -> String {
    pass.summary()["error"]["message"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

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
    assert_eq!(tickets_in(&bucket.bodies()).len(), 155);
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
    assert_eq!(tickets_in(&bodies), visible(&sim));
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

#[test]
fn two_concurrent_passes_on_one_checkpoint_advance_it_once_and_lose_nothing() {
    let sim = simulator();
    sim.add_tickets(1, 200, T0 - 5000);
    let bucket = Bucket::new();
    let mut c = bucket.collector(&sim);
    c.env("PAGE_SIZE", 10).env("MAX_PAGES", 1);
    assert_ok(&c.run(&sim));
    c.env("MAX_PAGES", 100);
    // Slow pages, so the two passes overlap however the machine schedules them.
    for _ in 0..60 {
        sim.push_fault(Fault::Delay { ms: 40 });
    }
    let children: Vec<_> = (0..2)
        .map(|_| {
            c.command("run", sim.now())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn a pass")
        })
        .collect();
    let passes: Vec<Pass> = children
        .into_iter()
        .map(|child| {
            let out = child.wait_with_output().expect("pass output");
            Pass {
                code: out.status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            }
        })
        .collect();
    let mut codes: Vec<i32> = passes.iter().map(|p| p.code).collect();
    codes.sort();
    let outputs: Vec<String> = passes.iter().map(Pass::output).collect();
    assert_eq!(codes, [0, 5], "one wins, one stops: {outputs:#?}");
    let loser = passes.iter().find(|p| p.code == 5).expect("a loser");
    assert_eq!(
        loser.summary()["error"]["kind"],
        "checkpoint_conflict",
        "{}",
        loser.output()
    );
    assert!(
        error_message(loser).contains("another writer"),
        "{}",
        loser.output()
    );
    assert_eq!(tickets_in(&bucket.bodies()), visible(&sim));
    let after = c.run(&sim);
    assert_ok(&after);
    assert_eq!(after.tickets()["records"], 0, "{}", after.output());
}

#[test]
fn the_least_privilege_grant_suffices_for_first_and_later_runs_and_reset_state() {
    let sim = simulator();
    sim.add_tickets(1, 30, T0 - 5000);
    let bucket = Bucket::new();
    bucket.least_privilege(OUTSIDE_STATE_KEY);
    let mut c = bucket.collector(&sim);
    c.env("STATE_KEY", OUTSIDE_STATE_KEY).env("PAGE_SIZE", 10);
    let first = c.run(&sim);
    assert_ok(&first);
    assert_eq!(first.summary()["first_run"], true);
    assert!(first.stderr.contains("FIRST RUN"), "{}", first.stderr);

    sim.advance(600);
    sim.add_tickets(100, 4, T0 + 100);
    let later = c.run(&sim);
    assert_ok(&later);
    assert_eq!(later.summary()["first_run"], false);
    assert_eq!(later.tickets()["records"], 4);
    assert_eq!(tickets_in(&bucket.bodies()), visible(&sim));

    // --reset-state with the same grant: the checkpoint is copied aside and replaced.
    let old = bucket.bodies()[OUTSIDE_STATE_KEY].clone();
    let reset = c.run_at(sim.now(), &["--reset-state"]);
    assert_ok(&reset);
    assert_eq!(reset.summary()["first_run"], true);
    let copy = format!("{OUTSIDE_STATE_KEY}.reset-{}", sim.now());
    assert_eq!(bucket.bodies()[&copy], old);
    assert!(
        !bucket.proxy.requests().iter().any(|r| r.status == 403),
        "{:#?}",
        bucket.proxy.requests()
    );
}

#[test]
fn without_delete_on_the_state_key_the_second_save_names_the_missing_permission() {
    let sim = simulator();
    sim.add_tickets(1, 25, T0 - 5000);
    let bucket = Bucket::new();
    bucket.proxy.grant_only(&[
        (PREFIX, CREATE),
        (
            OUTSIDE_STATE_KEY,
            Permissions {
                get: true,
                create: true,
                delete: false,
            },
        ),
    ]);
    let mut c = bucket.collector(&sim);
    c.env("STATE_KEY", OUTSIDE_STATE_KEY).env("PAGE_SIZE", 10);
    // The first save creates the checkpoint, which needs no delete; the next replaces it,
    // and the resource fails there (exit 3) with its pages stored.
    let pass = c.run(&sim);
    assert_eq!(pass.code, 3, "{}", pass.output());
    let message = pass.tickets()["error"]["message"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(message.contains("storage.objects.delete"), "{message}");
    assert!(
        message.contains("counts an overwrite as a delete"),
        "{message}"
    );
    assert!(
        message.contains(&format!("gs://{}/{OUTSIDE_STATE_KEY}", bucket.name)),
        "{message}"
    );
    // Nothing lost and nothing twice once the grant is fixed.
    bucket.least_privilege(OUTSIDE_STATE_KEY);
    let fixed = c.run(&sim);
    assert_ok(&fixed);
    assert_eq!(tickets_in(&bucket.bodies()), visible(&sim));
}

#[test]
fn a_checkpoint_the_account_cannot_read_is_reported_as_access_denied_and_left_alone() {
    let sim = simulator();
    sim.add_tickets(1, 5, T0 - 5000);
    let bucket = Bucket::new();
    let existing = br#"{"version":1,"resources":{}}"#;
    bucket
        .emulator
        .put(&bucket.name, DEFAULT_STATE_KEY, existing);
    // Create everywhere under the prefix, but no get on the checkpoint.
    bucket.proxy.grant_only(&[(PREFIX, CREATE)]);
    let pass = bucket.collector(&sim).run(&sim);
    assert_eq!(pass.code, 6, "{}", pass.output());
    let message = error_message(&pass);
    assert!(
        message.contains("exists but this account cannot read it"),
        "{message}"
    );
    assert_eq!(bucket.bodies()[DEFAULT_STATE_KEY], existing.to_vec());
    assert_eq!(pages(&bucket.bodies()).len(), 0, "nothing collected");
}

#[test]
fn a_denied_bucket_and_a_missing_bucket_are_named() {
    let sim = simulator();
    sim.add_tickets(1, 5, T0 - 5000);
    let bucket = Bucket::new();
    bucket.proxy.grant_only(&[]);
    let denied = bucket.collector(&sim).run(&sim);
    assert_eq!(denied.code, 6, "{}", denied.output());
    let message = error_message(&denied);
    assert!(message.contains("denied (403)"), "{message}");
    assert!(message.contains("storage.objects.create"), "{message}");

    let other = Bucket::new();
    let mut missing = other.collector(&sim);
    missing.env("GCS_BUCKET", "no-such-bucket-here");
    let pass = missing.run(&sim);
    assert_eq!(pass.code, 6, "{}", pass.output());
    let message = error_message(&pass);
    assert!(
        message.contains("the bucket no-such-bucket-here does not exist"),
        "{message}"
    );
}

#[test]
fn gcs_429_and_5xx_are_retried() {
    let sim = simulator();
    sim.add_tickets(1, 20, T0 - 5000);
    let bucket = Bucket::new();
    let mut c = bucket.collector(&sim);
    c.env("PAGE_SIZE", 10);
    let p = &bucket.proxy;
    p.inject("GET", "state.json", 1, 500);
    p.inject("POST", "zendesk/crm/20", 1, 503);
    p.inject("POST", "zendesk/crm/20", 1, 429);
    p.inject("POST", "state.json", 1, 502);
    let pass = c.run(&sim);
    assert_ok(&pass);
    let injected = p.requests().iter().filter(|r| r.by_proxy).count();
    assert_eq!(injected, 4, "{:#?}", p.requests());
    assert_eq!(tickets_in(&bucket.bodies()), visible(&sim));
}

/// Which preconditions fake-gcs-server enforces by itself (the proxy enforces them all); when
/// an emulator release enforces every one, this test fails and the proxy's check can go.
#[test]
fn the_emulator_enforces_generation_preconditions_on_multipart_uploads_only() {
    let emulator = Emulator::shared();
    let bucket = unique_bucket();
    emulator.create_bucket(&bucket);
    let port = emulator.port();
    let first = multipart_upload(port, &bucket, "k.json", b"1", 0).unwrap();
    assert_eq!(first.status, 200);
    let generation: i64 = first.json().unwrap()["generation"]
        .as_str()
        .and_then(|g| g.parse().ok())
        .expect("generation");
    let status = |r: std::io::Result<zendesk_crm_tests::raw_http::RawResponse>| r.unwrap().status;
    // Multipart (what Google's client sends for small objects): 412 as in GCS.
    assert_eq!(
        status(multipart_upload(port, &bucket, "k.json", b"2", 0)),
        412
    );
    assert_eq!(
        status(multipart_upload(
            port,
            &bucket,
            "k.json",
            b"2",
            generation + 1
        )),
        412
    );
    // The gap: a media upload with ifGenerationMatch=0 over an existing object succeeds and
    // overwrites it.
    assert_eq!(status(media_upload(port, &bucket, "k.json", b"3", 0)), 200);
    assert_eq!(emulator.objects(&bucket)["k.json"].body, b"3");

    // Through the proxy the same media upload is refused.
    let proxy = GcsProxy::start(port);
    let proxy_port: u16 = proxy
        .host()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("proxy port");
    assert_eq!(
        status(media_upload(proxy_port, &bucket, "k.json", b"4", 0)),
        412
    );
    assert_eq!(emulator.objects(&bucket)["k.json"].body, b"3");
}

/// The crash test of the local store (crash.rs), in GCS: a pass aborted before or after an
/// object's or the checkpoint's write, restarted after Zendesk's data grew and the audit
/// window moved, has stored every record exactly once.
#[test]
fn a_crash_at_any_gcs_write_loses_nothing_and_stores_nothing_twice() {
    let points: &[(&str, &[u32])] = &[
        ("object.before-write", &[1, 4]),
        ("object.after-write", &[2, 6]),
        ("checkpoint.before-write", &[2, 7]),
        ("checkpoint.after-write", &[2, 9]),
    ];
    for &(point, hits) in points {
        for &n in hits {
            let case = format!("gcs {point}:{n}");
            let sim = simulator();
            for id in 1..=25u64 {
                sim.upsert_ticket(id, T0 - 3000 + 10 * id as i64);
                sim.add_audit_event(1000 + id, T0 - 3000 + 10 * id as i64);
            }
            let bucket = Bucket::new();
            let mut c = bucket.collector(&sim);
            c.env("RESOURCES", "incremental_tickets,audit_logs")
                .env("PAGE_SIZE", 10)
                .env("STATE_KEY", OUTSIDE_STATE_KEY)
                .env("ZENDESK_CRM_FAILPOINT", format!("{point}:{n}"));
            let crashed = c.run(&sim);
            c.unset("ZENDESK_CRM_FAILPOINT");
            assert!(
                crashed
                    .stderr
                    .contains(&format!("failpoint {point}:{n} reached: aborting")),
                "{case}: {}",
                crashed.output()
            );
            for id in 26..=28u64 {
                sim.upsert_ticket(id, T0 - 3000 + 10 * id as i64);
                sim.add_audit_event(1000 + id, T0 - 3000 + 10 * id as i64);
            }
            sim.advance(600);
            let pass = c.run(&sim);
            assert_ok(&pass);
            let bodies = bucket.bodies();
            assert_eq!(tickets_in(&bodies), visible(&sim), "{case}: tickets");
            let mut audit = sim.audit_events_visible();
            audit.sort();
            assert_eq!(audit_events_in(&bodies), audit, "{case}: audit events");
        }
    }
}

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
    tickets_in(&under)
}

#[test]
fn check_proves_the_least_privilege_grant_and_names_a_missing_bucket_writing_nothing() {
    let sim = simulator();
    let bucket = Bucket::new();
    bucket.least_privilege(DEFAULT_STATE_KEY);
    let c = bucket.collector(&sim);
    let output = c.command("check", T0).arg("--json").output().unwrap();
    let report: Value = serde_json::from_slice(&output.stdout).expect("a JSON report");
    let findings = report["feeds"][0]["findings"].as_array().unwrap().clone();
    let status = |check: &str| {
        findings
            .iter()
            .find(|f| f["check"] == check)
            .map(|f| f["status"].clone())
            .unwrap_or_else(|| panic!("no {check} in {findings:#?}"))
    };
    for store in ["store", "objects", "checkpoint_write", "checkpoint"] {
        assert_eq!(status(store), "ok", "{store}: {findings:#?}");
    }
    assert!(bucket.objects().is_empty(), "{:?}", bucket.objects().keys());

    // Without create on the prefix, the objects probe names the permission.
    bucket.proxy.grant_only(&[(DEFAULT_STATE_KEY, STATE)]);
    let denied = c.command("check", T0).arg("--json").output().unwrap();
    let report: Value = serde_json::from_slice(&denied.stdout).unwrap();
    let objects = report["feeds"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "objects")
        .cloned()
        .unwrap();
    assert_eq!(objects["status"], "problem", "{objects}");
    assert!(
        objects["message"]
            .as_str()
            .unwrap()
            .contains("storage.objects.create"),
        "{objects}"
    );

    let mut missing = Collector::new(&sim);
    bucket.attach(&mut missing);
    missing.env("GCS_BUCKET", "no-such-gcs-bucket");
    let output = missing.command("check", T0).arg("--json").output().unwrap();
    assert_eq!(output.status.code(), Some(13));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let store = &report["feeds"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "store")
        .cloned()
        .unwrap();
    assert_eq!(store["status"], "problem", "{store}");
    assert!(
        store["message"]
            .as_str()
            .unwrap()
            .contains("no-such-gcs-bucket does not exist"),
        "{store}"
    );
}
