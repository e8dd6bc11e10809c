//! `run`: one pass from configuration to summary and exit code.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;

use crate::cli::RunArgs;
use crate::config::PassConfig;
use crate::control::{PassControl, StopFlag};
use crate::egress::Egress;
use crate::exit::Exit;
use crate::imports::PassState;
use crate::runtime::{EMBEDDED_COMPONENT, Runtime};
use crate::storage::KeyPolicy;
use crate::storage::local::{LocalStore, OpenError};
use crate::summary::{self, ErrorSummary, Summary};

/// Runs one pass, prints its summary on stdout and returns the exit code.
pub async fn run(args: RunArgs) -> Exit {
    let config = match PassConfig::from_args(args, |k| std::env::var(k).ok()) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "invalid configuration");
            return Exit::Config;
        }
    };
    let pass_start = config.pass_start.unwrap_or_else(now_unix);
    let store = match LocalStore::open(&config.out, &config.state_key) {
        Ok(s) => s,
        Err(e @ OpenError::Locked(_)) => {
            tracing::error!(error = %e, "checkpoint is locked; is another pass running?");
            return Exit::CheckpointLocked;
        }
        Err(e @ OpenError::BadStateKey(_)) => {
            tracing::error!(error = %e, "invalid STATE_KEY");
            return Exit::Config;
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot open the output directory");
            return Exit::Storage;
        }
    };
    let checkpoint = store.state_path().display().to_string();
    if config.reset_state {
        match store.reset_checkpoint(pass_start) {
            Ok(Some(aside)) => {
                tracing::warn!(kept_as = %aside.display(), "checkpoint moved aside; this pass is a first run");
            }
            Ok(None) => tracing::info!("no checkpoint to reset"),
            Err(e) => {
                tracing::error!(error = %e, "cannot move the checkpoint aside");
                return Exit::Storage;
            }
        }
    }
    let runtime = match load_runtime(&config) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "cannot load the component");
            return Exit::Internal;
        }
    };

    let control = PassControl::default();
    watch_signals(control.stop.clone());
    let settings = config.settings(pass_start);
    let state = PassState::new(
        Egress::new(Arc::new(config.egress)),
        Arc::new(store),
        KeyPolicy::new(&config.prefix, &config.state_key),
        control,
    );
    tracing::info!(pass_start, resources = %config.resources.join(","), %checkpoint, "pass starting");
    let (result, state) = runtime.run_pass(state, &settings).await;
    let mut summary = Summary {
        ok: false,
        pass_start,
        checkpoint: checkpoint.clone(),
        first_run: state.checkpoint_absent.unwrap_or(false),
        resources: Vec::new(),
        error: None,
    };
    let exit = match result {
        Ok(Ok(outcomes)) => {
            summary.resources = outcomes
                .into_iter()
                .map(summary::from_wit_outcome)
                .collect();
            summary.ok = summary.resources.iter().all(|r| r.error.is_none());
            summary.exit()
        }
        Ok(Err(setup)) => {
            let (error, exit) = summary::from_wit_setup_error(setup, &checkpoint);
            tracing::error!(kind = error.kind, error = %error.message, "pass did not start");
            summary.error = Some(error);
            exit
        }
        Err(trap) => {
            let message = format!("{trap:#}");
            tracing::error!(error = %message, "the component failed");
            summary.error = Some(ErrorSummary::new("internal", message));
            Exit::Internal
        }
    };
    for r in &summary.resources {
        match &r.error {
            Some(e) => {
                tracing::error!(resource = %r.name, kind = e.kind, error = %e.message, "resource failed")
            }
            None => {
                tracing::info!(resource = %r.name, pages = r.pages, records = r.records, caught_up = r.caught_up, "resource done")
            }
        }
    }
    match serde_json::to_string_pretty(&summary) {
        Ok(json) => println!("{json}"),
        Err(e) => tracing::error!(error = %e, "cannot print the summary"),
    }
    exit
}

fn load_runtime(config: &PassConfig) -> anyhow::Result<Runtime> {
    match &config.component {
        Some(path) => {
            let bytes =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            Runtime::new(&bytes)
        }
        None => Runtime::new(EMBEDDED_COMPONENT),
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
