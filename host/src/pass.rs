//! One pass: open the store, authorise, run the component, summarise. `run`, `serve`,
//! `record`, `replay` and the feeds schedule all come here, with one engine and compiled
//! component for the life of the process.

use std::sync::Arc;

use tokio::time::Instant;

use crate::bindings::Settings;
use crate::cassette::session::Session;
use crate::config::PassConfig;
use crate::control::{PassControl, StopFlag};
use crate::credentials::AuthMode;
use crate::egress::Egress;
use crate::exit::Exit;
use crate::imports::PassState;
use crate::oauth::TokenSource;
use crate::runtime::{PassResult, Runtime};
use crate::stats::PassStats;
use crate::storage::{KeyPolicy, SaveMode, Storage};
use crate::summary::{self, ErrorSummary, Summary};

/// One pass: open the store (taking its lock for the pass), seed a replay's checkpoint,
/// authorise, run the component, summarise. No summary when the store could not be opened.
pub(crate) async fn one_pass(
    runtime: &Runtime,
    config: &PassConfig,
    stop: &StopFlag,
    reset: bool,
    session: &Session,
) -> (Option<Summary>, Exit) {
    let pass_start = match session.replaying() {
        Some(cassette) => cassette.pass_start,
        None => config
            .runtime
            .pass_start
            .unwrap_or_else(crate::clock::now_unix),
    };
    let store = match crate::storage::open(config, pass_start, reset).await {
        Ok(store) => store,
        Err(e) => return (None, e.report()),
    };
    if let Err(e) = seed(store.as_ref(), session).await {
        return (None, e.report());
    }
    let checkpoint = store.checkpoint_location();
    let tokens = match authorize(config, session).await {
        Ok(tokens) => tokens,
        Err(e) => {
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
    };
    let ran = run(
        runtime, config, stop, session, &store, pass_start, checkpoint,
    )
    .await;
    let (summary, exit) = summarise(
        ran,
        config,
        session,
        tokens.as_deref(),
        store.as_ref(),
        pass_start,
    );
    (Some(summary), exit)
}

/// A replay starts from the cassette's checkpoint, stored before the component runs.
async fn seed(store: &dyn Storage, session: &Session) -> Result<(), crate::error::HostError> {
    let Some(cassette) = session.replaying() else {
        return Ok(());
    };
    let Some(initial) = &cassette.initial_checkpoint else {
        return Ok(());
    };
    let seeded = match initial.to_bytes() {
        Ok(bytes) => store
            .save_checkpoint(bytes, SaveMode::Create)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    seeded.map_err(crate::error::HostError::Seed)
}

/// The first token of the pass, before the component runs, in the OAuth modes: a refused
/// client ends the pass here, naming the cause, with nothing collected. A replay holds no
/// credentials.
async fn authorize(
    config: &PassConfig,
    session: &Session,
) -> Result<Option<Arc<TokenSource>>, crate::oauth::OAuthError> {
    if session.replaying().is_some() {
        return Ok(None);
    }
    if config.zendesk.auth_mode == AuthMode::Token {
        tracing::warn!(
            "AUTH_MODE=token: Zendesk deactivates every API token on 2027-04-30 (and no account \
             can create one since 2026-10-27); move to AUTH_MODE=client_credentials, see \
             docs/authentication.md"
        );
    }
    let Some(tokens) = config.zendesk.egress.tokens().cloned() else {
        return Ok(None);
    };
    tokens.begin_pass();
    tokens.authorization().await?;
    Ok(Some(tokens))
}

/// What running the component left: its result, the host state it ran with, the recording
/// mode, the settings it was given, and how long it took.
struct Ran {
    result: PassResult,
    state: PassState,
    stats: PassStats,
    settings: Settings,
    started: Instant,
    checkpoint: String,
}

/// Runs the component over `store` with the pass's settings, deadline and recording mode.
async fn run(
    runtime: &Runtime,
    config: &PassConfig,
    stop: &StopFlag,
    session: &Session,
    store: &Arc<dyn Storage>,
    pass_start: i64,
    checkpoint: String,
) -> Ran {
    let deadline = Instant::now() + config.runtime.deadline;
    let control = PassControl {
        stop: stop.clone(),
        deadline: Some(deadline),
    };
    let settings = match session {
        Session::Replay { settings, .. } => (**settings).clone(),
        _ => config.settings(pass_start),
    };
    let stats = PassStats::default();
    let mut state = PassState::new(
        Egress::with_session(
            Arc::clone(&config.zendesk.egress),
            stats.clone(),
            session.clone(),
        )
        .inflating_up_to(config.collect.max_page_bytes),
        Arc::clone(store),
        KeyPolicy::new(&config.store.prefix, &config.store.state_key),
        control,
        config.runtime.memory_limit_bytes,
        stats.clone(),
    );
    state.session = session.clone();
    let started = Instant::now();
    tracing::info!(pass_start, resources = %config.collect.resources.join(","), %checkpoint, "pass starting");
    let (result, mut state) = runtime
        .run_pass(
            state,
            &settings,
            Some(deadline + crate::runtime::grace_for(config.runtime.deadline)),
        )
        .await;
    // What the guest left open (a response it stopped waiting for) ends here, so the
    // recorder sees every exchange finished.
    state.table = wasmtime::component::ResourceTable::new();
    Ran {
        result,
        state,
        stats,
        settings,
        started,
        checkpoint,
    }
}

/// The summary and exit code of a pass that ran: the component's outcomes, then the causes
/// worth naming over them (the memory cap, a token refused mid-pass, a 401 the mode explains,
/// a replay that diverged, a lost checkpoint race), and the logs of each resource.
fn summarise(
    ran: Ran,
    config: &PassConfig,
    session: &Session,
    tokens: Option<&TokenSource>,
    store: &dyn Storage,
    pass_start: i64,
) -> (Summary, Exit) {
    let Ran {
        result,
        state,
        stats,
        settings,
        started,
        checkpoint,
    } = ran;
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
                humantime::format_duration(config.runtime.deadline),
                humantime::format_duration(crate::runtime::grace_for(config.runtime.deadline))
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
            config.runtime.memory_limit_bytes >> 20
        );
        tracing::error!(error = %message, "memory cap reached");
        summary.ok = false;
        summary.error = Some(ErrorSummary::new("memory_limit", message));
        Exit::Internal
    } else {
        exit
    };
    // A token refused mid-pass (a grant revoked, a secret rotated) is the cause worth naming.
    let exit = match tokens.and_then(|t| t.refusal()) {
        Some(e) => {
            summary.ok = false;
            summary.error = Some(ErrorSummary::new(e.kind(), e.to_string()));
            e.exit()
        }
        None => exit,
    };
    explain_unauthorized(config.zendesk.auth_mode, pass_start, &mut summary);
    let exit =
        match crate::cassette::session::finish(session, &state, &settings, config, &mut summary) {
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
    (summary, exit)
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
