//! S3 storage against a real S3-compatible server (moto, IAM enforced) through a pass-through
//! proxy: the same keys and bodies as a local directory, conditional checkpoint writes under
//! concurrent passes, the least-privilege policy, and S3's failures.

use crate::harness::{audit_events_in, tickets_in};
use std::collections::BTreeMap;
use std::io::Read as _;
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::{Value, json};
use zendesk_crm_tests::Fault;
use zendesk_crm_tests::s3::{Keys, Moto, S3Proxy, StoredObject};

use crate::harness::{Collector, Pass, T0, simulator, sorted_unique, visible};

const PREFIX: &str = "zendesk/crm/";
const DEFAULT_STATE_KEY: &str = "zendesk/crm/state.json";
/// The key the README recommends: outside the feed's prefix.
const OUTSIDE_STATE_KEY: &str = "zendesk/crm-state/state.json";

/// A bucket of its own on the shared moto, behind a proxy of its own.
pub(crate) struct Bucket {
    pub(crate) moto: &'static Moto,
    proxy: S3Proxy,
    pub(crate) name: String,
}

impl Bucket {
    pub(crate) fn new() -> Bucket {
        let moto = Moto::shared();
        let name = unique_bucket();
        moto.create_bucket(&name);
        Bucket {
            moto,
            proxy: S3Proxy::start(moto.port()),
            name,
        }
    }

    /// Configures `c` to store here with `keys`, as a user would (no `--out`).
    pub(crate) fn attach(&self, c: &mut Collector, keys: &Keys) {
        c.without_out()
            .env("S3_BUCKET", &self.name)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL_S3", self.proxy.endpoint())
            .env("AWS_ACCESS_KEY_ID", &keys.id)
            .env("AWS_SECRET_ACCESS_KEY", &keys.secret)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", "/nonexistent")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent");
    }

    fn collector(&self, sim: &zendesk_crm_tests::Simulator, keys: &Keys) -> Collector {
        let mut c = Collector::new(sim);
        self.attach(&mut c, keys);
        c
    }

    pub(crate) fn objects(&self) -> BTreeMap<String, StoredObject> {
        self.moto.objects(&self.name)
    }

    fn bodies(&self) -> BTreeMap<String, Vec<u8>> {
        self.objects()
            .into_iter()
            .map(|(k, o)| (k, o.body))
            .collect()
    }

    /// A user holding exactly the README's least-privilege policy.
    fn least_privilege_user(&self, state_key: &str) -> Keys {
        let policy = least_privilege_policy(&self.name, PREFIX, state_key);
        self.moto.create_user(&unique_user(), &policy)
    }
}

fn unique_bucket() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "zc-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

pub(crate) fn unique_user() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!("collector-{}", N.fetch_add(1, Ordering::Relaxed))
}

/// The README's least-privilege policy: PutObject under the prefix, GetObject and PutObject
/// on the checkpoint (and its `--reset-state` copies); no ListBucket, no DeleteObject.
pub(crate) fn least_privilege_policy(bucket: &str, prefix: &str, state_key: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "WritePages",
                "Effect": "Allow",
                "Action": "s3:PutObject",
                "Resource": format!("arn:aws:s3:::{bucket}/{prefix}*")
            },
            {
                "Sid": "ReadWriteCheckpoint",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject"],
                "Resource": [
                    format!("arn:aws:s3:::{bucket}/{state_key}"),
                    format!("arn:aws:s3:::{bucket}/{state_key}.reset-*")
                ]
            }
        ]
    })
}

/// Page objects only (no checkpoint, no reset copies).
fn pages(all: &BTreeMap<String, Vec<u8>>) -> BTreeMap<String, Vec<u8>> {
    all.iter()
        .filter(|(k, _)| k.ends_with(".json") && !k.ends_with("state.json"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn assert_ok(pass: &Pass) {
    assert_eq!(pass.code, 0, "{}", pass.output());
}

#[test]
fn s3_holds_the_same_keys_and_bodies_as_a_local_directory_across_passes() {
    let sim = simulator();
    sim.add_tickets(1, 250, T0 - 5000);
    let bucket = Bucket::new();
    let admin = bucket.moto.admin().clone();
    let mut s3 = bucket.collector(&sim, &admin);
    let mut local = Collector::new(&sim);
    for c in [&mut s3, &mut local] {
        c.env("PAGE_SIZE", 100);
    }

    for round in 0..2 {
        let (a, b) = (s3.run(&sim), local.run(&sim));
        assert_ok(&a);
        assert_ok(&b);
        assert_eq!(a.summary()["first_run"], round == 0);
        assert_eq!(
            a.summary()["checkpoint"],
            format!("s3://{}/{DEFAULT_STATE_KEY}", bucket.name)
        );
        let stored = bucket.bodies();
        let mut expected = local.objects();
        expected.insert(
            DEFAULT_STATE_KEY.to_owned(),
            std::fs::read(local.state_path()).expect("local checkpoint"),
        );
        assert_eq!(stored, expected, "round {round}");
        // The default STATE_KEY lies in the feed's prefix: every pass says so.
        assert!(
            a.stderr
                .contains("STATE_KEY lies under the object prefix (S3_PREFIX"),
            "{}",
            a.stderr
        );
        sim.advance(600);
        sim.add_tickets(1000 + round * 10, 5, T0 + 100 + round as i64 * 600);
    }
    assert_eq!(sorted_unique(tickets_in(&bucket.bodies())).len(), 255);
    for (key, o) in bucket.objects() {
        assert_eq!(o.content_type.as_deref(), Some("application/json"), "{key}");
        assert_eq!(o.content_encoding, None, "{key}");
    }
}

#[test]
fn gzip_and_sse_kms_objects_are_identical_to_the_local_store_and_decompress_to_the_pages() {
    let sim = simulator();
    sim.add_tickets(1, 120, T0 - 5000);
    let bucket = Bucket::new();
    let kms_key = bucket.moto.create_kms_key();
    let admin = bucket.moto.admin().clone();
    let mut s3 = bucket.collector(&sim, &admin);
    s3.env("SSE_KMS_KEY_ID", &kms_key);
    let mut local = Collector::new(&sim);
    let mut plain = Collector::new(&sim);
    for c in [&mut s3, &mut local, &mut plain] {
        c.env("PAGE_SIZE", 50);
    }
    for c in [&mut s3, &mut local] {
        c.env("OUTPUT_COMPRESSION", "gzip");
    }
    assert_ok(&s3.run(&sim));
    assert_ok(&local.run(&sim));
    assert_ok(&plain.run(&sim));

    let objects = bucket.objects();
    let mut local_files = BTreeMap::new();
    collect(local.out.path(), local.out.path(), &mut local_files);
    local_files.retain(|k, _| !k.ends_with(".lock"));
    let s3_bodies: BTreeMap<_, _> = objects
        .iter()
        .map(|(k, o)| (k.clone(), o.body.clone()))
        .collect();
    assert_eq!(s3_bodies, local_files, "same gzip bytes in both stores");

    let gz: Vec<_> = objects.keys().filter(|k| k.ends_with(".json.gz")).collect();
    assert_eq!(gz.len(), 3, "{:?}", objects.keys());
    for (key, body) in plain.objects() {
        let o = &objects[&format!("{key}.gz")];
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&o.body[..])
            .read_to_end(&mut out)
            .expect("gzip");
        assert_eq!(out, body, "{key}");
        assert_eq!(o.content_encoding.as_deref(), Some("gzip"));
        assert_eq!(o.content_type.as_deref(), Some("application/json"));
    }
    for (key, o) in &objects {
        assert_eq!(o.sse.as_deref(), Some("aws:kms"), "{key}");
        assert!(
            o.kms_key.as_deref().unwrap_or("").contains(&kms_key),
            "{key}: {o:?}"
        );
    }
    // The checkpoint is never compressed.
    assert!(objects.contains_key(DEFAULT_STATE_KEY));
}

fn collect(root: &std::path::Path, dir: &std::path::Path, found: &mut BTreeMap<String, Vec<u8>>) {
    for entry in std::fs::read_dir(dir).expect("dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            collect(root, &path, found);
        } else {
            let key = path.strip_prefix(root).expect("under root");
            found.insert(
                key.to_string_lossy().into_owned(),
                std::fs::read(&path).expect("file"),
            );
        }
    }
}

#[test]
fn two_concurrent_passes_on_one_checkpoint_advance_it_once_and_lose_nothing() {
    let sim = simulator();
    sim.add_tickets(1, 200, T0 - 5000);
    let bucket = Bucket::new();
    let admin = bucket.moto.admin().clone();
    let mut c = bucket.collector(&sim, &admin);
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
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
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
    let error = &loser.summary()["error"];
    assert_eq!(error["kind"], "checkpoint_conflict", "{}", loser.output());
    assert!(
        error["message"]
            .as_str()
            .unwrap_or("")
            .contains("another writer"),
        "{error}"
    );
    let winner = passes.iter().find(|p| p.code == 0).expect("a winner");
    assert_eq!(winner.tickets()["caught_up"], true);

    // Nothing lost, nothing twice: every ticket in exactly one object, and a later pass finds
    // nothing new to store.
    assert_eq!(sorted_unique(tickets_in(&bucket.bodies())), visible(&sim));
    let after = c.run(&sim);
    assert_ok(&after);
    assert_eq!(after.tickets()["records"], 0, "{}", after.output());
}

#[test]
fn the_least_privilege_policy_suffices_for_a_first_run_and_later_runs() {
    let sim = simulator();
    sim.add_tickets(1, 30, T0 - 5000);
    let bucket = Bucket::new();
    let keys = bucket.least_privilege_user(OUTSIDE_STATE_KEY);
    // Without s3:ListBucket, AWS answers a missing key with 403 (moto with 404).
    bucket
        .proxy
        .missing_key_as_denied(&bucket.name, OUTSIDE_STATE_KEY);
    let mut c = bucket.collector(&sim, &keys);
    c.env("STATE_KEY", OUTSIDE_STATE_KEY).env("PAGE_SIZE", 10);

    let first = c.run(&sim);
    assert_ok(&first);
    assert_eq!(first.summary()["first_run"], true);
    assert!(first.stderr.contains("FIRST RUN"), "{}", first.stderr);
    assert!(first.stderr.contains("denied (403)"), "{}", first.stderr);
    assert!(
        !first.stderr.contains("STATE_KEY lies under"),
        "{}",
        first.stderr
    );
    let denied_gets = bucket
        .proxy
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.status == 403)
        .count();
    assert_eq!(denied_gets, 1);

    sim.advance(600);
    sim.add_tickets(100, 4, T0 + 100);
    let later = c.run(&sim);
    assert_ok(&later);
    assert_eq!(later.summary()["first_run"], false);
    assert_eq!(later.tickets()["records"], 4);
    assert_eq!(sorted_unique(tickets_in(&bucket.bodies())), visible(&sim));

    // --reset-state needs no DeleteObject: the old checkpoint is copied aside and replaced.
    let old = bucket.bodies()[OUTSIDE_STATE_KEY].clone();
    let reset = c.run_at(sim.now(), &["--reset-state"]);
    assert_ok(&reset);
    assert_eq!(reset.summary()["first_run"], true);
    let copy = format!("{OUTSIDE_STATE_KEY}.reset-{}", sim.now());
    assert_eq!(bucket.bodies()[&copy], old);
}

#[test]
fn a_checkpoint_the_role_cannot_read_is_reported_as_access_denied_and_left_alone() {
    let sim = simulator();
    sim.add_tickets(1, 5, T0 - 5000);
    let bucket = Bucket::new();
    let existing = br#"{"version":1,"resources":{}}"#;
    bucket.moto.put(&bucket.name, DEFAULT_STATE_KEY, existing);
    // PutObject everywhere it needs, but no GetObject on the checkpoint.
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Action": "s3:PutObject",
            "Resource": format!("arn:aws:s3:::{}/{PREFIX}*", bucket.name)
        }]
    });
    let keys = bucket.moto.create_user(&unique_user(), &policy);
    let c = bucket.collector(&sim, &keys);
    let pass = c.run(&sim);
    assert_eq!(pass.code, 6, "{}", pass.output());
    let summary = pass.summary();
    assert_eq!(summary["started"], false, "{summary}");
    assert_eq!(summary["first_run"], serde_json::Value::Null, "{summary}");
    let message = summary["error"]["message"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(
        message.contains("exists but this role cannot read it"),
        "{message}"
    );
    assert!(
        message.contains(&format!("s3://{}/{DEFAULT_STATE_KEY}", bucket.name)),
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
    let elsewhere = least_privilege_policy("some-other-bucket", PREFIX, DEFAULT_STATE_KEY);
    let keys = bucket.moto.create_user(&unique_user(), &elsewhere);
    let denied = bucket.collector(&sim, &keys).run(&sim);
    assert_eq!(denied.code, 6, "{}", denied.output());
    let message = denied.summary()["error"]["message"].to_string();
    assert!(message.contains("denied"), "{message}");
    assert!(
        message.contains(&format!("s3://{}/{DEFAULT_STATE_KEY}", bucket.name)),
        "{message}"
    );

    let admin = bucket.moto.admin().clone();
    let mut missing = bucket.collector(&sim, &admin);
    missing.env("S3_BUCKET", "no-such-bucket-here");
    let pass = missing.run(&sim);
    assert_eq!(pass.code, 6, "{}", pass.output());
    let message = pass.summary()["error"]["message"].to_string();
    assert!(
        message.contains("no-such-bucket-here does not exist"),
        "{message}"
    );
}

#[test]
fn s3_5xx_slowdown_and_conditional_conflicts_are_retried() {
    let sim = simulator();
    sim.add_tickets(1, 20, T0 - 5000);
    let bucket = Bucket::new();
    let admin = bucket.moto.admin().clone();
    let mut c = bucket.collector(&sim, &admin);
    c.env("PAGE_SIZE", 10);
    let p = &bucket.proxy;
    p.inject("GET", "state.json", 1, 500, "InternalError");
    p.inject("PUT", "/zendesk/crm/20", 1, 503, "SlowDown");
    p.inject("PUT", "/zendesk/crm/20", 1, 503, "ServiceUnavailable");
    p.inject("PUT", "state.json", 1, 409, "ConditionalRequestConflict");
    let pass = c.run(&sim);
    assert_ok(&pass);
    let injected = p.requests().iter().filter(|r| r.injected).count();
    assert_eq!(injected, 4, "{:#?}", p.requests());
    assert_eq!(sorted_unique(tickets_in(&bucket.bodies())), visible(&sim));
}

#[test]
fn s3_bucket_and_out_together_are_a_configuration_error() {
    let sim = simulator();
    let mut c = Collector::new(&sim);
    c.env("S3_BUCKET", "some-bucket");
    let pass = c.run(&sim);
    assert_eq!(pass.code, 2, "{}", pass.output());
    assert!(
        pass.stderr.contains("both S3_BUCKET and --out"),
        "{}",
        pass.stderr
    );
}

#[test]
fn a_bucket_in_another_region_is_named_with_the_fix() {
    // moto serves every region from one endpoint, so the proxy answers as AWS does for a
    // bucket outside the signing region.
    let sim = simulator();
    let bucket = Bucket::new();
    let admin = bucket.moto.admin().clone();
    let c = bucket.collector(&sim, &admin);
    bucket
        .proxy
        .inject("GET", "state.json", 1, 301, "PermanentRedirect");
    let pass = c.run(&sim);
    assert_eq!(pass.code, 6, "{}", pass.output());
    let message = pass.summary()["error"]["message"].to_string();
    assert!(message.contains("is not in region us-east-1"), "{message}");
    assert!(message.contains("set AWS_REGION"), "{message}");
    assert!(message.contains(&bucket.name), "{message}");
}

#[test]
fn ndjson_objects_carry_their_content_type() {
    let sim = simulator();
    sim.add_tickets(1, 3, T0 - 5000);
    let bucket = Bucket::new();
    let admin = bucket.moto.admin().clone();
    let mut c = bucket.collector(&sim, &admin);
    c.env("OUTPUT_FORMAT", "ndjson");
    assert_ok(&c.run(&sim));
    let objects = bucket.objects();
    let pages: Vec<_> = objects
        .iter()
        .filter(|(k, _)| k.ends_with(".ndjson"))
        .collect();
    assert_eq!(pages.len(), 1, "{:?}", objects.keys());
    assert_eq!(
        pages[0].1.content_type.as_deref(),
        Some("application/x-ndjson")
    );
    assert_eq!(pages[0].1.body.iter().filter(|b| **b == b'\n').count(), 3);
}

/// The crash test of the local store (crash.rs), in S3: a pass aborted before or after an
/// object's or the checkpoint's PutObject, restarted after Zendesk's data grew and the audit
/// window moved, has stored every record exactly once.
#[test]
fn a_crash_at_any_s3_write_loses_nothing_and_stores_nothing_twice() {
    let points: &[(&str, &[u32])] = &[
        ("object.before-write", &[1, 4]),
        ("object.after-write", &[2, 3, 6]),
        ("checkpoint.before-write", &[2, 7]),
        ("checkpoint.after-write", &[2, 6, 9]),
    ];
    for &(point, hits) in points {
        for &n in hits {
            let case = format!("s3 {point}:{n}");
            let sim = simulator();
            for id in 1..=25u64 {
                sim.upsert_ticket(id, T0 - 3000 + 10 * id as i64);
                sim.add_audit_event(1000 + id, T0 - 3000 + 10 * id as i64);
            }
            let bucket = Bucket::new();
            let admin = bucket.moto.admin().clone();
            let mut c = bucket.collector(&sim, &admin);
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
            assert_eq!(
                sorted_unique(tickets_in(&bodies)),
                visible(&sim),
                "{case}: tickets"
            );
            let mut audit = sim.audit_events_visible();
            audit.sort();
            assert_eq!(
                sorted_unique(audit_events_in(&bodies)),
                audit,
                "{case}: audit events"
            );
        }
    }
}

#[test]
fn client_credentials_collect_all_three_resources_into_s3() {
    let sim = simulator();
    sim.set_token_lifetime(Some(std::time::Duration::from_secs(1)));
    sim.add_tickets(1, 6, T0 - 1000);
    sim.add_audit_events(1, 6, T0 - 1000);
    sim.add_access_events(6, T0 - 1000);
    for _ in 0..8 {
        sim.push_fault(zendesk_crm_tests::Fault::Delay { ms: 300 });
    }
    let bucket = Bucket::new();
    let admin = bucket.moto.admin().clone();
    let mut c = crate::oauth::client_credentials(&sim);
    bucket.attach(&mut c, &admin);
    c.env("RESOURCES", "audit_logs,incremental_tickets,access_logs")
        .env("START_TIME", T0 - 5000)
        .env("PAGE_SIZE", 2);
    let pass = c.run(&sim);
    assert_ok(&pass);
    let stored = bucket.bodies();
    let count = |resource: &str| {
        stored
            .keys()
            .filter(|k| k.contains(&format!("-zendesk-{resource}.")))
            .count()
    };
    assert!(count("incremental_tickets") >= 3, "{:?}", stored.keys());
    assert!(count("audit_logs") >= 3, "{:?}", stored.keys());
    assert!(count("access_logs") >= 3, "{:?}", stored.keys());
    assert_eq!(sorted_unique(tickets_in(&stored)).len(), 6);
    assert!(sim.token_requests().iter().filter(|r| r.granted).count() >= 2);
}

#[test]
fn no_aws_credentials_names_the_chain_tried_and_what_to_set() {
    let sim = simulator();
    let bucket = Bucket::new();
    let admin = bucket.moto.admin().clone();
    let mut c = bucket.collector(&sim, &admin);
    c.unset("AWS_ACCESS_KEY_ID").unset("AWS_SECRET_ACCESS_KEY");
    let pass = c.run(&sim);
    assert_eq!(pass.code, 6, "{}", pass.output());
    let message = pass.summary()["error"]["message"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(
        message.contains("no AWS credentials were found"),
        "{message}"
    );
    assert!(message.contains(&bucket.name), "{message}");
    for tried in [
        "AWS_ACCESS_KEY_ID",
        "AWS_PROFILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "ECS",
        "EC2",
    ] {
        assert!(message.contains(tried), "{tried} missing from: {message}");
    }
    assert!(
        message.contains("AWS_EC2_METADATA_DISABLED is set"),
        "{message}"
    );
    assert!(
        message.len() < 900,
        "a sentence, not an SDK dump: {message}"
    );
    assert!(
        !message.contains("{") && !message.contains("Error {"),
        "{message}"
    );
}

#[test]
fn an_explicit_endpoint_without_a_region_asks_no_instance_metadata() {
    let sim = simulator();
    let bucket = Bucket::new();
    let admin = bucket.moto.admin().clone();
    let mut c = bucket.collector(&sim, &admin);
    // Instance metadata left on, as on a laptop: only the region chain could ask it.
    c.unset("AWS_REGION").unset("AWS_EC2_METADATA_DISABLED");
    let pass = c.run(&sim);
    assert_eq!(pass.code, 0, "{}", pass.output());
    let lower = pass.stderr.to_lowercase();
    assert!(
        !lower.contains("imds")
            && !lower.contains("instance metadata")
            && !lower.contains("169.254"),
        "{}",
        pass.stderr
    );
}
