//! A failed S3 request as a storage error that names the bucket, the key, the likely cause
//! and what to change.

use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use super::StorageError;

use super::S3Store;

/// A failed request, reduced to what the messages need.
#[derive(Debug)]
pub(super) struct Failure {
    pub(super) status: Option<u16>,
    pub(super) code: Option<String>,
    pub(super) detail: String,
    /// The credentials chain found nothing to sign with (no request was sent): its own words.
    pub(super) credentials: Option<String>,
}

impl S3Store {
    /// A failed request as a storage error naming the bucket, key and likely cause.
    pub(super) fn describe(&self, op: &str, key: &str, f: &Failure) -> StorageError {
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

pub(super) fn failure<E>(e: SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> Failure
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
