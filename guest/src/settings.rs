//! The pass settings, validated once: every later module works with these plain values.

use crate::bindings::zendesk::crm::types::{OutputFormat, RetryPolicy, Settings};

/// Scheme and authority of the Zendesk account; every request goes there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub https: bool,
    pub authority: String,
}

impl Origin {
    /// Parses `scheme://authority` with an optional trailing `/` and nothing else: a path,
    /// query or userinfo in `ZENDESK_BASE_URL` is a mistake worth reporting, not ignoring.
    pub fn parse(base_url: &str) -> Result<Origin, String> {
        let (https, rest) = if let Some(rest) = base_url.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = base_url.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err(format!("base URL {base_url:?} must start with https://"));
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.is_empty()
            || authority
                .chars()
                .any(|c| matches!(c, '/' | '?' | '#' | '@' | ' ') || c.is_control())
        {
            return Err(format!(
                "base URL {base_url:?} must be scheme and host only, like https://acme.zendesk.com"
            ));
        }
        Ok(Origin {
            https,
            authority: authority.to_owned(),
        })
    }

    /// The origin as the web serialises it (scheme, host and port; the scheme's default port
    /// left out, the host in lower case): what a checkpoint records as its account.
    pub fn serialized(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        let default_port = if self.https { ":443" } else { ":80" };
        let authority = self.authority.to_ascii_lowercase();
        let authority = authority.strip_suffix(default_port).unwrap_or(&authority);
        format!("{scheme}://{authority}")
    }
}

/// Resource names this component collects (the registry is `crate::resources::ALL`).
pub const INCREMENTAL_TICKETS: &str = "incremental_tickets";
pub const AUDIT_LOGS: &str = "audit_logs";
pub const ACCESS_LOGS: &str = "access_logs";

/// One requested resource after validation.
#[derive(Debug, Clone)]
pub struct ResourceSettings {
    pub name: String,
    pub page_size: Option<u32>,
    pub lag_seconds: Option<u64>,
    /// Requests per rate window to this resource's endpoint; none = its documented limit.
    pub requests_per_window: Option<u32>,
    pub overlap_seconds: Option<u64>,
}

/// The validated settings of one pass.
#[derive(Debug, Clone)]
pub struct PassSettings {
    pub origin: Origin,
    pub resources: Vec<ResourceSettings>,
    pub max_pages: u32,
    pub start_time: Option<i64>,
    pub lookback_seconds: u64,
    pub pass_start: i64,
    pub prefix: String,
    pub ndjson: bool,
    pub retry: RetryPolicy,
    pub max_page_bytes: u64,
    /// Length of a rate window, and the account's requests per window.
    pub rate_window_ms: u64,
    pub account_requests: u32,
}

/// What is wrong with the settings.
#[derive(Debug, PartialEq, Eq)]
pub enum SettingsError {
    Invalid(String),
    UnknownResource(String),
}

/// `S3_PREFIX` normalised to end in exactly one `/`; empty stays empty, so `zendesk/crm` and
/// `zendesk/crm/` give the same keys.
pub fn normalize_prefix(prefix: &str) -> String {
    let trimmed = prefix.trim_end_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("{trimmed}/")
    }
}

impl PassSettings {
    /// Where a resource with no checkpoint starts: `START_TIME`, else
    /// `pass start - LOOKBACK_SECONDS`, never before 1970. Resources may clamp it further.
    pub fn first_start(&self) -> i64 {
        let lookback = i64::try_from(self.lookback_seconds).unwrap_or(i64::MAX);
        self.start_time
            .unwrap_or_else(|| self.pass_start.saturating_sub(lookback))
            .max(0)
    }

    /// Validates `s` for a component that knows the resources `known`.
    pub fn from_wit(s: Settings, known: &[&str]) -> Result<PassSettings, SettingsError> {
        let origin = Origin::parse(&s.base_url).map_err(SettingsError::Invalid)?;
        if s.resources.is_empty() {
            return Err(SettingsError::Invalid("no resource to collect".into()));
        }
        let mut resources: Vec<ResourceSettings> = Vec::new();
        for r in s.resources {
            if !known.contains(&r.name.as_str()) {
                return Err(SettingsError::UnknownResource(format!(
                    "{:?} is not a resource this collector knows; known: {}",
                    r.name,
                    known.join(", ")
                )));
            }
            if resources.iter().any(|seen| seen.name == r.name) {
                return Err(SettingsError::Invalid(format!(
                    "resource {:?} is listed twice",
                    r.name
                )));
            }
            if r.page_size == Some(0) {
                return Err(SettingsError::Invalid(format!(
                    "page size of {:?} must be at least 1",
                    r.name
                )));
            }
            if r.requests_per_window == Some(0) {
                return Err(SettingsError::Invalid(format!(
                    "requests per rate window of {:?} must be at least 1",
                    r.name
                )));
            }
            resources.push(ResourceSettings {
                name: r.name,
                page_size: r.page_size,
                lag_seconds: r.lag_seconds,
                requests_per_window: r.requests_per_window,
                overlap_seconds: r.overlap_seconds,
            });
        }
        if s.max_pages == 0 {
            return Err(SettingsError::Invalid(
                "MAX_PAGES must be at least 1".into(),
            ));
        }
        if let Some(start) = s.start_time
            && (start < 0 || start > s.pass_start)
        {
            return Err(SettingsError::Invalid(format!(
                "START_TIME {start} must be between 0 and the pass start {}",
                s.pass_start
            )));
        }
        if s.pass_start <= 0 {
            return Err(SettingsError::Invalid(
                "pass start must be after 1970".into(),
            ));
        }
        if s.retry.timeout_ms == 0 {
            return Err(SettingsError::Invalid(
                "HTTP_TIMEOUT must be positive".into(),
            ));
        }
        if s.max_page_bytes == 0 {
            return Err(SettingsError::Invalid(
                "max page bytes must be positive".into(),
            ));
        }
        if s.rate.window_ms == 0 {
            return Err(SettingsError::Invalid(
                "rate window must be positive".into(),
            ));
        }
        if s.rate.account_requests == 0 {
            return Err(SettingsError::Invalid(
                "ACCOUNT_RATE_LIMIT must be at least 1".into(),
            ));
        }
        Ok(PassSettings {
            origin,
            resources,
            max_pages: s.max_pages,
            start_time: s.start_time,
            lookback_seconds: s.lookback_seconds,
            pass_start: s.pass_start,
            prefix: normalize_prefix(&s.object_prefix),
            ndjson: matches!(s.output_format, OutputFormat::Ndjson),
            retry: s.retry,
            max_page_bytes: s.max_page_bytes,
            rate_window_ms: s.rate.window_ms,
            account_requests: s.rate.account_requests,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ends_in_exactly_one_slash() {
        assert_eq!(normalize_prefix("zendesk/crm"), "zendesk/crm/");
        assert_eq!(normalize_prefix("zendesk/crm/"), "zendesk/crm/");
        assert_eq!(normalize_prefix("zendesk/crm//"), "zendesk/crm/");
        assert_eq!(normalize_prefix(""), "");
        assert_eq!(normalize_prefix("/"), "");
    }

    #[test]
    fn an_origin_is_serialised_as_the_web_does() {
        let o = |u: &str| Origin::parse(u).unwrap().serialized();
        assert_eq!(o("https://Acme.Zendesk.com/"), "https://acme.zendesk.com");
        assert_eq!(
            o("https://acme.zendesk.com:443"),
            "https://acme.zendesk.com"
        );
        assert_eq!(
            o("https://acme.zendesk.com:8443"),
            "https://acme.zendesk.com:8443"
        );
        assert_eq!(o("http://127.0.0.1:80"), "http://127.0.0.1");
        assert_eq!(o("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
    }

    #[test]
    fn origin_accepts_scheme_and_host_only() {
        let o = Origin::parse("https://acme.zendesk.com/").unwrap();
        assert_eq!(o.authority, "acme.zendesk.com");
        assert!(o.https);
        assert!(Origin::parse("http://127.0.0.1:8080").is_ok());
        assert!(Origin::parse("acme.zendesk.com").is_err());
        assert!(Origin::parse("https://acme.zendesk.com/api/v2").is_err());
        assert!(Origin::parse("https://user@acme.zendesk.com").is_err());
        assert!(Origin::parse("https://").is_err());
    }
}
