//! The validated configuration of a pass, built once from the flags and the environment; the
//! rest of the host works only with this.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::bindings::OutputFormat;
use crate::cli::{CompressionArg, OutputFormatArg, RunArgs};
use crate::credentials::{AuthMode, Credentials, CredentialsError, OAuthSettings};
use crate::egress::EgressPolicy;
use crate::storage::gcs::GcsSettings;
use crate::storage::gzip::Compression;
use crate::storage::normalize_prefix;
use crate::storage::s3::S3Settings;

/// The local store's directory when neither `--out` nor `S3_BUCKET` is set.
pub(crate) const DEFAULT_OUT: &str = "zendesk-crm-data";

/// `S3_PREFIX`'s default (the guide's).
pub(crate) const DEFAULT_PREFIX: &str = "zendesk/crm/";

mod error;
mod settings;
mod store;

pub use error::ConfigError;

/// A pass's settings, validated, grouped by what they are about.
#[derive(Debug)]
pub struct PassConfig {
    /// The feed's name when it comes from a feeds file (in summaries, logs and metrics); none
    /// for the one account of the flags and environment.
    pub feed: Option<String>,
    pub zendesk: ZendeskConfig,
    pub collect: CollectConfig,
    pub http: HttpConfig,
    pub rate: RateConfig,
    pub store: StoreConfig,
    pub runtime: RuntimeConfig,
}

/// The account: where it is, how the host signs in, the one door out.
#[derive(Debug)]
pub struct ZendeskConfig {
    pub base_url: String,
    pub auth_mode: AuthMode,
    pub egress: Arc<EgressPolicy>,
}

/// What to collect and from where to start.
#[derive(Debug)]
pub struct CollectConfig {
    pub resources: Vec<String>,
    pub page_size: Option<u32>,
    pub max_pages: u32,
    pub start_time: Option<i64>,
    pub lookback_seconds: u64,
    pub audit_lag_seconds: u64,
    pub access_log_lag_seconds: u64,
    pub access_log_overlap_seconds: u64,
    pub output_format: OutputFormat,
    pub max_page_bytes: u64,
}

/// Each request's timeout and retries.
#[derive(Debug)]
pub struct HttpConfig {
    pub http_timeout_secs: u64,
    pub http_retries: u32,
    pub max_retry_wait_secs: u64,
}

/// The rate budget the component keeps to.
#[derive(Debug)]
pub struct RateConfig {
    pub export_rate_limit: u32,
    pub account_rate_limit: u32,
    pub rate_window: Duration,
}

/// Where objects and the checkpoint go.
#[derive(Debug)]
pub struct StoreConfig {
    pub prefix: String,
    pub state_key: String,
    pub out: PathBuf,
    /// Set when S3 holds the objects and the checkpoint (`out` is then unused).
    pub s3: Option<S3Settings>,
    /// Set when Google Cloud Storage holds them (`out` is then unused).
    pub gcs: Option<GcsSettings>,
    pub compression: Compression,
    pub reset_state: bool,
}

/// How the component runs: which one, its clock, deadline, memory and compiled-code cache.
#[derive(Debug)]
pub struct RuntimeConfig {
    pub component: Option<PathBuf>,
    pub pass_start: Option<i64>,
    pub deadline: Duration,
    pub memory_limit_bytes: usize,
    pub cache_dir: Option<PathBuf>,
}

impl PassConfig {
    /// Validates `args`; secrets come from `env` (the process environment in production).
    pub fn from_args(
        args: RunArgs,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<PassConfig, ConfigError> {
        PassConfig::build(args, &env, |args| {
            Credentials::load_any(
                args.auth_mode,
                args.email.as_deref(),
                &oauth_settings(args),
                &env,
            )
        })
    }

    /// The one validation of a pass's settings, for the single account and for each feed of a
    /// feeds file alike; `env` is the process environment (the SDK's endpoint variables),
    /// `credentials` reads the secret the settings call for.
    pub fn build(
        args: RunArgs,
        env: &dyn Fn(&str) -> Option<String>,
        credentials: impl FnOnce(&RunArgs) -> Result<Credentials, CredentialsError>,
    ) -> Result<PassConfig, ConfigError> {
        let mut args = args;
        let mut problems: Vec<ConfigError> = Vec::new();
        let (s3, gcs) = store::select(&mut args, env, &mut problems);
        // The URL and the credentials are checked independently; what needs both (the
        // policy with its credentials, the proxy route, the token source) only when both
        // are valid.
        let base_url = match args.base_url.clone() {
            None => {
                problems.push(ConfigError::MissingBaseUrl);
                None
            }
            Some(url) => match EgressPolicy::without_credentials(&url) {
                Ok(policy) => Some((url, policy)),
                Err(e) => {
                    problems.push(e.into());
                    None
                }
            },
        };
        let (base_url, policy) = base_url.unzip();
        let credentials = credentials(&args).map_err(|e| problems.push(e.into())).ok();
        let egress = match (&base_url, policy, &credentials) {
            (Some(url), Some(policy), Some(credentials)) => {
                match egress(url, policy, credentials, &args) {
                    Ok(egress) => Some(egress),
                    Err(e) => {
                        problems.push(e);
                        None
                    }
                }
            }
            _ => None,
        };
        let resources = resource_list(&args.resources);
        if resources.is_empty() {
            problems.push(ConfigError::NoResources);
        }
        let zero = [
            (args.max_pages == 0, "MAX_PAGES"),
            (args.http_timeout == 0, "HTTP_TIMEOUT"),
            (args.memory_limit_mib == 0, "MEMORY_LIMIT_MIB"),
            (args.deadline.is_zero(), "PASS_DEADLINE"),
            (args.page_size == Some(0), "PAGE_SIZE"),
            (args.export_rate_limit == 0, "EXPORT_RATE_LIMIT"),
            (args.account_rate_limit == 0, "ACCOUNT_RATE_LIMIT"),
            (
                args.rate_window.as_millis() == 0,
                "ZENDESK_CRM_RATE_WINDOW (in milliseconds)",
            ),
        ];
        for (is_zero, name) in zero {
            if is_zero {
                problems.push(ConfigError::Zero(name));
            }
        }
        if let Some(e) = ConfigError::from_problems(problems) {
            return Err(e);
        }
        let (Some(base_url), Some(egress)) = (base_url, egress) else {
            // Both are set whenever no problem was found; this only keeps the types honest.
            return Err(ConfigError::MissingBaseUrl);
        };
        Ok(PassConfig {
            feed: None,
            zendesk: ZendeskConfig {
                base_url: base_url.trim_end_matches('/').to_owned(),
                auth_mode: args.auth_mode,
                egress: Arc::new(egress),
            },
            collect: CollectConfig {
                resources,
                page_size: args.page_size,
                max_pages: args.max_pages,
                start_time: args.start_time,
                lookback_seconds: args.lookback_seconds,
                audit_lag_seconds: args.audit_lag_seconds,
                access_log_lag_seconds: args.access_log_lag_seconds,
                access_log_overlap_seconds: args.access_log_overlap_seconds,
                output_format: match args.output_format {
                    OutputFormatArg::Json => OutputFormat::Json,
                    OutputFormatArg::Ndjson => OutputFormat::Ndjson,
                },
                max_page_bytes: args.max_page_bytes,
            },
            http: HttpConfig {
                http_timeout_secs: args.http_timeout,
                http_retries: args.http_retries,
                max_retry_wait_secs: args.max_retry_wait,
            },
            rate: RateConfig {
                export_rate_limit: args.export_rate_limit,
                account_rate_limit: args.account_rate_limit,
                rate_window: args.rate_window,
            },
            store: StoreConfig {
                prefix: args.s3_prefix,
                state_key: args.state_key,
                out: args.out.unwrap_or_else(|| PathBuf::from(DEFAULT_OUT)),
                s3,
                gcs,
                compression: match args.output_compression {
                    CompressionArg::None => Compression::None,
                    CompressionArg::Gzip => Compression::Gzip,
                },
                reset_state: args.reset_state,
            },
            runtime: RuntimeConfig {
                component: args.component,
                pass_start: args.pass_start,
                deadline: args.deadline,
                memory_limit_bytes: usize::try_from(args.memory_limit_mib.saturating_mul(1 << 20))
                    .unwrap_or(usize::MAX),
                cache_dir: args.cache_dir.or_else(default_cache_dir),
            },
        })
    }

    /// True when the checkpoint lies under the objects' prefix, where the SIEM feed reads
    /// (and, with source deletion, deletes) it.
    pub fn state_key_under_prefix(&self) -> bool {
        let prefix = normalize_prefix(&self.store.prefix);
        self.store.state_key.starts_with(&prefix)
    }
}

/// The egress policy of a valid URL (its `policy`, checked once) and credentials: the origin, the proxy route, and the
/// OAuth token source when the mode has one.
fn egress(
    base_url: &str,
    policy: EgressPolicy,
    credentials: &Credentials,
    args: &RunArgs,
) -> Result<EgressPolicy, ConfigError> {
    let mut egress = policy.with_credentials(credentials).route(
        args.network.https_proxy.as_deref(),
        args.network.no_proxy.as_deref(),
        args.network.ca_bundle.as_deref(),
    )?;
    if let Some(client) = credentials.oauth() {
        let transport = crate::oauth::Transport {
            timeout: Duration::from_secs(args.http_timeout.max(1)),
            retries: args.http_retries,
            max_wait: Duration::from_secs(args.max_retry_wait),
        };
        let tokens = crate::oauth::TokenSource::new(client, base_url, egress.sender(), transport)?;
        egress = egress.with_tokens(Arc::new(tokens));
    }
    Ok(egress)
}

/// The OAuth settings of `args` (the flags and environment, or a feed merged into them).
pub fn oauth_settings(args: &RunArgs) -> OAuthSettings {
    OAuthSettings {
        client_id: args.client_id.clone(),
        scopes: args.oauth_scopes.clone(),
        refresh_token_file: args.refresh_token_file.clone(),
        resources: args
            .resources
            .split(',')
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_owned)
            .collect(),
    }
}

/// `$XDG_CACHE_HOME/zendesk-crm`, else `~/.cache/zendesk-crm`.
pub(crate) fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("zendesk-crm"))
}

/// The names in a comma-separated `RESOURCES`, trimmed, empty entries dropped.
pub fn resource_list(resources: &str) -> Vec<String> {
    resources
        .split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;
    use crate::cli::{Cli, Command};

    fn config(flags: &[&str]) -> PassConfig {
        let mut argv = vec![
            "zendesk-crm",
            "run",
            "--base-url",
            "https://acme.zendesk.com",
        ];
        argv.extend_from_slice(flags);
        let Command::Run(args) = Cli::try_parse_from(argv).expect("flags parse").command else {
            panic!("not run");
        };
        let env = |k: &str| (k == "ZENDESK_BEARER_TOKEN").then(|| "tok".to_owned());
        PassConfig::from_args(args, env).expect("valid config")
    }

    #[test]
    fn each_resource_gets_its_own_lag_and_only_access_logs_an_overlap() {
        let c = config(&[
            "--auth-mode",
            "bearer",
            "--resources",
            "audit_logs,incremental_tickets,access_logs",
            "--audit-lag-seconds",
            "7",
            "--access-log-lag-seconds",
            "9",
            "--access-log-overlap-seconds",
            "600",
        ]);
        let lags: Vec<_> = c
            .settings(1_700_000_000)
            .resources
            .iter()
            .map(|r| (r.name.clone(), r.lag_seconds, r.overlap_seconds))
            .collect();
        assert_eq!(
            lags,
            [
                ("audit_logs".to_owned(), Some(7), None),
                ("incremental_tickets".to_owned(), None, None),
                ("access_logs".to_owned(), Some(9), Some(600)),
            ]
        );
        let defaults = config(&["--auth-mode", "bearer", "--resources", "access_logs"]);
        let r = &defaults.settings(1_700_000_000).resources[0];
        assert_eq!((r.lag_seconds, r.overlap_seconds), (Some(120), Some(300)));
        // The default stays the guide's two.
        let guide = config(&["--auth-mode", "bearer"]);
        assert_eq!(
            guide.collect.resources,
            ["audit_logs", "incremental_tickets"]
        );
    }

    fn s3_config(flags: &[&str], vars: &[(&str, &str)]) -> Result<PassConfig, ConfigError> {
        let mut argv = vec![
            "zendesk-crm",
            "run",
            "--base-url",
            "https://acme.zendesk.com",
            "--email",
            "agent@example.com",
        ];
        argv.extend_from_slice(flags);
        let Command::Run(args) = Cli::try_parse_from(argv).expect("valid flags").command else {
            unreachable!("run was given")
        };
        let vars: Vec<(String, String)> = [("ZENDESK_API_TOKEN", "t")]
            .iter()
            .chain(vars)
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        PassConfig::from_args(args, |k| {
            vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn s3_bucket_with_an_explicit_out_is_refused_but_not_with_the_default() {
        assert!(matches!(
            s3_config(&["--s3-bucket", "b", "--out", "dir"], &[]),
            Err(ConfigError::TwoStores)
        ));
        let c = s3_config(&["--s3-bucket", "b"], &[]).unwrap();
        let s3 = c.store.s3.expect("S3 selected");
        assert_eq!(s3.bucket, "b");
        assert!(!s3.path_style);
        assert_eq!(
            s3_config(&[], &[]).unwrap().store.out,
            PathBuf::from(DEFAULT_OUT)
        );
    }

    #[test]
    fn any_endpoint_means_path_style_and_the_flag_wins() {
        let c = s3_config(
            &["--s3-bucket", "b"],
            &[("AWS_ENDPOINT_URL", "http://127.0.0.1:9000")],
        )
        .unwrap();
        let s3 = c.store.s3.unwrap();
        assert!(s3.path_style);
        assert_eq!(s3.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        let c = s3_config(
            &["--s3-bucket", "b", "--s3-endpoint", "http://minio:9000"],
            &[("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9000")],
        )
        .unwrap();
        assert_eq!(
            c.store.s3.unwrap().endpoint.as_deref(),
            Some("http://minio:9000")
        );
    }

    #[test]
    fn every_configuration_problem_is_reported_in_one_run() {
        // A plain-http URL, no e-mail, no token, no resources, MAX_PAGES=0.
        let argv = [
            "zendesk-crm",
            "run",
            "--base-url",
            "http://acme.zendesk.com",
            "--max-pages",
            "0",
            "--resources",
            " , ",
        ];
        let Command::Run(args) = Cli::try_parse_from(argv).expect("valid flags").command else {
            unreachable!("run was given")
        };
        let e = PassConfig::from_args(args, |_| None).expect_err("four problems");
        let ConfigError::Many(problems) = &e else {
            panic!("not all at once: {e}");
        };
        assert_eq!(problems.len(), 4, "{e}");
        let text = e.to_string();
        assert!(
            text.starts_with("4 problems in the configuration: (1) "),
            "{text}"
        );
        for part in ["https", "ZENDESK_EMAIL", "RESOURCES is empty", "MAX_PAGES"] {
            assert!(text.contains(part), "{part} missing from: {text}");
        }
    }

    #[test]
    fn gcs_bucket_selects_gcs_and_refuses_a_second_store() {
        let c = s3_config(
            &["--gcs-bucket", "g"],
            &[("STORAGE_EMULATOR_HOST", "127.0.0.1:4443")],
        )
        .unwrap();
        let gcs = c.store.gcs.expect("GCS selected");
        assert_eq!(gcs.bucket, "g");
        assert_eq!(gcs.emulator.as_deref(), Some("127.0.0.1:4443"));
        assert!(c.store.s3.is_none());
        assert!(matches!(
            s3_config(&["--gcs-bucket", "g", "--s3-bucket", "b"], &[]),
            Err(ConfigError::GcsAndAnotherStore("S3_BUCKET"))
        ));
        assert!(matches!(
            s3_config(&["--gcs-bucket", "g", "--out", "dir"], &[]),
            Err(ConfigError::GcsAndAnotherStore(_))
        ));
        assert!(matches!(
            s3_config(&["--gcs-bucket", "g", "--sse-kms-key-id", "k"], &[]),
            Err(ConfigError::KmsWithGcs)
        ));
    }

    #[test]
    fn gcs_prefix_is_an_alias_of_s3_prefix_and_both_together_are_refused() {
        let c = s3_config(&["--gcs-bucket", "g", "--gcs-prefix", "logs/zd/"], &[]).unwrap();
        assert_eq!(c.store.prefix, "logs/zd/");
        assert!(matches!(
            s3_config(&["--gcs-prefix", "a/", "--s3-prefix", "b/"], &[]),
            Err(ConfigError::TwoPrefixes)
        ));
        assert!(matches!(
            s3_config(&["--gcs-prefix", "a/"], &[("S3_PREFIX", "zendesk/crm/")]),
            Err(ConfigError::TwoPrefixes)
        ));
    }

    #[test]
    fn a_state_key_under_the_prefix_is_noticed() {
        assert!(s3_config(&[], &[]).unwrap().state_key_under_prefix());
        let outside = s3_config(&["--state-key", "zendesk/crm-state/state.json"], &[]).unwrap();
        assert!(!outside.state_key_under_prefix());
    }
}
