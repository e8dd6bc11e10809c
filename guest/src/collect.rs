//! The page loop every resource shares: the pending page first, then fetch, validate, keep the
//! new records, store, advance, save, until the resource is caught up, `MAX_PAGES` pages were
//! counted, the host asks to stop, or something fails.
//!
//! A resource says only what differs ([`Resource`]): its requests, how a page is parsed and
//! which records are new, how its position moves, and what an error status means. The
//! pending-page protocol itself lives in [`PageSink`]; this loop calls it in the one order
//! that keeps the delivery guarantee: store, then move the position, then save.

use std::borrow::Cow;

use crate::checkpoint::{PendingPage, Resources};
use crate::error::Failure;
use crate::object_key::Stamp;
use crate::settings::{Origin, PassSettings, ResourceSettings};
use crate::sink::{End, PageSink, Progress, Stop};

/// A page a resource validated: what to store, how to ask for it again, and how its position
/// moves once it is stored.
pub struct Page<'b, S, A> {
    /// The object's bytes: the body as sent, or its envelope rebuilt around the new records.
    pub stored: Cow<'b, [u8]>,
    /// The new records, byte for byte as sent, and their stamps (the object key's input).
    pub kept: Vec<&'b str>,
    pub stamps: Vec<S>,
    /// Exactly this page's request, its page size limited to the page's record count: saved
    /// as pending before the object is written.
    pub again: PendingPage,
    /// Applied by [`Resource::advance`] once the object is stored.
    pub advance: A,
    /// Whether another page follows.
    pub more: bool,
}

/// Where a resource's checkpoint entry says it stands, for `check`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub start: Option<i64>,
    pub reached: Option<i64>,
    pub has_cursor: bool,
}

/// Where a first run starts.
pub struct First<S> {
    pub state: S,
    pub start: i64,
    /// The start asked for, when the resource had to start later (a retention horizon).
    pub requested: Option<i64>,
}

/// One Zendesk resource: what differs between them. The loop in [`collect`] does the rest.
pub trait Resource: Sized {
    /// Its name in `RESOURCES`, the checkpoint and object keys.
    const NAME: &'static str;
    /// The path of its endpoint; a pending request must be one for it.
    const PATH: &'static str;
    /// The endpoint's documented requests per rate window; none = only the account's limit.
    const DEFAULT_LIMIT: Option<u32>;
    /// Whether a request is a function of the saved entry alone (and the settings), so a
    /// pass resumed from the entry asks exactly the request this one made. Then a page whose
    /// `again` is that very request (a full page) needs no pending entry: a crash before the
    /// position moves is followed by the same request anyway. The ticket export's requests
    /// are its cursor; audit and access logs name the pass's own window end.
    const REQUEST_FROM_ENTRY: bool = false;
    /// Its entry in the checkpoint.
    type State: Clone;
    /// What identifies a record in an object key.
    type Stamp: Stamp;
    /// How a stored page moves the position.
    type Advance;

    /// Its entry in the checkpoint, if it has started.
    fn entry(resources: &Resources) -> Option<&Self::State>;
    fn entry_mut(resources: &mut Resources) -> &mut Option<Self::State>;
    /// A first run's entry, fixed in the checkpoint before the first request.
    fn first(pass: &PassSettings) -> First<Self::State>;
    /// The start a `START_TIME` is compared with, from an existing entry.
    fn start(state: &Self::State) -> i64;
    /// Whether a `START_TIME` of `asked` that differs from the stored start `stored` would
    /// have collected something else, and so is reported as ignored.
    fn start_time_matters(asked: i64, stored: i64) -> bool;
    /// Where the entry stands, for `check`.
    fn position(state: &Self::State) -> Position;

    /// This pass's walk, from the checkpoint's entry.
    fn open(state: Self::State, pass: &PassSettings, resource: &ResourceSettings) -> Self;
    /// The start asked for, when this pass had to start later (a retention horizon).
    fn requested_start(&self) -> Option<i64> {
        None
    }
    /// The next request (path and query), or none when there is nothing to ask.
    fn request(&self) -> Option<String>;
    /// Prepares to take the page an interrupted pass was storing, asked for with `pending`;
    /// refuses a request this resource would not have made.
    fn replay(&mut self, pending: &PendingPage) -> Result<(), Failure>;
    /// After the pending page (`Some(more)` when it was taken, none when there was none or
    /// Zendesk no longer answers it): whether this pass's walk goes on.
    fn resume(&mut self, replayed: Option<bool>) -> bool;
    /// Validates the page `body` that `request` returned and picks its new records.
    fn page<'b>(
        &self,
        request: &str,
        body: &'b [u8],
        origin: &Origin,
    ) -> Result<Page<'b, Self::Stamp, Self::Advance>, Failure>;
    /// Moves the position over a stored page; the new entry is saved next.
    fn advance(&mut self, advance: Self::Advance) -> Self::State;
    /// Whether a page with `kept` new records counts against `MAX_PAGES`. Pages holding only
    /// records already stored do not by default, so an overlap longer than a pass may fetch
    /// still makes progress.
    fn counts(&self, kept: usize) -> bool {
        kept > 0
    }
    /// What an answer other than 200 means.
    fn status_failure(&self, status: u16, body: &[u8]) -> Failure;
    /// How far behind the pass start the resource is, when it knows better than its newest
    /// record.
    fn behind(&self, _pass_start: i64, _caught_up: bool) -> Option<i64> {
        None
    }
}

/// Collects `R` from its checkpoint entry.
pub fn collect<R: Resource>(sink: &mut PageSink<'_>, resource: &ResourceSettings) -> Progress {
    let Some(state) = R::entry(&sink.checkpoint().resources).cloned() else {
        return Progress {
            error: Some(Failure::Checkpoint(format!(
                "no checkpoint entry for {}",
                R::NAME
            ))),
            ..Progress::default()
        };
    };
    let mut walk = R::open(state, sink.settings(), resource);
    run(sink, &mut walk)
}

/// The loop over `walk`'s pages. Each page with new records is stored before the position
/// moves past it, and the position is saved after every page, so a failure at any point
/// leaves the checkpoint at the last stored page.
pub fn run<R: Resource>(sink: &mut PageSink<'_>, walk: &mut R) -> Progress {
    let mut progress = Progress {
        requested_start: walk.requested_start(),
        ..Progress::default()
    };
    let mut counted = 0u32;
    // The page an interrupted pass was storing comes first, exactly as it was asked then.
    match replay_pending(sink, walk, &mut progress) {
        Ok(replayed) => {
            if let Some((kept, _)) = replayed {
                counted += u32::from(walk.counts(kept));
            }
            if walk.resume(replayed.map(|(_, more)| more)) {
                walk_on(sink, walk, counted, &mut progress);
            } else {
                progress.caught_up = true;
            }
        }
        Err(end) => progress.end(end),
    }
    progress.behind = walk.behind(sink.settings().pass_start, progress.caught_up);
    progress
}

/// This pass's own requests, until caught up, `MAX_PAGES`, a stop or a failure.
fn walk_on<R: Resource>(
    sink: &mut PageSink<'_>,
    walk: &mut R,
    mut counted: u32,
    progress: &mut Progress,
) {
    loop {
        let Some(request) = walk.request() else {
            progress.caught_up = true;
            return;
        };
        if counted >= sink.settings().max_pages {
            progress.stop(Stop::MaxPages);
            return;
        }
        let taken = sink
            .fetch_page(&request, |status, body| walk.status_failure(status, body))
            .and_then(|response| take(sink, walk, &request, &response.body, progress));
        match taken {
            Ok((kept, more)) => {
                counted += u32::from(walk.counts(kept));
                if !more {
                    progress.caught_up = true;
                    return;
                }
            }
            Err(end) => {
                progress.end(end);
                return;
            }
        }
    }
}

/// Asks again for the page an interrupted pass was storing, if there is one, and stores it.
/// Some((records kept, more)) once taken; none when there was none or Zendesk no longer
/// answers that request.
fn replay_pending<R: Resource>(
    sink: &mut PageSink<'_>,
    walk: &mut R,
    progress: &mut Progress,
) -> Result<Option<(usize, bool)>, End> {
    let Some(pending) = sink.pending(R::NAME, R::PATH)? else {
        return Ok(None);
    };
    walk.replay(&pending)?;
    let Some(response) = sink.fetch_pending(R::NAME, &pending, |status, body| {
        walk.status_failure(status, body)
    })?
    else {
        return Ok(None);
    };
    take(sink, walk, &pending.request, &response.body, progress).map(Some)
}

/// Validates and stores one page (its new records only), then moves the position and saves
/// it. Returns the records kept and whether more pages follow.
fn take<R: Resource>(
    sink: &mut PageSink<'_>,
    walk: &mut R,
    request: &str,
    body: &[u8],
    progress: &mut Progress,
) -> Result<(usize, bool), End> {
    let page = walk
        .page(request, body, &sink.settings().origin)
        .map_err(End::Fail)?;
    // The entry saved last asks this request again: saving it as pending would change nothing.
    let save_pending = !(R::REQUEST_FROM_ENTRY && page.again.request == request);
    sink.store_page(
        R::NAME,
        page.again,
        save_pending,
        &page.stored,
        &page.kept,
        &page.stamps,
        progress,
    )?;
    let state = walk.advance(page.advance);
    *R::entry_mut(&mut sink.checkpoint_mut().resources) = Some(state);
    sink.save()?;
    progress.pages += 1;
    Ok((page.kept.len(), page.more))
}
