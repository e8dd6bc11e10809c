//! The settings handed to the component: everything it needs, nothing secret.

use super::PassConfig;
use crate::bindings::{RateBudget, ResourceRequest, RetryPolicy, Settings};

/// First back-off after a 5xx or transport error; doubles on each retry.
const INITIAL_BACKOFF_MS: u64 = 1_000;

impl PassConfig {
    /// The settings handed to the component: everything it needs, nothing secret.
    pub fn settings(&self, pass_start: i64) -> Settings {
        Settings {
            base_url: self.zendesk.base_url.clone(),
            resources: self
                .collect
                .resources
                .iter()
                .map(|name| ResourceRequest {
                    name: name.clone(),
                    page_size: self.collect.page_size,
                    lag_seconds: match name.as_str() {
                        "audit_logs" => Some(self.collect.audit_lag_seconds),
                        "access_logs" => Some(self.collect.access_log_lag_seconds),
                        _ => None,
                    },
                    overlap_seconds: (name == "access_logs")
                        .then_some(self.collect.access_log_overlap_seconds),
                    // Other endpoints keep the component's defaults (access logs: 50).
                    requests_per_window: (name == "incremental_tickets")
                        .then_some(self.rate.export_rate_limit),
                })
                .collect(),
            max_pages: self.collect.max_pages,
            start_time: self.collect.start_time,
            lookback_seconds: self.collect.lookback_seconds,
            pass_start,
            object_prefix: self.store.prefix.clone(),
            output_format: self.collect.output_format,
            retry: RetryPolicy {
                retries: self.http.http_retries,
                timeout_ms: self.http.http_timeout_secs.saturating_mul(1000),
                initial_backoff_ms: INITIAL_BACKOFF_MS,
                max_backoff_ms: self.http.max_retry_wait_secs.saturating_mul(1000),
                // Deterministic per pass start, so a replay of the pass waits the same.
                jitter_seed: pass_start as u64 ^ 0x5a3d_e5c0_11ec_7042,
            },
            max_page_bytes: self.collect.max_page_bytes,
            rate: RateBudget {
                window_ms: u64::try_from(self.rate.rate_window.as_millis()).unwrap_or(u64::MAX),
                account_requests: self.rate.account_rate_limit,
            },
        }
    }
}
