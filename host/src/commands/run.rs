//! `run`: one pass (or one pass of every feed), its summary pretty-printed on stdout.

use crate::cassette::session::Session;
use crate::cli::RunArgs;
use crate::config::PassConfig;
use crate::control::StopFlag;
use crate::exit::Exit;
use crate::pass::one_pass;
use crate::runtime::Runtime;
use crate::signals::watch_signals;

/// Runs one pass, prints its summary on stdout and returns the exit code.
pub async fn run(args: RunArgs) -> Exit {
    if args.feeds.file.is_some() {
        return crate::schedule::run(args).await;
    }
    let (config, runtime) = match super::prepare(args) {
        Ok(ready) => ready,
        Err(e) => return e.report(),
    };
    run_once(runtime, config, Session::Live).await
}

pub(crate) async fn run_once(runtime: Runtime, config: PassConfig, session: Session) -> Exit {
    let stop = StopFlag::default();
    watch_signals(stop.clone());
    let (summary, exit) =
        one_pass(&runtime, &config, &stop, config.store.reset_state, &session).await;
    if let Some(summary) = summary {
        match serde_json::to_string_pretty(&summary) {
            Ok(json) => println!("{json}"),
            Err(e) => tracing::error!(error = %e, "cannot print the summary"),
        }
    }
    exit
}
