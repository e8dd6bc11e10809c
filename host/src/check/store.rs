//! `check` of the store: there (the bucket or directory), writable for page objects and for
//! the checkpoint (writes designed to fail), and the checkpoint read by the component as a
//! pass would read it, through a store that refuses every write.

use std::sync::Arc;

use super::{CheckpointView, Finding};
use crate::bindings::SetupError;
use crate::config::PassConfig;
use crate::control::{PassControl, StopFlag};
use crate::egress::Egress;
use crate::imports::PassState;
use crate::runtime::Runtime;
use crate::stats::PassStats;
use crate::storage::gcs::GcsStore;
use crate::storage::local::LocalStore;
use crate::storage::s3::S3Store;
use crate::storage::{KeyPolicy, Put, SaveMode, Storage, StorageError};

/// The key the object probe asks for: under the prefix, never a page's name.
const PROBE_KEY: &str = "zendesk-crm-check.probe";

/// Where the checkpoint of `config` lives, for the report when the store cannot be opened.
pub fn location(config: &PassConfig) -> String {
    match (&config.store.s3, &config.store.gcs) {
        (Some(s3), _) => format!("s3://{}/{}", s3.bucket, config.store.state_key),
        (None, Some(gcs)) => format!("gs://{}/{}", gcs.bucket, config.store.state_key),
        (None, None) => config
            .store
            .out
            .join(&config.store.state_key)
            .display()
            .to_string(),
    }
}

pub async fn check(
    runtime: &Runtime,
    config: &PassConfig,
) -> (Vec<Finding>, Option<CheckpointView>) {
    let not_checked = |why: &str| {
        ["objects", "checkpoint_write", "checkpoint"]
            .into_iter()
            .map(|c| Finding::not_checked(c, format!("not checked: {why}")))
            .collect::<Vec<_>>()
    };
    let store: Arc<dyn Storage> = match (&config.store.s3, &config.store.gcs) {
        (Some(s3), _) => match S3Store::open(s3.clone()).await {
            Ok(store) => Arc::new(store),
            Err(e) => {
                let mut findings = vec![Finding::problem("store", e.to_string(), None)];
                findings.extend(not_checked("the S3 client could not be set up"));
                return (findings, None);
            }
        },
        (None, Some(gcs)) => match GcsStore::open(gcs.clone()).await {
            Ok(store) => Arc::new(store),
            Err(e) => {
                let mut findings = vec![Finding::problem("store", e.to_string(), None)];
                findings.extend(not_checked("the Cloud Storage client could not be set up"));
                return (findings, None);
            }
        },
        (None, None) => {
            match LocalStore::open_for_check(&config.store.out, &config.store.state_key) {
                Ok(store) => Arc::new(store),
                Err(e) => {
                    let mut findings = vec![Finding::problem("store", e.to_string(), None)];
                    findings.extend(not_checked("the directory cannot be used"));
                    return (findings, None);
                }
            }
        }
    };
    let mut findings = Vec::new();
    match store.probe_reachable().await {
        Ok(what) => findings.push(Finding::ok("store", what)),
        Err(e) => {
            findings.push(Finding::problem("store", message(&e), None));
            findings.extend(not_checked("the store is not there"));
            return (findings, None);
        }
    }
    let object_key = format!(
        "{}{PROBE_KEY}",
        crate::storage::normalize_prefix(&config.store.prefix)
    );
    findings.push(match store.probe_write(&object_key).await {
        Ok(()) => Finding::ok(
            "objects",
            format!(
                "page objects may be created under the prefix {:?}",
                config.store.prefix
            ),
        ),
        Err(e) => Finding::problem("objects", message(&e), None),
    });
    findings.push(match store.probe_write(&config.store.state_key).await {
        Ok(()) => Finding::ok(
            "checkpoint_write",
            format!(
                "the checkpoint {} may be written",
                store.checkpoint_location()
            ),
        ),
        Err(e) => Finding::problem("checkpoint_write", message(&e), None),
    });
    let (finding, view) = inspect(runtime, config, store).await;
    findings.push(finding);
    (findings, view)
}

fn message(e: &StorageError) -> String {
    match e {
        StorageError::InvalidKey(m) => format!("key refused: {m}"),
        StorageError::Conflict(m) | StorageError::Denied(m) | StorageError::Unavailable(m) => {
            m.clone()
        }
    }
}

/// The component reads the checkpoint as a pass would.
async fn inspect(
    runtime: &Runtime,
    config: &PassConfig,
    store: Arc<dyn Storage>,
) -> (Finding, Option<CheckpointView>) {
    let location = store.checkpoint_location();
    let state = PassState::new(
        Egress::new(Arc::clone(&config.zendesk.egress), PassStats::default()),
        Arc::new(ReadOnly(store)),
        KeyPolicy::new(&config.store.prefix, &config.store.state_key),
        PassControl {
            stop: StopFlag::default(),
            deadline: None,
        },
        config.runtime.memory_limit_bytes,
        PassStats::default(),
    );
    let settings = config.settings(
        config
            .runtime
            .pass_start
            .unwrap_or_else(crate::clock::now_unix),
    );
    let report = match runtime.inspect(state, &settings).await {
        Ok(Ok(report)) => report,
        Ok(Err(refused)) => return (refusal(&location, refused), None),
        Err(trap) => {
            return (
                Finding::problem(
                    "checkpoint",
                    format!("the component failed reading the checkpoint: {trap:#}"),
                    None,
                ),
                None,
            );
        }
    };
    let view = CheckpointView::from_wit(location, report);
    (Finding::ok("checkpoint", describe(&view)), Some(view))
}

/// Where each resource stands, in a sentence.
fn describe(view: &CheckpointView) -> String {
    if !view.exists {
        return format!(
            "no checkpoint at {} yet: the next pass is a first run, from START_TIME or \
             LOOKBACK_SECONDS",
            view.location
        );
    }
    let at = |unix: i64| {
        std::time::UNIX_EPOCH
            .checked_add(std::time::Duration::from_secs(unix.max(0) as u64))
            .map(|t| humantime::format_rfc3339_seconds(t).to_string())
            .unwrap_or_else(|| unix.to_string())
    };
    let positions: Vec<String> = view
        .resources
        .iter()
        .map(|r| {
            let mut s = if !r.started {
                format!("{} not started (its next pass is a first run)", r.name)
            } else if let Some(reached) = r.reached {
                format!("{} stored up to {}", r.name, at(reached))
            } else if r.has_cursor {
                format!(
                    "{} resumes from a saved cursor (started at {})",
                    r.name,
                    r.start.map(at).unwrap_or_default()
                )
            } else {
                format!(
                    "{} starts at {}",
                    r.name,
                    r.start.map(at).unwrap_or_default()
                )
            };
            if r.pending {
                s.push_str(", a page being stored is asked again first");
            }
            if r.unconfirmed {
                s.push_str(", not yet answered by Zendesk (a new START_TIME is still taken)");
            }
            s
        })
        .collect();
    format!(
        "{} belongs to {}: {}",
        view.location,
        view.origin.as_deref().unwrap_or("this account"),
        positions.join("; ")
    )
}

/// A checkpoint a pass would refuse, and what to do about it.
fn refusal(location: &str, refused: SetupError) -> Finding {
    let (message, fix) = match refused {
        SetupError::ForeignCheckpoint(why) => (
            format!("the checkpoint {location} is not this account's: {why}"),
            None,
        ),
        SetupError::CorruptCheckpoint(why) => (
            format!("the checkpoint {location} is unreadable: {why}"),
            Some(
                "restore it from the bucket's versions or a backup, or start over with \
                 --reset-state (which keeps the old one aside)"
                    .into(),
            ),
        ),
        SetupError::UnsupportedCheckpointVersion(v) => (
            format!("the checkpoint {location} was written by a newer version (format {v})"),
            Some("run the version that wrote it, or a newer one".into()),
        ),
        SetupError::Checkpoint(why) => (format!("the checkpoint {location}: {why}"), None),
        SetupError::InvalidSettings(why) | SetupError::UnknownResource(why) => {
            (format!("the component refused the settings: {why}"), None)
        }
        SetupError::Other(why) => (format!("the component could not read it: {why}"), None),
    };
    Finding::problem("checkpoint", message, fix)
}

/// The store the component reads through during `check`: loads pass, writes never do.
struct ReadOnly(Arc<dyn Storage>);

fn refused_write() -> StorageError {
    StorageError::Denied("check writes nothing".into())
}

#[async_trait::async_trait]
impl Storage for ReadOnly {
    async fn put_object(
        &self,
        _: &str,
        _: Vec<u8>,
        _: &str,
        _: Option<&str>,
    ) -> Result<Put, StorageError> {
        Err(refused_write())
    }

    async fn load_checkpoint(&self) -> Result<Option<Vec<u8>>, StorageError> {
        self.0.load_checkpoint().await
    }

    async fn save_checkpoint(&self, _: Vec<u8>, _: SaveMode) -> Result<(), StorageError> {
        Err(refused_write())
    }

    fn checkpoint_location(&self) -> String {
        self.0.checkpoint_location()
    }

    async fn reset_checkpoint(&self, _: i64) -> Result<Option<String>, StorageError> {
        Err(refused_write())
    }

    async fn probe_reachable(&self) -> Result<String, StorageError> {
        self.0.probe_reachable().await
    }

    async fn probe_write(&self, _: &str) -> Result<(), StorageError> {
        Err(refused_write())
    }
}
