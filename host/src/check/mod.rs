//! `zendesk-crm check`: everything a pass needs, tried without collecting. It reads the same
//! configuration as `run`, asks Zendesk the cheapest question for the credentials and each
//! resource, reads the checkpoint through the component (`inspect`), and proves the store
//! writable with writes designed to fail. Nothing it does stores a page or moves a
//! checkpoint; in `refresh_token` mode it rotates and saves the refresh token as a pass does.
//!
//! Each finding says what was checked, what was found and, for a problem, what to change.
//! A step that depends on a failed one is reported as not checked, with the reason.

mod render;
mod store;
mod zendesk;

use serde::Serialize;

use crate::bindings::CheckpointReport;
use crate::config::PassConfig;
use crate::runtime::Runtime;

pub use render::text;

/// How one finding came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    /// Collection works, but something deserves a look (a skewed clock, a rate limit).
    Warning,
    /// Collection would fail or lose its way here.
    Problem,
    /// Depends on a step that failed; `message` says which.
    NotChecked,
}

/// One thing checked.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// `configuration`, `connection`, `credentials`, `resource`, `clock`, `store`,
    /// `objects`, `checkpoint_write` or `checkpoint`.
    pub check: &'static str,
    /// The resource, for `resource` findings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    pub status: Status,
    /// What was found, in a sentence.
    pub message: String,
    /// What to change, for a problem or a warning.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Finding {
    pub fn ok(check: &'static str, message: impl Into<String>) -> Finding {
        Finding {
            check,
            resource: None,
            status: Status::Ok,
            message: message.into(),
            fix: None,
        }
    }

    pub fn problem(
        check: &'static str,
        message: impl Into<String>,
        fix: Option<String>,
    ) -> Finding {
        Finding {
            status: Status::Problem,
            fix,
            ..Finding::ok(check, message)
        }
    }

    pub fn warning(
        check: &'static str,
        message: impl Into<String>,
        fix: Option<String>,
    ) -> Finding {
        Finding {
            status: Status::Warning,
            fix,
            ..Finding::ok(check, message)
        }
    }

    pub fn not_checked(check: &'static str, why: impl Into<String>) -> Finding {
        Finding {
            status: Status::NotChecked,
            ..Finding::ok(check, why)
        }
    }

    pub fn for_resource(mut self, name: &str) -> Finding {
        self.resource = Some(name.to_owned());
        self
    }
}

/// Where the checkpoint stands, as the component read it (JSON only; the text says it in
/// the `checkpoint` finding).
#[derive(Debug, Clone, Serialize)]
pub struct CheckpointView {
    pub location: String,
    pub exists: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    pub resources: Vec<PositionView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PositionView {
    pub name: String,
    pub started: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reached: Option<i64>,
    pub has_cursor: bool,
    pub pending: bool,
    pub unconfirmed: bool,
}

impl CheckpointView {
    fn from_wit(location: String, report: CheckpointReport) -> CheckpointView {
        CheckpointView {
            location,
            exists: report.exists,
            origin: report.origin,
            resources: report
                .resources
                .into_iter()
                .map(|r| PositionView {
                    name: r.name,
                    started: r.started,
                    start: r.start,
                    reached: r.reached,
                    has_cursor: r.has_cursor,
                    pending: r.pending,
                    unconfirmed: r.unconfirmed,
                })
                .collect(),
        }
    }
}

/// The findings of one account (one feed of a feeds file).
#[derive(Debug, Clone, Serialize)]
pub struct FeedReport {
    pub feed: Option<String>,
    /// `ZENDESK_BASE_URL`, when the configuration could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zendesk: Option<String>,
    /// Where the checkpoint lives, when the configuration could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    pub findings: Vec<Finding>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<CheckpointView>,
}

/// What `check` prints: every feed's findings, and their count.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// No problem anywhere (warnings allowed).
    pub ok: bool,
    pub problems: usize,
    pub warnings: usize,
    pub feeds: Vec<FeedReport>,
}

impl Report {
    pub fn new(feeds: Vec<FeedReport>) -> Report {
        let count = |status| {
            feeds
                .iter()
                .flat_map(|f| &f.findings)
                .filter(|f| f.status == status)
                .count()
        };
        let (problems, warnings) = (count(Status::Problem), count(Status::Warning));
        Report {
            ok: problems == 0,
            problems,
            warnings,
            feeds,
        }
    }
}

/// A configuration that could not be read: the one finding, everything else not checked.
pub fn unreadable_configuration(message: String) -> FeedReport {
    FeedReport {
        feed: None,
        zendesk: None,
        store: None,
        findings: vec![
            Finding::problem(
                "configuration",
                message,
                Some("see docs/configuration.md for every setting".into()),
            ),
            Finding::not_checked(
                "credentials",
                "not checked: the configuration could not be read",
            ),
            Finding::not_checked("store", "not checked: the configuration could not be read"),
        ],
        checkpoint: None,
    }
}

/// Checks one account: Zendesk (credentials, each resource, the clock), then the store.
pub async fn feed(runtime: &Runtime, config: &PassConfig) -> FeedReport {
    let mut findings = vec![Finding::ok(
        "configuration",
        format!(
            "AUTH_MODE={}, RESOURCES={}",
            config.zendesk.auth_mode.name(),
            config.collect.resources.join(",")
        ),
    )];
    findings.extend(zendesk::check(config).await);
    let (store_findings, checkpoint) = store::check(runtime, config).await;
    findings.extend(store_findings);
    FeedReport {
        feed: config.feed.clone(),
        zendesk: Some(config.zendesk.base_url.clone()),
        store: checkpoint
            .as_ref()
            .map(|c| c.location.clone())
            .or_else(|| Some(store::location(config))),
        findings,
        checkpoint,
    }
}
