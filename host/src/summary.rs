//! The JSON summary `run` prints on stdout, and the exit code it implies. The schema is
//! documented in docs/operating.md; field names are stable.

use serde::Serialize;

use crate::bindings::{ResourceError, ResourceOutcome, SetupError, StopCause};
use crate::exit::Exit;

#[derive(Debug, Serialize)]
pub struct Summary {
    /// The feed's name, for a feeds file (absent for the one account of the environment).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feed: Option<String>,
    /// True when every resource succeeded.
    pub ok: bool,
    /// The pass start, Unix seconds UTC.
    pub pass_start: i64,
    /// Where the checkpoint lives.
    pub checkpoint: String,
    /// False when the pass was refused before it collected anything (a checkpoint it cannot
    /// use, a first save that failed, invalid settings): `error` says why.
    pub started: bool,
    /// True when there was no checkpoint before this pass; null when the pass did not start,
    /// so a refused pass never reads as a first run or as a resumed one.
    pub first_run: Option<bool>,
    /// Wall-clock time of the pass, from instantiation to summary.
    pub duration_ms: u64,
    pub resources: Vec<ResourceSummary>,
    /// Why the pass could not run at all, if it could not.
    pub error: Option<ErrorSummary>,
    /// `record` and `replay` only: the cassette, and the waits the guest asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cassette: Option<CassetteSummary>,
}

#[derive(Debug, Serialize)]
pub struct CassetteSummary {
    pub path: String,
    /// `record` or `replay`.
    pub mode: &'static str,
    /// Exchanges in the cassette (written, or read).
    pub exchanges: usize,
    /// Replay: exchanges the component's requests used; all of them when it followed the
    /// cassette.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub used: Option<usize>,
    /// Replay: requests the cassette does not hold, each with the closest recorded one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unmatched: Option<Vec<crate::cassette::replay::Unmatched>>,
    /// Every wait (back-off, `Retry-After`) the guest asked for, in milliseconds, in order.
    pub waits_ms: Vec<u64>,
    /// Time on the guest's clock from instantiation to the end: virtual in a replay.
    pub clock_ms: u64,
}

#[derive(Debug, Serialize)]
pub struct ResourceSummary {
    pub name: String,
    pub first_run: bool,
    pub started_at: Option<i64>,
    /// Set only when the resource started later than asked because Zendesk keeps nothing
    /// older (access logs: 90 days): the start that was asked for.
    pub requested_start: Option<i64>,
    pub pages: u32,
    pub records: u64,
    pub objects_created: u32,
    pub objects_existing: u32,
    /// Bytes of the objects created (measured by the host).
    pub bytes: u64,
    pub retries: u32,
    /// Milliseconds the rate budget held requests back (measured by the component).
    pub rate_wait_ms: u64,
    /// 429 answers among the responses (measured by the host).
    pub rate_limited: u32,
    pub caught_up: bool,
    pub behind_seconds: Option<u64>,
    /// `max_pages`, `shutdown` or `deadline` when it stopped early without failing.
    pub stopped: Option<&'static str>,
    pub error: Option<ErrorSummary>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ErrorSummary {
    /// A stable, snake_case cause.
    pub kind: &'static str,
    pub message: String,
}

impl ErrorSummary {
    pub fn new(kind: &'static str, message: impl Into<String>) -> ErrorSummary {
        ErrorSummary {
            kind,
            message: message.into(),
        }
    }
}

pub fn from_wit_outcome(o: ResourceOutcome) -> ResourceSummary {
    ResourceSummary {
        name: o.name,
        first_run: o.first_run,
        started_at: o.started_at,
        requested_start: o.requested_start,
        pages: o.pages,
        records: o.records,
        objects_created: o.objects_created,
        objects_existing: o.objects_existing,
        bytes: 0,
        retries: o.retries,
        rate_wait_ms: o.rate_wait_ms,
        rate_limited: 0,
        caught_up: o.caught_up,
        behind_seconds: o.behind_seconds,
        stopped: o.stopped.map(|s| match s {
            StopCause::MaxPages => "max_pages",
            StopCause::Shutdown => "shutdown",
            StopCause::Deadline => "deadline",
        }),
        error: o.error.map(from_wit_resource_error),
    }
}

fn from_wit_resource_error(e: ResourceError) -> ErrorSummary {
    let (kind, m) = match e {
        ResourceError::Unauthorized(m) => ("unauthorized", m),
        ResourceError::Forbidden(m) => ("forbidden", m),
        ResourceError::NotFound(m) => ("not_found", m),
        ResourceError::StartTimeRejected(m) => ("start_time_rejected", m),
        ResourceError::Rejected(m) => ("rejected", m),
        ResourceError::GaveUp(m) => ("gave_up", m),
        ResourceError::RequestRefused(m) => ("request_refused", m),
        ResourceError::Transport(m) => ("transport", m),
        ResourceError::InvalidResponse(m) => ("invalid_response", m),
        ResourceError::Store(m) => ("store", m),
        ResourceError::Checkpoint(m) => ("checkpoint", m),
        ResourceError::Other(m) => ("other", m),
    };
    ErrorSummary::new(kind, m)
}

/// The summary error and exit code of a setup error; `checkpoint` names the file so the
/// message says which one to look at and how to start over.
pub fn from_wit_setup_error(e: SetupError, checkpoint: &str) -> (ErrorSummary, Exit) {
    let start_over = format!(
        "it was left as it is; to start over, run with --reset-state (the old checkpoint is kept \
         beside it as {checkpoint}.reset-<unix time>) and, to choose where collection restarts, \
         START_TIME"
    );
    match e {
        SetupError::InvalidSettings(m) => (ErrorSummary::new("invalid_settings", m), Exit::Config),
        SetupError::UnknownResource(m) => (ErrorSummary::new("unknown_resource", m), Exit::Config),
        SetupError::CorruptCheckpoint(m) => (
            ErrorSummary::new(
                "corrupt_checkpoint",
                format!("checkpoint {checkpoint} is unreadable: {m}; {start_over}"),
            ),
            Exit::CheckpointUnreadable,
        ),
        SetupError::ForeignCheckpoint(m) => (
            ErrorSummary::new(
                "foreign_checkpoint",
                format!(
                    "checkpoint {checkpoint} was not written by this collector: {m}; {start_over}"
                ),
            ),
            Exit::CheckpointUnreadable,
        ),
        SetupError::UnsupportedCheckpointVersion(v) => (
            ErrorSummary::new(
                "unsupported_checkpoint_version",
                format!(
                    "checkpoint {checkpoint} has version {v}, written by a newer zendesk-crm; \
                     upgrade, or {start_over}"
                ),
            ),
            Exit::CheckpointUnreadable,
        ),
        SetupError::Checkpoint(m) => (
            ErrorSummary::new("checkpoint", format!("checkpoint {checkpoint}: {m}")),
            Exit::Storage,
        ),
        SetupError::Other(m) => (ErrorSummary::new("other", m), Exit::Internal),
    }
}

impl Summary {
    /// Success only when nothing failed. A resource the account cannot read (403, 404) has
    /// its own code, outranked by any other failure.
    pub fn exit(&self) -> Exit {
        let kinds = self
            .resources
            .iter()
            .filter_map(|r| r.error.as_ref())
            .map(|e| e.kind);
        let mut exit = if self.resources.iter().any(|r| r.stopped == Some("deadline")) {
            Exit::Deadline
        } else {
            Exit::Success
        };
        for kind in kinds {
            if kind == "forbidden" || kind == "not_found" {
                exit = Exit::ResourceUnavailable;
            } else {
                return Exit::ResourceFailed;
            }
        }
        exit
    }
}
