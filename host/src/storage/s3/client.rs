//! The S3 client: the AWS configuration chain, rustls, our retries and timeouts, one client
//! per shape for the life of the process.

use std::time::Duration;

use aws_config::environment::region::EnvironmentVariableRegionProvider;
use aws_config::meta::region::RegionProviderChain;
use aws_config::profile::ProfileFileRegionProvider;
pub use aws_sdk_s3::Client;
use aws_sdk_s3::config::interceptors::InterceptorContext;
use aws_sdk_s3::config::retry::{ClassifyRetry, RetryAction, RetryConfig};
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{BehaviorVersion, Region, RequestChecksumCalculation};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

use super::{OpenError, S3Settings};

/// Attempts per request (the first and four retries) for 5xx, `SlowDown`, 409
/// `ConditionalRequestConflict`, timeouts and connection errors, with the SDK's exponential
/// back-off and jitter.
const MAX_ATTEMPTS: u32 = 5;

/// Region used with an explicit endpoint when none is configured (S3-compatible stores
/// usually ignore it, but requests must be signed for one).
const DEFAULT_COMPATIBLE_REGION: &str = "us-east-1";

/// The S3 client of every store (and of the benchmarks' limit, so both send with one
/// configuration): the standard AWS configuration chain (environment, profile, web identity,
/// ECS and instance-metadata credentials), rustls on ring, our retry and timeout settings.
/// Returns it with the region it signs for. Makes no request.
pub async fn client(settings: &S3Settings) -> Result<(Client, String), OpenError> {
    // rustls on ring: the wasmtime HTTP stack already builds both, and unlike aws-lc it
    // needs no cmake or assembler toolchain.
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if settings.endpoint.is_some() {
        // An S3-compatible store: EC2 instance metadata does not know its region, and asking
        // it off EC2 only logs warnings (twice) before falling back. The environment and the
        // profile still count.
        loader = loader.region(
            RegionProviderChain::first_try(EnvironmentVariableRegionProvider::new())
                .or_else(ProfileFileRegionProvider::new())
                .or_else(Region::new(DEFAULT_COMPATIBLE_REGION)),
        );
    }
    let shared = loader
        .http_client(http)
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(10))
                .operation_attempt_timeout(settings.attempt_timeout)
                .build(),
        )
        .load()
        .await;
    let explicit_endpoint = settings.endpoint.is_some();
    let region = match shared.region() {
        Some(r) => r.clone(),
        None if explicit_endpoint => Region::new(DEFAULT_COMPATIBLE_REGION),
        None => return Err(OpenError::NoRegion),
    };
    let mut config = aws_sdk_s3::config::Builder::from(&shared)
        .region(region.clone())
        .force_path_style(settings.path_style)
        .retry_classifier(ConflictIsTransient)
        // Checksums only where S3 requires them: many S3-compatible stores reject the
        // newer aws-chunked trailers. The payload is still covered by the SigV4 signature.
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired);
    if let Some(endpoint) = &settings.endpoint {
        config = config.endpoint_url(endpoint);
    }
    Ok((Client::from_conf(config.build()), region.to_string()))
}

/// The clients built so far in this process, by what shapes them (endpoint, addressing,
/// attempt timeout): every pass of `serve` reuses one, with its connections, TLS
/// configuration and cached credentials (the SDK refreshes those before they expire), instead
/// of loading the configuration chain again. The process has one tokio runtime, on which the
/// clients' connection pools live.
type ClientKey = (Option<String>, bool, Duration);
static CLIENTS: tokio::sync::Mutex<Vec<(ClientKey, Client, String)>> =
    tokio::sync::Mutex::const_new(Vec::new());

pub(super) async fn shared_client(settings: &S3Settings) -> Result<(Client, String), OpenError> {
    let key = (
        settings.endpoint.clone(),
        settings.path_style,
        settings.attempt_timeout,
    );
    let mut clients = CLIENTS.lock().await;
    if let Some((_, client, region)) = clients.iter().find(|(k, _, _)| *k == key) {
        return Ok((client.clone(), region.clone()));
    }
    let (client, region) = client(settings).await?;
    clients.push((key, client.clone(), region.clone()));
    Ok((client, region))
}

/// S3 answers 409 `ConditionalRequestConflict` (and `OperationAborted`) while another
/// conditional write to the key is in flight: worth another attempt, like a 5xx.
#[derive(Debug)]
struct ConflictIsTransient;

impl ClassifyRetry for ConflictIsTransient {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        match ctx.response().map(|r| r.status().as_u16()) {
            Some(409) => RetryAction::transient_error(),
            _ => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "409 conflict is transient"
    }
}
