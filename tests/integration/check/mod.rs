//! `zendesk-crm check`: every problem a pass would meet, found in one run with its fix,
//! without storing a page or moving a checkpoint.
//!
//! This file runs `check` and finds a finding in its JSON report.

use std::process::Output;

use serde_json::Value;

use crate::harness::{Collector, T0};

/// The account's side: the clock, add-ons, OAuth scopes and clients, the refresh token.
mod account;
/// Every problem of a feeds file or a configuration in one run, and an unreachable Zendesk.
mod one_run;
/// The store's side: where each resource stands after a pass, a role that may not write.
mod store;

/// What a `check` printed and how it exited.
struct Checked {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Checked {
    fn report(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("no JSON report ({e}):\n{}\n{}", self.stdout, self.stderr))
    }

    fn output(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

fn checked(output: Output) -> Checked {
    Checked {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn check(c: &Collector, args: &[&str]) -> Checked {
    checked(
        c.command("check", T0)
            .args(args)
            .output()
            .expect("zendesk-crm check"),
    )
}

/// The finding `check` (and `resource`, for resource findings) of `feed`.
fn finding<'a>(feed: &'a Value, check: &str, resource: Option<&str>) -> &'a Value {
    feed["findings"]
        .as_array()
        .and_then(|all| {
            all.iter()
                .find(|f| f["check"] == check && resource.is_none_or(|r| f["resource"] == r))
        })
        .unwrap_or_else(|| panic!("no {check} {resource:?} finding in {feed:#}"))
}
