//! What GCS does to a pass: two passes racing on one checkpoint, a crash at every write, 429
//! and 5xx retried; and which preconditions the emulator enforces without the proxy.

use std::process::Stdio;

use zendesk_crm_tests::Fault;
use zendesk_crm_tests::gcs::{Emulator, GcsProxy, media_upload, multipart_upload};

use super::{Bucket, error_message};
use crate::buckets::{assert_ok, crash_and_resume, unique_bucket};
use crate::harness::{Pass, T0, simulator, sorted_unique, tickets_in, visible};

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
    assert_eq!(sorted_unique(tickets_in(&bucket.bodies())), visible(&sim));
    let after = c.run(&sim);
    assert_ok(&after);
    assert_eq!(after.tickets()["records"], 0, "{}", after.output());
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
    assert_eq!(sorted_unique(tickets_in(&bucket.bodies())), visible(&sim));
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
            let bucket = Bucket::new();
            crash_and_resume(
                &format!("gcs {point}:{n}"),
                point,
                n,
                |sim| bucket.collector(sim),
                || bucket.bodies(),
            );
        }
    }
}
