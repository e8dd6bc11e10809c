//! S3 holds what a local directory holds: the same keys and bodies across passes, the same gzip
//! bytes (with SSE-KMS), NDJSON with its content type, and all three resources under OAuth.

use std::collections::BTreeMap;
use std::io::Read as _;

use super::Bucket;
use crate::buckets::{DEFAULT_STATE_KEY, assert_ok};
use crate::harness::{Collector, T0, files_under, simulator, sorted_unique, tickets_in};

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
    let mut local_files = files_under(local.out.path());
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
