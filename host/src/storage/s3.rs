//! Amazon S3 (or an S3-compatible store) through `aws-sdk-s3`.
//!
//! - Page objects are created with `If-None-Match: *`: 412 means the key exists (a page stored
//!   before a crash) and counts as stored.
//! - The checkpoint is written conditionally: `If-Match` on the ETag this pass last read or
//!   wrote, `If-None-Match: *` when creating. A write that loses to another writer is a
//!   [`StorageError::Conflict`], and from then on this store refuses every write, so a pass
//!   that lost the race stops at once and the winner's checkpoint stands.
//! - Without `s3:ListBucket`, S3 answers a missing key with 403, not 404. A 403 on load is
//!   therefore "absent, unverified": the guest's create-only first save decides (success: a
//!   first run; 412: the checkpoint exists but cannot be read, reported as access denied).
//!
//! Every PutObject goes through [`S3Store::send_put`]; the failpoints of the crash tests sit
//! around the object and checkpoint writes that call it.

use std::sync::Mutex;
use std::time::Duration;

use aws_config::environment::region::EnvironmentVariableRegionProvider;
use aws_config::meta::region::RegionProviderChain;
use aws_config::profile::ProfileFileRegionProvider;
use aws_credential_types::provider::error::CredentialsError;
pub use aws_sdk_s3::Client;
use aws_sdk_s3::config::interceptors::InterceptorContext;
use aws_sdk_s3::config::retry::{ClassifyRetry, RetryAction, RetryConfig};
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{BehaviorVersion, Region, RequestChecksumCalculation};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

use super::{Put, SaveMode, Storage, StorageError};
use crate::failpoint;

/// Attempts per request (the first and four retries) for 5xx, `SlowDown`, 409
/// `ConditionalRequestConflict`, timeouts and connection errors, with the SDK's exponential
/// back-off and jitter.
const MAX_ATTEMPTS: u32 = 5;

/// Region used with an explicit endpoint when none is configured (S3-compatible stores
/// usually ignore it, but requests must be signed for one).
const DEFAULT_COMPATIBLE_REGION: &str = "us-east-1";

/// Where and how to write.
#[derive(Debug, Clone)]
pub struct S3Settings {
    pub bucket: String,
    pub state_key: String,
    /// `--s3-endpoint`, else `AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL`.
    pub endpoint: Option<String>,
    /// Path-style addressing (`http://host/bucket/key`), for S3-compatible stores.
    pub path_style: bool,
    pub sse_kms_key_id: Option<String>,
    /// Bound on each attempt of a request.
    pub attempt_timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(
        "no AWS region is configured: the region chain tried AWS_REGION and \
         AWS_DEFAULT_REGION, the profile's `region` (AWS_PROFILE, else `default`, in \
         ~/.aws/config) and the EC2 instance metadata; set AWS_REGION to the bucket's region"
    )]
    NoRegion,
}

/// What this pass knows about the checkpoint object.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    /// Not loaded yet.
    Unknown,
    /// 404: there is none.
    Absent,
    /// 403 on load: absent, or present but unreadable; the create-only first save tells.
    Unverified,
    /// The version with this ETag was read or written by this pass.
    Version(String),
    /// `--reset-state` copied the version with this ETag aside; the first save replaces it.
    ResetFrom(String),
}

/// The precondition of a PutObject.
#[derive(Debug, Clone)]
enum Condition {
    /// `If-None-Match: *`: only if the key does not exist.
    Absent,
    /// `If-Match: <etag>`: only if the key holds this version.
    Version(String),
}

/// A failed request, reduced to what the messages need.
#[derive(Debug)]
struct Failure {
    status: Option<u16>,
    code: Option<String>,
    detail: String,
    /// The credentials chain found nothing to sign with (no request was sent): its own words.
    credentials: Option<String>,
}

pub struct S3Store {
    client: Client,
    region: String,
    bucket: String,
    state_key: String,
    sse_kms_key_id: Option<String>,
    seen: Mutex<Seen>,
    lost: Mutex<Option<String>>,
}

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

async fn shared_client(settings: &S3Settings) -> Result<(Client, String), OpenError> {
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

impl S3Store {
    /// A store for one pass, on this process's [`client`] for these settings. Makes no
    /// request.
    pub async fn open(settings: S3Settings) -> Result<S3Store, OpenError> {
        let (client, region) = shared_client(&settings).await?;
        Ok(S3Store {
            client,
            region,
            bucket: settings.bucket,
            state_key: settings.state_key,
            sse_kms_key_id: settings.sse_kms_key_id,
            seen: Mutex::new(Seen::Unknown),
            lost: Mutex::new(None),
        })
    }

    fn url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    fn seen(&self) -> Seen {
        self.seen.lock().map(|s| s.clone()).unwrap_or(Seen::Unknown)
    }

    fn set_seen(&self, seen: Seen) {
        if let Ok(mut s) = self.seen.lock() {
            *s = seen;
        }
    }

    fn lose(&self, why: String) -> StorageError {
        if let Ok(mut lost) = self.lost.lock() {
            lost.get_or_insert_with(|| why.clone());
        }
        StorageError::Conflict(why)
    }

    /// `--reset-state` without `s3:DeleteObject`: copies the checkpoint to
    /// `{STATE_KEY}.reset-{unix}` (create-only) and makes this pass a first run whose first
    /// save replaces exactly the version copied (`If-Match`). Returns the copy's URL, or none
    /// when there was no checkpoint.
    pub async fn reset_checkpoint(&self, now_unix: i64) -> Result<Option<String>, StorageError> {
        let Some((bytes, etag)) = self.get_state().await? else {
            if self.seen() == Seen::Unverified {
                return Err(StorageError::Denied(format!(
                    "--reset-state must read {} to copy it aside, and GetObject was denied (403)",
                    self.url(&self.state_key)
                )));
            }
            self.set_seen(Seen::Absent);
            return Ok(None);
        };
        let aside = format!("{}.reset-{now_unix}", self.state_key);
        match self
            .send_put(&aside, bytes, "application/json", None, Condition::Absent)
            .await
        {
            Ok(_) => {}
            Err(f) if f.status == Some(412) => {
                return Err(StorageError::Conflict(format!(
                    "{} already exists; run --reset-state again in a second",
                    self.url(&aside)
                )));
            }
            Err(f) => return Err(self.describe("PutObject", &aside, &f)),
        }
        self.set_seen(Seen::ResetFrom(etag));
        Ok(Some(self.url(&aside)))
    }

    /// The checkpoint's bytes and ETag; none on 404 and on 403 (noted as unverified).
    async fn get_state(&self) -> Result<Option<(Vec<u8>, String)>, StorageError> {
        let key = &self.state_key;
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                let f = failure(e);
                return match (f.status, f.code.as_deref()) {
                    (_, Some("NoSuchKey")) => Ok(None),
                    (Some(403), Some("AccessDenied") | None) => {
                        tracing::warn!(
                            checkpoint = %self.url(key),
                            "reading the checkpoint was denied (403): S3 answers so for a \
                             missing key without s3:ListBucket; the create-only first save \
                             will tell a first run from a checkpoint this role cannot read"
                        );
                        self.set_seen(Seen::Unverified);
                        Ok(None)
                    }
                    _ => Err(self.describe("GetObject", key, &f)),
                };
            }
        };
        let etag = out.e_tag().map(str::to_owned).ok_or_else(|| {
            StorageError::Unavailable(format!(
                "GetObject {} returned no ETag, which conditional writes need",
                self.url(key)
            ))
        })?;
        let bytes = out.body.collect().await.map_err(|e| {
            StorageError::Unavailable(format!(
                "reading {}: {}",
                self.url(key),
                DisplayErrorContext(&e)
            ))
        })?;
        Ok(Some((bytes.to_vec(), etag)))
    }

    /// Every PutObject: objects, the checkpoint and its reset copy. Returns the new ETag.
    /// (The benchmarks' limit, bench/src/bin/bench-limit.rs, sends what this sends for a page
    /// object; keep the two alike.)
    async fn send_put(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        content_encoding: Option<&str>,
        condition: Condition,
    ) -> Result<Option<String>, Failure> {
        let mut put = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body));
        put = match condition {
            Condition::Absent => put.if_none_match("*"),
            Condition::Version(etag) => put.if_match(etag),
        };
        if let Some(encoding) = content_encoding {
            put = put.content_encoding(encoding);
        }
        if let Some(kms_key) = &self.sse_kms_key_id {
            put = put
                .server_side_encryption(ServerSideEncryption::AwsKms)
                .ssekms_key_id(kms_key);
        }
        match put.send().await {
            Ok(out) => Ok(out.e_tag().map(str::to_owned)),
            Err(e) => Err(failure(e)),
        }
    }

    /// A failed request as a storage error naming the bucket, key and likely cause.
    fn describe(&self, op: &str, key: &str, f: &Failure) -> StorageError {
        let url = self.url(key);
        let bucket = &self.bucket;
        let code = f.code.as_deref().unwrap_or("");
        let status = f.status.map(|s| s.to_string()).unwrap_or_default();
        if let Some(why) = &f.credentials {
            // The SDK's own account of each provider, for whoever turns on debug logs; the
            // message says the same in a sentence.
            tracing::debug!(chain = %why, "no AWS credentials");
            return StorageError::Denied(no_credentials(op, &url));
        }
        match (f.status, code) {
            (_, "NoSuchBucket") => StorageError::Unavailable(format!(
                "{op} {url}: the bucket {bucket} does not exist (NoSuchBucket); check S3_BUCKET \
                 and AWS_REGION ({})",
                self.region
            )),
            (
                _,
                "PermanentRedirect"
                | "AuthorizationHeaderMalformed"
                | "IllegalLocationConstraintException",
            )
            | (Some(301), _) => StorageError::Unavailable(format!(
                "{op} {url}: the bucket {bucket} is not in region {} ({status} {code}); set \
                 AWS_REGION to the bucket's region: {}",
                self.region, f.detail
            )),
            (
                _,
                "InvalidAccessKeyId" | "SignatureDoesNotMatch" | "ExpiredToken" | "InvalidToken",
            ) => StorageError::Denied(format!(
                "{op} {url}: the AWS credentials were refused ({code}); check the role or \
                     AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
            )),
            (Some(403), _) | (_, "AccessDenied") => {
                let action = if op == "GetObject" {
                    "s3:GetObject"
                } else {
                    "s3:PutObject"
                };
                let kms = if self.sse_kms_key_id.is_some() {
                    " (with SSE_KMS_KEY_ID also kms:GenerateDataKey and kms:Decrypt on the key)"
                } else {
                    ""
                };
                StorageError::Denied(format!(
                    "{op} {url} was denied ({status} {code}): grant {action} on \
                     arn:aws:s3:::{bucket}/{key}{kms}, and check the bucket policy"
                ))
            }
            _ => StorageError::Unavailable(format!("{op} {url} failed: {}", f.detail)),
        }
    }
}

#[async_trait::async_trait]
impl Storage for S3Store {
    async fn put_object(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        content_encoding: Option<&str>,
    ) -> Result<Put, StorageError> {
        if let Some(why) = self.lost_race() {
            return Err(StorageError::Conflict(why));
        }
        failpoint::hit(failpoint::OBJECT_BEFORE_WRITE);
        match self
            .send_put(key, body, content_type, content_encoding, Condition::Absent)
            .await
        {
            Ok(_) => {
                failpoint::hit(failpoint::OBJECT_AFTER_WRITE);
                Ok(Put::Created)
            }
            Err(f) if f.status == Some(412) => Ok(Put::AlreadyExisted),
            Err(f) => Err(self.describe("PutObject", key, &f)),
        }
    }

    async fn load_checkpoint(&self) -> Result<Option<Vec<u8>>, StorageError> {
        if let Seen::ResetFrom(_) = self.seen() {
            return Ok(None);
        }
        match self.get_state().await? {
            Some((bytes, etag)) => {
                self.set_seen(Seen::Version(etag));
                Ok(Some(bytes))
            }
            None => {
                if self.seen() == Seen::Unknown {
                    self.set_seen(Seen::Absent);
                }
                Ok(None)
            }
        }
    }

    async fn save_checkpoint(&self, bytes: Vec<u8>, mode: SaveMode) -> Result<(), StorageError> {
        if let Some(why) = self.lost_race() {
            return Err(StorageError::Conflict(why));
        }
        let key = &self.state_key;
        let url = self.url(key);
        let seen = self.seen();
        let condition = match (mode, &seen) {
            (SaveMode::Create, Seen::ResetFrom(etag)) => Condition::Version(etag.clone()),
            (SaveMode::Create, _) => Condition::Absent,
            (SaveMode::Replace, Seen::Version(etag)) => Condition::Version(etag.clone()),
            (SaveMode::Replace, _) => {
                return Err(StorageError::Conflict(format!(
                    "{url}: this pass has read or written no version of the checkpoint, so it \
                     will not replace one"
                )));
            }
        };
        failpoint::hit(failpoint::CHECKPOINT_BEFORE_WRITE);
        match self
            .send_put(key, bytes, "application/json", None, condition)
            .await
        {
            Ok(Some(etag)) => {
                failpoint::hit(failpoint::CHECKPOINT_AFTER_WRITE);
                self.set_seen(Seen::Version(etag));
                Ok(())
            }
            Ok(None) => Err(self.lose(format!(
                "PutObject {url} returned no ETag, which the next conditional save needs"
            ))),
            Err(f) if f.status == Some(412) && seen == Seen::Unverified => {
                Err(StorageError::Denied(format!(
                    "the checkpoint {url} exists but this role cannot read it (GetObject answered \
                     403, and the create-only first save found the key taken): grant \
                     s3:GetObject on arn:aws:s3:::{}/{key}; nothing was collected and the \
                     checkpoint was not touched",
                    self.bucket
                )))
            }
            Err(f) if f.status == Some(412) => Err(self.lose(format!(
                "another writer changed the checkpoint {url} since this pass read or wrote it \
                 (the conditional write lost); this pass stops and the other one's checkpoint \
                 stands"
            ))),
            Err(f) if f.status == Some(404) && f.code.as_deref() == Some("NoSuchKey") => Err(self
                .lose(format!(
                    "the checkpoint {url} was deleted while this pass ran (a feed with source \
                     deletion over STATE_KEY?); this pass stops rather than recreate it"
                ))),
            Err(f) => Err(self.describe("PutObject", key, &f)),
        }
    }

    async fn reset_checkpoint(&self, now_unix: i64) -> Result<Option<String>, StorageError> {
        // A copy: replacing the checkpoint needs no DeleteObject.
        S3Store::reset_checkpoint(self, now_unix).await
    }

    fn checkpoint_location(&self) -> String {
        self.url(&self.state_key)
    }

    fn lost_race(&self) -> Option<String> {
        self.lost.lock().ok().and_then(|l| l.clone())
    }
}

fn failure<E>(e: SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    Failure {
        status: e.raw_response().map(|r| r.status().as_u16()),
        code: e.code().map(str::to_owned),
        detail: DisplayErrorContext(&e).to_string(),
        credentials: credentials_problem(&e),
    }
}

/// What the credentials chain said, when it is why the request failed: the SDK reports it
/// as a dispatch failure, with the chain's error among the sources.
fn credentials_problem(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut next = Some(e);
    while let Some(err) = next {
        if let Some(c) = err.downcast_ref::<CredentialsError>() {
            let mut words = c.to_string();
            let mut source = std::error::Error::source(c);
            while let Some(s) = source {
                words.push_str(": ");
                words.push_str(&s.to_string());
                source = s.source();
            }
            return Some(words);
        }
        next = err.source();
    }
    None
}

/// No credentials: which chain was tried, in order, and what to set.
fn no_credentials(op: &str, url: &str) -> String {
    let imds = if std::env::var_os("AWS_EC2_METADATA_DISABLED").is_some() {
        ", not asked because AWS_EC2_METADATA_DISABLED is set"
    } else {
        ""
    };
    format!(
        "{op} {url}: no AWS credentials were found. The standard chain tried, in \
         order: AWS_ACCESS_KEY_ID with AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for \
         temporary keys); the shared profile (AWS_PROFILE, else `default`, in \
         ~/.aws/credentials and ~/.aws/config); web identity (AWS_ROLE_ARN with \
         AWS_WEB_IDENTITY_TOKEN_FILE, as EKS sets them); the ECS task role; the EC2 instance \
         role (instance metadata{imds}). Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or \
         run with a role attached; nothing was collected"
    )
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
