//! Command-line flags. Every non-secret setting is a flag and the guide's environment
//! variable (flag wins). Secrets are not here at all: see `credentials.rs`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::credentials::AuthMode;

#[derive(Debug, Parser)]
#[command(
    name = "zendesk-crm",
    // The crate version, the commit and the embedded component's SHA-256 (host/build.rs).
    version = env!("ZENDESK_CRM_LONG_VERSION"),
    about = "Collects Zendesk Support security logs \
    (audit logs, incremental ticket export, access logs) into S3 or a local directory, through a sandboxed component."
)]
pub struct Cli {
    /// Log output on stderr.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true, hide_env_values = true)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Runs one collection pass and prints a JSON summary on stdout.
    Run(RunArgs),
    /// Runs a pass at once and then on an interval, until SIGINT/SIGTERM; prints one JSON
    /// summary line per pass.
    Serve(ServeArgs),
    /// Tries everything a pass needs without collecting: the configuration, the credentials
    /// (a token request in the OAuth modes), each resource (one cheap request), the clock, the
    /// store (writes designed to fail) and the checkpoint. Stores no page and moves no
    /// checkpoint; prints every problem with its fix.
    Check(CheckArgs),
    /// Runs one pass like `run` and also writes every HTTP exchange, the settings and the
    /// initial checkpoint to a cassette, which `replay` runs again with no network.
    Record(RecordArgs),
    /// Runs the pass recorded in a cassette again, answering the component from it: no
    /// network, no credentials, and byte-identical objects and checkpoint.
    Replay(ReplayArgs),
    /// Writes a copy of a cassette with customer data (names, e-mail addresses, subjects,
    /// descriptions, comments, field values) replaced, keeping structure, ids, times and
    /// cursors, so it can be attached to a bug report and still replays.
    RedactCassette(RedactArgs),
    /// OAuth helpers: `oauth login` approves a client once, for AUTH_MODE=refresh_token.
    Oauth(OauthArgs),
    /// Prints a shell completion script on stdout, e.g.
    /// `zendesk-crm completions bash > /etc/bash_completion.d/zendesk-crm`.
    Completions(CompletionsArgs),
    /// Prints a manual page (roff) on stdout, e.g. `zendesk-crm man | man -l -`, or
    /// `zendesk-crm man run` for a subcommand's page.
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub struct OauthArgs {
    #[command(subcommand)]
    pub command: OauthCommand,
}

#[derive(Debug, Subcommand)]
pub enum OauthCommand {
    /// Prints the authorization URL (PKCE), takes the redirect on the loopback redirect URI
    /// (or a pasted code with --paste), exchanges the code and writes the refresh-token file.
    Login(LoginArgs),
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Zendesk account URL, scheme and host only.
    #[arg(long, env = "ZENDESK_BASE_URL", hide_env_values = true)]
    pub base_url: String,

    /// The OAuth client's Identifier (the secret is ZENDESK_CLIENT_SECRET or
    /// ZENDESK_CLIENT_SECRET_FILE).
    #[arg(long, env = "ZENDESK_CLIENT_ID", hide_env_values = true)]
    pub client_id: String,

    /// Where to write the refresh token (a writable path; replaced atomically).
    #[arg(long, env = "ZENDESK_REFRESH_TOKEN_FILE", hide_env_values = true)]
    pub refresh_token_file: PathBuf,

    /// The redirect URI registered on the client. On loopback http it is listened on.
    #[arg(long, env = "ZENDESK_OAUTH_REDIRECT_URI", default_value = crate::oauth_login::DEFAULT_REDIRECT_URI, hide_env_values = true)]
    pub redirect_uri: String,

    /// Scopes to ask for, space-separated (default: the least RESOURCES need).
    #[arg(long, env = "ZENDESK_OAUTH_SCOPES", hide_env_values = true)]
    pub scopes: Option<String>,

    /// The resources the grant is for (for the default scopes).
    #[arg(
        long,
        env = "RESOURCES",
        default_value = "audit_logs,incremental_tickets",
        hide_env_values = true
    )]
    pub resources: String,

    /// Read the code, or the whole URL the browser was sent to, from stdin instead of
    /// listening on the redirect URI.
    #[arg(long)]
    pub paste: bool,

    /// Seconds allowed for the token request.
    #[arg(
        long,
        env = "HTTP_TIMEOUT",
        default_value_t = 60,
        hide_env_values = true
    )]
    pub http_timeout: u64,

    /// The way to Zendesk, as for `run`.
    #[command(flatten)]
    pub network: NetworkArgs,
}

/// How requests reach Zendesk, for every command that sends one (`run`, `serve`, `record`,
/// `oauth login`): one definition, so the flags and variables cannot drift apart.
#[derive(Debug, Clone, Default, Args)]
pub struct NetworkArgs {
    /// HTTPS through this proxy (`CONNECT`), `http://[user:password@]host:port`. Prefer the
    /// variable to the flag when it holds a password.
    #[arg(long, env = "HTTPS_PROXY", hide_env_values = true)]
    pub https_proxy: Option<String>,

    /// Hosts and domain suffixes reached without the proxy, comma-separated (`*`: all).
    #[arg(long, env = "NO_PROXY", hide_env_values = true)]
    pub no_proxy: Option<String>,

    /// PEM file of CA certificates trusted for the Zendesk origin, besides the web roots (a
    /// TLS-inspecting proxy's CA).
    #[arg(long, env = "ZENDESK_CA_BUNDLE", hide_env_values = true)]
    pub ca_bundle: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// A subcommand's page (`run`, `serve`, …) instead of the main one.
    pub subcommand: Option<String>,
}

#[derive(Debug, Args)]
pub struct RedactArgs {
    /// The cassette to redact (left as it is).
    #[arg(long)]
    pub cassette: PathBuf,

    /// Where to write the redacted copy.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Prints the report as JSON (schema in docs/operating.md) instead of text.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Args)]
pub struct RecordArgs {
    /// Where to write the cassette (replaced if it exists).
    #[arg(long)]
    pub cassette: PathBuf,

    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The cassette to replay.
    #[arg(long)]
    pub cassette: PathBuf,

    /// An empty (or new) directory for the objects and checkpoint the replayed pass stores.
    #[arg(long)]
    pub out: PathBuf,

    /// Run this component instead of the embedded one.
    #[arg(long, env = "ZENDESK_CRM_COMPONENT", hide_env_values = true)]
    pub component: Option<PathBuf>,

    /// Where compiled code is cached between runs (as for `run`).
    #[arg(long, env = "ZENDESK_CRM_CACHE_DIR", hide_env_values = true)]
    pub cache_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Time between pass starts, e.g. `1h`, `15m`. A pass that overruns delays the next one.
    /// With `--feeds`, the default of feeds that set no `every` of their own.
    #[arg(long, env = "SCHEDULE_EVERY", value_parser = humantime::parse_duration, required_unless_present = "feeds", hide_env_values = true)]
    pub every: Option<std::time::Duration>,

    /// Serve Prometheus metrics on this address (`GET /metrics`), e.g. `127.0.0.1:9184`.
    #[arg(long, env = "METRICS_ADDR", hide_env_values = true)]
    pub metrics_addr: Option<std::net::SocketAddr>,

    #[command(flatten)]
    pub run: RunArgs,
}

/// Many accounts in one process (see `feeds/` and `schedule.rs`).
#[derive(Debug, Clone, Args)]
pub struct FeedsArgs {
    /// A TOML file with one `[[feed]]` per Zendesk account; settings a feed does not give come
    /// from these flags and their variables.
    #[arg(
        id = "feeds",
        long = "feeds",
        env = "FEEDS_FILE",
        hide_env_values = true
    )]
    pub file: Option<PathBuf>,

    /// With `--feeds`: most passes running at once (never two of one feed).
    #[arg(long, env = "MAX_CONCURRENT_PASSES", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..), hide_env_values = true)]
    pub max_concurrent_passes: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormatArg {
    /// One object per page, the body as Zendesk sent it.
    Json,
    /// One record per line.
    Ndjson,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompressionArg {
    None,
    Gzip,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub feeds: FeedsArgs,

    /// Zendesk account URL, scheme and host only.
    #[arg(
        long,
        env = "ZENDESK_BASE_URL",
        required_unless_present = "feeds",
        hide_env_values = true
    )]
    pub base_url: Option<String>,

    /// `token` (Basic, ZENDESK_EMAIL + ZENDESK_API_TOKEN; ends 2027-04-30), `bearer`
    /// (ZENDESK_BEARER_TOKEN), `client_credentials` (ZENDESK_CLIENT_ID + secret; recommended)
    /// or `refresh_token` (ZENDESK_CLIENT_ID + secret + ZENDESK_REFRESH_TOKEN_FILE).
    #[arg(long, env = "AUTH_MODE", value_enum, default_value_t = AuthMode::Token, hide_env_values = true)]
    pub auth_mode: AuthMode,

    /// Agent e-mail for `token` mode.
    #[arg(long, env = "ZENDESK_EMAIL", hide_env_values = true)]
    pub email: Option<String>,

    /// OAuth client Identifier, for `client_credentials` and `refresh_token` (the secret is
    /// ZENDESK_CLIENT_SECRET or ZENDESK_CLIENT_SECRET_FILE).
    #[arg(long, env = "ZENDESK_CLIENT_ID", hide_env_values = true)]
    pub client_id: Option<String>,

    /// Scopes a `client_credentials` token asks for, space- or comma-separated (default: the
    /// least the resources need).
    #[arg(long, env = "ZENDESK_OAUTH_SCOPES", hide_env_values = true)]
    pub oauth_scopes: Option<String>,

    /// For `refresh_token`: the writable file holding the rotating refresh token.
    #[arg(long, env = "ZENDESK_REFRESH_TOKEN_FILE", hide_env_values = true)]
    pub refresh_token_file: Option<PathBuf>,

    /// Resources to collect, comma-separated.
    #[arg(
        long,
        env = "RESOURCES",
        default_value = "audit_logs,incremental_tickets",
        hide_env_values = true
    )]
    pub resources: String,

    /// Most pages per resource per pass.
    #[arg(long, env = "MAX_PAGES", default_value_t = 20, hide_env_values = true)]
    pub max_pages: u32,

    /// How far back a first run starts, in seconds (when START_TIME is not set).
    #[arg(
        long,
        env = "LOOKBACK_SECONDS",
        default_value_t = 3600,
        hide_env_values = true
    )]
    pub lookback_seconds: u64,

    /// Where a first run starts, Unix seconds (0 = all history).
    #[arg(long, env = "START_TIME", hide_env_values = true)]
    pub start_time: Option<i64>,

    /// Seconds allowed for each request, body included.
    #[arg(
        long,
        env = "HTTP_TIMEOUT",
        default_value_t = 60,
        hide_env_values = true
    )]
    pub http_timeout: u64,

    /// Retries after a 429, 5xx or transport error.
    #[arg(
        long,
        env = "HTTP_RETRIES",
        default_value_t = 3,
        hide_env_values = true
    )]
    pub http_retries: u32,

    /// Audit logs: how far behind the pass start each window ends, in seconds, so events that
    /// become visible late still fall in a later window.
    #[arg(
        long,
        env = "AUDIT_LAG_SECONDS",
        default_value_t = 120,
        hide_env_values = true
    )]
    pub audit_lag_seconds: u64,

    /// Access logs: how far behind the pass start each window ends, in seconds.
    #[arg(
        long,
        env = "ACCESS_LOG_LAG_SECONDS",
        default_value_t = 120,
        hide_env_values = true
    )]
    pub access_log_lag_seconds: u64,

    /// Access logs: how far before the newest stored event a later pass starts again, in
    /// seconds (events already stored are skipped by id), so late arrivals are caught.
    #[arg(
        long,
        env = "ACCESS_LOG_OVERLAP_SECONDS",
        default_value_t = 300,
        hide_env_values = true
    )]
    pub access_log_overlap_seconds: u64,

    /// Records per request (each resource's maximum when unset).
    #[arg(long, env = "PAGE_SIZE", hide_env_values = true)]
    pub page_size: Option<u32>,

    /// Prefix of page objects.
    #[arg(
        long,
        env = "S3_PREFIX",
        default_value = crate::config::DEFAULT_PREFIX,
        hide_env_values = true
    )]
    pub s3_prefix: String,

    /// Key of the checkpoint.
    #[arg(
        long,
        env = "STATE_KEY",
        default_value = "zendesk/crm/state.json",
        hide_env_values = true
    )]
    pub state_key: String,

    /// S3 bucket that holds the objects and the checkpoint (instead of a local directory).
    #[arg(long, env = "S3_BUCKET", hide_env_values = true)]
    pub s3_bucket: Option<String>,

    /// Google Cloud Storage bucket that holds the objects and the checkpoint (instead of S3 or
    /// a local directory). `STORAGE_EMULATOR_HOST` points it at an emulator.
    #[arg(long, env = "GCS_BUCKET", hide_env_values = true)]
    pub gcs_bucket: Option<String>,

    /// The prefix of page objects under the name Google's Cloud Storage guide gives it (an
    /// alias of S3_PREFIX; setting both is an error).
    #[arg(long, env = "GCS_PREFIX", hide_env_values = true)]
    pub gcs_prefix: Option<String>,

    /// S3-compatible endpoint URL, e.g. `http://127.0.0.1:9000` (also `AWS_ENDPOINT_URL_S3` or
    /// `AWS_ENDPOINT_URL`); any endpoint switches to path-style addressing.
    #[arg(long)]
    pub s3_endpoint: Option<String>,

    /// KMS key id or ARN: objects and the checkpoint are written with SSE-KMS under it.
    #[arg(long, env = "SSE_KMS_KEY_ID", hide_env_values = true)]
    pub sse_kms_key_id: Option<String>,

    /// Local directory that holds the objects and the checkpoint (the default store, in
    /// `zendesk-crm-data` when unset). Setting it together with S3_BUCKET is an error.
    #[arg(long, env = "ZENDESK_CRM_OUT", hide_env_values = true)]
    pub out: Option<PathBuf>,

    /// `none` or `gzip`: page objects compressed, as `….json.gz`/`….ndjson.gz` with
    /// `Content-Encoding: gzip`.
    #[arg(long, env = "OUTPUT_COMPRESSION", value_enum, default_value_t = CompressionArg::None, hide_env_values = true)]
    pub output_compression: CompressionArg,

    /// `json` (pages as sent) or `ndjson` (one record per line).
    #[arg(long, env = "OUTPUT_FORMAT", value_enum, default_value_t = OutputFormatArg::Json, hide_env_values = true)]
    pub output_format: OutputFormatArg,

    /// Largest page accepted, in bytes after decompression.
    #[arg(long, env = "MAX_PAGE_BYTES", default_value_t = 256 * 1024 * 1024, hide_env_values = true)]
    pub max_page_bytes: u64,

    /// Longest wait for a single back-off or `Retry-After`, in seconds.
    #[arg(
        long,
        env = "MAX_RETRY_WAIT",
        default_value_t = 300,
        hide_env_values = true
    )]
    pub max_retry_wait: u64,

    /// Requests a minute to the incremental ticket export: Zendesk allows 10, or 30 with the
    /// High Volume API add-on. Retries count too.
    #[arg(
        long,
        env = "EXPORT_RATE_LIMIT",
        default_value_t = 10,
        hide_env_values = true
    )]
    pub export_rate_limit: u32,

    /// Requests a minute for the whole account, all resources together: the plan's limit
    /// (Team 200, Growth and Professional 400, Enterprise 700, Enterprise Plus or the High
    /// Volume add-on 2500). Audit logs have no limit of their own besides this one.
    #[arg(
        long,
        env = "ACCOUNT_RATE_LIMIT",
        default_value_t = 200,
        hide_env_values = true
    )]
    pub account_rate_limit: u32,

    /// Wall-clock budget of a pass, e.g. `50m`. Near it the component stops after the page in
    /// flight (no request or wait outlives it); a component that does not return within 30 s
    /// more (or the deadline again, when shorter) is stopped, even in a CPU loop.
    #[arg(long, env = "PASS_DEADLINE", value_parser = humantime::parse_duration, default_value = "50m", hide_env_values = true)]
    pub deadline: std::time::Duration,

    /// Most linear memory the component may use, in MiB.
    #[arg(
        long,
        env = "MEMORY_LIMIT_MIB",
        default_value_t = 1024,
        hide_env_values = true
    )]
    pub memory_limit_mib: u64,

    /// Where compiled code is cached between runs (must be writable; on a read-only root
    /// filesystem point it at a volume). Default: $XDG_CACHE_HOME or ~/.cache, then
    /// `zendesk-crm`; none when neither is set.
    #[arg(long, env = "ZENDESK_CRM_CACHE_DIR", hide_env_values = true)]
    pub cache_dir: Option<PathBuf>,

    /// The way to Zendesk: proxy and CA bundle.
    #[command(flatten)]
    pub network: NetworkArgs,

    /// Move the existing checkpoint aside (kept as `STATE_KEY.reset-<unix>`; in S3 a copy,
    /// which the first save then replaces) and start again as a first run.
    #[arg(long)]
    pub reset_state: bool,

    /// Run this component instead of the embedded one.
    #[arg(long, env = "ZENDESK_CRM_COMPONENT", hide_env_values = true)]
    pub component: Option<PathBuf>,

    /// Test only: the pass start, Unix seconds, instead of the system clock (aligns the host
    /// with a simulator's clock).
    #[arg(long, env = "ZENDESK_CRM_PASS_START", hide = true)]
    pub pass_start: Option<i64>,

    /// Test only: the length of a rate window (Zendesk's is a minute), so tests of the rate
    /// budget need not wait minutes.
    #[arg(long, env = "ZENDESK_CRM_RATE_WINDOW", value_parser = humantime::parse_duration, default_value = "60s", hide = true)]
    pub rate_window: std::time::Duration,
}
