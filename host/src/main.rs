//! `zendesk-crm`: parse, set up logging, run, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser as _;
use zendesk_crm::cli::{Cli, Command};
use zendesk_crm::exit::Exit;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let e = zendesk_crm::help::with_env_tips(e);
            let _ = e.print();
            return if e.use_stderr() {
                Exit::Config
            } else {
                Exit::Success
            }
            .into();
        }
    };
    // Printing what the command line itself is needs no logging, runtime or component.
    match &cli.command {
        Command::Completions(args) => return zendesk_crm::help::completions(args).into(),
        Command::Man(args) => return zendesk_crm::help::man(args).into(),
        _ => {}
    }
    zendesk_crm::logging::init(cli.log_format);
    if let Err(e) = zendesk_crm::failpoint::init() {
        tracing::error!(error = %e, "invalid test-only failpoint setting");
        return Exit::Config.into();
    }
    // A replay runs on one thread with tokio's clock paused: time then advances only when
    // everything waits on a timer, so the guest's waits cost no real time (and blocking file
    // I/O holds the clock still while it runs).
    // One pass (`run` of one account) is one task that waits in turn on the network, the
    // store and the component: one thread runs it without handing work between threads.
    let runtime = match &cli.command {
        Command::Replay(_) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build(),
        Command::Run(args) if args.feeds.file.is_none() => {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
        }
        _ => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
    };
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return Exit::Internal.into();
        }
    };
    let exit = match cli.command {
        Command::Run(args) => runtime.block_on(zendesk_crm::commands::run::run(args)),
        Command::Check(args) => runtime.block_on(zendesk_crm::commands::check::check(args)),
        Command::Serve(args) => runtime.block_on(zendesk_crm::commands::serve::serve(args)),
        Command::Record(args) => runtime.block_on(zendesk_crm::commands::record::record(args)),
        Command::Replay(args) => runtime.block_on(zendesk_crm::commands::replay::replay(args)),
        Command::RedactCassette(args) => zendesk_crm::cassette::redact::run(args),
        Command::Oauth(args) => match args.command {
            zendesk_crm::cli::OauthCommand::Login(login) => {
                runtime.block_on(zendesk_crm::oauth_login::run(login))
            }
        },
        Command::Completions(_) | Command::Man(_) => Exit::Success,
    };
    exit.into()
}
