//! Cassettes: a whole collection pass, recorded so it can be replayed anywhere with no
//! network and no credentials, giving byte-identical objects and checkpoint.
//!
//! A cassette is one versioned JSON document (the format is documented in docs/record-replay.md and
//! kept stable): a header with everything the guest received that is not an HTTP answer
//! (settings, the initial checkpoint, the pass start and jitter seed, the host's deadline and
//! memory cap), then every HTTP exchange the guest made, in order. [`record`] captures them in
//! the egress hook; [`replay`] answers from them in the same hook; [`redact`] makes a copy
//! without customer data.

pub mod record;
pub mod redact;
pub mod replay;
pub mod session;

use std::path::Path;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::bindings::{OutputFormat, RateBudget, ResourceRequest, RetryPolicy, Settings};

/// The `format` field of every cassette.
pub const FORMAT: &str = "zendesk-crm-cassette";
/// The version this build writes and reads. A reader refuses any other.
pub const VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cassette {
    pub format: String,
    pub version: u32,
    /// The binary that recorded it, for the reader (never checked).
    pub recorded_by: String,
    /// The pass start, Unix seconds, as the guest received it.
    pub pass_start: i64,
    /// The back-off jitter seed the guest received (also in `settings.retry`).
    pub jitter_seed: u64,
    /// The settings the guest received, exactly.
    pub settings: SettingsRecord,
    /// What the host applied around the guest.
    pub host: HostRecord,
    /// The checkpoint the guest loaded; none on a first run.
    pub initial_checkpoint: Option<Body>,
    /// Every request the guest made that the egress policy let through, in order.
    pub exchanges: Vec<Exchange>,
    /// The times `pass-control.stop-requested` answered with a reason (a signal, the
    /// deadline); usually none.
    #[serde(default)]
    pub stops: Vec<StopRecord>,
}

/// One `stop-requested` answer that was not none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopRecord {
    /// Which call it answered (0-based, counting every call of the pass).
    pub call: u64,
    /// `shutdown` or `deadline`.
    pub reason: String,
}

/// Host-side settings that shape what the guest observes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostRecord {
    /// Where the checkpoint is stored (`STATE_KEY`).
    pub state_key: String,
    /// The pass deadline (`PASS_DEADLINE`), in milliseconds; replay runs it on virtual time.
    pub deadline_ms: u64,
    /// The component's memory cap (`MEMORY_LIMIT_MIB`), in bytes.
    pub memory_limit_bytes: u64,
}

/// Bytes: a JSON string when they are valid UTF-8, else base64.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Body {
    Text(String),
    Base64(String),
}

impl Body {
    pub fn from_bytes(bytes: &[u8]) -> Body {
        match std::str::from_utf8(bytes) {
            Ok(text) => Body::Text(text.to_owned()),
            Err(_) => Body::Base64(base64::engine::general_purpose::STANDARD.encode(bytes)),
        }
    }

    pub fn to_bytes(&self) -> Result<Vec<u8>, CassetteError> {
        match self {
            Body::Text(text) => Ok(text.as_bytes().to_vec()),
            Body::Base64(b64) => base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| CassetteError::Invalid(format!("a base64 body does not decode: {e}"))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exchange {
    pub request: RequestRecord,
    /// What the guest got: a response, or an error instead of one.
    #[serde(flatten)]
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestRecord {
    pub method: String,
    /// The full URL the guest asked for.
    pub url: String,
    /// The headers the guest set, as it set them. The host's credentials are added after
    /// this is taken; any credential header of the guest's own is dropped by the policy and
    /// left out here too.
    pub headers: Vec<(String, String)>,
}

impl RequestRecord {
    /// `GET /path?query`: what replay matches on.
    pub fn key(&self) -> String {
        format!("{} {}", self.method, path_and_query(&self.url))
    }
}

/// The path and query of a URL (the whole string when it has no origin).
pub fn path_and_query(url: &str) -> &str {
    match url.find("://") {
        Some(i) => {
            let rest = &url[i + 3..];
            rest.find('/').map_or("/", |j| &rest[j..])
        }
        None => url,
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Response(ResponseRecord),
    Error(ErrorRecord),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseRecord {
    pub status: u16,
    /// As received, names lower-case. `set-cookie` values are replaced by `redacted`.
    pub headers: Vec<(String, String)>,
    /// The body exactly as the guest read it: after the host's gzip decoding (so never gzip
    /// when recorded by this host; older cassettes may still hold a gzip body, which the
    /// component inflates itself).
    pub body: Body,
    /// How the body ended.
    pub body_end: BodyEnd,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BodyEnd {
    /// The body was read to its end.
    Complete,
    /// The body broke off after `body` with this error.
    Error(ErrorRecord),
    /// The guest stopped reading after `body` (its deadline or its size cap); replay
    /// delivers `body` and then nothing more.
    Abandoned,
}

/// An error the guest saw instead of a response, or in the middle of a body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorRecord {
    /// `timeout`, `reset`, `refused` or `other`: what happened, for the reader.
    pub kind: String,
    /// The `wasi:http` error code the guest was given, e.g. `ConnectionReadTimeout`, or
    /// `abandoned` when the guest stopped waiting before any answer came.
    pub code: String,
}

/// The WIT settings, spelled for the cassette (field names stable, enums in snake case).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SettingsRecord {
    pub base_url: String,
    pub resources: Vec<ResourceRecord>,
    pub max_pages: u32,
    pub start_time: Option<i64>,
    pub lookback_seconds: u64,
    pub pass_start: i64,
    pub object_prefix: String,
    pub output_format: String,
    pub retry: RetryRecord,
    pub max_page_bytes: u64,
    pub rate: RateRecord,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RateRecord {
    pub window_ms: u64,
    pub account_requests: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceRecord {
    pub name: String,
    pub page_size: Option<u32>,
    pub lag_seconds: Option<u64>,
    pub overlap_seconds: Option<u64>,
    pub requests_per_window: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetryRecord {
    pub retries: u32,
    pub timeout_ms: u64,
    pub initial_backoff_ms: u64,
    pub max_backoff_ms: u64,
    pub jitter_seed: u64,
}

impl From<&Settings> for SettingsRecord {
    fn from(s: &Settings) -> SettingsRecord {
        SettingsRecord {
            base_url: s.base_url.clone(),
            resources: s
                .resources
                .iter()
                .map(|r| ResourceRecord {
                    name: r.name.clone(),
                    page_size: r.page_size,
                    lag_seconds: r.lag_seconds,
                    overlap_seconds: r.overlap_seconds,
                    requests_per_window: r.requests_per_window,
                })
                .collect(),
            max_pages: s.max_pages,
            start_time: s.start_time,
            lookback_seconds: s.lookback_seconds,
            pass_start: s.pass_start,
            object_prefix: s.object_prefix.clone(),
            output_format: match s.output_format {
                OutputFormat::Json => "json",
                OutputFormat::Ndjson => "ndjson",
            }
            .to_owned(),
            retry: RetryRecord {
                retries: s.retry.retries,
                timeout_ms: s.retry.timeout_ms,
                initial_backoff_ms: s.retry.initial_backoff_ms,
                max_backoff_ms: s.retry.max_backoff_ms,
                jitter_seed: s.retry.jitter_seed,
            },
            max_page_bytes: s.max_page_bytes,
            rate: RateRecord {
                window_ms: s.rate.window_ms,
                account_requests: s.rate.account_requests,
            },
        }
    }
}

impl SettingsRecord {
    pub fn to_settings(&self) -> Result<Settings, CassetteError> {
        let output_format = match self.output_format.as_str() {
            "json" => OutputFormat::Json,
            "ndjson" => OutputFormat::Ndjson,
            other => {
                return Err(CassetteError::Invalid(format!(
                    "settings.output_format {other:?} is neither json nor ndjson"
                )));
            }
        };
        Ok(Settings {
            base_url: self.base_url.clone(),
            resources: self
                .resources
                .iter()
                .map(|r| ResourceRequest {
                    name: r.name.clone(),
                    page_size: r.page_size,
                    lag_seconds: r.lag_seconds,
                    overlap_seconds: r.overlap_seconds,
                    requests_per_window: r.requests_per_window,
                })
                .collect(),
            max_pages: self.max_pages,
            start_time: self.start_time,
            lookback_seconds: self.lookback_seconds,
            pass_start: self.pass_start,
            object_prefix: self.object_prefix.clone(),
            output_format,
            retry: RetryPolicy {
                retries: self.retry.retries,
                timeout_ms: self.retry.timeout_ms,
                initial_backoff_ms: self.retry.initial_backoff_ms,
                max_backoff_ms: self.retry.max_backoff_ms,
                jitter_seed: self.retry.jitter_seed,
            },
            max_page_bytes: self.max_page_bytes,
            rate: RateBudget {
                window_ms: self.rate.window_ms,
                account_requests: self.rate.account_requests,
            },
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CassetteError {
    #[error("cassette {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("cassette {path} is not a cassette: {message}")]
    Parse { path: String, message: String },
    #[error(
        "cassette {path} has format {format:?} version {version}; this build reads {FORMAT:?} version {VERSION}"
    )]
    Unsupported {
        path: String,
        format: String,
        version: u32,
    },
    #[error("invalid cassette: {0}")]
    Invalid(String),
}

impl Cassette {
    /// Reads and checks a cassette: format, version, and a header that agrees with itself.
    pub fn load(path: &Path) -> Result<Cassette, CassetteError> {
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| CassetteError::Io {
            path: shown.clone(),
            source,
        })?;
        // The format and version first, so a newer cassette says so instead of failing on a
        // field this build does not know.
        #[derive(Deserialize)]
        struct Head {
            format: String,
            version: u32,
        }
        let head: Head = serde_json::from_slice(&bytes).map_err(|e| CassetteError::Parse {
            path: shown.clone(),
            message: e.to_string(),
        })?;
        if head.format != FORMAT || head.version != VERSION {
            return Err(CassetteError::Unsupported {
                path: shown,
                format: head.format,
                version: head.version,
            });
        }
        let cassette: Cassette =
            serde_json::from_slice(&bytes).map_err(|e| CassetteError::Parse {
                path: shown.clone(),
                message: e.to_string(),
            })?;
        if cassette.settings.pass_start != cassette.pass_start
            || cassette.settings.retry.jitter_seed != cassette.jitter_seed
        {
            return Err(CassetteError::Invalid(format!(
                "{shown}: pass_start and jitter_seed disagree with the settings"
            )));
        }
        Ok(cassette)
    }

    /// Writes the cassette atomically (a temporary file renamed into place), pretty-printed
    /// so a re-recording shows in a diff line by line.
    pub fn save(&self, path: &Path) -> Result<(), CassetteError> {
        let io = |source| CassetteError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut json = serde_json::to_vec_pretty(self)
            .map_err(|e| CassetteError::Invalid(format!("cannot serialise: {e}")))?;
        json.push(b'\n');
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = std::path::PathBuf::from(tmp);
        std::fs::write(&tmp, &json).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_text_when_utf8_and_base64_otherwise() {
        assert_eq!(
            Body::from_bytes(b"{\"a\":1}"),
            Body::Text("{\"a\":1}".into())
        );
        let gzip = [0x1f, 0x8b, 0x08, 0x00, 0xff];
        let body = Body::from_bytes(&gzip);
        assert!(matches!(body, Body::Base64(_)));
        assert_eq!(body.to_bytes().unwrap(), gzip);
    }

    #[test]
    fn requests_match_on_method_path_and_query() {
        let r = RequestRecord {
            method: "GET".into(),
            url: "http://127.0.0.1:9/api/v2/audit_logs.json?page%5Bsize%5D=100".into(),
            headers: vec![],
        };
        assert_eq!(r.key(), "GET /api/v2/audit_logs.json?page%5Bsize%5D=100");
        assert_eq!(path_and_query("https://acme.zendesk.com"), "/");
    }
}
