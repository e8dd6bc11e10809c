//! The subcommands that run passes, one module each: they build what a pass needs from their
//! arguments, run it through [`crate::pass`] (or [`crate::schedule`] for a feeds file), print
//! the summaries and return the process's exit code. `oauth login` is in `oauth_login.rs`,
//! `redact-cassette` in `cassette/redact.rs`, `completions` and `man` in `help.rs`.

pub mod check;
pub mod record;
pub mod replay;
pub mod run;
pub mod serve;

use crate::cli::RunArgs;
use crate::config::PassConfig;
use crate::error::HostError;
use crate::runtime::Runtime;

/// The validated configuration and the loaded component, or why not.
pub(crate) fn prepare(args: RunArgs) -> Result<(PassConfig, Runtime), HostError> {
    let config = PassConfig::from_args(args, |k| std::env::var(k).ok())?;
    let runtime = crate::runtime::load(&config).map_err(HostError::Component)?;
    Ok((config, runtime))
}
