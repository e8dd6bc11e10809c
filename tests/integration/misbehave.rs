//! A component that misbehaves on purpose (`tests/misbehave/`): it loops, allocates without
//! bound, writes outside the prefix, sends a `POST` and requests to another origin, reads its
//! environment and arguments, opens files and sockets. The host stops it, refuses it or gives
//! it nothing, and says so.

use std::io::Read as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::harness::{Collector, Pass, simulator};

/// The misbehaving component, built once per test run for `wasm32-wasip2` in a target
/// directory of its own (incremental across runs).
fn component() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("host/ sits in the workspace");
        let target_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("misbehave-target");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .current_dir(root)
            .args([
                "build",
                "--release",
                "--target",
                "wasm32-wasip2",
                "--locked",
            ])
            .args(["-p", "zendesk-crm-misbehave", "--target-dir"])
            .arg(&target_dir)
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_BUILD_RUSTFLAGS")
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("CARGO_BUILD_TARGET")
            .env_remove("RUSTC_WORKSPACE_WRAPPER")
            .status()
            .expect("running cargo to build the misbehaving component");
        assert!(
            status.success(),
            "building the misbehaving component failed"
        );
        target_dir.join("wasm32-wasip2/release/zendesk_crm_misbehave.wasm")
    })
}

/// A collector running the misbehaving component with `RESOURCES=resources`.
fn misbehaving(resources: &str) -> (zendesk_crm_tests::Simulator, Collector) {
    let sim = simulator();
    let mut c = Collector::new(&sim);
    c.env("ZENDESK_CRM_COMPONENT", component().display())
        .env("RESOURCES", resources);
    (sim, c)
}

/// What the component reported it saw.
fn report(pass: &Pass) -> String {
    let error = &pass.tickets()["error"];
    assert_eq!(error["kind"], "other", "{}", pass.output());
    let message = error["message"].as_str().expect("message").to_owned();
    assert!(message.starts_with("misbehave: "), "{message}");
    message
}

/// A loopback origin that counts the connections it gets (and answers none).
struct Listener {
    addr: String,
    connections: Arc<AtomicUsize>,
}

impl Listener {
    fn start() -> Listener {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&connections);
        // Lives until the test process ends; it only counts and drops.
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                counted.fetch_add(1, Ordering::SeqCst);
                let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
                let _ = stream.read(&mut [0u8; 1024]);
            }
        });
        Listener { addr, connections }
    }

    fn assert_untouched(&self) {
        assert_eq!(
            self.connections.load(Ordering::SeqCst),
            0,
            "a connection reached {}",
            self.addr
        );
    }
}

#[test]
fn a_component_in_a_cpu_loop_is_stopped_at_the_deadline_and_its_grace() {
    let (sim, mut c) = misbehaving("loop");
    // A 2 s deadline gets 2 s of grace (the grace is never longer than the deadline).
    c.env("PASS_DEADLINE", "2s");
    let started = Instant::now();
    let pass = c.run(&sim);
    let took = started.elapsed();
    assert_eq!(pass.code, 8, "{}", pass.output());
    let summary = pass.summary();
    assert_eq!(summary["ok"], false);
    assert_eq!(summary["error"]["kind"], "deadline_exceeded", "{summary}");
    let message = summary["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("did not stop at its deadline (2s)") && message.contains("PASS_DEADLINE"),
        "{message}"
    );
    // Stopped at all (without epoch interruption this pass never ends); not a timing
    // assertion beyond that.
    assert!(took < Duration::from_secs(60), "took {took:?}");
}

#[test]
fn unbounded_allocation_ends_at_the_memory_cap_with_its_name() {
    let (sim, mut c) = misbehaving("alloc");
    c.env("MEMORY_LIMIT_MIB", "64");
    let pass = c.run(&sim);
    assert_eq!(pass.code, 1, "{}", pass.output());
    let summary = pass.summary();
    assert_eq!(summary["error"]["kind"], "memory_limit", "{summary}");
    let message = summary["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("memory cap of 64 MiB (MEMORY_LIMIT_MIB)"),
        "{message}"
    );
}

#[test]
fn keys_outside_the_prefix_and_the_checkpoint_key_are_refused_and_nothing_is_written() {
    let (sim, c) = misbehaving("outside-prefix");
    let pass = c.run(&sim);
    let seen = report(&pass);
    for key in [
        "../escape.json",
        "/tmp/escape.json",
        "elsewhere/escape.json",
        "zendesk/crm/../escape.json",
        "zendesk/crm/state.json",
    ] {
        assert!(
            seen.contains(&format!("{key}: invalid-key (")),
            "{key} was not refused: {seen}"
        );
    }
    assert!(!seen.contains("stored"), "{seen}");
    assert!(c.objects().is_empty(), "{:?}", c.objects().keys());
    assert!(!c.state_path().exists(), "the checkpoint was written");
    let parent = c.out.path().parent().unwrap();
    assert!(!parent.join("escape.json").exists());
    assert!(!c.out.path().join("elsewhere").exists());
    assert!(!Path::new("/tmp/escape.json").exists());
}

#[test]
fn a_post_to_the_configured_origin_is_refused_before_it_is_sent() {
    let origin = Listener::start();
    let (_sim, c) = misbehaving("post");
    // The listener is the configured origin: even there, only GET is let through.
    let base_url = format!("http://{}", origin.addr);
    let pass = c
        .command("run", crate::harness::T0)
        .env("ZENDESK_BASE_URL", &base_url)
        .output()
        .expect("running zendesk-crm");
    let pass = Pass {
        code: pass.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&pass.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&pass.stderr).into_owned(),
    };
    let seen = report(&pass);
    assert!(seen.contains("HttpRequestDenied"), "{seen}");
    assert!(
        pass.stderr.contains("refused a request from the component"),
        "{}",
        pass.stderr
    );
    origin.assert_untouched();
}

#[test]
fn a_request_to_another_loopback_origin_is_refused_before_it_is_sent() {
    let elsewhere = Listener::start();
    let (sim, c) = misbehaving(&format!("other-host,{}", elsewhere.addr));
    let pass = c.run(&sim);
    let seen = report(&pass);
    assert!(seen.contains("HttpRequestDenied"), "{seen}");
    elsewhere.assert_untouched();
}

#[test]
fn the_component_sees_no_environment_variables_arguments_or_directory() {
    let (sim, mut c) = misbehaving("env");
    c.env("MISBEHAVE_CANARY", "visible-to-the-host-only");
    let pass = c.run(&sim);
    let seen = report(&pass);
    assert!(
        seen.contains("0 environment variables []; 0 arguments []"),
        "{seen}"
    );
    let token = sim.config().api_token.clone();
    assert!(
        !seen.contains(&token) && !seen.contains("ZENDESK_API_TOKEN"),
        "{seen}"
    );
    assert!(!seen.contains("MISBEHAVE_CANARY"), "{seen}");
}

#[test]
fn opening_files_fails_inside_the_component() {
    let (sim, c) = misbehaving("files");
    let pass = c.run(&sim);
    let seen = report(&pass);
    // No preopened directory: every path is not found.
    for what in [
        "read /etc/passwd: Err(",
        "list /: Err(",
        "list .: Err(",
        "write escape.txt: Err(",
    ] {
        assert!(
            seen.contains(&format!("{what}Os {{ code: 44, kind: NotFound")),
            "{what} did not fail: {seen}"
        );
    }
    assert!(!c.out.path().join("escape.txt").exists());
}

#[test]
fn opening_sockets_fails_inside_the_component() {
    let target = Listener::start();
    let (sim, c) = misbehaving(&format!("sockets,{}", target.addr));
    let pass = c.run(&sim);
    let seen = report(&pass);
    for what in [
        format!(
            "tcp connect {}: Err(Os {{ code: 2, kind: PermissionDenied",
            target.addr
        ),
        "udp bind: Err(Os { code: 2, kind: PermissionDenied".to_owned(),
        "lookup localhost: Err(".to_owned(),
    ] {
        assert!(seen.contains(&what), "{what} did not fail: {seen}");
    }
    target.assert_untouched();
}

#[test]
fn a_feed_spinning_in_a_loop_does_not_hold_up_another_feeds_pass() {
    let (sim, mut c) = misbehaving("loop");
    // More spinning passes than the runtime has threads: without epoch yields they would hold
    // every thread until their deadline (and, never yielding, not even meet it).
    let spinners = std::thread::available_parallelism().map_or(2, |n| n.get()) + 2;
    // Each spinner is stopped at 2 s and 2 s of grace.
    c.env("PASS_DEADLINE", "2s")
        .env("FEED_TOKEN", &sim.config().api_token);
    let mut text = String::new();
    let feed = |name: &str, resources: &str| {
        format!(
            "[[feed]]\nname = \"{name}\"\nbase_url = \"{}\"\napi_token_env = \"FEED_TOKEN\"\n\
             prefix = \"{name}/\"\nstate_key = \"{name}-state/state.json\"\nresources = {resources}\n\n",
            sim.base_url()
        )
    };
    for i in 0..spinners {
        text.push_str(&feed(&format!("spin{i}"), "[\"loop\"]"));
    }
    // Listed last, so it starts after every spinner is running.
    text.push_str(&feed("counts", "[\"count\", \"20000000\"]"));
    let file = c.out.path().join("feeds.toml");
    std::fs::write(&file, text).unwrap();
    let output = c
        .command("run", sim.now())
        .arg("--feeds")
        .arg(&file)
        .arg("--max-concurrent-passes")
        .arg((spinners + 1).to_string())
        .output()
        .expect("running zendesk-crm");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summaries: Vec<serde_json::Value> = stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let order: Vec<&str> = summaries
        .iter()
        .map(|s| s["feed"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(summaries.len(), spinners + 1, "{order:?}");
    // The counting feed finished while every spinner was still spinning.
    assert_eq!(order[0], "counts", "{order:?}");
    let counted = &summaries[0]["resources"][0]["error"]["message"];
    assert_eq!(
        counted, "misbehave: counted 20000000 steps",
        "{}",
        summaries[0]
    );
    for spinner in &summaries[1..] {
        assert_eq!(spinner["error"]["kind"], "deadline_exceeded", "{spinner}");
    }
    assert_eq!(output.status.code(), Some(8));
}
