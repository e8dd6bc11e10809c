//! A real S3-compatible server for the S3 tests: moto (installed by `scripts/setup` into a
//! venv under `target/`), with IAM enforced, started once per test process on 127.0.0.1 and
//! a free port; and a pass-through proxy in front of it that forwards every request
//! unchanged except what a test scripts (injected 503/`SlowDown`, AWS's 403 for a missing
//! key without `s3:ListBucket`).

use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

/// Access keys of a moto IAM user.
#[derive(Debug, Clone)]
pub struct Keys {
    pub id: String,
    pub secret: String,
}

/// An object as the server holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    pub body: Vec<u8>,
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    pub sse: Option<String>,
    pub kms_key: Option<String>,
}

/// The moto server of this test process, and its control channel (`tests/s3/moto_control.py`).
pub struct Moto {
    port: u16,
    admin: Keys,
    io: Mutex<(ChildStdin, BufReader<ChildStdout>)>,
    _child: Child,
}

impl Moto {
    /// The server, started on first use. It exits when this process does (its stdin closes).
    pub fn shared() -> &'static Moto {
        static MOTO: OnceLock<Moto> = OnceLock::new();
        MOTO.get_or_init(Moto::start)
    }

    fn start() -> Moto {
        let python = std::env::var("MOTO_PYTHON").unwrap_or_else(|_| {
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../target/moto-venv/bin/python"
            )
            .to_owned()
        });
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/s3/moto_control.py");
        let mut child = Command::new(&python)
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start moto with {python} ({e}); run `bash scripts/setup` first")
            });
        let stdin = child.stdin.take().expect("piped stdin");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("moto's first line");
        let hello: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("moto did not start ({e}): {line:?}"));
        Moto {
            port: hello["port"].as_u64().expect("port") as u16,
            admin: keys(&hello["admin"]),
            io: Mutex::new((stdin, stdout)),
            _child: child,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn admin(&self) -> &Keys {
        &self.admin
    }

    fn call(&self, command: Value) -> Value {
        let mut io = self.io.lock().unwrap_or_else(|p| p.into_inner());
        let (stdin, stdout) = &mut *io;
        writeln!(stdin, "{command}").expect("write to moto control");
        stdin.flush().expect("flush moto control");
        let mut line = String::new();
        stdout.read_line(&mut line).expect("read moto control");
        let answer: Value = serde_json::from_str(&line).expect("moto control answers JSON");
        if let Some(e) = answer.get("error") {
            panic!("moto control {command}: {e}");
        }
        answer
    }

    pub fn create_bucket(&self, name: &str) {
        self.call(json!({"op": "bucket", "name": name}));
    }

    /// A user whose only permissions are `policy` (an IAM policy document).
    pub fn create_user(&self, name: &str, policy: &Value) -> Keys {
        keys(&self.call(json!({"op": "user", "name": name, "policy": policy})))
    }

    pub fn create_kms_key(&self) -> String {
        self.call(json!({"op": "kms_key"}))["id"]
            .as_str()
            .expect("key id")
            .to_owned()
    }

    /// Stores an object as the administrator.
    pub fn put(&self, bucket: &str, key: &str, body: &[u8]) {
        let body = base64::engine::general_purpose::STANDARD.encode(body);
        self.call(json!({"op": "put", "bucket": bucket, "key": key, "body": body}));
    }

    /// Every object in `bucket`, by key.
    pub fn objects(&self, bucket: &str) -> BTreeMap<String, StoredObject> {
        let answer = self.call(json!({"op": "dump", "bucket": bucket}));
        let text = |v: &Value| v.as_str().map(str::to_owned);
        answer["objects"]
            .as_object()
            .expect("objects")
            .iter()
            .map(|(k, o)| {
                let body = base64::engine::general_purpose::STANDARD
                    .decode(o["body"].as_str().expect("body"))
                    .expect("base64 body");
                (
                    k.clone(),
                    StoredObject {
                        body,
                        content_type: text(&o["content_type"]),
                        content_encoding: text(&o["content_encoding"]),
                        sse: text(&o["sse"]),
                        kms_key: text(&o["kms_key"]),
                    },
                )
            })
            .collect()
    }
}

fn keys(v: &Value) -> Keys {
    Keys {
        id: v["id"].as_str().expect("key id").to_owned(),
        secret: v["secret"].as_str().expect("secret").to_owned(),
    }
}

/// One request as the proxy saw it, with the status it answered.
#[derive(Debug, Clone)]
pub struct ProxiedRequest {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub injected: bool,
}

#[derive(Debug)]
struct Injection {
    method: String,
    path_contains: String,
    times: u32,
    status: u16,
    code: String,
}

#[derive(Debug, Default)]
struct Script {
    injections: VecDeque<Injection>,
    /// Paths (`/bucket/key`) whose 404 is answered as AWS does without `s3:ListBucket`.
    missing_as_denied: Vec<String>,
    log: Vec<ProxiedRequest>,
}

/// A pass-through HTTP proxy in front of moto, on 127.0.0.1 and a free port; dropping it stops
/// it.
pub struct S3Proxy {
    addr: SocketAddr,
    script: Arc<Mutex<Script>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl S3Proxy {
    pub fn start(upstream_port: u16) -> S3Proxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let addr = listener.local_addr().expect("proxy address");
        listener.set_nonblocking(true).expect("nonblocking");
        let script = Arc::new(Mutex::new(Script::default()));
        let (tx, rx) = tokio::sync::oneshot::channel();
        let serving = Arc::clone(&script);
        let thread = std::thread::Builder::new()
            .name(format!("s3-proxy-{}", addr.port()))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("proxy runtime");
                runtime.block_on(serve(listener, upstream_port, serving, rx));
            })
            .expect("proxy thread");
        S3Proxy {
            addr,
            script,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn script(&self) -> std::sync::MutexGuard<'_, Script> {
        self.script.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next `times` requests with this method whose path contains `path_contains` are
    /// answered `status` with an S3 error document of `code`, without reaching moto.
    pub fn inject(&self, method: &str, path_contains: &str, times: u32, status: u16, code: &str) {
        self.script().injections.push_back(Injection {
            method: method.to_owned(),
            path_contains: path_contains.to_owned(),
            times,
            status,
            code: code.to_owned(),
        });
    }

    /// A 404 for `/bucket/key` becomes AWS's 403 `AccessDenied` for a role without
    /// `s3:ListBucket` (moto answers 404 either way).
    pub fn missing_key_as_denied(&self, bucket: &str, key: &str) {
        self.script()
            .missing_as_denied
            .push(format!("/{bucket}/{key}"));
    }

    pub fn requests(&self) -> Vec<ProxiedRequest> {
        self.script().log.clone()
    }
}

impl Drop for S3Proxy {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn serve(
    listener: std::net::TcpListener,
    upstream: u16,
    script: Arc<Mutex<Script>>,
    mut shutdown: tokio::sync::oneshot::Receiver<()>,
) {
    let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
    loop {
        let stream = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
        };
        let script = Arc::clone(&script);
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(upstream, Arc::clone(&script), req));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

type ProxyResult = Result<Response<Full<Bytes>>, Box<dyn std::error::Error + Send + Sync>>;

async fn handle(upstream: u16, script: Arc<Mutex<Script>>, req: Request<Incoming>) -> ProxyResult {
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let injected = {
        let mut s = script.lock().unwrap_or_else(|p| p.into_inner());
        let found = s
            .injections
            .iter_mut()
            .find(|i| i.times > 0 && i.method == method && path.contains(&i.path_contains));
        found.map(|i| {
            i.times -= 1;
            (i.status, i.code.clone())
        })
    };
    let was_injected = injected.is_some();
    let (parts, body) = req.into_parts();
    // Read the body either way, as S3 would before answering.
    let body = body.collect().await?.to_bytes();
    let response = match injected {
        Some((status, code)) => error_document(status, &code),
        None => {
            let mut forward = Request::from_parts(parts, Full::new(body));
            forward
                .headers_mut()
                .remove(hyper::header::TRANSFER_ENCODING);
            let stream = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await?;
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(conn);
            let answer = sender.send_request(forward).await?;
            let (mut parts, body) = answer.into_parts();
            let body = body.collect().await?.to_bytes();
            parts.headers.remove(hyper::header::TRANSFER_ENCODING);
            parts.headers.remove(hyper::header::CONNECTION);
            let denied = parts.status == 404
                && (method == "GET" || method == "HEAD")
                && script
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .missing_as_denied
                    .contains(&path);
            if denied {
                error_document(403, "AccessDenied")
            } else {
                Response::from_parts(parts, Full::new(body))
            }
        }
    };
    script
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .log
        .push(ProxiedRequest {
            method,
            path,
            status: response.status().as_u16(),
            injected: was_injected,
        });
    Ok(response)
}

fn error_document(status: u16, code: &str) -> Response<Full<Bytes>> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>injected \
         by the test proxy</Message><RequestId>proxy</RequestId></Error>"
    );
    Response::builder()
        .status(status)
        .header("content-type", "application/xml")
        .body(Full::new(Bytes::from(body)))
        .expect("valid response")
}
