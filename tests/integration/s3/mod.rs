//! S3 storage against a real S3-compatible server (moto, IAM enforced) through a pass-through
//! proxy: the same keys and bodies as a local directory, conditional checkpoint writes under
//! concurrent passes, the least-privilege policy, and S3's failures.
//!
//! This file holds the bucket each test gets and the README's policy; `crate::buckets` the
//! keys and readers the GCS tests share.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::{Value, json};
use zendesk_crm_tests::s3::{Keys, Moto, S3Proxy, StoredObject};

use crate::buckets::{PREFIX, unique_bucket};
use crate::harness::Collector;

/// Missing credentials and regions, a bucket elsewhere, S3 beside `--out`.
mod config;
/// Concurrent passes, a crash at every write, and S3's retried failures.
mod faults;
/// The same keys and bytes as a local directory: plain, gzip with SSE-KMS, NDJSON, OAuth.
mod parity;
/// The least-privilege policy, and what a role may not do named as such.
mod permissions;

/// A bucket of its own on the shared moto, behind a proxy of its own.
pub(crate) struct Bucket {
    pub(crate) moto: &'static Moto,
    proxy: S3Proxy,
    pub(crate) name: String,
}

impl Bucket {
    pub(crate) fn new() -> Bucket {
        let moto = Moto::shared();
        let name = unique_bucket();
        moto.create_bucket(&name);
        Bucket {
            moto,
            proxy: S3Proxy::start(moto.port()),
            name,
        }
    }

    /// Configures `c` to store here with `keys`, as a user would (no `--out`).
    pub(crate) fn attach(&self, c: &mut Collector, keys: &Keys) {
        c.without_out()
            .env("S3_BUCKET", &self.name)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL_S3", self.proxy.endpoint())
            .env("AWS_ACCESS_KEY_ID", &keys.id)
            .env("AWS_SECRET_ACCESS_KEY", &keys.secret)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", "/nonexistent")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent");
    }

    fn collector(&self, sim: &zendesk_crm_tests::Simulator, keys: &Keys) -> Collector {
        let mut c = Collector::new(sim);
        self.attach(&mut c, keys);
        c
    }

    pub(crate) fn objects(&self) -> BTreeMap<String, StoredObject> {
        self.moto.objects(&self.name)
    }

    fn bodies(&self) -> BTreeMap<String, Vec<u8>> {
        self.objects()
            .into_iter()
            .map(|(k, o)| (k, o.body))
            .collect()
    }

    /// A user holding exactly the README's least-privilege policy.
    fn least_privilege_user(&self, state_key: &str) -> Keys {
        let policy = least_privilege_policy(&self.name, PREFIX, state_key);
        self.moto.create_user(&unique_user(), &policy)
    }
}

pub(crate) fn unique_user() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!("collector-{}", N.fetch_add(1, Ordering::Relaxed))
}

/// The README's least-privilege policy: PutObject under the prefix, GetObject and PutObject
/// on the checkpoint (and its `--reset-state` copies); no ListBucket, no DeleteObject.
pub(crate) fn least_privilege_policy(bucket: &str, prefix: &str, state_key: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "WritePages",
                "Effect": "Allow",
                "Action": "s3:PutObject",
                "Resource": format!("arn:aws:s3:::{bucket}/{prefix}*")
            },
            {
                "Sid": "ReadWriteCheckpoint",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject"],
                "Resource": [
                    format!("arn:aws:s3:::{bucket}/{state_key}"),
                    format!("arn:aws:s3:::{bucket}/{state_key}.reset-*")
                ]
            }
        ]
    })
}
