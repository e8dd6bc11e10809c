//! The enforcing proxy in front of the emulator: ifGenerationMatch applied atomically, Cloud
//! IAM per object-name prefix, scripted answers, and a log of every request.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

use super::emulator::*;
use crate::raw_http::percent_encode;

/// Permissions of the proxy's IAM on the objects whose names start with a prefix.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Permissions {
    pub get: bool,
    pub create: bool,
    pub delete: bool,
}

/// One request as the proxy saw it, with the status it answered.
#[derive(Debug, Clone)]
pub struct ProxiedRequest {
    pub method: String,
    /// Path and query.
    pub target: String,
    /// The object the request is about, when it is about one.
    pub object: Option<String>,
    pub status: u16,
    /// Answered by the proxy (an injection, a denial or a precondition it enforced).
    pub by_proxy: bool,
    /// The request's `Authorization` header, for the leak tests.
    pub authorization: Option<String>,
    /// An upload's object metadata as the client sent it (the first part of a multipart
    /// upload): the emulator drops `contentType` and `contentEncoding` given there, so the
    /// tests read what the collector asked for here.
    pub metadata: Option<Value>,
}

#[derive(Debug)]
struct Injection {
    method: String,
    object_contains: String,
    times: u32,
    status: u16,
}

#[derive(Debug, Default)]
struct Script {
    injections: VecDeque<Injection>,
    /// When set, Cloud IAM: the grants by object-name prefix; anything else is denied.
    grants: Option<Vec<(String, Permissions)>>,
    log: Vec<ProxiedRequest>,
}

/// The enforcing proxy in front of the emulator, on 127.0.0.1 and a free port; dropping it
/// stops it.
pub struct GcsProxy {
    addr: SocketAddr,
    script: Arc<Mutex<Script>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl GcsProxy {
    pub fn start(upstream_port: u16) -> GcsProxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let addr = listener.local_addr().expect("proxy address");
        listener.set_nonblocking(true).expect("nonblocking");
        let script = Arc::new(Mutex::new(Script::default()));
        let (tx, rx) = tokio::sync::oneshot::channel();
        let serving = Arc::clone(&script);
        let thread = std::thread::Builder::new()
            .name(format!("gcs-proxy-{}", addr.port()))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("proxy runtime");
                runtime.block_on(serve(listener, upstream_port, serving, rx));
            })
            .expect("proxy thread");
        GcsProxy {
            addr,
            script,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    /// `127.0.0.1:PORT`, as `STORAGE_EMULATOR_HOST` is usually written.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    fn script(&self) -> std::sync::MutexGuard<'_, Script> {
        self.script.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next `times` requests with this method about an object whose name contains
    /// `object_contains` are answered `status` with a GCS error document.
    pub fn inject(&self, method: &str, object_contains: &str, times: u32, status: u16) {
        self.script().injections.push_back(Injection {
            method: method.to_owned(),
            object_contains: object_contains.to_owned(),
            times,
            status,
        });
    }

    /// From now on only these grants hold (by object-name prefix, as an IAM condition on
    /// `resource.name` would); everything else is a 403.
    pub fn grant_only(&self, grants: &[(&str, Permissions)]) {
        self.script().grants = Some(grants.iter().map(|(p, g)| (p.to_string(), *g)).collect());
    }

    pub fn requests(&self) -> Vec<ProxiedRequest> {
        self.script().log.clone()
    }
}

impl Drop for GcsProxy {
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
    // Conditional writes are checked and made under this lock, so they are atomic.
    let writes = Arc::new(tokio::sync::Mutex::new(()));
    loop {
        let stream = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
        };
        let script = Arc::clone(&script);
        let writes = Arc::clone(&writes);
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                handle(upstream, Arc::clone(&script), Arc::clone(&writes), req)
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

type ProxyResult = Result<Response<Full<Bytes>>, Box<dyn std::error::Error + Send + Sync>>;

/// What a request does to which object.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    Read {
        bucket: String,
        object: String,
    },
    Upload {
        bucket: String,
        object: String,
        if_generation: Option<i64>,
    },
    Other,
}

fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The object name of a multipart upload: the `name` of its first (metadata) part.
fn multipart_name(content_type: &str, body: &[u8]) -> Option<String> {
    multipart_metadata(content_type, body)?["name"]
        .as_str()
        .map(str::to_owned)
}

/// The first (metadata) part of a multipart upload.
fn multipart_metadata(content_type: &str, body: &[u8]) -> Option<Value> {
    let boundary = content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))?
        .trim_matches('"');
    let text = String::from_utf8_lossy(body);
    let first = text.split(&format!("--{boundary}")).nth(1)?;
    let (_, json) = first.split_once("\r\n\r\n")?;
    serde_json::from_str(json.trim()).ok()
}

fn classify(method: &str, path: &str, query: &str, content_type: &str, body: &[u8]) -> Op {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        ("GET", ["storage" | "download", "v1", "b", bucket, "o", object @ ..])
        | ("GET", ["download", "storage", "v1", "b", bucket, "o", object @ ..])
            if !object.is_empty() =>
        {
            Op::Read {
                bucket: (*bucket).to_owned(),
                object: percent_decode(&object.join("/")),
            }
        }
        ("POST", ["upload", "storage", "v1", "b", bucket, "o"]) => {
            let object = query_param(query, "name")
                .or_else(|| multipart_name(content_type, body))
                .unwrap_or_default();
            Op::Upload {
                bucket: (*bucket).to_owned(),
                object,
                if_generation: query_param(query, "ifGenerationMatch").and_then(|g| g.parse().ok()),
            }
        }
        _ => Op::Other,
    }
}

async fn handle(
    upstream: u16,
    script: Arc<Mutex<Script>>,
    writes: Arc<tokio::sync::Mutex<()>>,
    req: Request<Incoming>,
) -> ProxyResult {
    let method = req.method().as_str().to_owned();
    let target = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let content_type = req
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let authorization = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (parts, body) = req.into_parts();
    let body = body.collect().await?.to_bytes();
    let op = classify(&method, &path, &query, &content_type, &body);
    let metadata = match &op {
        Op::Upload { .. } => multipart_metadata(&content_type, &body),
        _ => None,
    };
    let object = match &op {
        Op::Read { object, .. } | Op::Upload { object, .. } => Some(object.clone()),
        Op::Other => None,
    };

    let injected = {
        let mut s = script.lock().unwrap_or_else(|p| p.into_inner());
        let name = object.clone().unwrap_or_else(|| target.clone());
        s.injections
            .iter_mut()
            .find(|i| i.times > 0 && i.method == method && name.contains(&i.object_contains))
            .map(|i| {
                i.times -= 1;
                i.status
            })
    };
    let (response, by_proxy) = if let Some(status) = injected {
        (error_document(status, "injected by the test proxy"), true)
    } else {
        let grants = script
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .grants
            .clone();
        let allowed = |name: &str| -> Permissions {
            match &grants {
                None => Permissions {
                    get: true,
                    create: true,
                    delete: true,
                },
                Some(g) => g
                    .iter()
                    .filter(|(prefix, _)| name.starts_with(prefix.as_str()))
                    .fold(Permissions::default(), |a, (_, p)| Permissions {
                        get: a.get || p.get,
                        create: a.create || p.create,
                        delete: a.delete || p.delete,
                    }),
            }
        };
        match &op {
            Op::Read { object, .. } if !allowed(object).get => {
                (denied("storage.objects.get", object), true)
            }
            Op::Upload {
                bucket,
                object,
                if_generation,
            } => {
                let _serialised = writes.lock().await;
                let current = generation_of(upstream, bucket, object).await?;
                let may = allowed(object);
                if !bucket_exists(upstream, bucket).await? {
                    // Cloud Storage's 404 for a missing bucket comes before any precondition.
                    (forward(upstream, parts, body).await?, false)
                } else if !may.create {
                    (denied("storage.objects.create", object), true)
                } else if if_generation.is_some_and(|g| g != current.unwrap_or(0)) {
                    (
                        error_document(
                            412,
                            "At least one of the pre-conditions you specified did not hold.",
                        ),
                        true,
                    )
                } else if current.is_some() && !may.delete {
                    (denied("storage.objects.delete", object), true)
                } else {
                    (forward(upstream, parts, body).await?, false)
                }
            }
            _ => (forward(upstream, parts, body).await?, false),
        }
    };
    script
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .log
        .push(ProxiedRequest {
            method,
            target,
            object,
            status: response.status().as_u16(),
            by_proxy,
            authorization,
            metadata,
        });
    Ok(response)
}

async fn forward(
    upstream: u16,
    parts: http::request::Parts,
    body: Bytes,
) -> Result<Response<Full<Bytes>>, Box<dyn std::error::Error + Send + Sync>> {
    let mut forward = Request::from_parts(parts, Full::new(body));
    forward
        .headers_mut()
        .remove(hyper::header::TRANSFER_ENCODING);
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let answer = sender.send_request(forward).await?;
    let (mut parts, body) = answer.into_parts();
    let body = body.collect().await?.to_bytes();
    parts.headers.remove(hyper::header::TRANSFER_ENCODING);
    parts.headers.remove(hyper::header::CONNECTION);
    Ok(Response::from_parts(parts, Full::new(body)))
}

/// Whether the emulator has `bucket`.
async fn bucket_exists(
    upstream: u16,
    bucket: &str,
) -> Result<bool, Box<dyn std::error::Error + Send + Sync>> {
    let path = format!("/storage/v1/b/{}", percent_encode(bucket));
    let r = tokio::task::spawn_blocking(move || send(upstream, "GET", &path, &[], b"")).await??;
    Ok(r.status != 404)
}

/// The object's current generation at the emulator, none when it does not exist.
async fn generation_of(
    upstream: u16,
    bucket: &str,
    object: &str,
) -> Result<Option<i64>, Box<dyn std::error::Error + Send + Sync>> {
    let path = format!("/storage/v1/b/{bucket}/o/{}", percent_encode(object));
    let r = tokio::task::spawn_blocking(move || send(upstream, "GET", &path, &[], b"")).await??;
    if r.status == 404 {
        return Ok(None);
    }
    let meta = r.json().map_err(|e| e.to_string())?;
    Ok(meta["generation"].as_str().and_then(|g| g.parse().ok()))
}

fn denied(permission: &str, object: &str) -> Response<Full<Bytes>> {
    error_document(
        403,
        &format!(
            "collector@test-project.iam.gserviceaccount.com does not have {permission} access \
             to the Google Cloud Storage object. Permission '{permission}' denied on resource \
             (or it may not exist): {object}"
        ),
    )
}

fn error_document(status: u16, message: &str) -> Response<Full<Bytes>> {
    let body = json!({
        "error": {
            "code": status,
            "message": message,
            "errors": [{ "domain": "global", "reason": "proxy", "message": message }]
        }
    })
    .to_string();
    Response::builder()
        .status(status)
        .header("content-type", "application/json; charset=UTF-8")
        .body(Full::new(Bytes::from(body)))
        .expect("valid response")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uploads_and_reads_are_told_apart_with_their_object() {
        let body = b"--b\r\nContent-Type: application/json\r\n\r\n{\"name\":\"a/b.json\"}\r\n--b\r\n\r\nx\r\n--b--\r\n";
        assert_eq!(
            classify(
                "POST",
                "/upload/storage/v1/b/bk/o",
                "uploadType=multipart&ifGenerationMatch=0",
                "multipart/related; boundary=b",
                body
            ),
            Op::Upload {
                bucket: "bk".into(),
                object: "a/b.json".into(),
                if_generation: Some(0)
            }
        );
        assert_eq!(
            classify("GET", "/storage/v1/b/bk/o/a%2Fb.json", "alt=media", "", b""),
            Op::Read {
                bucket: "bk".into(),
                object: "a/b.json".into()
            }
        );
    }
}
