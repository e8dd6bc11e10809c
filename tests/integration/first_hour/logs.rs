//! What a pass leaves to read: logs with colour only on a terminal, JSON logs whose guest
//! fields are fields and a backfill's progress, and a killed pass's temporary files cleared.

use std::process::Command;
use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::harness::{Collector, Pass, T0, simulator, sorted_unique, temp_files, visible};

#[test]
fn logs_written_to_a_pipe_carry_no_colour_codes() {
    let sim = simulator();
    sim.add_tickets(1, 3, T0 - 1000);
    let c = Collector::new(&sim);
    let pass = c.run(&sim);
    assert_eq!(pass.code, 0, "{}", pass.output());
    assert!(pass.stderr.contains("pass starting"), "{}", pass.stderr);
    assert!(!pass.stderr.contains('\u{1b}'), "{:?}", pass.stderr);
}

/// `command` run on a pseudo-terminal by util-linux `script`, stdout and stderr together;
/// none when `script` is not installed.
fn on_a_terminal(command: &mut Command) -> Option<String> {
    let program = command.get_program().to_string_lossy().into_owned();
    let args: Vec<String> = command
        .get_args()
        .map(|a| format!("'{}'", a.to_string_lossy()))
        .collect();
    let line = format!("'{program}' {}", args.join(" "));
    let mut script = Command::new("script");
    script.args(["-qec", &line, "/dev/null"]).env_clear();
    for (k, v) in command.get_envs() {
        if let Some(v) = v {
            script.env(k, v);
        }
    }
    match script.output() {
        Ok(out) => Some(String::from_utf8_lossy(&out.stdout).into_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => panic!("running script: {e}"),
    }
}

#[test]
fn a_terminal_gets_colour_unless_no_color_is_set() {
    let sim = simulator();
    sim.add_tickets(1, 3, T0 - 1000);
    let c = Collector::new(&sim);
    let coloured = on_a_terminal(&mut c.command("run", sim.now()))
        .expect("util-linux `script` (a pseudo-terminal for this test) is not installed");
    assert!(coloured.contains("pass starting"), "{coloured}");
    assert!(
        coloured.contains('\u{1b}'),
        "no colour on a terminal: {coloured}"
    );
    let mut plain = c.command("run", sim.now());
    plain.env("NO_COLOR", "1");
    let plain = on_a_terminal(&mut plain).expect("script ran before");
    assert!(plain.contains("pass starting"), "{plain}");
    assert!(!plain.contains('\u{1b}'), "NO_COLOR ignored: {plain:?}");
}

/// The JSON log lines of a pass (stderr with `LOG_FORMAT=json`).
fn json_logs(pass: &Pass) -> Vec<Value> {
    pass.stderr
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {l}"))
        })
        .collect()
}

#[test]
fn json_logs_carry_guest_fields_as_fields_and_a_backfill_shows_its_progress() {
    let sim = simulator();
    // Five days of history, ten tickets a day: a backfill of five pages of ten.
    for day in 0..5u64 {
        sim.add_tickets(1 + day * 10, 10, T0 - 86_400 * (5 - day as i64));
    }
    let mut c = Collector::new(&sim);
    c.env("LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .env("PAGE_SIZE", 10);
    let pass = c.run(&sim);
    assert_eq!(pass.code, 0, "{}", pass.output());
    assert_eq!(sorted_unique(c.stored_tickets()), visible(&sim));

    let logs = json_logs(&pass);
    // Queried by `resource` like any log pipeline would.
    let pages: Vec<&Value> = logs
        .iter()
        .filter(|l| l["fields"]["resource"] == "incremental_tickets")
        .filter(|l| l["fields"]["message"] == "page stored")
        .collect();
    assert_eq!(pages.len(), 5, "{}", pass.stderr);
    assert!(
        logs.iter().all(|l| l["fields"].get("fields").is_none()),
        "a guest field was left in a string: {}",
        pass.stderr
    );
    let field = |l: &Value, name: &str| l["fields"][name].clone();
    let totals: Vec<u64> = pages
        .iter()
        .map(|l| field(l, "records_total").as_u64().expect("a number"))
        .collect();
    assert_eq!(totals, [10, 20, 30, 40, 50]);
    let behind: Vec<i64> = pages
        .iter()
        .map(|l| field(l, "behind_seconds").as_i64().expect("a number"))
        .collect();
    assert!(
        behind.windows(2).all(|w| w[1] < w[0]),
        "the position does not move towards now: {behind:?}"
    );
    assert_eq!(behind[0], sim.now() - (T0 - 86_400 * 5));
    let positions: Vec<String> = pages
        .iter()
        .map(|l| field(l, "position").as_str().expect("a time").to_owned())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    assert!(positions[0].ends_with('Z'), "{positions:?}");
    for l in &pages {
        assert_eq!(field(l, "records"), 10);
        assert!(field(l, "records_per_s").is_u64(), "{l}");
        assert!(
            field(l, "behind").as_str().is_some_and(|b| b.contains('d')),
            "{l}"
        );
    }
}

#[test]
fn a_pass_removes_the_temporary_files_a_killed_pass_left_and_says_so() {
    let sim = simulator();
    sim.add_tickets(1, 30, T0 - 1000);
    let mut c = Collector::new(&sim);
    c.env("PAGE_SIZE", 10)
        .env("ZENDESK_CRM_FAILPOINT", "object.after-temp-write:2");
    let killed = c.run(&sim);
    assert_ne!(killed.code, 0, "{}", killed.output());
    let left = temp_files(c.out.path());
    assert_eq!(left.len(), 1, "{left:?}");

    // Long enough ago that no live writer can own it.
    let long_ago = SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&left[0])
        .unwrap()
        .set_modified(long_ago)
        .unwrap();
    c.unset("ZENDESK_CRM_FAILPOINT");
    let pass = c.run(&sim);
    assert_eq!(pass.code, 0, "{}", pass.output());
    assert!(temp_files(c.out.path()).is_empty(), "{}", pass.stderr);
    let said = pass
        .stderr
        .lines()
        .find(|l| l.contains("removed temporary files an interrupted pass left"))
        .unwrap_or_else(|| panic!("no log line: {}", pass.stderr));
    assert!(
        said.contains(&*left[0].file_name().unwrap().to_string_lossy()),
        "{said}"
    );
    assert_eq!(sorted_unique(c.stored_tickets()), visible(&sim));
}
