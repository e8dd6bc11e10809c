//! Many feeds in one process: `run --feeds` makes one pass of every feed, `serve --feeds` runs
//! each on its own interval. At most `--max-concurrent-passes` passes run at once, never two of
//! one feed, all on one engine and compiled component. A feed that fails (bad credentials, its
//! Zendesk unreachable, a corrupt checkpoint) is reported for itself and never stops the others.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::Instrument as _;

use crate::cassette::session::Session;
use crate::cli::{RunArgs, ServeArgs};
use crate::clock::now_unix;
use crate::config::PassConfig;
use crate::control::StopFlag;
use crate::error::HostError;
use crate::exit::Exit;
use crate::feeds::{self, Feed};
use crate::metrics::Metrics;
use crate::pass::one_pass;
use crate::runtime::Runtime;
use crate::signals::watch_signals;
use crate::summary::Summary;

/// What every feed's task shares.
struct Shared {
    runtime: Runtime,
    stop: StopFlag,
    passes: Semaphore,
}

/// One pass of every feed, at most `--max-concurrent-passes` at a time; one JSON summary line
/// per feed as it finishes. The exit code is that of the first feed, in file order, that did
/// not succeed (0 when all did).
pub async fn run(args: RunArgs) -> Exit {
    let (feeds, shared) = match prepare(&args) {
        Ok(ready) => ready,
        Err(exit) => return exit,
    };
    let mut tasks = JoinSet::new();
    for (index, feed) in feeds.into_iter().enumerate() {
        let shared = Arc::clone(&shared);
        let span = tracing::info_span!("feed", feed = %feed.name());
        tasks.spawn(
            async move {
                let Some(_permit) = permit(&shared).await else {
                    tracing::warn!("not started: stopping");
                    return (index, Exit::Success);
                };
                let (summary, exit) = one_pass(
                    &shared.runtime,
                    &feed.config,
                    &shared.stop,
                    false,
                    &Session::Live,
                )
                .await;
                print_line(&feed.config, summary.as_ref(), exit);
                (index, exit)
            }
            .instrument(span),
        );
    }
    let mut exits = Vec::new();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(ended) => exits.push(ended),
            Err(e) => {
                tracing::error!(error = %e, "a feed's task failed");
                exits.push((usize::MAX, Exit::Internal));
            }
        }
    }
    exits.sort_by_key(|(index, _)| *index);
    exits
        .into_iter()
        .map(|(_, exit)| exit)
        .find(|exit| *exit != Exit::Success)
        .unwrap_or(Exit::Success)
}

/// Every feed on its interval (its own `every`, else `--every`) until SIGINT/SIGTERM: a pass
/// of each at once, then one per interval, never two of one feed at a time. A pass that waited
/// for a free slot or overran delays that feed's next one, and says so.
pub async fn serve(args: ServeArgs) -> Exit {
    let (feeds, shared) = match prepare(&args.run) {
        Ok(ready) => ready,
        Err(exit) => return exit,
    };
    let mut scheduled = Vec::with_capacity(feeds.len());
    for feed in feeds {
        let Some(every) = feed.every.or(args.every) else {
            tracing::error!(
                feed = %feed.name(),
                line = feed.line,
                "invalid configuration: this feed has no `every`, and neither --every nor \
                 SCHEDULE_EVERY is set"
            );
            return Exit::Config;
        };
        scheduled.push((feed, every));
    }
    let metrics = Metrics::default();
    if let Err(e) = crate::metrics::serve_configured(args.metrics_addr, &metrics).await {
        return e.report();
    }
    tracing::info!(
        feeds = scheduled.len(),
        max_concurrent_passes = shared.passes.available_permits(),
        "serving"
    );
    let mut tasks = JoinSet::new();
    for (feed, every) in scheduled {
        let span = tracing::info_span!("feed", feed = %feed.name());
        tasks.spawn(
            feed_schedule(Arc::clone(&shared), feed, every, metrics.clone()).instrument(span),
        );
    }
    while let Some(done) = tasks.join_next().await {
        if let Err(e) = done {
            tracing::error!(error = %e, "a feed's schedule failed");
        }
    }
    tracing::info!("stopped");
    Exit::Success
}

async fn feed_schedule(shared: Arc<Shared>, feed: Feed, every: Duration, metrics: Metrics) {
    tracing::info!(every = %humantime::format_duration(every), "scheduled");
    loop {
        let due = Instant::now();
        let Some(permit) = permit(&shared).await else {
            break;
        };
        let (summary, exit) = one_pass(
            &shared.runtime,
            &feed.config,
            &shared.stop,
            false,
            &Session::Live,
        )
        .await;
        drop(permit);
        if let Some(summary) = &summary {
            metrics.record(summary, now_unix());
        }
        print_line(&feed.config, summary.as_ref(), exit);
        if exit != Exit::Success {
            tracing::warn!(
                exit = exit.code(),
                "pass did not succeed; the schedule goes on"
            );
        }
        if shared.stop.is_requested() {
            break;
        }
        if !wait_for_next(due + every, &shared.stop).await {
            break;
        }
    }
}

/// A free pass slot, or none once a stop is requested.
async fn permit(shared: &Shared) -> Option<tokio::sync::SemaphorePermit<'_>> {
    if shared.stop.is_requested() {
        return None;
    }
    tokio::select! {
        permit = shared.passes.acquire() => permit.ok(),
        _ = shared.stop.requested() => None,
    }
}

fn prepare(args: &RunArgs) -> Result<(Vec<Feed>, Arc<Shared>), Exit> {
    let Some(path) = &args.feeds.file else {
        return Err(Exit::Config);
    };
    let feeds = feeds::load(path, args, |k| std::env::var(k).ok())
        .map_err(|e| HostError::from(e).report())?;
    // The component and its cache are the process's, not a feed's: any feed's view will do.
    let runtime =
        crate::runtime::load(&feeds[0].config).map_err(|e| HostError::Component(e).report())?;
    let stop = StopFlag::default();
    watch_signals(stop.clone());
    let passes = Semaphore::new(args.feeds.max_concurrent_passes.max(1) as usize);
    tracing::info!(feeds = feeds.len(), file = %path.display(), "feeds loaded");
    Ok((
        feeds,
        Arc::new(Shared {
            runtime,
            stop,
            passes,
        }),
    ))
}

/// One JSON line per pass on stdout. A pass that could not open its store has no summary of
/// its own; it gets a line anyway, so every feed is accounted for.
fn print_line(config: &PassConfig, summary: Option<&Summary>, exit: Exit) {
    let line = match summary {
        Some(summary) => serde_json::to_string(summary),
        None => {
            let kind = match exit {
                Exit::CheckpointLocked => "checkpoint_locked",
                Exit::Config => "invalid_settings",
                Exit::Storage => "storage",
                _ => "internal",
            };
            serde_json::to_string(&serde_json::json!({
                "feed": config.feed,
                "ok": false,
                "error": {
                    "kind": kind,
                    "message": format!(
                        "the pass could not open its store {} (exit code {}); the log says why",
                        config.store.out.display(),
                        exit.code()
                    ),
                },
            }))
        }
    };
    match line {
        Ok(json) => println!("{json}"),
        Err(e) => tracing::error!(error = %e, "cannot print the summary"),
    }
}

/// Waits until `next`, saying so when the pass overran its interval. False when a stop was
/// requested meanwhile.
pub(crate) async fn wait_for_next(next: Instant, stop: &StopFlag) -> bool {
    let now = Instant::now();
    if now > next {
        tracing::warn!(
            overran_by = %humantime::format_duration(now - next),
            "the pass overran the interval; the next one starts now"
        );
    }
    tokio::select! {
        _ = tokio::time::sleep_until(next) => true,
        _ = stop.requested() => false,
    }
}
