//! Requests with retries: 429 and 503 wait for `Retry-After`; a 429 without one waits for
//! `ratelimit-reset` (the access log's only hint), else 60 s. Other 5xx and transport errors
//! back off exponentially with seeded jitter, up to
//! `HTTP_RETRIES`. The host can stop the pass before any attempt, and no wait runs past the
//! pass deadline: the resource then ends cleanly at its last stored page. Every attempt, the
//! first and each retry, first waits for the rate budget (`rate_budget.rs`).

use crate::bindings::zendesk::crm::types::RetryPolicy;
use crate::error::Failure;
use crate::host::{Host, StopReason};
use crate::http::{HttpError, Response};
use crate::log;
use crate::rate_budget::RateBudget;
use crate::settings::Origin;

/// Wait for a 429 that names none, as Zendesk's own clients do.
const DEFAULT_RATE_LIMIT_WAIT_MS: u64 = 60_000;
/// Numbers at least this large in `ratelimit-reset` are Unix times, not seconds to wait (a
/// wait of 31 years is no one's meaning).
const UNIX_TIME_FLOOR: u64 = 1_000_000_000;

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
    /// The pass start and the monotonic instant it was taken at: the guest's only estimate of
    /// the wall clock, for a `ratelimit-reset` given as a time.
    pass_start: i64,
    started_ns: u64,
    /// Retries made so far, reported per resource.
    pub retries: u32,
    /// Every attempt waits for it, and counts in it.
    pub budget: RateBudget,
}

impl Retrier {
    pub fn new(
        host: &dyn Host,
        policy: RetryPolicy,
        max_page_bytes: u64,
        pass_start: i64,
        budget: RateBudget,
    ) -> Retrier {
        Retrier {
            rng: fastrand::Rng::with_seed(policy.jitter_seed),
            policy,
            max_page_bytes,
            pass_start,
            started_ns: host.now_ns(),
            retries: 0,
            budget,
        }
    }

    /// Now in Unix milliseconds: the pass start plus the time elapsed since.
    fn now_unix_ms(&self, host: &dyn Host) -> i64 {
        let elapsed_ms = host.now_ns().saturating_sub(self.started_ns) / 1_000_000;
        self.pass_start
            .saturating_mul(1000)
            .saturating_add(i64::try_from(elapsed_ms).unwrap_or(i64::MAX))
    }

    pub fn fetch(&mut self, host: &dyn Host, origin: &Origin, path_and_query: &str) -> Fetched {
        let mut attempt: u32 = 0;
        loop {
            if let Some(reason) = host.stop_requested() {
                return Fetched::Stopped(reason);
            }
            if let Err(reason) = self.budget.pace(host) {
                return Fetched::Stopped(reason);
            }
            // No attempt outlives the pass deadline: a slow response ends at it, and the
            // next loop turn stops the resource at its last stored page.
            let timeout_ms = match host.time_left_ms() {
                Some(0) => return Fetched::Stopped(StopReason::Deadline),
                Some(left) => left.min(self.policy.timeout_ms),
                None => self.policy.timeout_ms,
            };
            let result = host.get(origin, path_and_query, timeout_ms, self.max_page_bytes);
            self.budget.count(host.now_ns(), result.as_ref().ok());
            let (wait_ms, why) = match result {
                Ok(r) if r.status == 429 || r.status >= 500 => {
                    let now_ms = self.now_unix_ms(host);
                    let retry_after = r
                        .header("retry-after")
                        .and_then(|v| retry_after_ms(v, now_ms));
                    let reset = r
                        .header("ratelimit-reset")
                        .and_then(|v| ratelimit_reset_ms(v, now_ms));
                    let wait = match (r.status, retry_after, reset) {
                        (429 | 503, Some(ms), _) => ms,
                        (429, None, Some(ms)) => ms,
                        (429, None, None) => DEFAULT_RATE_LIMIT_WAIT_MS,
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
            if let Some(left) = host.time_left_ms()
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
            // The host ends the wait early on a shutdown; the next turn of the loop then stops.
            host.wait_ms(wait_ms);
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

/// `Retry-After`: seconds, or an HTTP-date (RFC 7231). An absurd number saturates; the
/// caller's longest wait and the pass deadline bound it.
pub fn retry_after_ms(value: &str, now_unix_ms: i64) -> Option<u64> {
    match value.parse::<u64>() {
        Ok(secs) => Some(secs.saturating_mul(1000)),
        Err(_) => http_date(value).map(|at| until_ms(at, now_unix_ms)),
    }
}

/// `ratelimit-reset`: seconds to wait; a Unix time; an RFC 3339 date-time (what the access
/// log documents); or an HTTP-date. A time is waited for from the guest's estimate of now,
/// plus a second because it is rounded to the second. Never less than a second, so a reset
/// "now" cannot become a tight loop.
pub fn ratelimit_reset_ms(value: &str, now_unix_ms: i64) -> Option<u64> {
    let value = value.trim();
    let ms = match value.parse::<u64>() {
        Ok(n) if n >= UNIX_TIME_FLOOR => {
            until_ms(i64::try_from(n).unwrap_or(i64::MAX), now_unix_ms)
        }
        Ok(secs) => secs.saturating_mul(1000),
        Err(_) => {
            let at =
                time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339)
                    .ok()
                    .map(|t| t.unix_timestamp())
                    .or_else(|| http_date(value))?;
            until_ms(at, now_unix_ms)
        }
    };
    Some(ms.max(1000))
}

/// Milliseconds from `now_unix_ms` to one second after `at_unix` (0 when that has passed).
fn until_ms(at_unix: i64, now_unix_ms: i64) -> u64 {
    let wait = at_unix
        .saturating_add(1)
        .saturating_mul(1000)
        .saturating_sub(now_unix_ms);
    u64::try_from(wait).unwrap_or(0)
}

/// An RFC 7231 IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`, as Unix seconds.
fn http_date(value: &str) -> Option<i64> {
    let rfc2822 = value.trim().strip_suffix(" GMT")?.to_owned() + " +0000";
    time::OffsetDateTime::parse(&rfc2822, &time::format_description::well_known::Rfc2822)
        .ok()
        .map(|t| t.unix_timestamp())
}

fn give_up(why: &str, attempts: u32) -> Failure {
    let m = format!("{why} (after {attempts} attempts)");
    if why.starts_with("HTTP ") {
        Failure::GaveUp(m)
    } else {
        Failure::Transport(m)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    const NOW_MS: i64 = 1_700_000_000_250;

    #[test]
    fn ratelimit_reset_takes_seconds_unix_times_and_dates() {
        assert_eq!(ratelimit_reset_ms("30", NOW_MS), Some(30_000));
        assert_eq!(
            ratelimit_reset_ms("0", NOW_MS),
            Some(1000),
            "never a tight loop"
        );
        // 2023-11-14T22:13:50Z is 30 s after now (22:13:20.25): 29.75 s, plus the second
        // lost to rounding.
        assert_eq!(
            ratelimit_reset_ms("2023-11-14T22:13:50Z", NOW_MS),
            Some(30_750)
        );
        assert_eq!(ratelimit_reset_ms("1700000030", NOW_MS), Some(30_750));
        assert_eq!(
            ratelimit_reset_ms("Tue, 14 Nov 2023 22:13:50 GMT", NOW_MS),
            Some(30_750)
        );
        assert_eq!(
            ratelimit_reset_ms("2023-11-14T22:13:50+00:00", NOW_MS),
            Some(30_750)
        );
        // A time already past waits the minimum.
        assert_eq!(
            ratelimit_reset_ms("2023-11-14T22:00:00Z", NOW_MS),
            Some(1000)
        );
        for bad in ["", "soon", "-5", "2023-11-14 22:13:50"] {
            assert_eq!(ratelimit_reset_ms(bad, NOW_MS), None, "{bad:?}");
        }
    }

    #[test]
    fn retry_after_takes_seconds_or_an_http_date() {
        assert_eq!(retry_after_ms("7", NOW_MS), Some(7000));
        assert_eq!(
            retry_after_ms("Tue, 14 Nov 2023 22:13:50 GMT", NOW_MS),
            Some(30_750)
        );
        assert_eq!(retry_after_ms("later", NOW_MS), None);
    }
}
