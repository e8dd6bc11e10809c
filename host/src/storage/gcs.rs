//! Google Cloud Storage through Google's `google-cloud-storage` client (its JSON API).
//!
//! - Page objects are created with `ifGenerationMatch=0`: 412 means the object exists (a page
//!   stored before a crash) and counts as stored.
//! - The checkpoint is written conditionally: `ifGenerationMatch=<generation>` this pass last
//!   read or wrote, `0` when creating. A write that loses to another writer is a
//!   [`StorageError::Conflict`], and from then on this store refuses every write, so a pass
//!   that lost the race stops at once and the winner's checkpoint stands.
//! - GCS counts replacing an object as deleting it: a checkpoint save after the first needs
//!   `storage.objects.delete` on the state key. A 403 there names that permission.
//! - A 403 on load is "absent, unverified" as on S3: the create-only first save decides.
//!
//! Credentials follow Google's Application Default Credentials (`google-cloud-auth`):
//! `GOOGLE_APPLICATION_CREDENTIALS` (service-account key or external-account file), the gcloud
//! user credentials, the metadata server. `STORAGE_EMULATOR_HOST` sends every request to an
//! emulator, unauthenticated, as Google's client libraries do.

use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use google_cloud_gax::exponential_backoff::ExponentialBackoffBuilder;
use google_cloud_gax::retry_policy::RetryPolicyExt as _;
use google_cloud_storage::client::Storage as Client;
use google_cloud_storage::retry_policy::RetryableErrors;

use super::{Put, SaveMode, Storage, StorageError};
use crate::failpoint;

/// Attempts per request (the first and four retries) for 408, 429, 5xx and transport errors,
/// with exponential back-off. Conditional writes are idempotent, so they are retried too.
const MAX_ATTEMPTS: u32 = 5;

/// Where and how to write.
#[derive(Debug, Clone)]
pub struct GcsSettings {
    pub bucket: String,
    pub state_key: String,
    /// `STORAGE_EMULATOR_HOST` (`host:port` or a URL): an emulator, without credentials.
    pub emulator: Option<String>,
    /// Test only (`ZENDESK_CRM_GCS_ENDPOINT`): another endpoint, with the real credentials, so
    /// the leak tests see tokens flow to a loopback server.
    pub endpoint: Option<String>,
    /// Bound on each attempt of a request.
    pub attempt_timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(
        "cannot load Google credentials (Application Default Credentials: \
         GOOGLE_APPLICATION_CREDENTIALS, the gcloud user credentials, the metadata server): {0}"
    )]
    Credentials(String),
    #[error("cannot configure the Cloud Storage client: {0}")]
    Client(String),
}

/// What this pass knows about the checkpoint object.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Unknown,
    /// 404: there is none.
    Absent,
    /// 403 on load: absent, or present but unreadable; the create-only first save tells.
    Unverified,
    /// This generation was read or written by this pass.
    Generation(i64),
    /// `--reset-state` copied this generation aside; the first save replaces it.
    ResetFrom(i64),
}

/// A failed request, reduced to what the messages need.
#[derive(Debug)]
struct Failure {
    status: Option<u16>,
    detail: String,
}

pub struct GcsStore {
    client: Client,
    bucket: String,
    state_key: String,
    seen: Mutex<Seen>,
    lost: Mutex<Option<String>>,
}

/// `STORAGE_EMULATOR_HOST` as a base URL (Google's libraries accept `host:port` too).
fn emulator_endpoint(host: &str) -> String {
    let host = host.trim_end_matches('/');
    if host.starts_with("http://") || host.starts_with("https://") {
        host.to_owned()
    } else {
        format!("http://{host}")
    }
}

impl GcsStore {
    /// A store for one pass. Reads the credentials' configuration; makes no request.
    pub async fn open(settings: GcsSettings) -> Result<GcsStore, OpenError> {
        // The client's rustls is built without a provider of its own: use ring, as the rest of
        // the host does (no aws-lc, no cmake). Installing twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let backoff = ExponentialBackoffBuilder::new()
            .with_initial_delay(Duration::from_millis(250))
            .with_maximum_delay(Duration::from_secs(20))
            .build()
            .map_err(|e| OpenError::Client(e.to_string()))?;
        let mut builder = Client::builder()
            .with_retry_policy(
                RetryableErrors
                    .with_attempt_limit(MAX_ATTEMPTS)
                    .with_time_limit(settings.attempt_timeout * MAX_ATTEMPTS),
            )
            .with_backoff_policy(backoff);
        builder = match &settings.emulator {
            Some(host) => builder
                .with_endpoint(emulator_endpoint(host))
                .with_credentials(
                    google_cloud_auth::credentials::anonymous::Builder::new().build(),
                ),
            None => {
                let credentials = google_cloud_auth::credentials::Builder::default()
                    .build()
                    .map_err(|e| OpenError::Credentials(e.to_string()))?;
                match &settings.endpoint {
                    Some(endpoint) => builder
                        .with_endpoint(endpoint.trim_end_matches('/'))
                        .with_credentials(credentials),
                    None => builder.with_credentials(credentials),
                }
            }
        };
        let client = builder
            .build()
            .await
            .map_err(|e| OpenError::Client(e.to_string()))?;
        Ok(GcsStore {
            client,
            bucket: settings.bucket,
            state_key: settings.state_key,
            seen: Mutex::new(Seen::Unknown),
            lost: Mutex::new(None),
        })
    }

    fn bucket_path(&self) -> String {
        format!("projects/_/buckets/{}", self.bucket)
    }

    fn url(&self, key: &str) -> String {
        format!("gs://{}/{key}", self.bucket)
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

    /// `--reset-state` with the least-privilege grant (no list, no delete but on the state
    /// key): copies the checkpoint to `{STATE_KEY}.reset-{unix}` (create-only) and makes this
    /// pass a first run whose first save replaces exactly the generation copied. Returns the
    /// copy's URL, or none when there was no checkpoint.
    pub async fn reset_checkpoint(&self, now_unix: i64) -> Result<Option<String>, StorageError> {
        let Some((bytes, generation)) = self.get_state().await? else {
            if self.seen() == Seen::Unverified {
                return Err(StorageError::Denied(format!(
                    "--reset-state must read {} to copy it aside, and reading it was denied \
                     (403): grant storage.objects.get on it",
                    self.url(&self.state_key)
                )));
            }
            self.set_seen(Seen::Absent);
            return Ok(None);
        };
        let aside = format!("{}.reset-{now_unix}", self.state_key);
        match self
            .send_write(&aside, bytes, "application/json", None, 0)
            .await
        {
            Ok(_) => {}
            Err(f) if f.status == Some(412) => {
                return Err(StorageError::Conflict(format!(
                    "{} already exists; run --reset-state again in a second",
                    self.url(&aside)
                )));
            }
            Err(f) => return Err(self.describe("creating", &aside, &f)),
        }
        self.set_seen(Seen::ResetFrom(generation));
        Ok(Some(self.url(&aside)))
    }

    /// The checkpoint's bytes and generation; none on 404 and on 403 (noted as unverified).
    async fn get_state(&self) -> Result<Option<(Vec<u8>, i64)>, StorageError> {
        let key = &self.state_key;
        let mut response = match self
            .client
            .read_object(self.bucket_path(), key)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => {
                let f = failure(&e);
                return match f.status {
                    Some(404) => Ok(None),
                    Some(403) => {
                        tracing::warn!(
                            checkpoint = %self.url(key),
                            "reading the checkpoint was denied (403): without \
                             storage.objects.get on it GCS answers so even for a missing \
                             object; the create-only first save will tell a first run from a \
                             checkpoint this account cannot read"
                        );
                        self.set_seen(Seen::Unverified);
                        Ok(None)
                    }
                    _ => Err(self.describe("reading", key, &f)),
                };
            }
        };
        let generation = response.object().generation;
        let mut bytes = Vec::new();
        while let Some(chunk) = response.next().await {
            let chunk = chunk.map_err(|e| {
                StorageError::Unavailable(format!("reading {}: {e}", self.url(key)))
            })?;
            bytes.extend_from_slice(&chunk);
        }
        Ok(Some((bytes, generation)))
    }

    /// Every write: objects, the checkpoint and its reset copy, each only if the object's
    /// generation is `if_generation` (0: only if absent). Returns the new generation.
    async fn send_write(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        content_encoding: Option<&str>,
        if_generation: i64,
    ) -> Result<i64, Failure> {
        // The body is in memory: its CRC32C goes in the upload's metadata, where Cloud Storage
        // checks it, instead of a trailing part computed while sending (which the emulator
        // stores as part of the object).
        let crc32c = crc32c::crc32c(&body);
        let mut write = self
            .client
            .write_object(self.bucket_path(), key, Bytes::from(body))
            .set_if_generation_match(if_generation)
            .set_content_type(content_type)
            .with_known_crc32c(crc32c);
        if let Some(encoding) = content_encoding {
            write = write.set_content_encoding(encoding);
        }
        match write.send_unbuffered().await {
            Ok(object) => Ok(object.generation),
            Err(e) => Err(failure(&e)),
        }
    }

    /// A failed request as a storage error naming the bucket, object and likely cause.
    fn describe(&self, op: &str, key: &str, f: &Failure) -> StorageError {
        let url = self.url(key);
        let bucket = &self.bucket;
        match f.status {
            Some(404) => StorageError::Unavailable(format!(
                "{op} {url}: the bucket {bucket} does not exist (404); check GCS_BUCKET: {}",
                f.detail
            )),
            Some(401) => StorageError::Denied(format!(
                "{op} {url}: the Google credentials were refused (401); check \
                 GOOGLE_APPLICATION_CREDENTIALS or the service account of the job: {}",
                f.detail
            )),
            Some(403) => {
                let permission = if op == "reading" {
                    "storage.objects.get"
                } else {
                    "storage.objects.create"
                };
                StorageError::Denied(format!(
                    "{op} {url} was denied (403): grant {permission} on it to the service \
                     account (roles/storage.objectCreator on the prefix, and the state key's \
                     role; see the README's least-privilege grant): {}",
                    f.detail
                ))
            }
            _ => StorageError::Unavailable(format!("{op} {url} failed: {}", f.detail)),
        }
    }
}

#[async_trait::async_trait]
impl Storage for GcsStore {
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
            .send_write(key, body, content_type, content_encoding, 0)
            .await
        {
            Ok(_) => {
                failpoint::hit(failpoint::OBJECT_AFTER_WRITE);
                Ok(Put::Created)
            }
            Err(f) if f.status == Some(412) => Ok(Put::AlreadyExisted),
            Err(f) => Err(self.describe("creating", key, &f)),
        }
    }

    async fn load_checkpoint(&self) -> Result<Option<Vec<u8>>, StorageError> {
        if let Seen::ResetFrom(_) = self.seen() {
            return Ok(None);
        }
        match self.get_state().await? {
            Some((bytes, generation)) => {
                self.set_seen(Seen::Generation(generation));
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
        let if_generation = match (mode, &seen) {
            (SaveMode::Create, Seen::ResetFrom(generation)) => *generation,
            (SaveMode::Create, _) => 0,
            (SaveMode::Replace, Seen::Generation(generation)) => *generation,
            (SaveMode::Replace, _) => {
                return Err(StorageError::Conflict(format!(
                    "{url}: this pass has read or written no generation of the checkpoint, so \
                     it will not replace one"
                )));
            }
        };
        failpoint::hit(failpoint::CHECKPOINT_BEFORE_WRITE);
        match self
            .send_write(key, bytes, "application/json", None, if_generation)
            .await
        {
            Ok(generation) => {
                failpoint::hit(failpoint::CHECKPOINT_AFTER_WRITE);
                self.set_seen(Seen::Generation(generation));
                Ok(())
            }
            Err(f) if f.status == Some(412) && seen == Seen::Unverified => {
                Err(StorageError::Denied(format!(
                    "the checkpoint {url} exists but this account cannot read it (reading \
                     answered 403, and the create-only first save found the object taken): \
                     grant storage.objects.get on it; nothing was collected and the checkpoint \
                     was not touched"
                )))
            }
            Err(f) if f.status == Some(412) => Err(self.lose(format!(
                "another writer changed the checkpoint {url} since this pass read or wrote it \
                 (the conditional write lost); this pass stops and the other one's checkpoint \
                 stands"
            ))),
            // Replacing an object is a delete in GCS's permission model.
            Err(f) if f.status == Some(403) && if_generation != 0 => {
                Err(StorageError::Denied(format!(
                    "replacing the checkpoint {url} was denied (403): GCS counts an overwrite \
                     as a delete, so the service account needs storage.objects.delete on the \
                     state key (with get and create; see the README's least-privilege grant); \
                     the pages of this pass are stored and the next pass resumes from the \
                     checkpoint as it is: {}",
                    f.detail
                )))
            }
            Err(f) => Err(self.describe("writing", key, &f)),
        }
    }

    async fn reset_checkpoint(&self, now_unix: i64) -> Result<Option<String>, StorageError> {
        // A copy: the first save then replaces exactly the generation copied.
        GcsStore::reset_checkpoint(self, now_unix).await
    }

    fn checkpoint_location(&self) -> String {
        self.url(&self.state_key)
    }

    async fn probe_reachable(&self) -> Result<String, StorageError> {
        // A write to the state key designed to fail (see `probe_write`) needs no bucket-level
        // permission (storage.buckets.get is not in the least-privilege grant): 404 can then
        // only mean that the bucket is missing.
        let bucket = &self.bucket;
        match self
            .send_write(&self.state_key, Vec::new(), "application/json", None, 1)
            .await
        {
            Err(f) if matches!(f.status, Some(412) | Some(403)) => Ok(format!("bucket {bucket}")),
            Err(f) => Err(self.describe("writing", &self.state_key, &f)),
            Ok(_) => Ok(format!("bucket {bucket}")),
        }
    }

    async fn probe_write(&self, key: &str) -> Result<(), StorageError> {
        // `ifGenerationMatch` a generation no object has (GCS numbers them from the time in
        // microseconds): authorised first (403 without storage.objects.create), then refused
        // with 412, so nothing is written.
        match self
            .send_write(key, Vec::new(), "application/json", None, 1)
            .await
        {
            Err(f) if f.status == Some(412) => Ok(()),
            Err(f) => Err(self.describe("writing", key, &f)),
            Ok(_) => Err(StorageError::Unavailable(format!(
                "{} accepted a write whose ifGenerationMatch matched no generation, and now \
                 holds an empty object: this store ignores preconditions, which exactly-once \
                 delivery needs",
                self.url(key)
            ))),
        }
    }

    fn lost_race(&self) -> Option<String> {
        self.lost.lock().ok().and_then(|l| l.clone())
    }
}

fn failure(e: &google_cloud_storage::Error) -> Failure {
    let status = e.http_status_code().or_else(|| {
        // Over the JSON API the status lives in the service error as well.
        e.status().and_then(|s| match s.code {
            google_cloud_gax::error::rpc::Code::NotFound => Some(404),
            google_cloud_gax::error::rpc::Code::PermissionDenied => Some(403),
            google_cloud_gax::error::rpc::Code::FailedPrecondition => Some(412),
            _ => None,
        })
    });
    let detail = match e.status() {
        Some(s) if !s.message.is_empty() => s.message.clone(),
        _ => e.to_string(),
    };
    Failure { status, detail }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_emulator_host_may_be_given_with_or_without_a_scheme() {
        assert_eq!(emulator_endpoint("127.0.0.1:4443"), "http://127.0.0.1:4443");
        assert_eq!(
            emulator_endpoint("https://gcs.test:4443/"),
            "https://gcs.test:4443"
        );
    }
}
