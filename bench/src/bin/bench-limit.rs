//! "The limit" for the benchmarks (issue 9): the least work that moves the incremental ticket
//! export into a local directory with the host's HTTP stack, and nothing else.
//!
//! `bench-limit BASE_URL EMAIL TOKEN OUT_DIR [PER_PAGE]` pages through
//! `/api/v2/incremental/tickets/cursor.json` from `start_time=0` until `end_of_stream`, and
//! writes each decoded body as one file. Like the host (wasmtime-wasi-http's default sender on
//! plain HTTP) it opens one connection per request with hyper's HTTP/1 client, asks for gzip
//! and inflates with flate2; like the host's local store it writes a new file, fsyncs it and
//! its directory. No sandbox, no validation, no checkpoint: it reads only `after_cursor` and
//! `end_of_stream`. Prints `records pages bytes` on stdout.

use std::fs::File;
use std::io::{Read as _, Write as _};
use std::path::Path;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use http_body_util::{BodyExt as _, Empty};
use hyper::body::Bytes;
use serde::Deserialize;
use serde::de::IgnoredAny;
use tokio::net::TcpStream;

#[derive(Deserialize)]
struct Envelope {
    tickets: Vec<IgnoredAny>,
    after_cursor: Option<String>,
    end_of_stream: bool,
}

async fn get(authority: &str, path: &str, auth: &str) -> anyhow::Result<Vec<u8>> {
    let tcp = TcpStream::connect(authority).await?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp)).await?;
    let conn = tokio::spawn(conn);
    let request = http::Request::get(path)
        .header("host", authority)
        .header("accept", "application/json")
        .header("accept-encoding", "gzip")
        .header("authorization", auth)
        .body(Empty::<Bytes>::new())?;
    let response = sender.send_request(request).await?;
    if !response.status().is_success() {
        bail!("{path}: HTTP {}", response.status());
    }
    let gzip = response
        .headers()
        .get("content-encoding")
        .is_some_and(|v| v.as_bytes() == b"gzip");
    let raw = response.into_body().collect().await?.to_bytes();
    drop(sender);
    let _ = conn.await;
    if !gzip {
        return Ok(raw.to_vec());
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&raw[..]).read_to_end(&mut out)?;
    Ok(out)
}

/// Percent-encodes every byte but ASCII letters and digits, as the guest does.
fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn store(dir: &Path, name: &str, body: &[u8]) -> std::io::Result<()> {
    let mut f = File::create_new(dir.join(name))?;
    f.write_all(body)?;
    f.sync_all()?;
    File::open(dir)?.sync_all()
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [base, email, token, out, rest @ ..] = &args[..] else {
        bail!("usage: bench-limit BASE_URL EMAIL TOKEN OUT_DIR [PER_PAGE]");
    };
    let per_page: u32 = rest.first().map_or(Ok(1000), |p| p.parse())?;
    let authority = base
        .strip_prefix("http://")
        .context("BASE_URL must be http://host:port")?
        .trim_end_matches('/');
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{email}/token:{token}"))
    );
    let dir = Path::new(out);
    std::fs::create_dir_all(dir)?;
    let mut path =
        format!("/api/v2/incremental/tickets/cursor.json?start_time=0&per_page={per_page}");
    let (mut records, mut pages, mut bytes) = (0u64, 0u64, 0u64);
    loop {
        let body = get(authority, &path, &auth).await?;
        let page: Envelope = serde_json::from_slice(&body)?;
        pages += 1;
        if !page.tickets.is_empty() {
            records += page.tickets.len() as u64;
            bytes += body.len() as u64;
            store(dir, &format!("{pages:06}.json"), &body)?;
        }
        match (page.end_of_stream, page.after_cursor) {
            (false, Some(cursor)) => {
                path = format!(
                    "/api/v2/incremental/tickets/cursor.json?cursor={}&per_page={per_page}",
                    url_encode(&cursor)
                );
            }
            _ => break,
        }
    }
    println!("{records} {pages} {bytes}");
    Ok(())
}
