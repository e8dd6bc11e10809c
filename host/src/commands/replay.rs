//! `replay`: a recorded pass again, answered from its cassette, on virtual time, into a
//! directory of its own.

use std::sync::Arc;

use crate::cassette::Cassette;
use crate::cassette::session::Session;
use crate::cli::ReplayArgs;
use crate::config::{
    CollectConfig, HttpConfig, PassConfig, RateConfig, RuntimeConfig, StoreConfig, ZendeskConfig,
};
use crate::egress::EgressPolicy;
use crate::error::HostError;
use crate::exit::Exit;
use crate::runtime::Runtime;

/// `replay`: the cassette's pass again, answered from the cassette, on virtual time.
pub async fn replay(args: ReplayArgs) -> Exit {
    match prepare(args) {
        Ok((runtime, config, session)) => super::run::run_once(runtime, config, session).await,
        Err(e) => e.report(),
    }
}

/// The cassette, the host's side of its pass and the component, or why the cassette cannot
/// be replayed.
fn prepare(args: ReplayArgs) -> Result<(Runtime, PassConfig, Session), HostError> {
    let cassette = Cassette::load(&args.cassette).map_err(|e| HostError::Replay(e.to_string()))?;
    let settings = cassette
        .settings
        .to_settings()
        .map_err(|e| HostError::Replay(format!("{}: {e}", args.cassette.display())))?;
    // The replayed pass starts from the cassette's checkpoint, so it writes into a directory
    // of its own: anything already there would make it another pass.
    if std::fs::read_dir(&args.out).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(HostError::Replay(format!(
            "replay writes into an empty or new directory, and {} is not empty",
            args.out.display()
        )));
    }
    let config = replay_config(&args, &cassette).map_err(|e| HostError::Replay(e.to_string()))?;
    let runtime = crate::runtime::load(&config).map_err(HostError::Component)?;
    Ok((
        runtime,
        config,
        Session::replay(args.cassette, cassette, settings),
    ))
}

/// The host side of a replayed pass: the cassette's origin (with no credentials), checkpoint
/// key, deadline and memory cap. Settings the guest receives come from the cassette as such.
fn replay_config(args: &ReplayArgs, c: &Cassette) -> anyhow::Result<PassConfig> {
    let s = &c.settings;
    Ok(PassConfig {
        feed: None,
        zendesk: ZendeskConfig {
            base_url: s.base_url.clone(),
            // A replay holds no credentials; the mode only shapes messages.
            auth_mode: crate::credentials::AuthMode::Bearer,
            egress: Arc::new(EgressPolicy::without_credentials(&s.base_url)?),
        },
        collect: CollectConfig {
            resources: s.resources.iter().map(|r| r.name.clone()).collect(),
            page_size: None,
            max_pages: s.max_pages,
            start_time: s.start_time,
            lookback_seconds: s.lookback_seconds,
            audit_lag_seconds: 0,
            access_log_lag_seconds: 0,
            access_log_overlap_seconds: 0,
            output_format: s.to_settings()?.output_format,
            max_page_bytes: s.max_page_bytes,
        },
        http: HttpConfig {
            http_timeout_secs: s.retry.timeout_ms / 1000,
            http_retries: s.retry.retries,
            max_retry_wait_secs: s.retry.max_backoff_ms / 1000,
        },
        // The guest's budget comes from the cassette's settings; these mirror them.
        rate: RateConfig {
            export_rate_limit: s
                .resources
                .iter()
                .find_map(|r| r.requests_per_window)
                .unwrap_or(10),
            account_rate_limit: s.rate.account_requests,
            rate_window: std::time::Duration::from_millis(s.rate.window_ms),
        },
        // A replay stores into its own local directory, uncompressed: what the guest stored,
        // byte for byte.
        store: StoreConfig {
            prefix: s.object_prefix.clone(),
            state_key: c.host.state_key.clone(),
            out: args.out.clone(),
            s3: None,
            gcs: None,
            compression: crate::storage::gzip::Compression::None,
            reset_state: false,
        },
        runtime: RuntimeConfig {
            component: args.component.clone(),
            pass_start: Some(c.pass_start),
            deadline: std::time::Duration::from_millis(c.host.deadline_ms),
            memory_limit_bytes: usize::try_from(c.host.memory_limit_bytes).unwrap_or(usize::MAX),
            cache_dir: args
                .cache_dir
                .clone()
                .or_else(crate::config::default_cache_dir),
        },
    })
}
