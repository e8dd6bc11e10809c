//! `serve`: a pass at once and then every `--every`, never two at a time, one summary line
//! per pass, until SIGINT/SIGTERM (a feeds file: each feed on its own interval).

use tokio::time::Instant;

use crate::cassette::session::Session;
use crate::cli::ServeArgs;
use crate::clock::now_unix;
use crate::control::StopFlag;
use crate::exit::Exit;
use crate::metrics::Metrics;
use crate::pass::one_pass;
use crate::schedule::wait_for_next;
use crate::signals::watch_signals;

/// Runs a pass at once and then every `--every` until SIGINT/SIGTERM, never two at a time.
/// Prints one JSON summary line per pass. A failing pass is logged and the schedule goes on.
pub async fn serve(args: ServeArgs) -> Exit {
    if args.run.feeds.file.is_some() {
        return crate::schedule::serve(args).await;
    }
    let Some(every) = args.every else {
        return crate::error::HostError::NoInterval.report();
    };
    let (config, runtime) = match super::prepare(args.run) {
        Ok(ready) => ready,
        Err(e) => return e.report(),
    };
    let stop = StopFlag::default();
    watch_signals(stop.clone());
    let metrics = Metrics::default();
    if let Err(e) = crate::metrics::serve_configured(args.metrics_addr, &metrics).await {
        return e.report();
    }
    tracing::info!(every = %humantime::format_duration(every), "serving");
    let mut reset = config.store.reset_state;
    loop {
        let started = Instant::now();
        let (summary, exit) = one_pass(&runtime, &config, &stop, reset, &Session::Live).await;
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
