//! Test only: a component of the collector's world that does what a compromised or buggy
//! component might. The first resource name picks the misbehaviour (the rest are its
//! arguments), so one build serves every case of `tests/integration/misbehave.rs`:
//!
//! - `loop`: computes forever without calling the host;
//! - `count,<n>`: computes `n` steps without calling the host, then returns (a feed that
//!   needs its share of the CPU next to one that loops);
//! - `alloc`: allocates until the memory cap refuses;
//! - `outside-prefix`: writes keys outside the object prefix, and the checkpoint's key;
//! - `post`: sends a `POST` to the configured origin;
//! - `other-host,<authority>`: sends a `GET` to another origin;
//! - `env`: reads its environment variables and arguments;
//! - `files`: reads, lists and writes files;
//! - `sockets,<ip:port>`: opens a TCP connection, binds UDP, looks a name up.
//!
//! What it saw comes back as the one resource's `other` error (`misbehave: …`), so a test
//! can assert that the host refused it or gave it nothing.

use std::hint::black_box;

mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "zendesk:crm/collector-component",
        generate_all,
    });
}

use bindings::exports::zendesk::crm::collector::{CheckpointReport, SetupError};
use bindings::exports::zendesk::crm::collector::{Guest, ResourceError, ResourceOutcome};
use bindings::wasi::http::outgoing_handler;
use bindings::wasi::http::types::{Fields, Method, OutgoingBody, OutgoingRequest, Scheme};
use bindings::zendesk::crm::object_store;
use bindings::zendesk::crm::types::Settings;

struct Misbehave;

impl Guest for Misbehave {
    fn run(settings: Settings) -> Result<Vec<ResourceOutcome>, SetupError> {
        let names: Vec<String> = settings.resources.iter().map(|r| r.name.clone()).collect();
        let Some(mode) = names.first() else {
            return Err(SetupError::InvalidSettings("no resource".into()));
        };
        let arg = names.get(1).map(String::as_str).unwrap_or("");
        let report = match mode.as_str() {
            "loop" => spin(),
            "count" => count(arg),
            "alloc" => allocate(),
            "outside-prefix" => outside_prefix(&settings),
            "post" => post(&settings.base_url),
            "other-host" => other_host(arg),
            "env" => environment(),
            "files" => files(),
            "sockets" => sockets(arg),
            other => return Err(SetupError::UnknownResource(other.to_owned())),
        };
        Ok(vec![outcome(mode, format!("misbehave: {report}"))])
    }

    fn inspect(_: Settings) -> Result<CheckpointReport, SetupError> {
        Err(SetupError::Other(
            "misbehave: no checkpoint to inspect".into(),
        ))
    }
}

fn outcome(name: &str, report: String) -> ResourceOutcome {
    ResourceOutcome {
        name: name.to_owned(),
        first_run: true,
        started_at: None,
        requested_start: None,
        pages: 0,
        records: 0,
        objects_created: 0,
        objects_existing: 0,
        retries: 0,
        rate_wait_ms: 0,
        caught_up: false,
        behind_seconds: None,
        stopped: None,
        error: Some(ResourceError::Other(report)),
    }
}

/// Never returns, and never calls the host.
fn spin() -> String {
    let mut n: u64 = 0;
    loop {
        n = black_box(n.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
}

/// Computes `steps` steps, then says so.
fn count(steps: &str) -> String {
    let steps: u64 = steps.parse().unwrap_or(0);
    let mut n: u64 = 0;
    for _ in 0..steps {
        n = black_box(n.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
    format!("counted {steps} steps")
}

/// Keeps every mebibyte it asks for, until an allocation fails (which aborts).
fn allocate() -> String {
    let mut kept: Vec<Vec<u8>> = Vec::new();
    loop {
        kept.push(black_box(vec![1u8; 1 << 20]));
        black_box(&kept);
    }
}

fn outside_prefix(settings: &Settings) -> String {
    let prefix = &settings.object_prefix;
    let keys = [
        "../escape.json".to_owned(),
        "/tmp/escape.json".to_owned(),
        "elsewhere/escape.json".to_owned(),
        format!("{prefix}../escape.json"),
        "zendesk/crm/state.json".to_owned(),
    ];
    keys.iter()
        .map(|key| {
            let seen = match object_store::put_object(key, b"{}", "application/json") {
                Ok(outcome) => format!("stored ({outcome:?})"),
                Err(object_store::StoreError::InvalidKey(why)) => format!("invalid-key ({why})"),
                Err(e) => format!("other error ({e:?})"),
            };
            format!("{key}: {seen}")
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Sends one request and says what came back.
fn send(method: Method, https: bool, authority: &str, path: &str) -> String {
    let request = OutgoingRequest::new(Fields::new());
    let _ = request.set_method(&method);
    let _ = request.set_scheme(Some(if https { &Scheme::Https } else { &Scheme::Http }));
    let _ = request.set_authority(Some(authority));
    let _ = request.set_path_with_query(Some(path));
    let body = request.body().ok();
    let future = match outgoing_handler::handle(request, None) {
        Ok(f) => f,
        Err(e) => return format!("refused at once ({e:?})"),
    };
    if let Some(body) = body {
        let _ = OutgoingBody::finish(body, None);
    }
    future.subscribe().block();
    match future.get() {
        Some(Ok(Ok(response))) => format!("answered {}", response.status()),
        Some(Ok(Err(e))) => format!("refused ({e:?})"),
        other => format!("no answer ({other:?})"),
    }
}

fn split_origin(base_url: &str) -> (bool, &str) {
    match base_url.split_once("://") {
        Some((scheme, rest)) => (scheme == "https", rest.trim_end_matches('/')),
        None => (true, base_url),
    }
}

fn post(base_url: &str) -> String {
    let (https, authority) = split_origin(base_url);
    let seen = send(Method::Post, https, authority, "/api/v2/audit_logs.json");
    format!("POST {base_url}: {seen}")
}

fn other_host(authority: &str) -> String {
    let seen = send(
        Method::Get,
        false,
        authority,
        "/api/v2/incremental/tickets/cursor.json?start_time=0",
    );
    format!("GET http://{authority}: {seen}")
}

fn environment() -> String {
    let vars: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}")).collect();
    let args: Vec<String> = std::env::args().collect();
    let cwd = std::env::current_dir().map(|p| p.display().to_string());
    format!(
        "{} environment variables {vars:?}; {} arguments {args:?}; current directory {cwd:?}",
        vars.len(),
        args.len()
    )
}

fn files() -> String {
    let read = std::fs::read("/etc/passwd").map(|b| b.len());
    let list = std::fs::read_dir("/").map(|d| d.count());
    let here = std::fs::read_dir(".").map(|d| d.count());
    let write = std::fs::write("escape.txt", b"x");
    format!(
        "read /etc/passwd: {read:?}; list /: {list:?}; list .: {here:?}; write escape.txt: {write:?}"
    )
}

fn sockets(target: &str) -> String {
    let tcp = std::net::TcpStream::connect(target).map(|_| "connected");
    let udp = std::net::UdpSocket::bind("0.0.0.0:0").map(|_| "bound");
    let lookup = std::net::ToSocketAddrs::to_socket_addrs("localhost:80").map(|a| a.count());
    format!("tcp connect {target}: {tcp:?}; udp bind: {udp:?}; lookup localhost: {lookup:?}")
}

// Only the wasm build exports `run`: a native shared library cannot carry the component's
// export names, and `cargo build --workspace` builds this crate for the host too.
#[cfg(target_arch = "wasm32")]
bindings::export!(Misbehave with_types_in bindings);
