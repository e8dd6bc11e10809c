//! `check`: the configuration of `run` (one account, or every feed of a feeds file) tried
//! without collecting (see [`crate::check`]). Prints the report as text, or JSON with
//! `--json`; exits 0 when a pass can run, 13 when a check found a problem, 2 when the
//! configuration itself cannot be read.

use crate::check::{self, FeedReport, Report};
use crate::cli::CheckArgs;
use crate::config::PassConfig;
use crate::exit::Exit;

pub async fn check(args: CheckArgs) -> Exit {
    let json = args.json;
    let env = |k: &str| std::env::var(k).ok();
    let configs: Result<Vec<PassConfig>, String> = match &args.run.feeds.file {
        Some(path) => crate::feeds::load(path, &args.run, env)
            .map(|feeds| feeds.into_iter().map(|f| f.config).collect())
            .map_err(|e| e.to_string()),
        None => PassConfig::from_args(args.run, env)
            .map(|c| vec![c])
            .map_err(|e| e.to_string()),
    };
    let (reports, unreadable) = match configs {
        Ok(configs) => match crate::runtime::load(&configs[0]) {
            Ok(runtime) => {
                let mut reports: Vec<FeedReport> = Vec::new();
                for config in &configs {
                    reports.push(check::feed(&runtime, config).await);
                }
                (reports, false)
            }
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "cannot load the component");
                return Exit::Internal;
            }
        },
        Err(message) => (vec![check::unreadable_configuration(message)], true),
    };
    let report = Report::new(reports);
    if json {
        match serde_json::to_string_pretty(&report) {
            Ok(text) => println!("{text}"),
            Err(e) => tracing::error!(error = %e, "cannot print the report"),
        }
    } else {
        print!("{}", check::text(&report));
    }
    if unreadable {
        Exit::Config
    } else if report.ok {
        Exit::Success
    } else {
        Exit::CheckFailed
    }
}
