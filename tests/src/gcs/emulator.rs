//! fake-gcs-server, started once per test process, and the raw requests the tests send it.

use std::collections::BTreeMap;
use std::io::{self, Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::raw_http::{RawResponse, parse_response, percent_encode};

/// An object as the emulator holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    pub body: Vec<u8>,
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    pub generation: i64,
    /// Custom metadata (`x-goog-meta-*`), which must carry nothing secret.
    pub metadata: BTreeMap<String, String>,
}

/// The fake-gcs-server of this test process. It exits when this process does (a shell
/// wrapper kills it when its stdin closes).
pub struct Emulator {
    port: u16,
    _child: Child,
}

impl Emulator {
    pub fn shared() -> &'static Emulator {
        static EMULATOR: OnceLock<Emulator> = OnceLock::new();
        EMULATOR.get_or_init(Emulator::start)
    }

    fn start() -> Emulator {
        let binary = std::env::var("FAKE_GCS_SERVER").unwrap_or_else(|_| {
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../target/gcs-venv/bin/fake-gcs-server"
            )
            .to_owned()
        });
        // The emulator cannot report a port it chose, so take a free one and retry on the rare
        // loss of it to another process.
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let script = format!(
                "\"$0\" -scheme http -host 127.0.0.1 -port {port} -public-host 127.0.0.1:{port} \
                 -backend memory -log-level error >/dev/null 2>&1 & pid=$!; cat >/dev/null; \
                 kill $pid"
            );
            let mut child = Command::new("sh")
                .arg("-c")
                .arg(&script)
                .arg(&binary)
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {binary} ({e})"));
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Emulator {
                        port,
                        _child: child,
                    };
                }
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("fake-gcs-server ({binary}) did not start; run `bash scripts/setup` first");
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn create_bucket(&self, name: &str) {
        let body = json!({ "name": name }).to_string();
        let r = send(
            self.port,
            "POST",
            "/storage/v1/b?project=test",
            &[("content-type", "application/json")],
            body.as_bytes(),
        )
        .expect("create bucket");
        assert_eq!(r.status, 200, "create bucket {name}: {:?}", r.text());
    }

    /// Stores an object directly (as an administrator would), unconditionally.
    pub fn put(&self, bucket: &str, name: &str, body: &[u8]) {
        let path = format!(
            "/upload/storage/v1/b/{bucket}/o?uploadType=media&name={}",
            percent_encode(name)
        );
        let r = send(
            self.port,
            "POST",
            &path,
            &[("content-type", "application/json")],
            body,
        )
        .expect("upload");
        assert_eq!(r.status, 200, "put {name}: {:?}", r.text());
    }

    /// Every object in `bucket`, by name, with its stored (not transcoded) bytes.
    pub fn objects(&self, bucket: &str) -> BTreeMap<String, StoredObject> {
        let r = send(
            self.port,
            "GET",
            &format!("/storage/v1/b/{bucket}/o"),
            &[],
            b"",
        )
        .expect("list");
        assert_eq!(r.status, 200, "list {bucket}: {:?}", r.text());
        let list = r.json().expect("list JSON");
        let mut found = BTreeMap::new();
        for item in list["items"].as_array().cloned().unwrap_or_default() {
            let name = item["name"].as_str().expect("name").to_owned();
            let media = send(
                self.port,
                "GET",
                &format!(
                    "/storage/v1/b/{bucket}/o/{}?alt=media",
                    percent_encode(&name)
                ),
                // The stored bytes: without it, a gzip object is served decompressed
                // (decompressive transcoding, as GCS does).
                &[("accept-encoding", "gzip")],
                b"",
            )
            .expect("download");
            assert_eq!(media.status, 200, "download {name}");
            let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_owned);
            found.insert(
                name,
                StoredObject {
                    body: media.body,
                    content_type: text(&item["contentType"]),
                    content_encoding: text(&item["contentEncoding"]),
                    generation: item["generation"]
                        .as_str()
                        .and_then(|g| g.parse().ok())
                        .expect("generation"),
                    metadata: item["metadata"]
                        .as_object()
                        .map(|m| {
                            m.iter()
                                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_owned()))
                                .collect()
                        })
                        .unwrap_or_default(),
                },
            );
        }
        found
    }
}

/// One blocking request to 127.0.0.1:`port`, read to EOF.
pub fn send(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<RawResponse> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("Connection: close\r\n\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse_response(&raw)
}

/// A multipart upload as Google's client libraries send it: metadata, then the bytes.
pub fn multipart_upload(
    port: u16,
    bucket: &str,
    name: &str,
    body: &[u8],
    if_generation_match: i64,
) -> io::Result<RawResponse> {
    let boundary = "zc-boundary";
    let mut payload = format!(
        "--{boundary}\r\nContent-Type: application/json\r\n\r\n{}\r\n--{boundary}\r\n\
         Content-Type: application/json\r\n\r\n",
        json!({ "name": name })
    )
    .into_bytes();
    payload.extend_from_slice(body);
    payload.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    send(
        port,
        "POST",
        &format!(
            "/upload/storage/v1/b/{bucket}/o?uploadType=multipart&ifGenerationMatch={if_generation_match}"
        ),
        &[(
            "content-type",
            &format!("multipart/related; boundary={boundary}"),
        )],
        &payload,
    )
}

/// A media upload (`uploadType=media`), the other simple upload of the JSON API.
pub fn media_upload(
    port: u16,
    bucket: &str,
    name: &str,
    body: &[u8],
    if_generation_match: i64,
) -> io::Result<RawResponse> {
    send(
        port,
        "POST",
        &format!(
            "/upload/storage/v1/b/{bucket}/o?uploadType=media&name={}&ifGenerationMatch={if_generation_match}",
            percent_encode(name)
        ),
        &[("content-type", "application/json")],
        body,
    )
}
