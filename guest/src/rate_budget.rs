//! The client-side rate budget: at most N requests per window to each resource's endpoint,
//! and to the account as a whole, retries included, so a normal pass never meets a 429.
//!
//! - Each limit is a log of the last N requests: the next one may go once the N-th most
//!   recent is a whole window old. Every window-long stretch, aligned or not, then holds at
//!   most N, so the budget holds against Zendesk's per-minute windows whatever their phase.
//! - A request counts from the moment its attempt ended (response read, or failed): the
//!   latest the server can have counted it, so the client's window never runs ahead of the
//!   server's.
//! - Rate-limit headers add a ceiling and never raise a limit: "remaining 0, reset in S
//!   seconds" holds every request until then.
//! - Only response headers and monotonic clock readings go in, so a replay of the same
//!   responses and clock waits exactly the same.

use std::collections::VecDeque;

use crate::host::{Host, StopReason};
use crate::http::Response;
use crate::log;
use crate::settings::PassSettings;

const NS_PER_MS: u64 = 1_000_000;
const NS_PER_S: u64 = 1_000_000_000;

/// Which limit holds a request back, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// The resource's endpoint limit.
    Endpoint,
    /// `ACCOUNT_RATE_LIMIT`, all resources together.
    Account,
    /// A response said no request is left until the reset.
    Headers,
}

impl Limit {
    fn as_str(self) -> &'static str {
        match self {
            Limit::Endpoint => "endpoint",
            Limit::Account => "account",
            Limit::Headers => "headers",
        }
    }
}

/// At most `limit` requests per window: the end times of the last `limit` requests.
#[derive(Debug, Clone)]
struct Window {
    limit: usize,
    ends: VecDeque<u64>,
}

impl Window {
    fn new(limit: u32) -> Window {
        Window {
            limit: usize::try_from(limit.max(1)).unwrap_or(usize::MAX),
            ends: VecDeque::new(),
        }
    }

    /// When the next request fits: the `limit`-th most recent end plus a window; none while
    /// fewer than `limit` requests were made.
    fn ready_at(&self, window_ns: u64) -> Option<u64> {
        let n = self.ends.len();
        (n >= self.limit).then(|| self.ends[n - self.limit].saturating_add(window_ns))
    }

    fn count(&mut self, at: u64) {
        self.ends.push_back(at);
        if self.ends.len() > self.limit {
            self.ends.pop_front();
        }
    }
}

/// What the latest rate-limit headers allow: `remaining` more requests until `until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ceiling {
    remaining: u64,
    until: u64,
}

/// The tightest remaining count a response announces (`ratelimit-remaining`,
/// `x-rate-limit-remaining`, or the older `rate-limit-remaining`) and the reset in seconds
/// (`ratelimit-reset`, `rate-limit-reset`) when it gives one. A value that is not a number
/// is ignored: it cannot tighten anything.
pub fn limit_headers(r: &Response) -> Option<(u64, Option<u64>)> {
    let remaining = [
        "ratelimit-remaining",
        "x-rate-limit-remaining",
        "rate-limit-remaining",
    ]
    .iter()
    .filter_map(|h| r.header(h)?.parse::<u64>().ok())
    .min()?;
    let reset = ["ratelimit-reset", "rate-limit-reset"]
        .iter()
        .find_map(|h| r.header(h)?.parse::<u64>().ok());
    Some((remaining, reset))
}

/// The budget of one pass: one window per resource's endpoint, one for the account, and the
/// ceiling the latest response set. Times are monotonic-clock nanoseconds.
#[derive(Debug, Clone)]
pub struct RateBudget {
    window_ns: u64,
    account: Window,
    /// Per resource name; `None` when the resource has no endpoint limit.
    endpoints: Vec<(String, Option<Window>)>,
    /// Index into `endpoints` of the resource being collected.
    current: Option<usize>,
    /// Account-level headers, so shared by every endpoint.
    ceiling: Option<Ceiling>,
    /// Nanoseconds spent waiting for the budget in this pass.
    waited_ns: u64,
}

impl RateBudget {
    /// `endpoints`: each resource with its requests per window (none = only the account's).
    pub fn new(
        window_ms: u64,
        account_requests: u32,
        endpoints: impl IntoIterator<Item = (String, Option<u32>)>,
    ) -> RateBudget {
        RateBudget {
            window_ns: window_ms.saturating_mul(NS_PER_MS),
            account: Window::new(account_requests),
            endpoints: endpoints
                .into_iter()
                .map(|(name, limit)| (name, limit.map(Window::new)))
                .collect(),
            current: None,
            ceiling: None,
            waited_ns: 0,
        }
    }

    /// The budget of a pass: each resource's configured limit, else its endpoint's documented
    /// one (`default_limit`, a minute's worth on Zendesk).
    pub fn for_pass(
        settings: &PassSettings,
        default_limit: impl Fn(&str) -> Option<u32>,
    ) -> RateBudget {
        RateBudget::new(
            settings.rate_window_ms,
            settings.account_requests,
            settings.resources.iter().map(|r| {
                (
                    r.name.clone(),
                    r.requests_per_window.or_else(|| default_limit(&r.name)),
                )
            }),
        )
    }

    /// Makes `resource` the one whose endpoint the next requests go to.
    pub fn select(&mut self, resource: &str) {
        self.current = self.endpoints.iter().position(|(n, _)| n == resource);
    }

    /// Milliseconds waited so far in this pass (rounded down).
    pub fn waited_ms(&self) -> u64 {
        self.waited_ns / NS_PER_MS
    }

    fn endpoint(&self) -> Option<&Window> {
        self.current.and_then(|i| self.endpoints[i].1.as_ref())
    }

    /// When the next request may be sent and which limit holds it until then; none = now.
    pub fn next_slot(&self, now: u64) -> Option<(u64, Limit)> {
        let ceiling = self
            .ceiling
            .filter(|c| c.remaining == 0)
            .map(|c| (c.until, Limit::Headers));
        [
            self.endpoint()
                .and_then(|w| w.ready_at(self.window_ns))
                .map(|t| (t, Limit::Endpoint)),
            self.account
                .ready_at(self.window_ns)
                .map(|t| (t, Limit::Account)),
            ceiling,
        ]
        .into_iter()
        .flatten()
        .filter(|(t, _)| *t > now)
        .max_by_key(|(t, _)| *t)
    }

    /// Counts a request whose attempt ended at `at`, and reads the rate-limit headers of its
    /// `response` if one came. A 429's wait is its own (`Retry-After`, in `retry.rs`), so its
    /// headers are not read. A reset longer than the window cannot be a minute's limit and
    /// is cut to the window; a reset that is not given means the window.
    pub fn count(&mut self, at: u64, response: Option<&Response>) {
        self.account.count(at);
        if let Some(i) = self.current
            && let Some(w) = self.endpoints[i].1.as_mut()
        {
            w.count(at);
        }
        match response.filter(|r| r.status != 429).and_then(limit_headers) {
            Some((remaining, reset)) => {
                let reset_ns = reset.map_or(self.window_ns, |s| {
                    s.saturating_mul(NS_PER_S).min(self.window_ns)
                });
                self.ceiling = Some(Ceiling {
                    remaining,
                    until: at.saturating_add(reset_ns),
                });
            }
            None => {
                self.ceiling = self.ceiling.filter(|c| at < c.until).map(|c| Ceiling {
                    remaining: c.remaining.saturating_sub(1),
                    ..c
                });
            }
        }
    }

    /// Waits on the monotonic clock until the next request fits the budget. Stops instead
    /// when the wait would outlive the pass deadline, or when the host asks to stop while
    /// waiting: the resource then ends at its last stored page.
    pub fn pace(&mut self, host: &dyn Host) -> Result<(), StopReason> {
        loop {
            let now = host.now_ns();
            let Some((ready, limit)) = self.next_slot(now) else {
                return Ok(());
            };
            let wait_ms = (ready - now).div_ceil(NS_PER_MS);
            let resource = self
                .current
                .map_or("", |i| self.endpoints[i].0.as_str())
                .to_owned();
            if let Some(left) = host.time_left_ms()
                && left < wait_ms
            {
                log::warn(
                    "the pass deadline comes before the rate budget allows the next request; \
                     stopping at the last stored page",
                    &[
                        ("resource", resource),
                        ("limit", limit.as_str().to_owned()),
                        ("wait_ms", wait_ms.to_string()),
                    ],
                );
                return Err(StopReason::Deadline);
            }
            log::debug(
                "pacing: waiting for the rate budget",
                &[
                    ("resource", resource),
                    ("limit", limit.as_str().to_owned()),
                    ("wait_ms", wait_ms.to_string()),
                ],
            );
            // One wait, which the host ends early on a shutdown: nothing runs until then.
            host.wait_ms(wait_ms);
            self.waited_ns += host.now_ns().saturating_sub(now);
            if let Some(reason) = host.stop_requested() {
                return Err(reason);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::INCREMENTAL_TICKETS;

    const MS: u64 = NS_PER_MS;

    fn response(status: u16, headers: &[(&str, &str)]) -> Response {
        Response {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.as_bytes().to_vec()))
                .collect(),
            body: Vec::new(),
        }
    }

    /// The ticket export's budget: `limit`, else its documented 10 a window.
    fn tickets(limit: Option<u32>) -> RateBudget {
        let limit = limit.or(Some(10));
        let mut b = RateBudget::new(1000, 200, [(INCREMENTAL_TICKETS.to_owned(), limit)]);
        b.select(INCREMENTAL_TICKETS);
        b
    }

    #[test]
    fn ten_a_window_lets_ten_requests_go_at_once_then_waits_a_window() {
        let mut b = tickets(None);
        for i in 0..10 {
            assert_eq!(b.next_slot(i * MS), None, "request {i} goes at once");
            b.count(i * MS, None);
        }
        // The 11th waits until the first is a window old.
        assert_eq!(b.next_slot(10 * MS), Some((1000 * MS, Limit::Endpoint)));
        assert_eq!(b.next_slot(1000 * MS), None);
    }

    #[test]
    fn every_window_long_stretch_holds_at_most_the_limit() {
        // Requests sent as soon as the budget allows, each taking 7 ms: no stretch of one
        // window ever holds more than the limit, retries and all.
        let mut b = tickets(Some(3));
        let mut ends = Vec::new();
        let mut now = 0;
        for _ in 0..20 {
            if let Some((t, _)) = b.next_slot(now) {
                now = t;
            }
            now += 7 * MS;
            b.count(now, None);
            ends.push(now);
        }
        for (i, &start) in ends.iter().enumerate() {
            let inside = ends[i..].iter().filter(|&&e| e < start + 1000 * MS).count();
            assert!(
                inside <= 3,
                "{inside} requests within a window from {start}"
            );
        }
    }

    #[test]
    fn the_account_limit_bounds_a_resource_without_its_own() {
        let mut b = RateBudget::new(1000, 2, [("audit_logs".to_owned(), None)]);
        b.select("audit_logs");
        b.count(5 * MS, None);
        b.count(9 * MS, None);
        assert_eq!(b.next_slot(10 * MS), Some((1005 * MS, Limit::Account)));
    }

    #[test]
    fn the_account_window_is_shared_across_resources() {
        let mut b = RateBudget::new(
            1000,
            2,
            [
                ("audit_logs".to_owned(), None),
                (INCREMENTAL_TICKETS.to_owned(), Some(10)),
            ],
        );
        b.select("audit_logs");
        b.count(0, None);
        b.count(MS, None);
        b.select(INCREMENTAL_TICKETS);
        assert_eq!(b.next_slot(2 * MS), Some((1000 * MS, Limit::Account)));
    }

    #[test]
    fn remaining_zero_holds_requests_until_the_reset() {
        let mut b = tickets(None);
        let r = response(
            200,
            &[
                ("X-Rate-Limit-Remaining", "5"),
                ("RateLimit-Remaining", "0"),
            ],
        );
        b.count(100 * MS, Some(&r));
        // No reset given: a whole window from the response.
        assert_eq!(b.next_slot(101 * MS), Some((1100 * MS, Limit::Headers)));
        let r = response(
            200,
            &[("ratelimit-remaining", "0"), ("ratelimit-reset", "0")],
        );
        b.count(200 * MS, Some(&r));
        assert_eq!(b.next_slot(201 * MS), None, "reset 0: the window is over");
    }

    #[test]
    fn the_reset_is_bounded_by_the_window() {
        let mut b = RateBudget::new(60_000, 200, [(INCREMENTAL_TICKETS.to_owned(), Some(10))]);
        b.select(INCREMENTAL_TICKETS);
        let r = response(
            200,
            &[("ratelimit-remaining", "0"), ("ratelimit-reset", "41")],
        );
        b.count(0, Some(&r));
        assert_eq!(b.next_slot(MS), Some((41_000 * MS, Limit::Headers)));
        let r = response(
            200,
            &[("ratelimit-remaining", "0"), ("ratelimit-reset", "86400")],
        );
        b.count(0, Some(&r));
        assert_eq!(b.next_slot(MS), Some((60_000 * MS, Limit::Headers)));
    }

    #[test]
    fn headers_count_down_until_a_fresh_response_and_never_loosen_a_limit() {
        let mut b = tickets(Some(2));
        let plenty = response(200, &[("ratelimit-remaining", "699")]);
        b.count(0, Some(&plenty));
        b.count(MS, Some(&plenty));
        // 699 left on the account does not lift the endpoint's limit of 2.
        assert_eq!(b.next_slot(2 * MS), Some((1000 * MS, Limit::Endpoint)));

        let mut b = tickets(None);
        b.count(0, Some(&response(200, &[("ratelimit-remaining", "1")])));
        assert_eq!(b.next_slot(MS), None, "one left");
        b.count(MS, None); // a dropped connection still counts
        assert_eq!(b.next_slot(2 * MS), Some((1000 * MS, Limit::Headers)));
        // Past the reset the ceiling is gone.
        b.count(1001 * MS, None);
        assert_eq!(b.next_slot(1002 * MS), None);
    }

    #[test]
    fn a_429s_headers_are_left_to_its_retry_after() {
        let mut b = tickets(None);
        let r = response(429, &[("retry-after", "1"), ("ratelimit-remaining", "0")]);
        b.count(0, Some(&r));
        assert_eq!(b.next_slot(MS), None);
    }

    #[test]
    fn headers_that_are_not_numbers_change_nothing() {
        assert_eq!(
            limit_headers(&response(200, &[("ratelimit-remaining", "soon")])),
            None
        );
        assert_eq!(
            limit_headers(&response(
                200,
                &[("rate-limit-remaining", "3"), ("rate-limit-reset", "12")]
            )),
            Some((3, Some(12)))
        );
        assert_eq!(limit_headers(&response(200, &[])), None);
    }

    #[test]
    fn the_same_readings_give_the_same_waits() {
        let run = || {
            let mut b = tickets(Some(4));
            let mut slots = Vec::new();
            let mut now = 0;
            for i in 0..12u64 {
                if let Some((t, limit)) = b.next_slot(now) {
                    slots.push((t, limit));
                    now = t;
                }
                now += (i % 3 + 1) * MS;
                let r = response(
                    200,
                    &[("ratelimit-remaining", if i == 6 { "0" } else { "9" })],
                );
                b.count(now, Some(&r));
            }
            slots
        };
        assert_eq!(run(), run());
        assert!(!run().is_empty());
    }
}
