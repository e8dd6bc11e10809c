//! Crash safety: a pass aborted at every failpoint in turn (`ZENDESK_CRM_FAILPOINT`), then
//! restarted, has stored every record exactly once, by the simulator's ground truth, even when
//! Zendesk's data grew between the crash and the restart.

use crate::harness::{audit_truth, temp_files};

use crate::harness::{
    Collector, Pass, T0, simulator, sorted_unique, stored_access_events, stored_audit_events,
    visible,
};
use zendesk_crm_tests::Simulator;

/// 25 tickets and 25 audit events: three pages each at `PAGE_SIZE=10`, so a pass writes 6
/// objects, 13 checkpoints (the first-run save, then two per page: pending, then moved) and
/// sends 6 requests.
fn sim_with_data() -> Simulator {
    let sim = simulator();
    for id in 1..=25u64 {
        sim.upsert_ticket(id, T0 - 3000 + 10 * id as i64);
        sim.add_audit_event(1000 + id, T0 - 3000 + 10 * id as i64);
    }
    sim
}

fn collector(sim: &Simulator) -> Collector {
    let mut c = Collector::new(sim);
    c.env("RESOURCES", "incremental_tickets,audit_logs")
        .env("PAGE_SIZE", 10)
        .env("RUST_LOG", "info");
    c
}

/// Runs a pass that must abort at `point`'s `n`-th hit.
fn crash(c: &mut Collector, sim: &Simulator, point: &str, n: u32) -> Pass {
    c.env("ZENDESK_CRM_FAILPOINT", format!("{point}:{n}"));
    let pass = c.run(sim);
    c.unset("ZENDESK_CRM_FAILPOINT");
    assert_eq!(
        pass.code,
        -1,
        "{point}:{n} did not abort:\n{}",
        pass.output()
    );
    assert!(
        pass.stderr
            .contains(&format!("failpoint {point}:{n} reached: aborting")),
        "{}",
        pass.stderr
    );
    pass
}

/// A pass that finishes: both resources caught up, no pending page left.
fn finish(c: &Collector, sim: &Simulator) -> Pass {
    let pass = c.run(sim);
    assert_eq!(pass.code, 0, "{}", pass.output());
    for r in ["incremental_tickets", "audit_logs"] {
        assert_eq!(pass.resource(r)["caught_up"], true, "{r}: {}", pass.stdout);
    }
    assert!(
        c.checkpoint().get("pending").is_none(),
        "{}",
        c.checkpoint()
    );
    pass
}

fn assert_everything_stored_once(c: &Collector, sim: &Simulator, case: &str) {
    let tickets: Vec<_> = c
        .objects()
        .into_iter()
        .filter(|(k, _)| k.contains("-zendesk-incremental_tickets."))
        .collect();
    let mut stored = Vec::new();
    for (key, body) in tickets {
        let page: serde_json::Value = serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("{case}: {key} is not JSON: {e}"));
        for t in page["tickets"].as_array().expect("tickets") {
            stored.push(crate::harness::stamp(t));
        }
    }
    let n = stored.len();
    let stored = {
        let mut s = stored;
        s.sort();
        s.dedup();
        s
    };
    assert_eq!(stored.len(), n, "{case}: a ticket version was stored twice");
    assert_eq!(stored, visible(sim), "{case}: tickets");
    assert_eq!(
        sorted_unique(stored_audit_events(c)),
        audit_truth(sim),
        "{case}: audit events"
    );
}

/// Aborts a fresh pass at each of `hits` of `point`, restarts it later with Zendesk's data
/// unchanged (so the audit window ends later: a different question), and checks the result;
/// then one more pass stores nothing.
fn crash_everywhere(point: &str, hits: &[u32]) {
    for &n in hits {
        let case = format!("{point}:{n}");
        let sim = sim_with_data();
        let mut c = collector(&sim);
        crash(&mut c, &sim, point, n);
        sim.advance(30);
        finish(&c, &sim);
        assert_everything_stored_once(&c, &sim, &case);
        let objects = c.objects();
        let again = finish(&c, &sim);
        for r in ["incremental_tickets", "audit_logs"] {
            assert_eq!(again.resource(r)["objects_created"], 0, "{case}: {r}");
        }
        assert_eq!(c.objects(), objects, "{case}");
    }
}

#[test]
fn a_crash_before_an_object_is_written_loses_nothing() {
    crash_everywhere("object.before-write", &[1, 3, 4, 6]);
}

#[test]
fn a_crash_with_an_object_written_aside_loses_nothing() {
    crash_everywhere("object.after-temp-write", &[1, 3, 4, 6]);
}

#[test]
fn a_crash_after_an_object_is_written_stores_nothing_twice() {
    crash_everywhere("object.after-write", &[1, 3, 4, 6]);
}

#[test]
fn a_crash_before_a_checkpoint_is_written_loses_nothing() {
    crash_everywhere("checkpoint.before-write", &[1, 2, 3, 7, 8, 13]);
}

#[test]
fn a_crash_with_a_checkpoint_written_aside_loses_nothing() {
    crash_everywhere("checkpoint.after-temp-write", &[1, 2, 3, 7, 12, 13]);
}

#[test]
fn a_crash_after_a_checkpoint_is_written_stores_nothing_twice() {
    crash_everywhere("checkpoint.after-write", &[1, 2, 3, 6, 9, 13]);
}

#[test]
fn a_crash_between_pages_loses_nothing() {
    crash_everywhere("request.before-send", &[1, 2, 4, 6]);
}

/// Without the pending page, this is where a restart stores records twice: the last ticket
/// page has grown and the audit window ends later, so the usual questions get bigger pages
/// under new keys.
#[test]
fn data_grown_between_a_crash_and_the_restart_is_stored_once() {
    for n in [3, 6] {
        let sim = sim_with_data();
        let mut c = collector(&sim);
        crash(&mut c, &sim, "object.after-write", n);
        // New tickets after the last page's, new audit events before the next window's end.
        for id in 26..=30u64 {
            sim.upsert_ticket(id, T0 - 3000 + 10 * id as i64);
            sim.add_audit_event(1000 + id, T0 - 3000 + 10 * id as i64);
        }
        sim.advance(600);
        for id in 31..=33u64 {
            sim.upsert_ticket(id, T0 - 2400 + 10 * id as i64);
            sim.add_audit_event(1000 + id, T0 - 1000 + id as i64);
        }
        let pass = finish(&c, &sim);
        assert_everything_stored_once(&c, &sim, &format!("grown after object.after-write:{n}"));
        let resource = if n == 3 {
            "incremental_tickets"
        } else {
            "audit_logs"
        };
        assert_eq!(
            pass.resource(resource)["objects_existing"],
            1,
            "the pending page was not asked again:\n{}",
            pass.output()
        );
        assert!(
            pass.stderr
                .contains("asking again for the page an interrupted pass was storing"),
            "{}",
            pass.stderr
        );
    }
}

/// The documented limit: a ticket on the pending page was updated between the crash and the
/// restart, so the repeated request returns other records under another key. Nothing is lost,
/// and only records of that page are stored again.
#[test]
fn a_page_zendesk_changed_before_the_restart_loses_nothing_and_repeats_only_its_records() {
    let sim = sim_with_data();
    let mut c = collector(&sim);
    c.env("RESOURCES", "incremental_tickets");
    // Page 2 (tickets 11 to 20) is stored, the checkpoint has not moved past it.
    crash(&mut c, &sim, "object.after-write", 2);
    sim.upsert_ticket(15, T0 - 500);
    let pass = c.run(&sim);
    assert_eq!(pass.code, 0, "{}", pass.output());
    let stored = c.stored_tickets();
    let mut distinct = stored.clone();
    distinct.sort();
    distinct.dedup();
    for version in visible(&sim) {
        assert!(distinct.contains(&version), "{version:?} is missing");
    }
    let mut repeated: Vec<u64> = distinct
        .iter()
        .filter(|v| stored.iter().filter(|s| s == v).count() > 1)
        .map(|v| v.0)
        .collect();
    repeated.sort();
    assert!(
        !repeated.is_empty(),
        "the changed page was not fetched again"
    );
    assert!(
        repeated.iter().all(|id| (11..=20).contains(id)),
        "{repeated:?} were stored twice but were not on the changed page"
    );
}

#[test]
fn temporary_files_left_by_crashes_do_not_confuse_later_passes() {
    let sim = sim_with_data();
    let mut c = collector(&sim);
    crash(&mut c, &sim, "object.after-temp-write", 2);
    crash(&mut c, &sim, "checkpoint.after-temp-write", 3);
    let left = temp_files(c.out.path());
    assert_eq!(left.len(), 2, "{left:?}");
    finish(&c, &sim);
    finish(&c, &sim);
    assert_everything_stored_once(&c, &sim, "after leftovers");
    // They are left as they are (another process may own one), and never read as data.
    assert_eq!(temp_files(c.out.path()), left);
}

#[test]
fn a_pending_page_zendesk_no_longer_answers_is_replaced_by_the_usual_question() {
    let sim = sim_with_data();
    let mut c = collector(&sim);
    c.env("RESOURCES", "incremental_tickets");
    // Crash with the last page (5 of 25 tickets) pending, then make its cursor one Zendesk
    // refuses. (Full pages save no pending entry: their request is the saved cursor's.)
    crash(&mut c, &sim, "object.after-write", 3);
    let mut checkpoint = c.checkpoint();
    let pending = &mut checkpoint["pending"]["incremental_tickets"];
    let request = pending["request"].as_str().unwrap().to_owned();
    let bad = request.replace("cursor=", "cursor=bm90LWEtY3Vyc29y");
    pending["request"] = bad.into();
    std::fs::write(c.state_path(), serde_json::to_vec(&checkpoint).unwrap()).unwrap();
    let pass = c.run(&sim);
    assert_eq!(pass.code, 0, "{}", pass.output());
    assert!(
        pass.stderr
            .contains("Zendesk no longer answers the pending request"),
        "{}",
        pass.stderr
    );
    assert!(c.checkpoint().get("pending").is_none());
    let stored = sorted_unique(c.stored_tickets());
    assert_eq!(stored, visible(&sim));
}

#[test]
fn a_pending_request_edited_to_point_elsewhere_is_refused_and_nothing_is_sent() {
    let elsewhere = simulator();
    let sim = sim_with_data();
    let mut c = collector(&sim);
    c.env("RESOURCES", "incremental_tickets");
    // The last page, the one with a pending entry.
    crash(&mut c, &sim, "object.after-write", 3);
    let mut checkpoint = c.checkpoint();
    let pending = &mut checkpoint["pending"]["incremental_tickets"];
    let request = pending["request"].as_str().unwrap().to_owned();
    pending["request"] = format!("{}{request}", elsewhere.base_url()).into();
    std::fs::write(c.state_path(), serde_json::to_vec(&checkpoint).unwrap()).unwrap();
    sim.clear_requests();
    let pass = c.run(&sim);
    assert_eq!(pass.code, 4, "{}", pass.output());
    assert_eq!(pass.summary()["error"]["kind"], "corrupt_checkpoint");
    assert!(elsewhere.requests().is_empty());
    assert!(sim.requests().is_empty());
}

/// Opt-in soak: passes killed with `SIGKILL` at random moments, then one that finishes.
/// `ZENDESK_CRM_SOAK_ROUNDS` (default 50) sets how many. Run with
/// `cargo test -p zendesk-crm --test integration crash::soak -- --ignored --nocapture`.
#[test]
#[ignore = "a long soak; run on demand"]
fn soak_random_sigkill_never_loses_or_repeats_a_record() {
    use std::hash::{BuildHasher, Hasher};
    let rounds: u32 = std::env::var("ZENDESK_CRM_SOAK_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let random = std::collections::hash_map::RandomState::new();
    let sim = simulator();
    let c = {
        let mut c = Collector::new(&sim);
        c.env("RESOURCES", "incremental_tickets,audit_logs")
            .env("PAGE_SIZE", 3)
            .env("MAX_PAGES", 1000)
            .env("RUST_LOG", "warn");
        c
    };
    let mut next_id = 1u64;
    let mut killed = 0;
    for round in 0..rounds {
        // Zendesk's data grows between passes, as it does in production.
        for _ in 0..20 {
            sim.upsert_ticket(next_id, sim.now() - 3000 + next_id as i64);
            sim.add_audit_event(next_id, sim.now() - 3000 + next_id as i64);
            next_id += 1;
        }
        sim.advance(5);
        let mut h = random.build_hasher();
        h.write_u32(round);
        let delay = std::time::Duration::from_micros(h.finish() % 1_500_000);
        let mut child = c
            .command("run", sim.now())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            killed += 1;
        }
        child.wait().unwrap();
    }
    sim.advance(600);
    let pass = c.run(&sim);
    assert_eq!(pass.code, 0, "{}", pass.output());
    assert_everything_stored_once(&c, &sim, "soak");
    eprintln!("soak: {rounds} rounds, {killed} passes killed, {next_id} records each");
}

/// Access logs de-duplicate by id against the checkpoint, which a crash leaves behind the
/// stored page; only the pending page makes the restart ask the same question. Crashes at
/// every point of a three-page pass, then new events and a later window before the restart.
#[test]
fn access_log_crashes_anywhere_store_every_event_once_even_as_the_log_grows() {
    let points: &[(&str, &[u32])] = &[
        ("object.before-write", &[1, 3]),
        ("object.after-temp-write", &[2]),
        ("object.after-write", &[1, 2, 3]),
        ("checkpoint.before-write", &[2, 3]),
        ("checkpoint.after-temp-write", &[4]),
        ("checkpoint.after-write", &[2, 5, 7]),
        ("request.before-send", &[2, 3]),
    ];
    for &(point, hits) in points {
        for &n in hits {
            let case = format!("access_logs {point}:{n}");
            let sim = simulator();
            for i in 0..25 {
                sim.add_access_event(T0 - 3000 + 10 * i);
            }
            let mut c = Collector::new(&sim);
            c.env("RESOURCES", "access_logs")
                .env("PAGE_SIZE", 10)
                .env("RUST_LOG", "info");
            crash(&mut c, &sim, point, n);
            for i in 0..7 {
                sim.add_access_event(T0 - 2750 + i);
            }
            sim.advance(600);
            let pass = c.run(&sim);
            assert_eq!(pass.code, 0, "{case}: {}", pass.output());
            assert_eq!(pass.resource("access_logs")["caught_up"], true, "{case}");
            assert!(c.checkpoint().get("pending").is_none(), "{case}");
            let mut truth = sim.access_events_visible();
            truth.sort();
            assert_eq!(stored_access_events(&c), truth, "{case}");
        }
    }
}
