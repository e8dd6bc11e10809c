//! A pass's record/replay session: whether it writes a cassette, answers from one, or
//! neither, and what happens to the cassette when the pass ends.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::bindings::Settings;
use crate::cassette::record::Recorder;
use crate::cassette::replay::Player;
use crate::cassette::{Body, Cassette, FORMAT, HostRecord, SettingsRecord, StopRecord, VERSION};
use crate::config::PassConfig;
use crate::exit::Exit;
use crate::imports::PassState;
use crate::summary::{CassetteSummary, Summary};

/// A pass's record/replay session, the one place that knows whether the pass records,
/// replays or neither:
/// - what the egress hook does with a request the policy let through (send it; send it and
///   keep the exchange; answer from the cassette and send nothing),
/// - how `stop-requested` is answered (live; live and noted; as recorded),
/// - and what becomes of the cassette when the pass ends ([`finish`]).
///
/// Clones share one session: the egress hook and the store data each hold one.
#[derive(Clone, Default)]
pub enum Session {
    #[default]
    Live,
    Record {
        path: Arc<PathBuf>,
        recorder: Recorder,
        stops: Stops,
    },
    Replay {
        path: Arc<PathBuf>,
        cassette: Arc<Cassette>,
        /// The settings the guest is given, from the cassette.
        settings: Arc<Settings>,
        player: Player,
        stops: Stops,
    },
}

/// `stop-requested` calls so far, and the answers that were a stop (recorded, or to replay).
#[derive(Clone, Default)]
pub struct Stops(Arc<Mutex<(u64, Vec<StopRecord>)>>);

impl Session {
    /// A pass that writes its cassette to `path` at its end.
    pub fn record(path: PathBuf) -> Session {
        Session::Record {
            path: Arc::new(path),
            recorder: Recorder::default(),
            stops: Stops::default(),
        }
    }

    /// A pass that answers from `cassette` (read from `path`) and sends nothing.
    pub fn replay(path: PathBuf, cassette: Cassette, settings: Settings) -> Session {
        let stops = Stops(Arc::new(Mutex::new((0, cassette.stops.clone()))));
        Session::Replay {
            path: Arc::new(path),
            player: Player::new(&cassette),
            cassette: Arc::new(cassette),
            settings: Arc::new(settings),
            stops,
        }
    }

    /// The cassette a replay answers from.
    pub fn replaying(&self) -> Option<&Cassette> {
        match self {
            Session::Replay { cassette, .. } => Some(cassette),
            _ => None,
        }
    }

    /// The answer to `stop-requested`, from the live one (`shutdown`, `deadline` or none). A
    /// recording notes each stop with its call; a replay answers from the cassette, and stops
    /// early only if the replay itself is signalled, so a pass stopped by a signal or its
    /// deadline replays to the same stop.
    pub fn answer_stop(&self, live: Option<&'static str>) -> Option<String> {
        let (Session::Record { stops, .. } | Session::Replay { stops, .. }) = self else {
            return live.map(str::to_owned);
        };
        let mut guard = stops.0.lock().unwrap_or_else(|e| e.into_inner());
        let (calls, recorded) = &mut *guard;
        let call = *calls;
        *calls += 1;
        if let Session::Replay { .. } = self {
            let replayed = recorded
                .iter()
                .find(|s| s.call == call)
                .map(|s| s.reason.clone());
            return replayed.or_else(|| live.filter(|r| *r == "shutdown").map(str::to_owned));
        }
        if let Some(reason) = live {
            recorded.push(StopRecord {
                call,
                reason: reason.to_owned(),
            });
        }
        live.map(str::to_owned)
    }

    /// The stops a recording noted.
    fn recorded_stops(&self) -> Vec<StopRecord> {
        match self {
            Session::Record { stops, .. } => {
                stops.0.lock().unwrap_or_else(|e| e.into_inner()).1.clone()
            }
            _ => Vec::new(),
        }
    }
}

/// Writes the cassette of a recorded pass, or checks a replay against its cassette; fills
/// the summary's `cassette`. Returns an exit code that overrides the pass's own.
pub(crate) fn finish(
    session: &Session,
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
    match session {
        Session::Record { path, recorder, .. } => {
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
                stops: session.recorded_stops(),
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
        Session::Replay { path, player, .. } => {
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
        Session::Live => None,
    }
}
