//! `run` (one pass) and `serve` (passes on an interval): from configuration to summaries and
//! an exit code. Both share one engine and compiled component for the life of the process.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use tokio::time::Instant;

use crate::cli::{RunArgs, ServeArgs};
use crate::config::PassConfig;
use crate::control::{PassControl, StopFlag};
use crate::egress::Egress;
use crate::exit::Exit;
use crate::imports::PassState;
use crate::metrics::Metrics;
use crate::runtime::{EMBEDDED_COMPONENT, PassResult, Runtime};
use crate::stats::PassStats;
use crate::storage::local::{LocalStore, OpenError};
use crate::storage::s3::S3Store;
use crate::storage::{KeyPolicy, Storage, gzip};
use crate::summary::{self, ErrorSummary, Summary};

/// Runs one pass, prints its summary on stdout and returns the exit code.
pub async fn run(args: RunArgs) -> Exit {
    let (config, runtime) = match prepare(args) {
        Ok(ready) => ready,
        Err(exit) => return exit,
    };
    let stop = StopFlag::default();
    watch_signals(stop.clone());
    let (summary, exit) = one_pass(&runtime, &config, &stop, config.reset_state).await;
    if let Some(summary) = summary {
        match serde_json::to_string_pretty(&summary) {
            Ok(json) => println!("{json}"),
            Err(e) => tracing::error!(error = %e, "cannot print the summary"),
        }
    }
    exit
}

/// Runs a pass at once and then every `--every` until SIGINT/SIGTERM, never two at a time.
/// Prints one JSON summary line per pass. A failing pass is logged and the schedule goes on.
pub async fn serve(args: ServeArgs) -> Exit {
    let every = args.every;
    let (config, runtime) = match prepare(args.run) {
        Ok(ready) => ready,
        Err(exit) => return exit,
    };
    let stop = StopFlag::default();
    watch_signals(stop.clone());
    let metrics = Metrics::default();
    if let Some(addr) = args.metrics_addr {
        match crate::metrics::serve(addr, metrics.clone()).await {
            Ok(bound) => tracing::info!(addr = %bound, "metrics listening"),
            Err(e) => {
                tracing::error!(%addr, error = %e, "cannot serve metrics");
                return Exit::Config;
            }
        }
    }
    tracing::info!(every = %humantime::format_duration(every), "serving");
    let mut reset = config.reset_state;
    loop {
        let started = Instant::now();
        let (summary, exit) = one_pass(&runtime, &config, &stop, reset).await;
        reset = false;
        if let Some(summary) = summary {
            metrics.record(&summary, now_unix());
            match serde_json::to_string(&summary) {
                Ok(json) => println!("{json}"),
                Err(e) => tracing::error!(error = %e, "cannot print the summary"),
            }
        }
        if exit != Exit::Success {
            tracing::warn!(
                exit = exit.code(),
                "pass did not succeed; the schedule goes on"
            );
        }
        if stop.is_requested() {
            break;
        }
        let next = started + every;
        let now = Instant::now();
        if now > next {
            tracing::warn!(
                overran_by = %humantime::format_duration(now - next),
                "the pass overran the interval; the next one starts now"
            );
        }
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            _ = stop.requested() => break,
        }
    }
    tracing::info!("stopped");
    Exit::Success
}

fn prepare(args: RunArgs) -> Result<(PassConfig, Runtime), Exit> {
    let config = PassConfig::from_args(args, |k| std::env::var(k).ok()).map_err(|e| {
        tracing::error!(error = %e, "invalid configuration");
        Exit::Config
    })?;
    let runtime = load_runtime(&config).map_err(|e| {
        tracing::error!(error = format!("{e:#}"), "cannot load the component");
        Exit::Internal
    })?;
    Ok((config, runtime))
}

/// One pass: open the store (taking its lock for the pass), run the component, summarise.
/// No summary when the store could not be opened.
async fn one_pass(
    runtime: &Runtime,
    config: &PassConfig,
    stop: &StopFlag,
    reset: bool,
) -> (Option<Summary>, Exit) {
    let pass_start = config.pass_start.unwrap_or_else(now_unix);
    let store = match open_store(config, pass_start, reset).await {
        Ok(store) => store,
        Err(exit) => return (None, exit),
    };
    let checkpoint = store.checkpoint_location();

    let deadline = Instant::now() + config.deadline;
    let control = PassControl {
        stop: stop.clone(),
        deadline: Some(deadline),
    };
    let settings = config.settings(pass_start);
    let stats = PassStats::default();
    let state = PassState::new(
        Egress::new(Arc::clone(&config.egress), stats.clone()),
        Arc::clone(&store),
        KeyPolicy::new(&config.prefix, &config.state_key),
        control,
        config.memory_limit_bytes,
        stats.clone(),
    );
    let started = Instant::now();
    tracing::info!(pass_start, resources = %config.resources.join(","), %checkpoint, "pass starting");
    let (result, state) = runtime.run_pass(state, &settings, Some(deadline)).await;
    let mut summary = Summary {
        ok: false,
        pass_start,
        checkpoint: checkpoint.clone(),
        first_run: state.checkpoint_absent.unwrap_or(false),
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        resources: Vec::new(),
        error: None,
    };
    let exit = match result {
        PassResult::Returned(Ok(outcomes)) => {
            summary.resources = outcomes
                .into_iter()
                .map(|o| {
                    let measured = stats.get(&o.name);
                    let mut r = summary::from_wit_outcome(o);
                    r.bytes = measured.bytes;
                    r.rate_limited = measured.rate_limited;
                    r
                })
                .collect();
            summary.ok = summary.resources.iter().all(|r| r.error.is_none());
            summary.exit()
        }
        PassResult::Returned(Err(setup)) => {
            // Whatever the load found, no first run happened.
            summary.first_run = false;
            let (error, exit) = summary::from_wit_setup_error(setup, &checkpoint);
            tracing::error!(kind = error.kind, error = %error.message, "pass did not start");
            summary.error = Some(error);
            exit
        }
        PassResult::Failed(trap) => {
            let message = format!("{trap:#}");
            tracing::error!(error = %message, "the component failed");
            summary.error = Some(ErrorSummary::new("internal", message));
            Exit::Internal
        }
        PassResult::Overran => {
            let message = format!(
                "the component did not stop at its deadline ({}) and was stopped; the \
                 checkpoint is at the last stored page",
                humantime::format_duration(config.deadline)
            );
            tracing::error!(error = %message, "deadline overrun");
            summary.error = Some(ErrorSummary::new("deadline_exceeded", message));
            Exit::Deadline
        }
    };
    // Whether the component trapped or failed softly (an allocation it could refuse), a
    // refused growth is the cause worth naming.
    let exit = if state.memory.hit {
        let message = format!(
            "the component needed more than the memory cap of {} MiB (MEMORY_LIMIT_MIB); the \
             checkpoint is at the last stored page",
            config.memory_limit_bytes >> 20
        );
        tracing::error!(error = %message, "memory cap reached");
        summary.ok = false;
        summary.error = Some(ErrorSummary::new("memory_limit", message));
        Exit::Internal
    } else {
        exit
    };
    // A conditional checkpoint write that lost names the cause, whatever the guest made of it.
    let exit = match store.lost_race() {
        Some(why) => {
            tracing::error!(error = %why, "another pass advanced the checkpoint");
            summary.ok = false;
            summary.error = Some(ErrorSummary::new("checkpoint_conflict", why));
            Exit::CheckpointLocked
        }
        None => exit,
    };
    if summary.first_run {
        tracing::warn!(
            %checkpoint,
            "FIRST RUN: there was no checkpoint, so collection started from START_TIME or \
             LOOKBACK_SECONDS; if this is not the first pass, the checkpoint was lost"
        );
    }
    for r in &summary.resources {
        match &r.error {
            Some(e) => {
                tracing::error!(resource = %r.name, kind = e.kind, error = %e.message, "resource failed")
            }
            None => {
                tracing::info!(resource = %r.name, pages = r.pages, records = r.records, caught_up = r.caught_up, stopped = r.stopped.unwrap_or("no"), "resource done")
            }
        }
    }
    (Some(summary), exit)
}

/// Opens the configured store for one pass (taking the local store's lock), applies
/// `--reset-state`, and wraps it in the output compression. Logs why it cannot.
async fn open_store(
    config: &PassConfig,
    pass_start: i64,
    reset: bool,
) -> Result<Arc<dyn Storage>, Exit> {
    let store: Arc<dyn Storage> = match &config.s3 {
        Some(s3) => {
            if config.state_key_under_prefix() {
                tracing::warn!(
                    state_key = %config.state_key,
                    prefix = %config.prefix,
                    "STATE_KEY lies under S3_PREFIX: the SIEM feed ingests every checkpoint \
                     write as a log, and a feed with source deletion deletes it (the next pass \
                     would be a first run); set STATE_KEY outside the prefix, e.g. \
                     zendesk/crm-state/state.json"
                );
            }
            let store = S3Store::open(s3.clone()).await.map_err(|e| {
                tracing::error!(error = %e, "cannot configure S3");
                Exit::Config
            })?;
            if reset {
                match store.reset_checkpoint(pass_start).await {
                    Ok(Some(aside)) => {
                        tracing::warn!(kept_as = %aside, "checkpoint copied aside; this pass is a first run and replaces it");
                    }
                    Ok(None) => tracing::info!("no checkpoint to reset"),
                    Err(e) => {
                        tracing::error!(error = %e, "cannot copy the checkpoint aside");
                        return Err(Exit::Storage);
                    }
                }
            }
            Arc::new(store)
        }
        None => {
            let store = match LocalStore::open(&config.out, &config.state_key) {
                Ok(s) => s,
                Err(e @ OpenError::Locked(_)) => {
                    tracing::error!(error = %e, "checkpoint is locked; is another pass running?");
                    return Err(Exit::CheckpointLocked);
                }
                Err(e @ OpenError::BadStateKey(_)) => {
                    tracing::error!(error = %e, "invalid STATE_KEY");
                    return Err(Exit::Config);
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot open the output directory");
                    return Err(Exit::Storage);
                }
            };
            if reset {
                match store.reset_checkpoint(pass_start) {
                    Ok(Some(aside)) => {
                        tracing::warn!(kept_as = %aside.display(), "checkpoint moved aside; this pass is a first run");
                    }
                    Ok(None) => tracing::info!("no checkpoint to reset"),
                    Err(e) => {
                        tracing::error!(error = %e, "cannot move the checkpoint aside");
                        return Err(Exit::Storage);
                    }
                }
            }
            Arc::new(store)
        }
    };
    Ok(gzip::wrap(store, config.compression))
}

fn load_runtime(config: &PassConfig) -> anyhow::Result<Runtime> {
    let cache = config.cache_dir.as_deref();
    match &config.component {
        Some(path) => {
            let bytes =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            Runtime::new(&bytes, cache)
        }
        None => Runtime::new(EMBEDDED_COMPONENT, cache),
    }
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// First SIGINT/SIGTERM: finish the page in flight, save the checkpoint, exit normally.
/// Second: exit at once (objects are always stored before the checkpoint moves, so the
/// checkpoint is still consistent).
fn watch_signals(stop: StopFlag) {
    tokio::spawn(async move {
        if wait_for_signal().await.is_err() {
            return;
        }
        tracing::warn!("stopping after the page in flight; signal again to exit at once");
        stop.request();
        if wait_for_signal().await.is_ok() {
            std::process::exit(130);
        }
    });
}

async fn wait_for_signal() -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r,
        _ = term.recv() => Ok(()),
    }
}
