//! A pass recorded in the test replays as it ran: byte for byte through resets, a truncated
//! body, a 503 and a timeout with the simulator gone, and to the same stop after a SIGTERM.

use std::process::Command;

use serde_json::Value;
use zendesk_crm_tests::Fault;

use super::{keys, record, replay, sim, tree, waits_ms};
use crate::harness::{Collector, Pass, T0};

#[test]
fn a_recorded_pass_with_transport_failures_replays_byte_for_byte_with_the_simulator_gone() {
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("pass.json");
    let recorded = {
        let sim = sim(0, true);
        sim.add_tickets(1, 12, T0 - 3000);
        sim.add_tickets(13, 12, T0 - 2000);
        sim.push_fault(Fault::Reset);
        sim.push_fault(Fault::Truncated);
        sim.push_fault(Fault::Status {
            status: 503,
            retry_after: Some(0),
        });
        // The first page comes at once; the second page's request times out once.
        sim.push_fault(Fault::Delay { ms: 0 });
        sim.push_fault(Fault::Delay { ms: 3000 });
        let mut c = Collector::new(&sim);
        c.env("PAGE_SIZE", 10)
            .env("HTTP_RETRIES", 4)
            .env("HTTP_TIMEOUT", 1);
        record(&sim, c, &cassette)
        // The simulator stops here: the replay has no server to reach.
    };
    let out = dir.path().join("replayed");
    let replayed = replay(&cassette, &out);
    assert_eq!(replayed.code, 0, "{}", replayed.output());
    assert_eq!(tree(&out), recorded.stored());
    assert_eq!(keys(&tree(&out)).len(), 4, "three pages and the checkpoint");
    for field in ["pages", "records", "retries", "objects_created", "bytes"] {
        assert_eq!(
            replayed.tickets()[field],
            recorded.pass.tickets()[field],
            "{field}"
        );
    }
    assert_eq!(waits_ms(&replayed), waits_ms(&recorded.pass));
    let c: Value = serde_json::from_slice(&std::fs::read(&cassette).unwrap()).unwrap();
    let outcomes: Vec<String> = c["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| match (&e["error"], &e["response"]) {
            (Value::Object(err), _) => format!("error {}", err["kind"].as_str().unwrap()),
            (_, r) if r["body_end"].is_object() => format!("{} broken", r["status"]),
            (_, r) => r["status"].to_string(),
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            "error reset",
            "200 broken",
            "503",
            "200",
            "error timeout",
            "200",
            "200"
        ],
        "{c}"
    );
}

#[test]
fn a_pass_stopped_by_a_signal_replays_to_the_same_stop() {
    use std::io::BufRead as _;
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("stopped.json");
    let sim = sim(0, false);
    sim.add_tickets(1, 30, T0 - 3000);
    // The first page comes at once; the second is still in flight when the signal comes.
    sim.push_fault(Fault::Delay { ms: 0 });
    sim.push_fault(Fault::Delay { ms: 1500 });
    let mut c = Collector::new(&sim);
    c.env("PAGE_SIZE", 10);
    let mut child = c
        .command("record", sim.now())
        .arg("--cassette")
        .arg(&cassette)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starting record");
    let stderr = std::io::BufReader::new(child.stderr.take().expect("stderr"));
    let mut lines = stderr.lines().map_while(Result::ok);
    assert!(
        lines.by_ref().any(|l| l.contains("page stored")),
        "record ended before storing a page"
    );
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    // Drain stderr so the child never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    let output = child.wait_with_output().expect("record exits");
    let recorded = Pass {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::new(),
    };
    assert_eq!(recorded.code, 0, "{}", recorded.stdout);
    assert_eq!(recorded.tickets()["stopped"], "shutdown");
    let c_json: Value = serde_json::from_slice(&std::fs::read(&cassette).unwrap()).unwrap();
    assert_eq!(
        c_json["stops"][0]["reason"], "shutdown",
        "{}",
        c_json["stops"]
    );

    // The replay stops at the same call, with the same pages stored and nothing unused.
    let out = dir.path().join("out");
    let replayed = replay(&cassette, &out);
    assert_eq!(replayed.code, 0, "{}", replayed.output());
    assert_eq!(replayed.tickets()["stopped"], "shutdown");
    assert_eq!(replayed.tickets()["pages"], recorded.tickets()["pages"]);
    assert_eq!(
        replayed.summary()["cassette"]["used"],
        replayed.summary()["cassette"]["exchanges"]
    );
    assert_eq!(tree(&out), tree(c.out.path()));
}
