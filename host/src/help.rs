//! What the command line offers people beyond parsing: shell completions and manual pages
//! generated from the same clap definition (so they never drift from the flags), and usage
//! errors that name the environment variable a missing flag can come from.

use std::io::Write as _;

use clap::CommandFactory as _;
use clap::builder::StyledStr;
use clap::error::{ContextKind, ContextValue, ErrorKind};

use crate::cli::{Cli, CompletionsArgs, ManArgs};
use crate::exit::Exit;

/// `zendesk-crm completions <shell>`: the completion script on stdout.
pub fn completions(args: &CompletionsArgs) -> Exit {
    let mut command = Cli::command();
    let mut out = std::io::stdout().lock();
    clap_complete::generate(args.shell, &mut command, "zendesk-crm", &mut out);
    flush(out)
}

/// `zendesk-crm man [subcommand]`: the manual page, roff on stdout.
pub fn man(args: &ManArgs) -> Exit {
    let command = Cli::command();
    let page = match &args.subcommand {
        None => command,
        Some(name) => match command.find_subcommand(name) {
            Some(sub) => {
                let full = format!("zendesk-crm-{}", sub.get_name());
                sub.clone().name(full.clone()).bin_name(full)
            }
            None => {
                let known: Vec<&str> = command.get_subcommands().map(|s| s.get_name()).collect();
                eprintln!(
                    "zendesk-crm man: no subcommand {name:?}; one of: {}",
                    known.join(", ")
                );
                return Exit::Config;
            }
        },
    };
    let mut out = std::io::stdout().lock();
    if let Err(e) = clap_mangen::Man::new(page).render(&mut out) {
        eprintln!("zendesk-crm man: cannot write the page: {e}");
        return Exit::Internal;
    }
    flush(out)
}

fn flush(mut out: std::io::StdoutLock<'_>) -> Exit {
    match out.flush() {
        Ok(()) => Exit::Success,
        Err(_) => Exit::Internal,
    }
}

/// A missing required flag that can also come from the environment says so: clap names
/// `--base-url` alone, and most deployments set `ZENDESK_BASE_URL` instead.
pub fn with_env_tips(mut error: clap::Error) -> clap::Error {
    if error.kind() != ErrorKind::MissingRequiredArgument {
        return error;
    }
    let Some(ContextValue::Strings(missing)) = error.get(ContextKind::InvalidArg) else {
        return error;
    };
    let command = Cli::command();
    let tips: Vec<StyledStr> = missing
        .iter()
        .filter_map(|usage| {
            let long = usage.split_whitespace().next()?.strip_prefix("--")?;
            let env = env_of(&command, long)?;
            Some(StyledStr::from(format!(
                "set the environment variable {env} instead of passing --{long}"
            )))
        })
        .collect();
    if !tips.is_empty() {
        error.insert(ContextKind::Suggested, ContextValue::StyledStrs(tips));
    }
    error
}

/// The environment variable of the flag `--long`, in the command or any subcommand.
fn env_of(command: &clap::Command, long: &str) -> Option<String> {
    command
        .get_arguments()
        .find(|a| a.get_long() == Some(long))
        .and_then(|a| a.get_env())
        .map(|e| e.to_string_lossy().into_owned())
        .or_else(|| command.get_subcommands().find_map(|s| env_of(s, long)))
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::with_env_tips;
    use crate::cli::Cli;

    #[test]
    fn a_missing_base_url_names_its_variable() {
        let error = Cli::try_parse_from(["zendesk-crm", "run"]).expect_err("no base URL");
        let text = with_env_tips(error).render().to_string();
        assert!(text.contains("--base-url"), "{text}");
        assert!(text.contains("ZENDESK_BASE_URL"), "{text}");
    }
}
