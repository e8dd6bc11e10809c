//! One collection pass: validate settings, load the checkpoint, fix where new resources start
//! (saved before any request, so a first pass that dies early leaves no gap), then collect each
//! resource independently.

use crate::access_logs;
use crate::audit_logs;
use crate::bindings::exports::zendesk::crm::collector::{ResourceOutcome, SetupError, StopCause};
use crate::bindings::zendesk::crm::types::Settings;
use crate::checkpoint::{
    AccessLogsState, AuditLogsState, Checkpoint, LoadError, PendingPage, TicketsState,
};
use crate::error::Failure;
use crate::host::{Host, PutOutcome, StopReason, WriteMode};
use crate::http::Response;
use crate::log;
use crate::object_key::{Stamp, object_key};
use crate::rate_budget::RateBudget;
use crate::retry::{Fetched, Retrier, excerpt};
use crate::settings::{ACCESS_LOGS, AUDIT_LOGS, INCREMENTAL_TICKETS, PassSettings, SettingsError};
use crate::tickets;

/// Why a resource stopped early without failing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    MaxPages,
    Shutdown,
    Deadline,
}

impl From<StopReason> for Stop {
    fn from(r: StopReason) -> Stop {
        match r {
            StopReason::Shutdown => Stop::Shutdown,
            StopReason::Deadline => Stop::Deadline,
        }
    }
}

/// What one resource did in this pass.
#[derive(Debug, Default)]
pub struct Progress {
    pub pages: u32,
    pub records: u64,
    pub created: u32,
    pub existing: u32,
    pub newest_time: Option<i64>,
    /// How far behind the pass start the resource is, when it knows better than its newest
    /// record (audit logs: the window end when caught up).
    pub behind: Option<i64>,
    /// The start asked for, when the resource had to start later (a retention horizon).
    pub requested_start: Option<i64>,
    pub caught_up: bool,
    pub stopped: Option<Stop>,
    pub error: Option<Failure>,
}

impl Progress {
    pub fn stop(&mut self, why: Stop) {
        self.stopped = Some(why);
    }

    pub fn end(&mut self, end: End) {
        match end {
            End::Stop(why) => self.stop(why),
            End::Fail(failure) => self.error = Some(failure),
        }
    }
}

/// Why a resource's page loop ends before the end of its data.
#[derive(Debug)]
pub enum End {
    Stop(Stop),
    Fail(Failure),
}

impl From<Failure> for End {
    fn from(f: Failure) -> End {
        End::Fail(f)
    }
}

/// What a resource's collector uses: requests with retries, the object store and the
/// checkpoint, which only it may move.
///
/// Pages are stored under the pending-page protocol, so a crash anywhere stores no page twice
/// while Zendesk's data is unchanged:
/// 1. [`PageSink::store_page`] saves, in the checkpoint's `pending`, how to fetch the page
///    again (the same request with the page size limited to its record count), then writes
///    the object, then forgets the entry in memory;
/// 2. the resource moves its position and calls [`PageSink::save`]: the position and the
///    cleared entry land in one save;
/// 3. a later pass that finds an entry ([`PageSink::pending`]) asks exactly that request first
///    ([`PageSink::fetch_pending`]). It gets the same records, so the same key, which the
///    create-only write finds stored; a restart that asked its usual question (a later window
///    end, a last page that has grown) would get a different page and store records again.
pub struct PageSink<'a> {
    host: &'a dyn Host,
    settings: &'a PassSettings,
    checkpoint: Checkpoint,
    mode: WriteMode,
    retrier: Retrier,
    /// The pending page fetched again, until its records are stored.
    replaying: Option<PendingPage>,
    /// When the resource being collected started, for the rate in the progress lines.
    resource_started_ns: u64,
    /// The resource being collected.
    resource: String,
}

impl<'a> PageSink<'a> {
    pub fn settings(&self) -> &PassSettings {
        self.settings
    }

    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    pub fn checkpoint_mut(&mut self) -> &mut Checkpoint {
        &mut self.checkpoint
    }

    /// Fetches a page with retries. Anything but a 200 ends the loop: a stop, a failure, or
    /// a status the resource names with `status_failure`.
    pub fn fetch_page(
        &mut self,
        path_and_query: &str,
        status_failure: impl FnOnce(u16, &[u8]) -> Failure,
    ) -> Result<Response, End> {
        match self
            .retrier
            .fetch(self.host, &self.settings.origin, path_and_query)
        {
            Fetched::Response(r) if r.status == 200 => {
                self.confirm().map_err(End::Fail)?;
                Ok(r)
            }
            Fetched::Response(r) => Err(End::Fail(status_failure(r.status, &r.body))),
            Fetched::Stopped(reason) => Err(End::Stop(reason.into())),
            Fetched::Failed(f) => Err(End::Fail(f)),
        }
    }

    /// The page an interrupted pass was storing for `resource`, if any; refused unless it is
    /// a request for the resource's `path`.
    pub fn pending(&self, resource: &str, path: &str) -> Result<Option<PendingPage>, Failure> {
        match self.checkpoint.pending.get(resource) {
            None => Ok(None),
            Some(p)
                if p.request
                    .strip_prefix(path)
                    .is_some_and(|q| q.starts_with('?')) =>
            {
                Ok(Some(p.clone()))
            }
            Some(p) => Err(Failure::Checkpoint(format!(
                "the pending {resource} request {:?} is not one this component makes; the \
                 checkpoint was edited",
                p.request
            ))),
        }
    }

    /// Asks the pending request again. None when Zendesk now refuses it with a 400, 409, 410
    /// or 422 (an expired cursor, say): the entry is dropped and the resource asks its usual
    /// question instead. Records of that page may then be stored a second time under another
    /// key; none is lost, because the position has not moved past them.
    pub fn fetch_pending(
        &mut self,
        resource: &str,
        pending: &PendingPage,
        status_failure: impl FnOnce(u16, &[u8]) -> Failure,
    ) -> Result<Option<Response>, End> {
        log::info(
            "asking again for the page an interrupted pass was storing",
            &[
                ("resource", resource.to_owned()),
                ("request", pending.request.clone()),
                ("records", pending.records.to_string()),
            ],
        );
        match self
            .retrier
            .fetch(self.host, &self.settings.origin, &pending.request)
        {
            Fetched::Response(r) if r.status == 200 => {
                self.confirm().map_err(End::Fail)?;
                self.replaying = Some(pending.clone());
                Ok(Some(r))
            }
            Fetched::Response(r) if matches!(r.status, 400 | 409 | 410 | 422) => {
                log::warn(
                    "Zendesk no longer answers the pending request; asking the usual one \
                     (records of that page may be stored twice, none is lost)",
                    &[
                        ("resource", resource.to_owned()),
                        ("status", r.status.to_string()),
                        ("body", excerpt(&r.body)),
                    ],
                );
                self.checkpoint.pending.remove(resource);
                self.save().map_err(End::Fail)?;
                Ok(None)
            }
            Fetched::Response(r) => Err(End::Fail(status_failure(r.status, &r.body))),
            Fetched::Stopped(reason) => Err(End::Stop(reason.into())),
            Fetched::Failed(f) => Err(End::Fail(f)),
        }
    }

    /// Stores a page's records as one object (nothing for an empty page) and counts them.
    /// Returns once the object is durable, or already was. `again` is how to fetch exactly
    /// this page again (its request with the page size set to the page's record count): it
    /// is saved as pending before the object is written. The caller then moves its position
    /// and saves, which clears the entry.
    pub fn store_page<S: Stamp>(
        &mut self,
        resource: &str,
        again: PendingPage,
        body: &[u8],
        records: &[&str],
        stamps: &[S],
        progress: &mut Progress,
    ) -> Result<(), Failure> {
        if let Some(was) = self.replaying.take()
            && was.records != again.records
        {
            log::warn(
                "the page an interrupted pass was storing came back changed: Zendesk's data \
                 changed in between, so some of its records may be stored twice",
                &[
                    ("resource", resource.to_owned()),
                    ("records_then", was.records.to_string()),
                    ("records_now", again.records.to_string()),
                ],
            );
        }
        self.checkpoint.pending.remove(resource);
        if records.is_empty() {
            return Ok(());
        }
        let ndjson = self.settings.ndjson;
        let key = object_key(&self.settings.prefix, resource, stamps, ndjson).ok_or_else(|| {
            Failure::InvalidResponse("first record's time is out of range".into())
        })?;
        // JSON pages are stored as received: the body is lent to the host, never copied here.
        let (bytes, content_type) = if ndjson {
            let mut out = Vec::with_capacity(body.len());
            for r in records {
                out.extend_from_slice(r.as_bytes());
                out.push(b'\n');
            }
            (std::borrow::Cow::Owned(out), "application/x-ndjson")
        } else {
            (std::borrow::Cow::Borrowed(body), "application/json")
        };
        self.checkpoint.pending.insert(resource.to_owned(), again);
        self.save()?;
        match self.host.put_object(&key, &bytes, content_type) {
            Ok(PutOutcome::Created) => progress.created += 1,
            Ok(PutOutcome::AlreadyExisted) => {
                log::info(
                    "page already stored; left as it is",
                    &[("key", key.clone())],
                );
                progress.existing += 1;
            }
            Err(e) => return Err(Failure::Store(format!("{key}: {e}"))),
        }
        self.checkpoint.pending.remove(resource);
        progress.records += records.len() as u64;
        let newest = stamps.iter().map(Stamp::time).max();
        progress.newest_time = progress.newest_time.max(newest);
        self.log_progress(resource, records.len(), progress, key);
        Ok(())
    }

    /// One line per stored page at info level, so a long pass (a backfill from
    /// `START_TIME=0`) can be watched: the records so far, the position reached (the newest
    /// record's time), how far behind the pass start that is, and the rate since the
    /// resource started. Logged as pages arrive, with no timer of its own.
    fn log_progress(&self, resource: &str, page_records: usize, progress: &Progress, key: String) {
        let elapsed_ns = self.host.now_ns().saturating_sub(self.resource_started_ns);
        let per_s = (progress.records as u128 * 1_000_000_000) / u128::from(elapsed_ns.max(1));
        let mut fields = vec![
            ("resource", resource.to_owned()),
            ("records", page_records.to_string()),
            ("records_total", progress.records.to_string()),
        ];
        if let Some(newest) = progress.newest_time {
            let behind = self.settings.pass_start.saturating_sub(newest).max(0);
            fields.push(("position", rfc3339(newest)));
            fields.push(("behind_seconds", behind.to_string()));
            fields.push(("behind", humanize_seconds(behind)));
        }
        fields.push(("records_per_s", per_s.to_string()));
        fields.push(("key", key));
        log::info("page stored", &fields);
    }

    /// Zendesk answered the resource with a page: from now on records may be stored, so its
    /// start stays where the first run fixed it, and that is saved before the page is used.
    fn confirm(&mut self) -> Result<(), Failure> {
        if self.checkpoint.unconfirmed.remove(&self.resource) {
            self.save()?;
        }
        Ok(())
    }

    /// Saves the checkpoint as it is now.
    pub fn save(&mut self) -> Result<(), Failure> {
        save(self.host, &self.checkpoint, &mut self.mode).map_err(Failure::Checkpoint)
    }
}

fn save(host: &dyn Host, checkpoint: &Checkpoint, mode: &mut WriteMode) -> Result<(), String> {
    host.save_checkpoint(&checkpoint.to_bytes(), *mode)?;
    *mode = WriteMode::Replace;
    Ok(())
}

/// The settings, validated.
pub fn settings(settings: Settings) -> Result<PassSettings, SetupError> {
    PassSettings::from_wit(settings).map_err(|e| match e {
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
) -> Result<(Checkpoint, WriteMode), SetupError> {
    let loaded = host
        .load_checkpoint()
        .map_err(|e| SetupError::Checkpoint(format!("load: {e}")))?;
    let origin = settings.origin.serialized();
    let (mut checkpoint, mode) = match loaded {
        None => (Checkpoint::new(&origin), WriteMode::Create),
        Some(bytes) => (
            Checkpoint::parse(&bytes).map_err(|e| match e {
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
    let settings = self::settings(settings)?;
    let (mut checkpoint, mut mode) = open_checkpoint(host, &settings)?;

    // A START_TIME that differs from where a resource started: taken while Zendesk never
    // answered that resource (nothing can have been missed), else reported, not used.
    let mut ignored_starts: Vec<(String, i64)> = Vec::new();
    if let Some(asked) = settings.start_time {
        for r in &settings.resources {
            let resources = &mut checkpoint.resources;
            let stored = match r.name.as_str() {
                INCREMENTAL_TICKETS => resources.incremental_tickets.as_ref().map(|t| t.start_time),
                AUDIT_LOGS => resources.audit_logs.as_ref().map(|a| a.high_water),
                _ => resources.access_logs.as_ref().map(|a| a.start),
            };
            let Some(stored) = stored.filter(|&s| s != asked) else {
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
                match r.name.as_str() {
                    INCREMENTAL_TICKETS => resources.incremental_tickets = None,
                    AUDIT_LOGS => resources.audit_logs = None,
                    _ => resources.access_logs = None,
                }
            } else if r.name != AUDIT_LOGS && (r.name != ACCESS_LOGS || asked > stored) {
                // Audit logs keep no start, only how far they got; access logs start at
                // Zendesk's horizon when asked for more.
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
    for r in &settings.resources {
        let resources = &mut checkpoint.resources;
        let start = match r.name.as_str() {
            INCREMENTAL_TICKETS if resources.incremental_tickets.is_none() => {
                let start_time = tickets::first_start(&settings);
                resources.incremental_tickets = Some(TicketsState {
                    start_time,
                    cursor: None,
                });
                start_time
            }
            AUDIT_LOGS if resources.audit_logs.is_none() => {
                let high_water = settings.first_start();
                resources.audit_logs = Some(AuditLogsState {
                    high_water,
                    ids_at_mark: Vec::new(),
                });
                high_water
            }
            ACCESS_LOGS if resources.access_logs.is_none() => {
                let (start, asked) = access_logs::first_start(&settings);
                resources.access_logs = Some(AccessLogsState {
                    start,
                    high_water: start,
                    recent_ids: Default::default(),
                });
                if let Some(asked) = asked {
                    log::warn(
                        "access logs: the requested start is older than Zendesk's 90 days; starting at the \
                         horizon",
                        &[
                            ("requested_start", asked.to_string()),
                            ("start", start.to_string()),
                        ],
                    );
                    clamped.push((r.name.clone(), asked));
                }
                start
            }
            _ => continue,
        };
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

    let mut sink = PageSink {
        host,
        settings: &settings,
        checkpoint,
        mode,
        retrier: Retrier::new(
            host,
            settings.retry,
            settings.max_page_bytes,
            settings.pass_start,
            RateBudget::for_pass(&settings),
        ),
        replaying: None,
        resource_started_ns: host.now_ns(),
        resource: String::new(),
    };
    let mut outcomes = Vec::with_capacity(settings.resources.len());
    for r in &settings.resources {
        sink.resource_started_ns = host.now_ns();
        sink.resource = r.name.clone();
        let retries_before = sink.retrier.retries;
        sink.retrier.budget.select(&r.name);
        let waited_before = sink.retrier.budget.waited_ms();
        // `PassSettings` has refused unknown names.
        let progress = match r.name.as_str() {
            AUDIT_LOGS => audit_logs::collect(&mut sink, r),
            ACCESS_LOGS => access_logs::collect(&mut sink, r),
            _ => tickets::collect(&mut sink, r),
        };
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
            retries: sink.retrier.retries - retries_before,
            rate_wait_ms: sink.retrier.budget.waited_ms() - waited_before,
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

/// A Unix time as `2025-06-15T08:00:00Z` (the number itself if out of range).
fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

/// Seconds as the two largest units a person reads at a glance: `3d 4h`, `2h 5m`, `45s`.
fn humanize_seconds(s: i64) -> String {
    let (d, h, m) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, m) => format!("{m}m {}s", s % 60),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::{humanize_seconds, rfc3339};

    #[test]
    fn progress_times_read_at_a_glance() {
        assert_eq!(rfc3339(1_750_000_000), "2025-06-15T15:06:40Z");
        assert_eq!(humanize_seconds(45), "45s");
        assert_eq!(humanize_seconds(125), "2m 5s");
        assert_eq!(humanize_seconds(7500), "2h 5m");
        assert_eq!(humanize_seconds(3 * 86_400 + 4 * 3600 + 59), "3d 4h");
    }
}
