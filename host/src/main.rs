//! `zendesk-crm`: parse, set up logging, run, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser as _;
use zendesk_crm::cli::{Cli, Command};
use zendesk_crm::exit::Exit;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                Exit::Config
            } else {
                Exit::Success
            }
            .into();
        }
    };
    zendesk_crm::logging::init(cli.log_format);
    if let Err(e) = zendesk_crm::failpoint::init() {
        tracing::error!(error = %e, "invalid test-only failpoint setting");
        return Exit::Config.into();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return Exit::Internal.into();
        }
    };
    let exit = match cli.command {
        Command::Run(args) => runtime.block_on(zendesk_crm::pass::run(args)),
        Command::Serve(args) => runtime.block_on(zendesk_crm::pass::serve(args)),
    };
    exit.into()
}
