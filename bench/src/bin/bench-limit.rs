//! "The limit" for the benchmarks (issue 9): the least work that moves the incremental ticket
//! export into a local directory or S3 with the host's HTTP stack, and nothing else.
//!
//! `bench-limit BASE_URL EMAIL TOKEN OUT [PER_PAGE]` pages through
//! `/api/v2/incremental/tickets/cursor.json` from `start_time=0` until `end_of_stream`, and
//! stores each decoded body as one object. Like the host (wasmtime-wasi-http's default sender
//! on plain HTTP) it opens one connection per request with hyper's HTTP/1 client, asks for gzip
//! and inflates with flate2. No sandbox, no validation, no checkpoint: it reads only
//! `after_cursor` and `end_of_stream`. Prints `records pages bytes` on stdout.
//!
//! - `OUT` a directory: like the host's local store, a new file, fsynced, then its directory.
//! - `OUT` `s3://BUCKET/PREFIX`: a PutObject per page with the host's own client
//!   ([`zendesk_crm::storage::s3::client`], configured from the environment as `zendesk-crm
//!   run` is: `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL` with path-style addressing, region
//!   and credentials from the standard chain) and the host's request for an object: content
//!   type `application/json`, create-only (`If-None-Match: *`). Any failure, 412 included,
//!   stops it: the bench gives it an empty bucket.

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
use zendesk_crm::storage::s3::{self, S3Settings};

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

/// Where the pages go.
enum Out {
    Dir(std::path::PathBuf),
    S3 {
        client: s3::Client,
        bucket: String,
        prefix: String,
    },
}

impl Out {
    async fn open(out: &str) -> anyhow::Result<Out> {
        let Some(rest) = out.strip_prefix("s3://") else {
            let dir = Path::new(out);
            std::fs::create_dir_all(dir)?;
            return Ok(Out::Dir(dir.to_owned()));
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            bail!("s3://BUCKET/PREFIX: the bucket is empty");
        }
        // As config/store.rs resolves them for `zendesk-crm run` without --s3-endpoint: the SDK's
        // endpoint variables, any of which means path-style addressing; HTTP_TIMEOUT's default.
        let endpoint = ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]
            .iter()
            .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()));
        let settings = S3Settings {
            bucket: bucket.to_owned(),
            state_key: String::new(), // no checkpoint
            path_style: endpoint.is_some(),
            endpoint,
            sse_kms_key_id: None,
            attempt_timeout: std::time::Duration::from_secs(60),
        };
        let (client, _region) = s3::client(&settings).await?;
        Ok(Out::S3 {
            client,
            bucket: settings.bucket,
            prefix: prefix.to_owned(),
        })
    }

    async fn store(&self, name: &str, body: Vec<u8>) -> anyhow::Result<()> {
        match self {
            Out::Dir(dir) => Ok(store(dir, name, &body)?),
            Out::S3 {
                client,
                bucket,
                prefix,
            } => {
                // What S3Store::send_put sends for a page object (no compression, no KMS).
                let key = format!("{prefix}{name}");
                client
                    .put_object()
                    .bucket(bucket)
                    .key(&key)
                    .content_type("application/json")
                    .body(body.into())
                    .if_none_match("*")
                    .send()
                    .await
                    .with_context(|| format!("PutObject s3://{bucket}/{key}"))?;
                Ok(())
            }
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [base, email, token, out, rest @ ..] = &args[..] else {
        bail!("usage: bench-limit BASE_URL EMAIL TOKEN OUT_DIR|s3://BUCKET/PREFIX [PER_PAGE]");
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
    let out = Out::open(out).await?;
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
            out.store(&format!("{pages:06}.json"), body).await?;
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
