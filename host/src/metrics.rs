//! Prometheus metrics for `serve --metrics-addr`: per resource (and feed, with a feeds file),
//! records, pages, objects and
//! bytes collected, failures, the last success and how far behind it is. Text exposition
//! format, served on `GET /metrics`.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

use crate::summary::Summary;

#[derive(Debug, Default)]
struct Series {
    records: u64,
    pages: u64,
    objects: u64,
    bytes: u64,
    failures: u64,
    last_success: Option<i64>,
    behind_seconds: Option<u64>,
}

/// One metric family: name, type, help, and its value for a resource (none: not yet known).
type Family = (
    &'static str,
    &'static str,
    &'static str,
    fn(&Series) -> Option<f64>,
);

/// Series by feed (none without a feeds file) and resource.
type Key = (Option<String>, String);

/// Updated after each pass, read by the scrape handler.
#[derive(Debug, Default, Clone)]
pub struct Metrics(Arc<Mutex<BTreeMap<Key, Series>>>);

impl Metrics {
    /// Adds a finished pass. `now` is the Unix time the pass ended.
    pub fn record(&self, summary: &Summary, now: i64) {
        let Ok(mut all) = self.0.lock() else { return };
        for r in &summary.resources {
            let s = all
                .entry((summary.feed.clone(), r.name.clone()))
                .or_default();
            s.records += r.records;
            s.pages += u64::from(r.pages);
            s.objects += u64::from(r.objects_created);
            s.bytes += r.bytes;
            if r.error.is_some() {
                s.failures += 1;
            } else {
                s.last_success = Some(now);
                s.behind_seconds = r.behind_seconds;
            }
        }
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let Ok(all) = self.0.lock() else { return out };
        let families: [Family; 7] = [
            (
                "zendesk_crm_records_total",
                "counter",
                "Records collected.",
                |s| Some(s.records as f64),
            ),
            (
                "zendesk_crm_pages_total",
                "counter",
                "Pages accepted.",
                |s| Some(s.pages as f64),
            ),
            (
                "zendesk_crm_objects_total",
                "counter",
                "Objects created.",
                |s| Some(s.objects as f64),
            ),
            (
                "zendesk_crm_bytes_total",
                "counter",
                "Bytes of objects created.",
                |s| Some(s.bytes as f64),
            ),
            (
                "zendesk_crm_failures_total",
                "counter",
                "Passes in which the resource failed.",
                |s| Some(s.failures as f64),
            ),
            (
                "zendesk_crm_last_success_timestamp_seconds",
                "gauge",
                "When the resource last finished a pass without failing.",
                |s| s.last_success.map(|t| t as f64),
            ),
            (
                "zendesk_crm_behind_seconds",
                "gauge",
                "How far behind the pass start the resource was after its last successful pass.",
                |s| s.behind_seconds.map(|b| b as f64),
            ),
        ];
        for (name, kind, help, value) in families {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for ((feed, resource), series) in all.iter() {
                if let Some(v) = value(series) {
                    // Feed names and resource names are checked to need no escaping.
                    match feed {
                        Some(feed) => {
                            let _ = writeln!(
                                out,
                                "{name}{{feed=\"{feed}\",resource=\"{resource}\"}} {v}"
                            );
                        }
                        None => {
                            let _ = writeln!(out, "{name}{{resource=\"{resource}\"}} {v}");
                        }
                    }
                }
            }
        }
        out
    }
}

/// Binds `addr` and serves the metrics until the process ends; returns the bound address
/// (port 0 picks one).
pub async fn serve(addr: SocketAddr, metrics: Metrics) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let metrics = metrics.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                    let metrics = metrics.clone();
                    async move { Ok::<_, Infallible>(respond(&request, &metrics)) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(bound)
}

fn respond<B>(request: &Request<B>, metrics: &Metrics) -> Response<Full<Bytes>> {
    let (status, body) = if request.uri().path() == "/metrics" {
        (StatusCode::OK, metrics.render())
    } else {
        (
            StatusCode::NOT_FOUND,
            "not found: try /metrics\n".to_owned(),
        )
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    response
}

/// Starts the metrics endpoint when an address is configured.
pub(crate) async fn serve_configured(
    addr: Option<std::net::SocketAddr>,
    metrics: &Metrics,
) -> Result<(), crate::error::HostError> {
    let Some(addr) = addr else { return Ok(()) };
    let bound = serve(addr, metrics.clone())
        .await
        .map_err(|source| crate::error::HostError::Metrics { addr, source })?;
    tracing::info!(addr = %bound, "metrics listening");
    Ok(())
}
