//! Mutable simulator state behind one mutex: clock, tickets, audit logs, faults, request log.

use std::collections::VecDeque;
use std::time::{SystemTime, UNIX_EPOCH};

use super::SimConfig;
use super::access::AccessStore;
use super::access_logs::AccessLinks;
use super::audit::AuditStore;
use super::faults::Fault;
use super::oauth::OAuthState;
use super::rate_limits::Limiter;
use super::tickets::TicketStore;
use super::wire::RecordedRequest;

pub(crate) struct Shared {
    pub config: SimConfig,
    /// `http://127.0.0.1:PORT`, used in record URLs and (unless overridden) pagination URLs.
    pub origin: String,
    pub state: std::sync::Mutex<State>,
}

pub(crate) struct State {
    pub clock: Clock,
    pub tickets: TicketStore,
    pub audit: AuditStore,
    /// False for a plan without audit logs (every audit-log request is 403).
    pub audit_logs_enabled: bool,
    pub access: AccessStore,
    /// False for an account without the ADPP add-on or the API switched off (403).
    pub access_logs_enabled: bool,
    pub access_rate: AccessRate,
    pub access_links: AccessLinks,
    pub faults: VecDeque<Fault>,
    pub requests: Vec<RecordedRequest>,
    pub after_url_origin: Option<String>,
    pub rate: RateWindow,
    /// Enforced limits, when `SimConfig::rate_limits` is set.
    pub limiter: Option<Limiter>,
    /// Tokens, grants and codes (oauth.rs).
    pub oauth: OAuthState,
    /// Faults for `POST /oauth/tokens`, consumed in order.
    pub token_faults: VecDeque<Fault>,
    request_seq: u64,
}

impl State {
    pub fn new(now: Option<i64>) -> State {
        State {
            clock: Clock {
                fixed: now,
                offset: 0,
            },
            tickets: TicketStore::default(),
            audit: AuditStore::default(),
            audit_logs_enabled: true,
            access: AccessStore::default(),
            access_logs_enabled: true,
            access_rate: AccessRate::default(),
            access_links: AccessLinks::default(),
            faults: VecDeque::new(),
            requests: Vec::new(),
            after_url_origin: None,
            rate: RateWindow::default(),
            limiter: None,
            oauth: OAuthState::default(),
            token_faults: VecDeque::new(),
            request_seq: 0,
        }
    }

    /// A fresh id in Zendesk's shape (16 hex digits and a data-centre suffix).
    pub fn next_request_id(&mut self) -> String {
        self.request_seq += 1;
        let mixed = self.request_seq.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        format!("{mixed:016x}-SIM")
    }
}

/// Simulated time: fixed (tests step it) or the system clock plus an offset (demo).
pub(crate) struct Clock {
    fixed: Option<i64>,
    offset: i64,
}

impl Clock {
    pub fn now(&self) -> i64 {
        match self.fixed {
            Some(t) => t,
            None => system_now() + self.offset,
        }
    }

    pub fn set(&mut self, unix: i64) {
        match &mut self.fixed {
            Some(t) => *t = unix,
            None => self.offset = unix - system_now(),
        }
    }

    pub fn advance(&mut self, secs: i64) {
        match &mut self.fixed {
            Some(t) => *t += secs,
            None => self.offset += secs,
        }
    }
}

fn system_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The access log's own request window, in real time (`SimConfig::access_rate_window`).
#[derive(Default)]
pub(crate) struct AccessRate {
    pub started: Option<std::time::Instant>,
    pub used: u32,
}

/// The account limit (`SimConfig::header_rate_limit`) counted per simulated minute, for the
/// headers only.
#[derive(Default)]
pub(crate) struct RateWindow {
    minute: i64,
    used: u32,
}

/// Zendesk Enterprise's account limit, requests a minute: what the headers announce by default.
pub(crate) const RATE_LIMIT: u32 = 700;

impl RateWindow {
    /// Counts one request at `now` against `limit`; returns (remaining, seconds until the
    /// window resets).
    pub fn hit(&mut self, now: i64, limit: u32) -> (u32, i64) {
        let minute = now.div_euclid(60);
        if minute != self.minute {
            self.minute = minute;
            self.used = 0;
        }
        self.used = self.used.saturating_add(1);
        (limit.saturating_sub(self.used), 60 - now.rem_euclid(60))
    }
}
