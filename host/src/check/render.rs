//! The report as text for people: one line per finding, its fix under it, a count at the end.

use std::fmt::Write as _;

use super::{Report, Status};

pub fn text(report: &Report) -> String {
    let mut out = String::new();
    for feed in &report.feeds {
        let name = feed
            .feed
            .as_deref()
            .map(|f| format!(" feed {f}:"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "zendesk-crm check:{name} {} -> {}",
            feed.zendesk.as_deref().unwrap_or("(no account)"),
            feed.store.as_deref().unwrap_or("(no store)")
        );
        for f in &feed.findings {
            let status = match f.status {
                Status::Ok => "ok",
                Status::Warning => "WARNING",
                Status::Problem => "PROBLEM",
                Status::NotChecked => "-",
            };
            let what = match &f.resource {
                Some(r) => format!("{} {r}", f.check),
                None => f.check.to_owned(),
            };
            let _ = writeln!(out, "  {status:<8} {what:<30} {}", f.message);
            if let Some(fix) = &f.fix {
                let _ = writeln!(out, "  {:<8} {:<30} fix: {fix}", "", "");
            }
        }
    }
    let plural = |n: usize, one: &str| {
        if n == 1 {
            format!("1 {one}")
        } else {
            format!("{n} {one}s")
        }
    };
    let _ = writeln!(
        out,
        "{}, {}{}",
        plural(report.problems, "problem"),
        plural(report.warnings, "warning"),
        if report.ok {
            ": a pass can run"
        } else {
            ": fix the problems above, then run check again"
        }
    );
    out
}
