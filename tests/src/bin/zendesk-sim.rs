//! A stand-alone Zendesk simulator for trying the collector without a Zendesk account.
//!
//! `zendesk-sim [--port 0] [--tickets 2500] [--audit-events 500] [--history-hours 48]
//! [--ticket-every SECS] [--rate-limit N]` (`--help` for more) prints `ZENDESK_BASE_URL=…`,
//! `ZENDESK_EMAIL=…` and `ZENDESK_API_TOKEN=…`, then serves until killed. `--ticket-every`
//! also adds one audit event at the same cadence.

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use zendesk_crm_tests::{SimConfig, Simulator};

const USAGE: &str = "usage: zendesk-sim [--port N] [--tickets N] [--audit-events N] \
                     [--history-hours N] [--ticket-every SECS] [--rate-limit N]";

const HELP: &str = "\
A Zendesk Support simulator on 127.0.0.1, for trying zendesk-crm without a Zendesk account.
It prints ZENDESK_BASE_URL, ZENDESK_EMAIL and ZENDESK_API_TOKEN lines for the environment,
then serves until killed.

Options:
  --port N            port to listen on (default 0: any free port)
  --tickets N         tickets in the history (default 2500)
  --audit-events N    audit-log events in the history (default 500)
  --history-hours N   hours the history spans, ending two minutes ago (default 48)
  --ticket-every SECS add a ticket and an audit event every SECS seconds (default 0: never)
  --rate-limit N      the account's requests a minute its rate-limit headers announce
                      (default 700, Zendesk Enterprise); nothing is refused either way
  -h, --help          print this help

Example:
  zendesk-sim --port 0 > sim.env &
  set -a; . ./sim.env; set +a
  START_TIME=0 zendesk-crm run --out ./demo-out";

/// Audit-log ids are 13 digits in real accounts (zendesk-api.md §0); ours count up from here.
const FIRST_AUDIT_ID: u64 = 6_139_157_000_000;

struct Args {
    port: u16,
    tickets: u64,
    audit_events: u64,
    history_hours: u64,
    ticket_every: u64,
    rate_limit: u32,
}

/// What the command line asks for.
enum Parsed {
    Serve(Args),
    Help,
}

fn parse_args(argv: impl IntoIterator<Item = String>) -> Result<Parsed, String> {
    let mut args = Args {
        port: 0,
        tickets: 2500,
        audit_events: 500,
        history_hours: 48,
        ticket_every: 0,
        rate_limit: SimConfig::default().header_rate_limit,
    };
    let mut it = argv.into_iter();
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            return Ok(Parsed::Help);
        }
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let number = |v: &str| {
            v.parse::<u64>()
                .map_err(|_| format!("{flag}: not a number: {v}"))
        };
        match flag.as_str() {
            "--port" => {
                args.port = value
                    .parse()
                    .map_err(|_| format!("--port: bad port: {value}"))?;
            }
            "--tickets" => args.tickets = number(&value)?,
            "--audit-events" => args.audit_events = number(&value)?,
            "--history-hours" => args.history_hours = number(&value)?.max(1),
            "--ticket-every" => args.ticket_every = number(&value)?,
            "--rate-limit" => {
                args.rate_limit = value
                    .parse()
                    .map_err(|_| format!("--rate-limit: not a number: {value}"))?;
            }
            _ => return Err(format!("unknown option {flag}\n{USAGE}")),
        }
    }
    Ok(Parsed::Serve(args))
}

/// Spreads `count` tickets over the history, ending two minutes ago (past the one-minute
/// lag), with bursts of several tickets in one second and some deletions.
fn seed(sim: &Simulator, count: u64, history_hours: u64) {
    let end = sim.now() - 120;
    let span = (history_hours * 3600) as i64;
    let mut id = 1;
    while id <= count {
        let ts = end - span + (span * id as i64) / count.max(1) as i64;
        // Every 25th ticket starts a burst of up to 6 in the same second.
        let burst = if id % 25 == 0 { 6 } else { 1 };
        let n = burst.min(count - id + 1);
        sim.add_tickets(id, n, ts);
        id += n;
    }
    // About 3% were deleted later (still inside the history).
    for id in (17..=count).step_by(33) {
        sim.delete_ticket(id, end - (id as i64 % 3600));
    }
}

/// Spreads `count` audit events over the history, ending two minutes ago, ids rising with
/// time; every 20th event starts a burst of up to 8 in one second (a bulk change or export).
fn seed_audit(sim: &Simulator, count: u64, history_hours: u64) {
    let end = sim.now() - 120;
    let span = (history_hours * 3600) as i64;
    let mut i = 0;
    while i < count {
        let ts = end - span + (span * i as i64) / count.max(1) as i64;
        let burst = if i % 20 == 19 { 8 } else { 1 };
        let n = burst.min(count - i);
        sim.add_audit_events(FIRST_AUDIT_ID + i, n, ts);
        i += n;
    }
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Parsed::Serve(args)) => args,
        Ok(Parsed::Help) => {
            println!("{USAGE}\n\n{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    let config = SimConfig {
        header_rate_limit: args.rate_limit,
        ..SimConfig::default()
    };
    let (email, token) = (config.email.clone(), config.api_token.clone());
    let sim = match args.port {
        0 => Simulator::start(config),
        port => match Simulator::start_on(config, port) {
            Ok(sim) => sim,
            Err(e) => {
                eprintln!("cannot listen on 127.0.0.1:{port}: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    seed(&sim, args.tickets, args.history_hours);
    seed_audit(&sim, args.audit_events, args.history_hours);
    let mut out = std::io::stdout().lock();
    // If stdout is gone there is nobody to tell; keep serving anyway.
    let _ = writeln!(out, "ZENDESK_BASE_URL={}", sim.base_url());
    let _ = writeln!(out, "ZENDESK_EMAIL={email}");
    let _ = writeln!(out, "ZENDESK_API_TOKEN={token}");
    let _ = out.flush();
    drop(out);

    let mut next_id = args.tickets + 1;
    let mut next_audit_id = FIRST_AUDIT_ID + args.audit_events;
    loop {
        if args.ticket_every == 0 {
            std::thread::sleep(Duration::from_secs(3600));
            continue;
        }
        std::thread::sleep(Duration::from_secs(args.ticket_every));
        sim.upsert_ticket(next_id, sim.now());
        next_id += 1;
        sim.add_audit_event(next_audit_id, sim.now());
        next_audit_id += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::{Parsed, parse_args};

    fn parse(args: &[&str]) -> Result<Parsed, String> {
        parse_args(args.iter().map(|a| (*a).to_owned()))
    }

    #[test]
    fn help_is_an_answer_not_an_error() {
        assert!(matches!(parse(&["--help"]), Ok(Parsed::Help)));
        assert!(matches!(parse(&["--port", "0", "-h"]), Ok(Parsed::Help)));
        let Ok(Parsed::Serve(args)) = parse(&["--tickets", "7"]) else {
            panic!("not a serve");
        };
        assert_eq!((args.port, args.tickets, args.audit_events), (0, 7, 500));
        assert_eq!(args.rate_limit, 700, "Zendesk Enterprise's, unless asked");
        let Ok(Parsed::Serve(args)) = parse(&["--rate-limit", "1000000"]) else {
            panic!("not a serve");
        };
        assert_eq!(args.rate_limit, 1_000_000);
        assert!(parse(&["--rate-limit", "lots"]).is_err());
        let unknown = parse(&["--nope", "1"]).err().expect("an error");
        assert!(unknown.contains("usage: zendesk-sim"), "{unknown}");
    }
}
