//! `run` (one pass) and `serve` (passes on an interval): from configuration to summaries and
//! an exit code. Both share one engine and compiled component for the life of the process.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use tokio::time::Instant;

use crate::bindings::Settings;
use crate::cassette::record::Recorder;
use crate::cassette::replay::Player;
use crate::cassette::{Body, Cassette, FORMAT, HostRecord, SettingsRecord, StopTape, VERSION};
use crate::cli::{RecordArgs, ReplayArgs, RunArgs, ServeArgs};
use crate::config::PassConfig;
use crate::control::{PassControl, StopFlag};
use crate::credentials::AuthMode;
use crate::egress::{Egress, EgressPolicy, Mode};
use crate::exit::Exit;
use crate::imports::PassState;
use crate::metrics::Metrics;
use crate::runtime::{EMBEDDED_COMPONENT, PassResult, Runtime};
use crate::stats::PassStats;
use crate::storage::local::{LocalStore, OpenError};
use crate::storage::s3::S3Store;
use crate::storage::{KeyPolicy, Storage, gzip};
use crate::summary::{self, CassetteSummary, ErrorSummary, Summary};

/// Whether a pass writes a cassette, answers from one, or neither.
pub enum Tape {
    Off,
    Record(std::path::PathBuf),
    Replay {
        path: std::path::PathBuf,
        cassette: Box<Cassette>,
        settings: Box<Settings>,
    },
}

/// Runs one pass, prints its summary on stdout and returns the exit code.
pub async fn run(args: RunArgs) -> Exit {
    if args.feeds.file.is_some() {
        return crate::schedule::run(args).await;
    }
    let (config, runtime) = match prepare(args) {
        Ok(ready) => ready,
        Err(exit) => return exit,
    };
    run_once(runtime, config, Tape::Off).await
}

async fn run_once(runtime: Runtime, config: PassConfig, tape: Tape) -> Exit {
    let stop = StopFlag::default();
    watch_signals(stop.clone());
    let (summary, exit) = one_pass(&runtime, &config, &stop, config.reset_state, &tape).await;
    if let Some(summary) = summary {
        match serde_json::to_string_pretty(&summary) {
            Ok(json) => println!("{json}"),
            Err(e) => tracing::error!(error = %e, "cannot print the summary"),
        }
    }
    exit
}

/// `record`: one pass like `run`, and its cassette.
pub async fn record(args: RecordArgs) -> Exit {
    let (config, runtime) = match prepare(args.run) {
        Ok(ready) => ready,
        Err(exit) => return exit,
    };
    run_once(runtime, config, Tape::Record(args.cassette)).await
}

/// `replay`: the cassette's pass again, answered from the cassette, on virtual time.
pub async fn replay(args: ReplayArgs) -> Exit {
    let cassette = match Cassette::load(&args.cassette) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot replay");
            return Exit::Config;
        }
    };
    let settings = match cassette.settings.to_settings() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, cassette = %args.cassette.display(), "cannot replay");
            return Exit::Config;
        }
    };
    // The replayed pass starts from the cassette's checkpoint, so it writes into a directory
    // of its own: anything already there would make it another pass.
    if std::fs::read_dir(&args.out).is_ok_and(|mut entries| entries.next().is_some()) {
        tracing::error!(out = %args.out.display(), "replay writes into an empty or new directory, and this one is not empty");
        return Exit::Config;
    }
    let config = match replay_config(&args, &cassette) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot replay");
            return Exit::Config;
        }
    };
    let runtime = match load_runtime(&config) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "cannot load the component");
            return Exit::Internal;
        }
    };
    let tape = Tape::Replay {
        path: args.cassette,
        cassette: Box::new(cassette),
        settings: Box::new(settings),
    };
    run_once(runtime, config, tape).await
}

/// The host side of a replayed pass: the cassette's origin (with no credentials), checkpoint
/// key, deadline and memory cap. Settings the guest receives come from the cassette as such.
fn replay_config(args: &ReplayArgs, c: &Cassette) -> anyhow::Result<PassConfig> {
    let s = &c.settings;
    Ok(PassConfig {
        feed: None,
        base_url: s.base_url.clone(),
        // A replay holds no credentials; the mode only shapes messages.
        auth_mode: crate::credentials::AuthMode::Bearer,
        egress: Arc::new(EgressPolicy::without_credentials(&s.base_url)?),
        resources: s.resources.iter().map(|r| r.name.clone()).collect(),
        page_size: None,
        max_pages: s.max_pages,
        start_time: s.start_time,
        lookback_seconds: s.lookback_seconds,
        audit_lag_seconds: 0,
        // A replay stores into its own local directory, uncompressed: what the guest stored,
        // byte for byte.
        s3: None,
        compression: crate::storage::gzip::Compression::None,
        access_log_lag_seconds: 0,
        access_log_overlap_seconds: 0,
        http_timeout_secs: s.retry.timeout_ms / 1000,
        http_retries: s.retry.retries,
        max_retry_wait_secs: s.retry.max_backoff_ms / 1000,
        prefix: s.object_prefix.clone(),
        state_key: c.host.state_key.clone(),
        out: args.out.clone(),
        output_format: s.to_settings()?.output_format,
        max_page_bytes: s.max_page_bytes,
        reset_state: false,
        component: args.component.clone(),
        pass_start: Some(c.pass_start),
        deadline: std::time::Duration::from_millis(c.host.deadline_ms),
        memory_limit_bytes: usize::try_from(c.host.memory_limit_bytes).unwrap_or(usize::MAX),
        // The guest's budget comes from the cassette's settings; these mirror them.
        export_rate_limit: s
            .resources
            .iter()
            .find_map(|r| r.requests_per_window)
            .unwrap_or(10),
        account_rate_limit: s.rate.account_requests,
        rate_window: std::time::Duration::from_millis(s.rate.window_ms),
        cache_dir: args
            .cache_dir
            .clone()
            .or_else(crate::config::default_cache_dir),
    })
}

/// Runs a pass at once and then every `--every` until SIGINT/SIGTERM, never two at a time.
/// Prints one JSON summary line per pass. A failing pass is logged and the schedule goes on.
pub async fn serve(args: ServeArgs) -> Exit {
    if args.run.feeds.file.is_some() {
        return crate::schedule::serve(args).await;
    }
    let Some(every) = args.every else {
        tracing::error!("serve needs --every (SCHEDULE_EVERY)");
        return Exit::Config;
    };
    let (config, runtime) = match prepare(args.run) {
        Ok(ready) => ready,
        Err(exit) => return exit,
    };
    let stop = StopFlag::default();
    watch_signals(stop.clone());
    let metrics = Metrics::default();
    if let Err(exit) = serve_metrics(args.metrics_addr, &metrics).await {
        return exit;
    }
    tracing::info!(every = %humantime::format_duration(every), "serving");
    let mut reset = config.reset_state;
    loop {
        let started = Instant::now();
        let (summary, exit) = one_pass(&runtime, &config, &stop, reset, &Tape::Off).await;
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
        if !wait_for_next(started + every, &stop).await {
            break;
        }
    }
    tracing::info!("stopped");
    Exit::Success
}

/// Starts the metrics endpoint when an address is configured.
pub(crate) async fn serve_metrics(
    addr: Option<std::net::SocketAddr>,
    metrics: &Metrics,
) -> Result<(), Exit> {
    let Some(addr) = addr else { return Ok(()) };
    match crate::metrics::serve(addr, metrics.clone()).await {
        Ok(bound) => {
            tracing::info!(addr = %bound, "metrics listening");
            Ok(())
        }
        Err(e) => {
            tracing::error!(%addr, error = %e, "cannot serve metrics");
            Err(Exit::Config)
        }
    }
}

fn prepare(args: RunArgs) -> Result<(PassConfig, Runtime), Exit> {
    let config = PassConfig::from_args(args, |k| std::env::var(k).ok()).map_err(|e| {
        tracing::error!(error = %e, "invalid configuration");
        e.exit()
    })?;
    let runtime = load_runtime(&config).map_err(|e| {
        tracing::error!(error = format!("{e:#}"), "cannot load the component");
        Exit::Internal
    })?;
    Ok((config, runtime))
}

/// One pass: open the store (taking its lock for the pass), run the component, summarise.
/// No summary when the store could not be opened.
pub(crate) async fn one_pass(
    runtime: &Runtime,
    config: &PassConfig,
    stop: &StopFlag,
    reset: bool,
    tape: &Tape,
) -> (Option<Summary>, Exit) {
    let pass_start = match tape {
        Tape::Replay { cassette, .. } => cassette.pass_start,
        _ => config.pass_start.unwrap_or_else(now_unix),
    };
    let store = match open_store(config, pass_start, reset).await {
        Ok(store) => store,
        Err(exit) => return (None, exit),
    };
    let checkpoint = store.checkpoint_location();

    if let Tape::Replay { cassette, .. } = tape
        && let Some(initial) = &cassette.initial_checkpoint
    {
        use crate::storage::SaveMode;
        let seeded = match initial.to_bytes() {
            Ok(bytes) => store
                .save_checkpoint(bytes, SaveMode::Create)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = seeded {
            tracing::error!(error = %e, "cannot store the cassette's initial checkpoint");
            return (None, Exit::Storage);
        }
    }

    let tokens = match tape {
        Tape::Replay { .. } => None,
        _ => config.egress.tokens().cloned(),
    };
    if config.auth_mode == AuthMode::Token && !matches!(tape, Tape::Replay { .. }) {
        tracing::warn!(
            "AUTH_MODE=token: Zendesk deactivates every API token on 2027-04-30 (and no account \
             can create one since 2026-10-27); move to AUTH_MODE=client_credentials, see \
             docs/authentication.md"
        );
    }
    if let Some(tokens) = &tokens {
        // The first token of the pass, before the component runs: a refused client ends the
        // pass here, naming the cause, with nothing collected.
        tokens.begin_pass();
        if let Err(e) = tokens.authorization().await {
            let summary = Summary {
                feed: config.feed.clone(),
                ok: false,
                pass_start,
                checkpoint,
                started: false,
                first_run: None,
                duration_ms: 0,
                resources: Vec::new(),
                error: Some(ErrorSummary::new(e.kind(), e.to_string())),
                cassette: None,
            };
            return (Some(summary), e.exit());
        }
    }
    let deadline = Instant::now() + config.deadline;
    let control = PassControl {
        stop: stop.clone(),
        deadline: Some(deadline),
    };
    let settings = match tape {
        Tape::Replay { settings, .. } => (**settings).clone(),
        _ => config.settings(pass_start),
    };
    let mode = match tape {
        Tape::Off => Mode::Live,
        Tape::Record(_) => Mode::Record(Recorder::default()),
        Tape::Replay { cassette, .. } => Mode::Replay(Player::new(cassette)),
    };
    let stats = PassStats::default();
    let mut state = PassState::new(
        Egress::with_mode(Arc::clone(&config.egress), stats.clone(), mode.clone())
            .inflating_up_to(config.max_page_bytes),
        Arc::clone(&store),
        KeyPolicy::new(&config.prefix, &config.state_key),
        control,
        config.memory_limit_bytes,
        stats.clone(),
    );
    state.stops = match tape {
        Tape::Off => StopTape::Off,
        Tape::Record(_) => StopTape::Record {
            calls: 0,
            stops: Vec::new(),
        },
        Tape::Replay { cassette, .. } => StopTape::Replay {
            calls: 0,
            stops: cassette.stops.clone(),
        },
    };
    let started = Instant::now();
    tracing::info!(pass_start, resources = %config.resources.join(","), %checkpoint, "pass starting");
    let (result, mut state) = runtime
        .run_pass(
            state,
            &settings,
            Some(deadline + crate::runtime::grace_for(config.deadline)),
        )
        .await;
    // What the guest left open (a response it stopped waiting for) ends here, so the
    // recorder sees every exchange finished.
    state.table = wasmtime::component::ResourceTable::new();
    let mut summary = Summary {
        feed: config.feed.clone(),
        ok: false,
        pass_start,
        checkpoint: checkpoint.clone(),
        started: true,
        first_run: Some(state.checkpoint_absent.unwrap_or(false)),
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        resources: Vec::new(),
        error: None,
        cassette: None,
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
            // Whatever the load found, no first run happened, nor a resumed one.
            summary.started = false;
            summary.first_run = None;
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
                "the component did not stop at its deadline ({}) nor within {} of grace and \
                 was stopped (PASS_DEADLINE); the checkpoint is at the last stored page",
                humantime::format_duration(config.deadline),
                humantime::format_duration(crate::runtime::grace_for(config.deadline))
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
    // A token refused mid-pass (a grant revoked, a secret rotated) is the cause worth naming.
    let exit = match tokens.as_ref().and_then(|t| t.refusal()) {
        Some(e) => {
            summary.ok = false;
            summary.error = Some(ErrorSummary::new(e.kind(), e.to_string()));
            e.exit()
        }
        None => exit,
    };
    explain_unauthorized(config.auth_mode, pass_start, &mut summary);
    let exit = match finish_tape(tape, &mode, &state, &settings, config, &mut summary) {
        Some(diverged) => diverged,
        None => exit,
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
    if summary.first_run == Some(true) {
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

/// 2027-04-30T00:00:00Z: Zendesk deactivates every remaining API token.
const API_TOKENS_END: i64 = 1_809_043_200;

/// Says why a 401 happened where the mode explains it: API tokens after their end, and
/// bearer tokens that expired (access tokens of new clients live about 30 minutes).
fn explain_unauthorized(mode: AuthMode, pass_start: i64, summary: &mut Summary) {
    for r in &mut summary.resources {
        let Some(error) = r.error.as_mut().filter(|e| e.kind == "unauthorized") else {
            continue;
        };
        let why = match mode {
            AuthMode::Token if pass_start >= API_TOKENS_END => {
                " Zendesk deactivated every API token on 2027-04-30: move to \
                 AUTH_MODE=client_credentials (see docs/authentication.md)."
            }
            AuthMode::Bearer if error.message.contains("invalid_token") => {
                " The bearer token expired or was revoked (OAuth access tokens now expire after \
                 about 30 minutes): move to AUTH_MODE=client_credentials, with which the \
                 collector obtains and renews its own tokens."
            }
            _ => continue,
        };
        error.message.push_str(why);
    }
}

/// Writes the cassette of a recorded pass, or checks a replay against its cassette; fills
/// the summary's `cassette`. Returns an exit code that overrides the pass's own.
fn finish_tape(
    tape: &Tape,
    mode: &Mode,
    state: &PassState,
    settings: &Settings,
    config: &PassConfig,
    summary: &mut Summary,
) -> Option<Exit> {
    let waits_ms = state
        .clock
        .waits()
        .iter()
        .map(|w| u64::try_from(w.as_millis()).unwrap_or(u64::MAX))
        .collect();
    let clock_ms = u64::try_from(state.clock.elapsed().as_millis()).unwrap_or(u64::MAX);
    match (tape, mode) {
        (Tape::Record(path), Mode::Record(recorder)) => {
            let cassette = Cassette {
                format: FORMAT.to_owned(),
                version: VERSION,
                recorded_by: concat!("zendesk-crm ", env!("CARGO_PKG_VERSION")).to_owned(),
                pass_start: settings.pass_start,
                jitter_seed: settings.retry.jitter_seed,
                settings: SettingsRecord::from(settings),
                host: HostRecord {
                    state_key: config.state_key.clone(),
                    deadline_ms: u64::try_from(config.deadline.as_millis()).unwrap_or(u64::MAX),
                    memory_limit_bytes: config.memory_limit_bytes as u64,
                },
                initial_checkpoint: state.loaded_checkpoint.as_deref().map(Body::from_bytes),
                exchanges: recorder.exchanges(),
                stops: state.stops.recorded(),
            };
            summary.cassette = Some(CassetteSummary {
                path: path.display().to_string(),
                mode: "record",
                exchanges: cassette.exchanges.len(),
                used: None,
                unmatched: None,
                waits_ms,
                clock_ms,
            });
            if let Err(e) = cassette.save(path) {
                tracing::error!(error = %e, "cannot write the cassette");
                summary.ok = false;
                return Some(Exit::Storage);
            }
            tracing::info!(cassette = %path.display(), exchanges = cassette.exchanges.len(), "cassette written");
            None
        }
        (Tape::Replay { path, .. }, Mode::Replay(player)) => {
            let (used, exchanges, unmatched) = player.report();
            let diverged = !unmatched.is_empty() || used < exchanges;
            if used < exchanges {
                tracing::error!(
                    used,
                    exchanges,
                    "replay: the component made fewer requests than the cassette holds"
                );
            }
            summary.cassette = Some(CassetteSummary {
                path: path.display().to_string(),
                mode: "replay",
                exchanges,
                used: Some(used),
                unmatched: Some(unmatched),
                waits_ms,
                clock_ms,
            });
            if diverged {
                summary.ok = false;
                return Some(Exit::ReplayDiverged);
            }
            None
        }
        _ => None,
    }
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
            // The lock is ours, so no pass of this store is writing: what a killed one left
            // half-written goes (never a stored object: those are linked, not renamed).
            let (root, prefix, state) = (
                config.out.clone(),
                config.prefix.clone(),
                store.state_path().to_path_buf(),
            );
            let removed = tokio::task::spawn_blocking(move || {
                crate::storage::local::remove_stale_temps(&root, &prefix, &state)
            })
            .await
            .unwrap_or_default();
            if !removed.is_empty() {
                let files: Vec<String> = removed.iter().map(|p| p.display().to_string()).collect();
                tracing::warn!(
                    count = removed.len(),
                    files = %files.join(" "),
                    "removed temporary files an interrupted pass left (its writer is gone; \
                     no stored object or checkpoint was touched)"
                );
            }
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

pub(crate) fn load_runtime(config: &PassConfig) -> anyhow::Result<Runtime> {
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

pub(crate) fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// First SIGINT/SIGTERM: finish the page in flight, save the checkpoint, exit normally.
/// Second: exit at once (objects are always stored before the checkpoint moves, so the
/// checkpoint is still consistent).
pub(crate) fn watch_signals(stop: StopFlag) {
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
