//! A Zendesk Support API simulator for the incremental ticket export
//! (`/api/v2/incremental/tickets/cursor`), the audit logs (`/api/v2/audit_logs`) and the
//! access logs (`/api/v2/access_logs`), run in-process by tests or by the demo binary.
//!
//! Where the behaviour comes from: comments cite `zendesk-api.md §N`, `access-logs.md §N`
//! and `oauth.md`, the team's reference notes on Zendesk's APIs. They are not in this
//! repository; each section condenses Zendesk's own pages, which are the sources to check:
//! - `zendesk-api.md`: §0 conventions and §5 authentication and errors
//!   (<https://developer.zendesk.com/api-reference/introduction/requests/>,
//!   <https://developer.zendesk.com/api-reference/introduction/security-and-auth/>); §1 audit
//!   logs (<https://developer.zendesk.com/api-reference/ticketing/account-configuration/audit_logs/>,
//!   pagination: <https://developer.zendesk.com/api-reference/introduction/pagination/>); §2 the
//!   cursor ticket export and §6 its records
//!   (<https://developer.zendesk.com/api-reference/ticketing/ticket-management/incremental_exports/>);
//!   §4 rate limits (<https://developer.zendesk.com/api-reference/introduction/rate-limits/>);
//!   §9 what no source states, so the simulator offers both behaviours.
//! - `access-logs.md`: the access-log API
//!   (<https://developer.zendesk.com/api-reference/ticketing/account-configuration/access_logs/>
//!   and <https://support.zendesk.com/hc/en-us/articles/6066010357530>).
//! - `oauth.md`: the OAuth migration
//!   (<https://developer.zendesk.com/documentation/api-basics/authentication/oauth-migration/>).

mod access;
mod access_json;
mod access_logs;
mod audit;
mod audit_json;
mod audit_logs;
mod audit_params;
mod auth;
mod cursor;
mod export;
mod faults;
mod iso8601;
mod oauth;
mod params;
mod rate_limits;
mod routes;
mod server;
mod state;
mod ticket_json;
mod tickets;
mod ulid;
mod wire;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

pub use access_logs::AccessLinks;
pub use faults::Fault;
pub use oauth::{OAuthClientConfig, TokenRequest};
pub use rate_limits::{EndpointLimit, INCREMENTAL_EXPORTS, RateLimits};
pub use wire::{RecordedRequest, percent_encode};

use state::{Shared, State};

#[derive(Debug, Clone)]
pub struct SimConfig {
    pub email: String,
    pub api_token: String,
    pub bearer_token: String,
    /// Initial simulated Unix time; `None` follows the system clock (demo binary).
    pub now: Option<i64>,
    /// Status for a `start_time` newer than now-60: 422 (historic) or 400 (seen by Airbyte).
    pub too_recent_status: u16,
    /// Serve at most this many tickets per page whatever `per_page` says ("short pages");
    /// `Some(0)` makes every page empty with `end_of_stream` false while tickets remain.
    pub page_cap: Option<usize>,
    /// Gzip bodies when the request's Accept-Encoding contains `gzip`.
    pub gzip: bool,
    /// Enforce these rate limits (429 with `Retry-After` past them, and account-level headers
    /// from their counts). `None`: nothing is enforced and the headers count a simulated
    /// minute against `header_rate_limit`.
    pub rate_limits: Option<RateLimits>,
    /// The account limit the headers announce when `rate_limits` is `None` (Zendesk
    /// Enterprise: 700 a minute). The benchmarks raise it, so a collector that reads the
    /// headers never waits where one that ignores them would not.
    pub header_rate_limit: u32,
    /// The access log's own limit: requests per `access_rate_window` (Zendesk: 50 a minute).
    pub access_rate_limit: u32,
    /// The length of that window, in real time; `None` (the default) turns the limit off, so
    /// tests that are not about it never wait.
    pub access_rate_window: Option<Duration>,
    /// How an access-log 429 states `ratelimit-reset`.
    pub access_reset_format: ResetFormat,
    /// The account's OAuth client (oauth.rs).
    pub oauth_client: OAuthClientConfig,
    /// Send Zendesk's `Date` header, in the simulated clock. Off by default: recorded
    /// cassettes would then differ with every recording.
    pub date_header: bool,
}

/// The shape of `ratelimit-reset` on an access-log 429. The docs say "a date-time"
/// (access-logs.md §5); the IETF draft's header is seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetFormat {
    /// `2023-11-14T22:13:50Z`, in the simulator's clock.
    DateTime,
    /// Seconds until the window resets.
    Seconds,
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig {
            email: "agent@example.com".to_owned(),
            api_token: "sim-api-token-0123456789".to_owned(),
            bearer_token: "sim-bearer-token-abcdef".to_owned(),
            now: None,
            too_recent_status: 422,
            page_cap: None,
            gzip: true,
            rate_limits: None,
            header_rate_limit: state::RATE_LIMIT,
            access_rate_limit: 50,
            access_rate_window: None,
            access_reset_format: ResetFormat::DateTime,
            oauth_client: OAuthClientConfig::default(),
            date_header: false,
        }
    }
}

/// A running simulator; dropping it stops the server and joins its thread.
pub struct Simulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Simulator {
    /// Binds 127.0.0.1 on a free port and serves from a thread with its own tokio runtime,
    /// so it works from plain `#[test]`s, sync `main`s and inside another runtime alike.
    pub fn start(config: SimConfig) -> Simulator {
        Simulator::start_on(config, 0).expect("start the simulator on 127.0.0.1:0")
    }

    /// Like `start`, on a chosen port (0 = any free one).
    pub fn start_on(config: SimConfig, port: u16) -> std::io::Result<Simulator> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let mut state = State::new(config.now);
        state.limiter = config.rate_limits.clone().map(rate_limits::Limiter::new);
        let shared = Arc::new(Shared {
            origin: format!("http://{addr}"),
            state: Mutex::new(state),
            config,
        });
        let (tx, rx) = tokio::sync::oneshot::channel();
        let serving = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name(format!("zendesk-sim-{}", addr.port()))
            .spawn(move || server::run(listener, serving, rx))?;
        Ok(Simulator {
            shared,
            addr,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn base_url(&self) -> String {
        self.shared.origin.clone()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn config(&self) -> &SimConfig {
        &self.shared.config
    }

    pub fn now(&self) -> i64 {
        self.lock().clock.now()
    }

    /// With a fixed clock sets it; with the system clock shifts it so `now()` reads `unix`.
    pub fn set_now(&self, unix: i64) {
        self.lock().clock.set(unix);
    }

    pub fn advance(&self, secs: i64) {
        self.lock().clock.advance(secs);
    }

    /// Creates or updates a ticket; an update moves it to its new place in the stream.
    pub fn upsert_ticket(&self, id: u64, generated_timestamp: i64) {
        self.lock().tickets.put(id, generated_timestamp, false);
    }

    /// Marks a ticket deleted at this time; it stays in the stream with `status: "deleted"`.
    pub fn delete_ticket(&self, id: u64, generated_timestamp: i64) {
        self.lock().tickets.put(id, generated_timestamp, true);
    }

    /// Upserts ids `first_id..first_id + count`, all in the same second.
    pub fn add_tickets(&self, first_id: u64, count: u64, generated_timestamp: i64) {
        let mut state = self.lock();
        for id in first_id..first_id + count {
            state.tickets.put(id, generated_timestamp, false);
        }
    }

    /// Ground truth: `(id, generated_timestamp)` of every version older than the one-minute
    /// lag, in stream order.
    pub fn tickets_visible(&self) -> Vec<(u64, i64)> {
        let state = self.lock();
        let horizon = state.clock.now() - export::LAG_SECS;
        state.tickets.visible(horizon)
    }

    /// Adds audit events `first_id..first_id + count`, all created in the same second.
    pub fn add_audit_events(&self, first_id: u64, count: u64, created_at: i64) {
        let mut state = self.lock();
        for id in first_id..first_id + count {
            state.audit.put(id, created_at, i64::MIN);
        }
    }

    /// Adds one audit event, visible at once. Audit logs never change; re-adding an id
    /// replaces the event (a test convenience, not something Zendesk does).
    pub fn add_audit_event(&self, id: u64, created_at: i64) {
        self.lock().audit.put(id, created_at, i64::MIN);
    }

    /// Adds an event created at `created_at` that no request sees until the simulated
    /// `now() >= visible_at` (a late arrival: it lands behind a cursor that already passed).
    pub fn add_late_audit_event(&self, id: u64, created_at: i64, visible_at: i64) {
        self.lock().audit.put(id, created_at, visible_at);
    }

    /// Ground truth: `(id, created_at)` of every audit event visible now, oldest first
    /// (by `created_at`, then id).
    pub fn audit_events_visible(&self) -> Vec<(u64, i64)> {
        let state = self.lock();
        state.audit.visible(state.clock.now())
    }

    /// `false` models a plan without audit logs: every audit-log request (after auth) is 403
    /// `{"error":{"title":"Forbidden","message":…}}`. On by default.
    pub fn set_audit_logs_enabled(&self, enabled: bool) {
        self.lock().audit_logs_enabled = enabled;
    }

    /// Adds one access-log event at `timestamp`, served at once; returns its ULID.
    pub fn add_access_event(&self, timestamp: i64) -> String {
        self.lock().access.put(timestamp, i64::MIN)
    }

    /// Adds `count` access-log events all at `timestamp`; returns their ids, oldest first.
    pub fn add_access_events(&self, count: u64, timestamp: i64) -> Vec<String> {
        let mut state = self.lock();
        (0..count)
            .map(|_| state.access.put(timestamp, i64::MIN))
            .collect()
    }

    /// Adds an access-log event at `timestamp` that no request sees until the simulated
    /// `now() >= visible_at`: its id sorts behind a cursor that already passed it.
    pub fn add_late_access_event(&self, timestamp: i64, visible_at: i64) -> String {
        self.lock().access.put(timestamp, visible_at)
    }

    /// Ground truth: `(id, timestamp)` of every access-log event served now (visible, and
    /// inside Zendesk's 90 days), oldest first.
    pub fn access_events_visible(&self) -> Vec<(String, i64)> {
        let state = self.lock();
        state.access.visible(state.clock.now())
    }

    /// `false` models an account without the ADPP add-on, or with the Access Log API
    /// switched off: every access-log request (after auth) is 403 with the `errors` body.
    pub fn set_access_logs_enabled(&self, enabled: bool) {
        self.lock().access_logs_enabled = enabled;
    }

    /// What the access log's `links` hold (the documented shape by default).
    pub fn set_access_links(&self, links: AccessLinks) {
        self.lock().access_links = links;
    }

    pub fn push_fault(&self, fault: Fault) {
        self.lock().faults.push_back(fault);
    }

    /// Faults not yet consumed.
    pub fn pending_faults(&self) -> usize {
        self.lock().faults.len()
    }

    /// `Some(origin)` makes the pagination URLs (`after_url`, audit-log `links` and
    /// `next_page`/`previous_page`) point there (a hostile next URL); `None` restores them.
    pub fn set_after_url_origin(&self, origin: Option<String>) {
        self.lock().after_url_origin = origin;
    }

    /// 429s answered because a client exceeded `SimConfig::rate_limits` (injected faults
    /// not included).
    pub fn rate_limited(&self) -> u32 {
        self.lock().limiter.as_ref().map_or(0, |l| l.rejected)
    }

    /// With `SimConfig::rate_limits`: the requests counted in each window that saw any, in
    /// order, for the account (`"account"`) or an endpoint limit's path prefix.
    pub fn requests_per_window(&self, scope: &str) -> Vec<u32> {
        self.lock()
            .limiter
            .as_ref()
            .map_or_else(Vec::new, |l| l.per_window(scope))
    }

    /// How long access tokens issued from now on live (real time); `None`: no expiry, and no
    /// `expires_in` in the answer. Zendesk's default, 30 minutes, until set.
    pub fn set_token_lifetime(&self, lifetime: Option<Duration>) {
        self.lock().oauth.lifetime = lifetime;
    }

    /// `true` refuses every API token with 401, as Zendesk does after 2027-04-30.
    pub fn refuse_api_tokens(&self, refuse: bool) {
        self.lock().oauth.refuse_api_tokens = refuse;
    }

    /// Every access token issued so far stops working (401 `invalid_token`).
    pub fn revoke_access_tokens(&self) {
        self.lock().oauth.revoke_access_tokens();
    }

    /// The grant is gone: every access and refresh token issued so far is revoked.
    pub fn revoke_grants(&self) {
        self.lock().oauth.revoke_grants();
    }

    /// Whether `POST /oauth/tokens` would still take this refresh token.
    pub fn refresh_token_alive(&self, token: &str) -> bool {
        self.lock().oauth.refresh_token_alive(token)
    }

    /// An authorization code as if the admin approved `client_id` in the browser.
    pub fn approve(&self, redirect_uri: &str, code_challenge: &str, scopes: &[&str]) -> String {
        let id = self.shared.config.oauth_client.id.clone();
        let scopes = scopes.iter().map(|s| (*s).to_owned()).collect();
        self.lock()
            .oauth
            .approve(&id, redirect_uri, code_challenge, scopes)
    }

    /// Every `POST /oauth/tokens` so far, in order (faulted ones with grant type `(fault)`).
    pub fn token_requests(&self) -> Vec<TokenRequest> {
        self.lock().oauth.token_requests.clone()
    }

    /// 401 `invalid_token` answers given to API requests so far.
    pub fn invalid_token_answers(&self) -> u32 {
        self.lock().oauth.invalid_token_answers
    }

    /// A fault for the next `POST /oauth/tokens` (FIFO), instead of its answer.
    pub fn push_token_fault(&self, fault: Fault) {
        self.lock().token_faults.push_back(fault);
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    pub fn clear_requests(&self) {
        self.lock().requests.clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.state.lock().unwrap()
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            // The server may already be gone (it panicked); nothing to tell it then.
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            // Re-raising a server panic inside drop would abort; the test's own asserts speak.
            let _ = thread.join();
        }
    }
}
