//! Nothing leaves the configured origin, whatever a response or the checkpoint says: a listener
//! on a second loopback origin asserts that it received nothing.

use std::io::Read as _;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::harness::{Collector, T0, simulator, sorted_unique, stored_audit_events, visible};
use zendesk_crm_tests::Fault;

/// A loopback origin that counts the connections it gets (and answers none).
struct Elsewhere {
    url: String,
    connections: Arc<AtomicUsize>,
}

impl Elsewhere {
    fn start() -> Elsewhere {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&connections);
        // Lives until the test process ends; it only counts and drops.
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                counted.fetch_add(1, Ordering::SeqCst);
                let mut s = stream;
                let _ = s.set_read_timeout(Some(std::time::Duration::from_millis(100)));
                let _ = s.read(&mut [0u8; 1024]);
            }
        });
        Elsewhere { url, connections }
    }

    fn assert_untouched(&self) {
        assert_eq!(
            self.connections.load(Ordering::SeqCst),
            0,
            "a connection reached {}",
            self.url
        );
    }
}

#[test]
fn a_redirect_to_another_origin_is_not_followed() {
    let elsewhere = Elsewhere::start();
    let sim = simulator();
    sim.add_tickets(1, 5, T0 - 1000);
    sim.push_fault(Fault::Redirect {
        location: format!(
            "{}/api/v2/incremental/tickets/cursor.json?start_time=0",
            elsewhere.url
        ),
    });
    let c = Collector::new(&sim);
    let pass = c.run(&sim);
    assert_eq!(pass.code, 3, "{}", pass.output());
    let error = &pass.tickets()["error"];
    assert_eq!(error["kind"], "rejected", "{error}");
    assert!(
        error["message"].as_str().unwrap().contains("HTTP 302"),
        "{error}"
    );
    elsewhere.assert_untouched();
    assert!(c.objects().is_empty());
    assert_eq!(c.run(&sim).code, 0);
    assert_eq!(sorted_unique(c.stored_tickets()), visible(&sim));
}

#[test]
fn audit_log_links_to_another_origin_are_never_followed() {
    let elsewhere = Elsewhere::start();
    let sim = simulator();
    for i in 0..25u64 {
        sim.add_audit_event(i + 1, T0 - 5000 + i as i64);
    }
    sim.set_after_url_origin(Some(elsewhere.url.clone()));
    let mut c = Collector::new(&sim);
    c.env("RESOURCES", "audit_logs").env("PAGE_SIZE", 10);
    let pass = c.run(&sim);
    assert_eq!(pass.code, 0, "{}", pass.output());
    assert_eq!(pass.resource("audit_logs")["pages"], 3);
    elsewhere.assert_untouched();
    let mut truth = sim.audit_events_visible();
    truth.sort();
    assert_eq!(sorted_unique(stored_audit_events(&c)), truth);
}

#[test]
fn a_checkpoint_cursor_edited_to_name_another_origin_stays_a_parameter() {
    let elsewhere = Elsewhere::start();
    let sim = simulator();
    sim.add_tickets(1, 5, T0 - 1000);
    let c = Collector::new(&sim);
    assert_eq!(c.run(&sim).code, 0);
    let mut checkpoint = c.checkpoint();
    checkpoint["resources"]["incremental_tickets"]["cursor"] =
        format!("{}/api/v2/incremental/tickets/cursor.json", elsewhere.url).into();
    std::fs::write(c.state_path(), serde_json::to_vec(&checkpoint).unwrap()).unwrap();
    sim.clear_requests();
    let pass = c.run(&sim);
    // Zendesk (the simulator) refuses the cursor; nobody else is asked.
    assert_eq!(pass.code, 3, "{}", pass.output());
    assert_eq!(pass.tickets()["error"]["kind"], "rejected");
    assert_eq!(sim.requests().len(), 1);
    assert!(
        sim.requests()[0]
            .path_and_query
            .contains("cursor=http%3A%2F%2F127%2E0%2E0%2E1"),
        "{:?}",
        sim.requests()[0]
    );
    elsewhere.assert_untouched();
}
