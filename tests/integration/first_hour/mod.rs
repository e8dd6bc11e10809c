//! The first hour of a new user, with the real binary: what it prints when something is
//! wrong (each message names the cause, the host or file, and the fix), what it offers
//! besides passes (completions, man pages, `--version`), and what a long pass and a crashed
//! one leave to read.

use std::process::Command;

/// Completions, man pages and `--version`, from the command line's own definition.
mod commands;
/// What a first run fixes and when: another account's or an older checkpoint, `START_TIME`.
mod first_run;
/// Colour only on a terminal, JSON log fields, a backfill's progress, a crashed pass's files.
mod logs;
/// What each configuration and connection problem says: the cause, the host, the fix.
mod messages;

fn zendesk_crm(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_zendesk-crm"))
        .env_clear()
        .args(args)
        .output()
        .expect("running zendesk-crm")
}
