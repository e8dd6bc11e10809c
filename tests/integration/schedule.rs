//! Running unattended: the pass deadline, the memory cap, and `serve` with a clean stop.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use crate::harness::{Collector, T0, simulator, sorted_unique, visible};
use zendesk_crm_tests::{Fault, Simulator};

fn tickets_collector(sim: &Simulator) -> Collector {
    sim.add_tickets(1, 30, T0 - 1000);
    let mut c = Collector::new(sim);
    c.env("PAGE_SIZE", 10);
    c
}

#[test]
fn the_deadline_ends_a_day_long_retry_after_at_the_last_stored_page() {
    let sim = simulator();
    let mut c = tickets_collector(&sim);
    assert_eq!(c.run_at(sim.now(), &["--max-pages", "1"]).code, 0);
    let checkpoint = c.checkpoint();
    let objects = c.objects();
    sim.push_fault(Fault::RateLimited {
        retry_after: Some(86_400),
    });
    c.env("MAX_RETRY_WAIT", 200_000).env("PASS_DEADLINE", "5s");
    let pass = c.run(&sim);
    assert_eq!(pass.code, 8, "{}", pass.output());
    let t = pass.tickets();
    assert_eq!(t["stopped"], "deadline");
    assert_eq!(t["error"], serde_json::Value::Null);
    assert_eq!(c.checkpoint(), checkpoint);
    assert_eq!(c.objects(), objects);
}

#[test]
fn the_deadline_cuts_a_slow_response_short() {
    let sim = simulator();
    let mut c = tickets_collector(&sim);
    sim.push_fault(Fault::Delay { ms: 30_000 });
    c.env("HTTP_TIMEOUT", 120).env("PASS_DEADLINE", "2s");
    let pass = c.run(&sim);
    assert_eq!(pass.code, 8, "{}", pass.output());
    assert_eq!(pass.tickets()["stopped"], "deadline");
    // Nothing was lost: the next pass collects everything.
    c.env("PASS_DEADLINE", "1m");
    assert_eq!(c.run(&sim).code, 0);
    assert_eq!(sorted_unique(c.stored_tickets()), visible(&sim));
}

#[test]
fn the_memory_cap_stops_a_component_that_needs_more_and_says_so() {
    let sim = simulator();
    sim.add_tickets(1, 1000, T0 - 1000);
    let mut c = Collector::new(&sim);
    c.env("MEMORY_LIMIT_MIB", 2);
    let pass = c.run(&sim);
    assert_eq!(pass.code, 1, "{}", pass.output());
    let error = &pass.summary()["error"];
    assert_eq!(error["kind"], "memory_limit", "{error}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("MEMORY_LIMIT_MIB")
    );
    c.unset("MEMORY_LIMIT_MIB");
    assert_eq!(c.run(&sim).code, 0);
    assert_eq!(sorted_unique(c.stored_tickets()), visible(&sim));
}

/// Lines a child prints, as they come.
pub fn lines(read: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(read).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// The next line containing `needle`; a generous bound only guards against a hang.
pub fn wait_for(rx: &Receiver<String>, needle: &str) -> String {
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(120))
            .unwrap_or_else(|e| panic!("no line with {needle:?}: {e}"));
        if line.contains(needle) {
            return line;
        }
    }
}

pub fn sigterm(child: &Child) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

/// A running `serve` and the lines it prints.
struct Serving {
    child: Child,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
}

fn serve(c: &Collector, sim: &Simulator, args: &[&str]) -> Serving {
    let mut child = c
        .command("serve", sim.now())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting serve");
    let stdout = lines(child.stdout.take().expect("stdout"));
    let stderr = lines(child.stderr.take().expect("stderr"));
    Serving {
        child,
        stdout,
        stderr,
    }
}

#[test]
fn serve_runs_passes_on_its_interval_and_stops_cleanly_mid_pass() {
    let sim = simulator();
    let c = tickets_collector(&sim);
    let Serving {
        mut child,
        stdout,
        stderr,
    } = serve(&c, &sim, &["--every", "1s"]);

    let first: serde_json::Value =
        serde_json::from_str(&wait_for(&stdout, "\"resources\"")).unwrap();
    assert_eq!(first["resources"][0]["records"], 30);

    // New tickets between passes, then a SIGTERM while a page is in flight.
    sim.add_tickets(100, 15, T0 - 500);
    sim.push_fault(Fault::Delay { ms: 1500 });
    let _ = wait_for(&stderr, "pass starting");
    std::thread::sleep(Duration::from_millis(500));
    sigterm(&child);
    let status = child.wait().expect("serve exits");
    assert_eq!(status.code(), Some(0));
    // The page in flight was stored; whatever remains, the next pass collects.
    assert_eq!(c.run(&sim).code, 0);
    assert_eq!(sorted_unique(c.stored_tickets()), visible(&sim));
}

#[test]
fn serve_exposes_metrics_per_resource() {
    let sim = simulator();
    let mut c = tickets_collector(&sim);
    c.env("LOG_FORMAT", "json");
    // One pass, then a long wait that the SIGTERM ends: the counts cannot move under the
    // scrape.
    let Serving {
        mut child,
        stdout,
        stderr,
    } = serve(
        &c,
        &sim,
        &["--every", "1h", "--metrics-addr", "127.0.0.1:0"],
    );
    let listening: serde_json::Value =
        serde_json::from_str(&wait_for(&stderr, "metrics listening")).unwrap();
    let addr = listening["fields"]["addr"]
        .as_str()
        .expect("addr")
        .to_owned();
    let _ = wait_for(&stdout, "\"resources\"");

    let scraped = zendesk_crm_tests::raw_http::get(&format!("http://{addr}"), "/metrics", &[])
        .expect("scrape");
    assert_eq!(scraped.status, 200);
    let text = String::from_utf8(scraped.body).unwrap();
    assert!(
        text.contains("zendesk_crm_records_total{resource=\"incremental_tickets\"} 30"),
        "{text}"
    );
    assert!(text.contains("zendesk_crm_pages_total{resource=\"incremental_tickets\"} 3"));
    assert!(text.contains("zendesk_crm_failures_total{resource=\"incremental_tickets\"} 0"));
    assert!(text.contains("# TYPE zendesk_crm_last_success_timestamp_seconds gauge"));
    assert!(
        text.contains(
            "zendesk_crm_last_success_timestamp_seconds{resource=\"incremental_tickets\"}"
        )
    );
    sigterm(&child);
    assert_eq!(child.wait().expect("serve exits").code(), Some(0));
}
