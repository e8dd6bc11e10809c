//! Zendesk's rate limits, enforced: requests per window for the whole account and for some
//! endpoints (the incremental exports' 10). Off unless `SimConfig::rate_limits` is set, so
//! other tests are unaffected. Windows are fixed and follow each other in real time from the
//! simulator's start, so a test can use a second where Zendesk uses a minute; the simulated
//! clock, which tests step by hand, plays no part.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The path prefix of Zendesk's incremental exports, which share one limit.
pub const INCREMENTAL_EXPORTS: &str = "/api/v2/incremental/";

/// Limits per window. Every API request counts, including those answered 429 or with a fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimits {
    /// Length of each window (Zendesk's: a minute).
    pub window: Duration,
    /// Requests per window for the account, every endpoint together (Enterprise: 700).
    pub account: u32,
    /// Limits of their own, on top of the account's.
    pub endpoints: Vec<EndpointLimit>,
}

/// One endpoint's limit. Its 429 names no other limit: the response still carries only the
/// account-level headers, as the incremental exports' do on Zendesk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointLimit {
    /// Requests whose path starts with this count against it, e.g. [`INCREMENTAL_EXPORTS`].
    pub path_prefix: String,
    pub per_window: u32,
}

impl RateLimits {
    /// Zendesk's limits with windows of `window`: an Enterprise account's 700 and the
    /// incremental exports' 10.
    pub fn zendesk(window: Duration) -> RateLimits {
        RateLimits {
            window,
            account: 700,
            endpoints: vec![EndpointLimit {
                path_prefix: INCREMENTAL_EXPORTS.to_owned(),
                per_window: 10,
            }],
        }
    }
}

/// The account-level headers of one response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AccountHeaders {
    pub limit: u32,
    pub remaining: u32,
    /// Whole seconds until the window ends, rounded up (at least 1).
    pub reset: u64,
}

/// What the limits say about one request.
pub(crate) struct Verdict {
    pub account: AccountHeaders,
    /// Some(seconds for `Retry-After`) when a limit is exceeded.
    pub limited: Option<u64>,
}

/// The counts of the current window, and of every window so far for the tests.
pub(crate) struct Limiter {
    limits: RateLimits,
    start: Instant,
    window: u128,
    account_used: u32,
    endpoint_used: Vec<u32>,
    /// Requests per (scope, window index); scope "account" or an endpoint's prefix.
    history: BTreeMap<(String, u128), u32>,
    /// 429s the limits answered.
    pub rejected: u32,
}

pub(crate) const ACCOUNT: &str = "account";

impl Limiter {
    pub fn new(limits: RateLimits) -> Limiter {
        Limiter {
            endpoint_used: vec![0; limits.endpoints.len()],
            limits,
            start: Instant::now(),
            window: 0,
            account_used: 0,
            history: BTreeMap::new(),
            rejected: 0,
        }
    }

    /// Counts a request to `path` received at `now`.
    pub fn hit(&mut self, path: &str, now: Instant) -> Verdict {
        let window_ns = self.limits.window.as_nanos().max(1);
        let elapsed = now.saturating_duration_since(self.start).as_nanos();
        let index = elapsed / window_ns;
        if index != self.window {
            self.window = index;
            self.account_used = 0;
            self.endpoint_used.iter_mut().for_each(|n| *n = 0);
        }
        let left_ns = window_ns - elapsed % window_ns;
        let reset = u64::try_from(left_ns.div_ceil(1_000_000_000))
            .unwrap_or(u64::MAX)
            .max(1);
        self.account_used = self.account_used.saturating_add(1);
        *self.history.entry((ACCOUNT.to_owned(), index)).or_default() += 1;
        let mut over = self.account_used > self.limits.account;
        for (limit, used) in self.limits.endpoints.iter().zip(&mut self.endpoint_used) {
            if path.starts_with(&limit.path_prefix) {
                *used = used.saturating_add(1);
                *self
                    .history
                    .entry((limit.path_prefix.clone(), index))
                    .or_default() += 1;
                over |= *used > limit.per_window;
            }
        }
        if over {
            self.rejected += 1;
        }
        Verdict {
            account: AccountHeaders {
                limit: self.limits.account,
                remaining: self.limits.account.saturating_sub(self.account_used),
                reset,
            },
            limited: over.then_some(reset),
        }
    }

    /// Requests counted in each window that saw any, in order, for `scope`.
    pub fn per_window(&self, scope: &str) -> Vec<u32> {
        self.history
            .iter()
            .filter(|((s, _), _)| s == scope)
            .map(|(_, n)| *n)
            .collect()
    }
}
