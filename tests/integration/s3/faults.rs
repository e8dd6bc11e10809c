//! What S3 does to a pass: two passes racing on one checkpoint, a crash at every write, and
//! 5xx, `SlowDown` and conditional conflicts retried; nothing lost, nothing twice.

use zendesk_crm_tests::Fault;

use super::Bucket;
use crate::buckets::{assert_ok, crash_and_resume};
use crate::harness::{Pass, T0, simulator, sorted_unique, tickets_in, visible};

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
            let bucket = Bucket::new();
            let admin = bucket.moto.admin().clone();
            crash_and_resume(
                &format!("s3 {point}:{n}"),
                point,
                n,
                |sim| bucket.collector(sim, &admin),
                || bucket.bodies(),
            );
        }
    }
}
