//! One collection pass: validate settings, load the checkpoint, fix where new resources start
//! (saved before any request, so a first pass that dies early leaves no gap), then collect each
//! resource independently, each through [`crate::collect`].

use crate::bindings::exports::zendesk::crm::collector::{ResourceOutcome, SetupError, StopCause};
use crate::bindings::zendesk::crm::types::Settings;
use crate::checkpoint::{Checkpoint, LoadError};
use crate::error::Failure;
use crate::host::{Host, WriteMode};
use crate::log;
use crate::rate_budget::RateBudget;
use crate::resources::{self, Registry};
use crate::retry::Retrier;
use crate::settings::{PassSettings, SettingsError};
use crate::sink::{PageSink, Stop, save};

/// The settings, validated.
pub fn settings(settings: Settings, registry: Registry) -> Result<PassSettings, SetupError> {
    PassSettings::from_wit(settings, &resources::names(registry)).map_err(|e| match e {
        SettingsError::Invalid(m) => SetupError::InvalidSettings(m),
        SettingsError::UnknownResource(m) => SetupError::UnknownResource(m),
    })
}

/// The stored checkpoint (or a new one for this origin) and how its next save must write it,
/// refusing one that is corrupt, foreign, newer or another account's. `run` and `inspect` both
/// read it here, so `check` refuses exactly what a pass would.
pub fn open_checkpoint(
    host: &dyn Host,
    settings: &PassSettings,
    registry: Registry,
) -> Result<(Checkpoint, WriteMode), SetupError> {
    let loaded = host
        .load_checkpoint()
        .map_err(|e| SetupError::Checkpoint(format!("load: {e}")))?;
    let origin = settings.origin.serialized();
    let (mut checkpoint, mode) = match loaded {
        None => (Checkpoint::new(&origin), WriteMode::Create),
        Some(bytes) => (
            Checkpoint::parse_for(&bytes, &resources::names(registry)).map_err(|e| match e {
                LoadError::Corrupt(m) => SetupError::CorruptCheckpoint(m),
                LoadError::Foreign(m) => SetupError::ForeignCheckpoint(m),
                LoadError::UnsupportedVersion(v) => SetupError::UnsupportedCheckpointVersion(v),
            })?,
            WriteMode::Replace,
        ),
    };
    match checkpoint.origin.as_deref() {
        Some(theirs) if theirs != origin => {
            return Err(SetupError::ForeignCheckpoint(format!(
                "it was made for {theirs}, not for {origin} (ZENDESK_BASE_URL): it holds another \
                 account's positions, so it is not used. If this is the same account at a new \
                 address (a subdomain rename), set \"origin\" in the checkpoint to {origin} to \
                 adopt it; otherwise give this account a STATE_KEY of its own, or start over \
                 with --reset-state"
            )));
        }
        Some(_) => {}
        None if mode == WriteMode::Replace => {
            // Written before checkpoints named their account: adopted for this one, and said so.
            log::warn(
                "the checkpoint names no account (an older version wrote it): adopted for this \
                 origin, which the next save records",
                &[("origin", origin.clone())],
            );
            checkpoint.origin = Some(origin.clone());
        }
        None => {}
    }
    Ok((checkpoint, mode))
}

pub fn run(host: &dyn Host, settings: Settings) -> Result<Vec<ResourceOutcome>, SetupError> {
    run_with(host, settings, resources::ALL)
}

/// A pass over the resources of `registry`: [`resources::ALL`], or more in tests.
pub fn run_with(
    host: &dyn Host,
    settings: Settings,
    registry: Registry,
) -> Result<Vec<ResourceOutcome>, SetupError> {
    let settings = self::settings(settings, registry)?;
    let (mut checkpoint, mut mode) = open_checkpoint(host, &settings, registry)?;
    // `PassSettings` has refused names the registry does not hold.
    let kinds: Vec<_> = settings
        .resources
        .iter()
        .filter_map(|r| resources::find(registry, &r.name).map(|kind| (r, kind)))
        .collect();

    // A START_TIME that differs from where a resource started: taken while Zendesk never
    // answered that resource (nothing can have been missed), else reported, not used.
    let mut ignored_starts: Vec<(String, i64)> = Vec::new();
    if let Some(asked) = settings.start_time {
        for (r, kind) in &kinds {
            let Some(stored) = kind.stored_start(&checkpoint).filter(|&s| s != asked) else {
                continue;
            };
            if checkpoint.unconfirmed.contains(&r.name) {
                log::info(
                    "first run not yet answered by Zendesk: taking the new START_TIME",
                    &[
                        ("resource", r.name.clone()),
                        ("start", stored.to_string()),
                        ("start_time", asked.to_string()),
                    ],
                );
                kind.forget(&mut checkpoint);
            } else if kind.start_time_matters(asked, stored) {
                log::warn(
                    "START_TIME differs from where this checkpoint started and counts only on a \
                     first run: collection resumes from the checkpoint; to start over from \
                     START_TIME, run once with --reset-state",
                    &[
                        ("resource", r.name.clone()),
                        ("start", stored.to_string()),
                        ("start_time", asked.to_string()),
                    ],
                );
                ignored_starts.push((r.name.clone(), asked));
            }
        }
    }

    // Fix every new resource's start in the checkpoint before the first request.
    let mut first_runs: Vec<(String, i64)> = Vec::new();
    // First runs that start later than asked (the access log's 90 days): what was asked.
    let mut clamped: Vec<(String, i64)> = Vec::new();
    for (r, kind) in &kinds {
        let Some((start, asked)) = kind.begin(&mut checkpoint, &settings) else {
            continue;
        };
        if let Some(asked) = asked {
            clamped.push((r.name.clone(), asked));
        }
        checkpoint.unconfirmed.insert(r.name.clone());
        first_runs.push((r.name.clone(), start));
    }
    if !first_runs.is_empty() {
        save(host, &checkpoint, &mut mode)
            .map_err(|m| SetupError::Checkpoint(format!("first save: {m}")))?;
        for (name, start) in &first_runs {
            log::info(
                "first run: start fixed in the checkpoint",
                &[
                    ("resource", name.clone()),
                    ("start_time", start.to_string()),
                ],
            );
        }
    }

    let retrier = Retrier::new(
        host,
        settings.retry,
        settings.max_page_bytes,
        settings.pass_start,
        RateBudget::for_pass(&settings, |name| {
            resources::find(registry, name).and_then(|kind| kind.default_limit())
        }),
    );
    let mut sink = PageSink::new(host, &settings, checkpoint, mode, retrier);
    let mut outcomes = Vec::with_capacity(kinds.len());
    for (r, kind) in &kinds {
        sink.begin(&r.name);
        let retries_before = sink.retries();
        let waited_before = sink.rate_waited_ms();
        let progress = kind.collect(&mut sink, r);
        let first = first_runs.iter().find(|(n, _)| *n == r.name);
        let outcome = ResourceOutcome {
            name: r.name.clone(),
            first_run: first.is_some(),
            started_at: first.map(|(_, s)| *s),
            requested_start: progress
                .requested_start
                .or(clamped.iter().find(|(n, _)| *n == r.name).map(|(_, s)| *s))
                .or(ignored_starts
                    .iter()
                    .find(|(n, _)| *n == r.name)
                    .map(|(_, s)| *s)),
            pages: progress.pages,
            records: progress.records,
            objects_created: progress.created,
            objects_existing: progress.existing,
            retries: sink.retries() - retries_before,
            rate_wait_ms: sink.rate_waited_ms() - waited_before,
            caught_up: progress.caught_up,
            behind_seconds: progress
                .behind
                .or(progress
                    .newest_time
                    .map(|t| settings.pass_start.saturating_sub(t)))
                .map(|b| u64::try_from(b).unwrap_or(0)),
            stopped: progress.stopped.map(|s| match s {
                Stop::MaxPages => StopCause::MaxPages,
                Stop::Shutdown => StopCause::Shutdown,
                Stop::Deadline => StopCause::Deadline,
            }),
            error: progress.error.as_ref().map(Failure::to_wit),
        };
        if let Some(e) = &progress.error {
            log::warn(
                "resource failed; its checkpoint stays at the last stored page",
                &[("resource", r.name.clone()), ("error", e.to_string())],
            );
        } else if progress.stopped == Some(Stop::MaxPages) {
            log::warn(
                "MAX_PAGES reached before catching up; the next pass continues",
                &[
                    ("resource", r.name.clone()),
                    ("pages", progress.pages.to_string()),
                    (
                        "behind_seconds",
                        outcome.behind_seconds.unwrap_or(0).to_string(),
                    ),
                ],
            );
        }
        outcomes.push(outcome);
    }
    Ok(outcomes)
}
