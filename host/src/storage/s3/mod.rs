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

pub use aws_sdk_s3::Client;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;

use super::{Put, SaveMode, Storage, StorageError};
use crate::failpoint;

mod client;
mod failure;

pub use client::client;
use client::shared_client;
use failure::{Failure, failure};

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

pub struct S3Store {
    client: Client,
    region: String,
    bucket: String,
    state_key: String,
    sse_kms_key_id: Option<String>,
    seen: Mutex<Seen>,
    lost: Mutex<Option<String>>,
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

    async fn probe_reachable(&self) -> Result<String, StorageError> {
        let bucket = &self.bucket;
        match self.client.head_bucket().bucket(bucket).send().await {
            Ok(_) => Ok(format!("bucket {bucket} (region {})", self.region)),
            Err(e) => {
                let f = failure(e);
                match f.status {
                    // HeadBucket needs s3:ListBucket, which the collector does not: a 403
                    // still says the bucket exists.
                    Some(403) if f.credentials.is_none() => Ok(format!(
                        "bucket {bucket} (region {}; this role may not list it, which the                          collector does not need)",
                        self.region
                    )),
                    Some(404) => Err(StorageError::Unavailable(format!(
                        "the bucket {bucket} does not exist (HeadBucket answered 404); check                          S3_BUCKET and AWS_REGION ({})",
                        self.region
                    ))),
                    _ => Err(self.describe("HeadBucket", "", &f)),
                }
            }
        }
    }

    async fn probe_write(&self, key: &str) -> Result<(), StorageError> {
        // `If-Match` a version no object has: S3 authorises the PutObject first (403 without
        // s3:PutObject), then refuses it (404 for a missing key, 412 for an existing one),
        // so nothing is written either way.
        let never = Condition::Version("\"zendesk-crm-check-matches-no-version\"".into());
        match self
            .send_put(key, Vec::new(), "application/json", None, never)
            .await
        {
            Err(f) if f.status == Some(412) => Ok(()),
            Err(f) if f.status == Some(404) && f.code.as_deref() == Some("NoSuchKey") => Ok(()),
            Err(f) => Err(self.describe("PutObject", key, &f)),
            Ok(_) => Err(StorageError::Unavailable(format!(
                "{} accepted a PutObject whose If-Match matched no version, and now holds an \
                 empty object: this store ignores conditional writes, which exactly-once \
                 delivery needs (S3 has them since 2024; check the S3-compatible server)",
                self.url(key)
            ))),
        }
    }

    fn lost_race(&self) -> Option<String> {
        self.lost.lock().ok().and_then(|l| l.clone())
    }
}
