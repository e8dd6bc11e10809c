//! Requests with retries: 429 and 503 wait for `Retry-After` (60 s for a 429 without one),
//! other 5xx and transport errors back off exponentially with seeded jitter, up to
//! `HTTP_RETRIES`. The host can stop the pass before any attempt, and no wait runs past the
//! pass deadline: the resource then ends cleanly at its last stored page. Every attempt, the
//! first and each retry, first waits for the rate budget (`rate_budget.rs`).

use crate::bindings::wasi::clocks::monotonic_clock;
use crate::bindings::zendesk::crm::pass_control::{self, StopReason};
use crate::bindings::zendesk::crm::types::RetryPolicy;
use crate::error::Failure;
use crate::http::{self, HttpError, Response};
use crate::log;
use crate::rate_budget::RateBudget;
use crate::settings::Origin;

/// Wait for a 429 that names none, as Zendesk's own clients do.
const DEFAULT_RATE_LIMIT_WAIT_MS: u64 = 60_000;

/// How a fetch ended.
#[derive(Debug)]
pub enum Fetched {
    /// A response that is not worth retrying (any status but 429 and 5xx, or those once
    /// retries are spent are reported as `Failed`).
    Response(Response),
    /// The host asked to stop, or the deadline leaves no time for the next attempt.
    Stopped(StopReason),
    Failed(Failure),
}

/// Retry state for one pass: the jitter generator is seeded once, so a replay waits the same.
pub struct Retrier {
    policy: RetryPolicy,
    rng: fastrand::Rng,
    max_page_bytes: u64,
    /// Retries made so far, reported per resource.
    pub retries: u32,
    /// Every attempt waits for it, and counts in it.
    pub budget: RateBudget,
}

impl Retrier {
    pub fn new(policy: RetryPolicy, max_page_bytes: u64, budget: RateBudget) -> Retrier {
        Retrier {
            rng: fastrand::Rng::with_seed(policy.jitter_seed),
            policy,
            max_page_bytes,
            retries: 0,
            budget,
        }
    }

    pub fn fetch(&mut self, origin: &Origin, path_and_query: &str) -> Fetched {
        let mut attempt: u32 = 0;
        loop {
            if let Some(reason) = pass_control::stop_requested() {
                return Fetched::Stopped(reason);
            }
            if let Err(reason) = self.budget.pace() {
                return Fetched::Stopped(reason);
            }
            // No attempt outlives the pass deadline: a slow response ends at it, and the
            // next loop turn stops the resource at its last stored page.
            let timeout_ms = match pass_control::time_left_ms() {
                Some(0) => return Fetched::Stopped(StopReason::Deadline),
                Some(left) => left.min(self.policy.timeout_ms),
                None => self.policy.timeout_ms,
            };
            let result = http::get(origin, path_and_query, timeout_ms, self.max_page_bytes);
            self.budget
                .count(monotonic_clock::now(), result.as_ref().ok());
            let (wait_ms, why) = match result {
                Ok(r) if r.status == 429 || r.status >= 500 => {
                    let wait = match (r.status, retry_after_ms(r.header("retry-after"))) {
                        (429 | 503, Some(ms)) => ms,
                        (429, None) => DEFAULT_RATE_LIMIT_WAIT_MS,
                        _ => self.backoff_ms(attempt),
                    };
                    (wait, format!("HTTP {}: {}", r.status, excerpt(&r.body)))
                }
                Ok(r) => return Fetched::Response(r),
                Err(e) if e.is_retryable() => (self.backoff_ms(attempt), e.to_string()),
                Err(HttpError::Refused(m)) => return Fetched::Failed(Failure::RequestRefused(m)),
                Err(e) => return Fetched::Failed(Failure::InvalidResponse(e.to_string())),
            };
            if attempt >= self.policy.retries {
                return Fetched::Failed(give_up(&why, attempt + 1));
            }
            if wait_ms > self.policy.max_backoff_ms {
                return Fetched::Failed(Failure::GaveUp(format!(
                    "{why}; asked to wait {} s, longer than the longest wait of {} s",
                    wait_ms / 1000,
                    self.policy.max_backoff_ms / 1000
                )));
            }
            if let Some(left) = pass_control::time_left_ms()
                && left < wait_ms
            {
                log::warn(
                    "the pass deadline comes before the retry; stopping at the last stored page",
                    &[("wait_ms", wait_ms.to_string()), ("reason", why)],
                );
                return Fetched::Stopped(StopReason::Deadline);
            }
            log::warn(
                "retrying",
                &[
                    ("reason", why),
                    ("attempt", (attempt + 1).to_string()),
                    ("wait_ms", wait_ms.to_string()),
                ],
            );
            sleep_ms(wait_ms);
            attempt += 1;
            self.retries += 1;
        }
    }

    /// `initial * 2^attempt`, capped, then scaled into [50%, 100%] ("equal jitter") so that
    /// many collectors behind one limit do not retry in step.
    fn backoff_ms(&mut self, attempt: u32) -> u64 {
        let full = self
            .policy
            .initial_backoff_ms
            .saturating_mul(1u64 << attempt.min(32))
            .min(self.policy.max_backoff_ms);
        full / 2 + self.rng.u64(0..=full / 2)
    }
}

/// `Retry-After` in milliseconds, when it is delay-seconds. An HTTP date or anything else is
/// none (the status's default wait applies); an absurd number saturates, and the caller's
/// longest wait and the pass deadline bound it.
pub fn retry_after_ms(value: Option<&str>) -> Option<u64> {
    value?
        .trim()
        .parse::<u64>()
        .ok()
        .map(|s| s.saturating_mul(1000))
}

fn give_up(why: &str, attempts: u32) -> Failure {
    let m = format!("{why} (after {attempts} attempts)");
    if why.starts_with("HTTP ") {
        Failure::GaveUp(m)
    } else {
        Failure::Transport(m)
    }
}

fn sleep_ms(ms: u64) {
    monotonic_clock::subscribe_duration(ms.saturating_mul(1_000_000)).block();
}

/// The start of a body for an error message: enough to recognise it, never a whole page.
pub fn excerpt(body: &[u8]) -> String {
    const MAX: usize = 200;
    let text = String::from_utf8_lossy(&body[..body.len().min(MAX)]);
    let mut s: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if body.len() > MAX {
        s.push('…');
    }
    s.trim().to_owned()
}
