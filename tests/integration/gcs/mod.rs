//! Google Cloud Storage against a real emulator (fake-gcs-server) through the enforcing proxy
//! (preconditions made atomic, Cloud IAM, injected failures): the same keys and bodies as a
//! local directory, conditional checkpoint writes under concurrent passes and crashes, the
//! least-privilege grant, and GCS's failures.
//!
//! This file holds the bucket each test gets and the grants; `crate::buckets` the keys and
//! readers the S3 tests share.

use std::collections::BTreeMap;

use serde_json::Value;
use zendesk_crm_tests::gcs::{Emulator, GcsProxy, Permissions, StoredObject};

use crate::buckets::{PREFIX, unique_bucket};
use crate::harness::{Collector, Pass};

/// GCS beside the other stores refused, and a feed with a bucket of its own.
mod config;
/// Concurrent passes, a crash at every write, retried 429/5xx, the emulator's own checks.
mod faults;
/// The same keys and bytes as a local directory for all three resources, `serve`, gzip.
mod parity;
/// The least-privilege grant, a grant without delete, denials named, and `check`.
mod permissions;

const CREATE: Permissions = Permissions {
    get: false,
    create: true,
    delete: false,
};

const STATE: Permissions = Permissions {
    get: true,
    create: true,
    delete: true,
};

/// A bucket of its own on the shared emulator, behind a proxy of its own.
pub struct Bucket {
    pub emulator: &'static Emulator,
    pub proxy: GcsProxy,
    pub name: String,
}

impl Bucket {
    pub fn new() -> Bucket {
        let emulator = Emulator::shared();
        let name = unique_bucket();
        emulator.create_bucket(&name);
        Bucket {
            emulator,
            proxy: GcsProxy::start(emulator.port()),
            name,
        }
    }

    /// Configures `c` to store here, as a user would (no `--out`).
    pub fn attach(&self, c: &mut Collector) {
        c.without_out()
            .env("GCS_BUCKET", &self.name)
            .env("STORAGE_EMULATOR_HOST", self.proxy.host());
    }

    fn collector(&self, sim: &zendesk_crm_tests::Simulator) -> Collector {
        let mut c = Collector::new(sim);
        self.attach(&mut c);
        c
    }

    pub fn objects(&self) -> BTreeMap<String, StoredObject> {
        self.emulator.objects(&self.name)
    }

    /// The metadata of the last upload of each object that reached the emulator.
    pub fn uploads(&self) -> BTreeMap<String, Value> {
        self.proxy
            .requests()
            .into_iter()
            .filter(|r| r.method == "POST" && !r.by_proxy)
            .filter_map(|r| Some((r.object?, r.metadata?)))
            .collect()
    }

    pub fn bodies(&self) -> BTreeMap<String, Vec<u8>> {
        self.objects()
            .into_iter()
            .map(|(k, o)| (k, o.body))
            .collect()
    }

    /// The README's least-privilege grant: create on the prefix; get, create and delete on
    /// the state key and its `--reset-state` copies (one IAM condition: names starting with
    /// the state key).
    fn least_privilege(&self, state_key: &str) {
        self.proxy
            .grant_only(&[(PREFIX, CREATE), (state_key, STATE)]);
    }
}

fn error_message(pass: &Pass) -> String {
    pass.summary()["error"]["message"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}
