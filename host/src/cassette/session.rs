//! A pass's record/replay session: whether it writes a cassette, answers from one, or
//! neither, and what happens to the cassette when the pass ends.

use crate::bindings::Settings;
use crate::cassette::{Body, Cassette, FORMAT, HostRecord, SettingsRecord, VERSION};
use crate::config::PassConfig;
use crate::egress::Mode;
use crate::exit::Exit;
use crate::imports::PassState;
use crate::summary::{CassetteSummary, Summary};

/// Whether a pass writes a cassette, answers from one, or neither.
pub enum Tape {
    Off,
    Record(std::path::PathBuf),
    Replay {
        path: std::path::PathBuf,
        cassette: Box<Cassette>,
        settings: Box<Settings>,
    },
}

/// Writes the cassette of a recorded pass, or checks a replay against its cassette; fills
/// the summary's `cassette`. Returns an exit code that overrides the pass's own.
pub(crate) fn finish(
    tape: &Tape,
    mode: &Mode,
    state: &PassState,
    settings: &Settings,
    config: &PassConfig,
    summary: &mut Summary,
) -> Option<Exit> {
    let waits_ms = state
        .clock
        .waits()
        .iter()
        .map(|w| u64::try_from(w.as_millis()).unwrap_or(u64::MAX))
        .collect();
    let clock_ms = u64::try_from(state.clock.elapsed().as_millis()).unwrap_or(u64::MAX);
    match (tape, mode) {
        (Tape::Record(path), Mode::Record(recorder)) => {
            let cassette = Cassette {
                format: FORMAT.to_owned(),
                version: VERSION,
                recorded_by: concat!("zendesk-crm ", env!("CARGO_PKG_VERSION")).to_owned(),
                pass_start: settings.pass_start,
                jitter_seed: settings.retry.jitter_seed,
                settings: SettingsRecord::from(settings),
                host: HostRecord {
                    state_key: config.store.state_key.clone(),
                    deadline_ms: u64::try_from(config.runtime.deadline.as_millis())
                        .unwrap_or(u64::MAX),
                    memory_limit_bytes: config.runtime.memory_limit_bytes as u64,
                },
                initial_checkpoint: state.loaded_checkpoint.as_deref().map(Body::from_bytes),
                exchanges: recorder.exchanges(),
                stops: state.stops.recorded(),
            };
            summary.cassette = Some(CassetteSummary {
                path: path.display().to_string(),
                mode: "record",
                exchanges: cassette.exchanges.len(),
                used: None,
                unmatched: None,
                waits_ms,
                clock_ms,
            });
            if let Err(e) = cassette.save(path) {
                tracing::error!(error = %e, "cannot write the cassette");
                summary.ok = false;
                return Some(Exit::Storage);
            }
            tracing::info!(cassette = %path.display(), exchanges = cassette.exchanges.len(), "cassette written");
            None
        }
        (Tape::Replay { path, .. }, Mode::Replay(player)) => {
            let (used, exchanges, unmatched) = player.report();
            let diverged = !unmatched.is_empty() || used < exchanges;
            if used < exchanges {
                tracing::error!(
                    used,
                    exchanges,
                    "replay: the component made fewer requests than the cassette holds"
                );
            }
            summary.cassette = Some(CassetteSummary {
                path: path.display().to_string(),
                mode: "replay",
                exchanges,
                used: Some(used),
                unmatched: Some(unmatched),
                waits_ms,
                clock_ms,
            });
            if diverged {
                summary.ok = false;
                return Some(Exit::ReplayDiverged);
            }
            None
        }
        _ => None,
    }
}
