//! `replay`: a recorded pass again, answered from its cassette, on virtual time, into a
//! directory of its own.

use std::sync::Arc;

use crate::cassette::Cassette;
use crate::cassette::session::Tape;
use crate::cli::ReplayArgs;
use crate::config::PassConfig;
use crate::egress::EgressPolicy;
use crate::exit::Exit;

/// `replay`: the cassette's pass again, answered from the cassette, on virtual time.
pub async fn replay(args: ReplayArgs) -> Exit {
    let cassette = match Cassette::load(&args.cassette) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot replay");
            return Exit::Config;
        }
    };
    let settings = match cassette.settings.to_settings() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, cassette = %args.cassette.display(), "cannot replay");
            return Exit::Config;
        }
    };
    // The replayed pass starts from the cassette's checkpoint, so it writes into a directory
    // of its own: anything already there would make it another pass.
    if std::fs::read_dir(&args.out).is_ok_and(|mut entries| entries.next().is_some()) {
        tracing::error!(out = %args.out.display(), "replay writes into an empty or new directory, and this one is not empty");
        return Exit::Config;
    }
    let config = match replay_config(&args, &cassette) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot replay");
            return Exit::Config;
        }
    };
    let runtime = match crate::runtime::load(&config) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "cannot load the component");
            return Exit::Internal;
        }
    };
    let tape = Tape::Replay {
        path: args.cassette,
        cassette: Box::new(cassette),
        settings: Box::new(settings),
    };
    super::run::run_once(runtime, config, tape).await
}

/// The host side of a replayed pass: the cassette's origin (with no credentials), checkpoint
/// key, deadline and memory cap. Settings the guest receives come from the cassette as such.
fn replay_config(args: &ReplayArgs, c: &Cassette) -> anyhow::Result<PassConfig> {
    let s = &c.settings;
    Ok(PassConfig {
        feed: None,
        base_url: s.base_url.clone(),
        // A replay holds no credentials; the mode only shapes messages.
        auth_mode: crate::credentials::AuthMode::Bearer,
        egress: Arc::new(EgressPolicy::without_credentials(&s.base_url)?),
        resources: s.resources.iter().map(|r| r.name.clone()).collect(),
        page_size: None,
        max_pages: s.max_pages,
        start_time: s.start_time,
        lookback_seconds: s.lookback_seconds,
        audit_lag_seconds: 0,
        // A replay stores into its own local directory, uncompressed: what the guest stored,
        // byte for byte.
        s3: None,
        compression: crate::storage::gzip::Compression::None,
        access_log_lag_seconds: 0,
        access_log_overlap_seconds: 0,
        http_timeout_secs: s.retry.timeout_ms / 1000,
        http_retries: s.retry.retries,
        max_retry_wait_secs: s.retry.max_backoff_ms / 1000,
        prefix: s.object_prefix.clone(),
        state_key: c.host.state_key.clone(),
        out: args.out.clone(),
        output_format: s.to_settings()?.output_format,
        max_page_bytes: s.max_page_bytes,
        reset_state: false,
        component: args.component.clone(),
        pass_start: Some(c.pass_start),
        deadline: std::time::Duration::from_millis(c.host.deadline_ms),
        memory_limit_bytes: usize::try_from(c.host.memory_limit_bytes).unwrap_or(usize::MAX),
        // The guest's budget comes from the cassette's settings; these mirror them.
        export_rate_limit: s
            .resources
            .iter()
            .find_map(|r| r.requests_per_window)
            .unwrap_or(10),
        account_rate_limit: s.rate.account_requests,
        rate_window: std::time::Duration::from_millis(s.rate.window_ms),
        cache_dir: args
            .cache_dir
            .clone()
            .or_else(crate::config::default_cache_dir),
    })
}
