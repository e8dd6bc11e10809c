//! Where a resource's pages go: the object store and the checkpoint, under the pending-page
//! protocol, plus requests with retries. Only the resource being collected moves its position;
//! [`crate::collect`] drives it.

use crate::checkpoint::{Checkpoint, PendingPage};
use crate::error::Failure;
use crate::host::{Host, PutOutcome, StopReason, WriteMode};
use crate::http::Response;
use crate::log;
use crate::object_key::{Stamp, object_key};
use crate::retry::{Fetched, Retrier, excerpt};
use crate::settings::PassSettings;

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
///    the object, then forgets the entry in memory. The save is left out when the checkpoint
///    as saved already asks exactly that request (a full page of the ticket export): it is one
///    durable write a page fewer, and a restart asks the same either way;
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
    /// A sink over `checkpoint`, whose next save writes it with `mode`.
    pub fn new(
        host: &'a dyn Host,
        settings: &'a PassSettings,
        checkpoint: Checkpoint,
        mode: WriteMode,
        retrier: Retrier,
    ) -> PageSink<'a> {
        PageSink {
            host,
            settings,
            checkpoint,
            mode,
            retrier,
            replaying: None,
            resource_started_ns: host.now_ns(),
            resource: String::new(),
        }
    }

    /// Makes `resource` the one being collected: its rate limit, its progress lines.
    pub fn begin(&mut self, resource: &str) {
        self.resource_started_ns = self.host.now_ns();
        self.resource = resource.to_owned();
        self.retrier.budget.select(resource);
    }

    /// Retries so far in this pass.
    pub fn retries(&self) -> u32 {
        self.retrier.retries
    }

    /// Milliseconds waited for the rate budget so far in this pass.
    pub fn rate_waited_ms(&self) -> u64 {
        self.retrier.budget.waited_ms()
    }

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
    /// is saved as pending before the object is written, unless `save_pending` is false (the
    /// saved checkpoint asks that request already). The caller then moves its position and
    /// saves, which clears the entry.
    #[allow(clippy::too_many_arguments)]
    pub fn store_page<S: Stamp>(
        &mut self,
        resource: &str,
        again: PendingPage,
        save_pending: bool,
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
        if save_pending {
            self.checkpoint.pending.insert(resource.to_owned(), again);
            self.save()?;
        }
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

/// Saves `checkpoint`, then makes every later save a replacement.
pub(crate) fn save(
    host: &dyn Host,
    checkpoint: &Checkpoint,
    mode: &mut WriteMode,
) -> Result<(), String> {
    host.save_checkpoint(&checkpoint.to_bytes(), *mode)?;
    *mode = WriteMode::Replace;
    Ok(())
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
