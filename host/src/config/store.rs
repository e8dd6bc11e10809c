//! Which store holds the objects and the checkpoint: S3, Google Cloud Storage or a local
//! directory, exactly one, with the settings each needs.

use std::time::Duration;

use super::{ConfigError, DEFAULT_PREFIX};
use crate::cli::RunArgs;
use crate::storage::gcs::GcsSettings;
use crate::storage::s3::S3Settings;

/// The bucket store `args` selects, if any (none: the local directory). Conflicting choices
/// are added to `problems`; `GCS_PREFIX` is folded into `args.s3_prefix`, its other name.
pub(super) fn select(
    args: &mut RunArgs,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<ConfigError>,
) -> (Option<S3Settings>, Option<GcsSettings>) {
    let bucket = args.s3_bucket.clone().filter(|b| !b.is_empty());
    if bucket.is_some() && args.out.is_some() {
        problems.push(ConfigError::TwoStores);
    }
    let gcs_bucket = args.gcs_bucket.clone().filter(|b| !b.is_empty());
    if gcs_bucket.is_some() {
        if bucket.is_some() {
            problems.push(ConfigError::GcsAndAnotherStore("S3_BUCKET"));
        }
        if args.out.is_some() {
            problems.push(ConfigError::GcsAndAnotherStore("--out (ZENDESK_CRM_OUT)"));
        }
    }
    if let Some(prefix) = args.gcs_prefix.take() {
        // S3_PREFIX has a default, so "set" means given in the environment or by a flag.
        if env("S3_PREFIX").is_some() || args.s3_prefix != DEFAULT_PREFIX {
            problems.push(ConfigError::TwoPrefixes);
        }
        args.s3_prefix = prefix;
    }
    let sse_kms_key_id = args.sse_kms_key_id.clone().filter(|k| !k.is_empty());
    if gcs_bucket.is_some() && sse_kms_key_id.is_some() {
        problems.push(ConfigError::KmsWithGcs);
    } else if bucket.is_none() && sse_kms_key_id.is_some() {
        problems.push(ConfigError::KmsWithoutS3);
    }
    let gcs = gcs_bucket.map(|bucket| GcsSettings {
        bucket,
        state_key: args.state_key.clone(),
        emulator: env("STORAGE_EMULATOR_HOST").filter(|h| !h.is_empty()),
        endpoint: env("ZENDESK_CRM_GCS_ENDPOINT").filter(|h| !h.is_empty()),
        attempt_timeout: Duration::from_secs(args.http_timeout.max(1)),
    });
    // The flag, then the SDK's own variables (read here so that any of them means
    // path-style addressing).
    let endpoint = args
        .s3_endpoint
        .clone()
        .filter(|e| !e.is_empty())
        .or_else(|| {
            ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]
                .iter()
                .find_map(|k| env(k).filter(|v| !v.is_empty()))
        });
    let s3 = bucket.map(|bucket| S3Settings {
        bucket,
        state_key: args.state_key.clone(),
        path_style: endpoint.is_some(),
        endpoint,
        sse_kms_key_id,
        attempt_timeout: Duration::from_secs(args.http_timeout.max(1)),
    });
    (s3, gcs)
}
