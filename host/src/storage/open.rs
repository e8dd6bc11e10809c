//! Opening the configured store for one pass: S3, Google Cloud Storage, or the local directory (taking its lock and
//! tidying what a killed pass left), `--reset-state` applied the same way for either, and the
//! output compression wrapped around it.

use std::sync::Arc;

use crate::config::PassConfig;
use crate::error::HostError;
use crate::storage::gcs::GcsStore;
use crate::storage::local::{self, LocalStore};
use crate::storage::s3::S3Store;
use crate::storage::{Storage, gzip};

/// The store of one pass, or why it cannot be opened.
pub async fn open(
    config: &PassConfig,
    pass_start: i64,
    reset: bool,
) -> Result<Arc<dyn Storage>, HostError> {
    let bucket = config.store.s3.is_some() || config.store.gcs.is_some();
    if bucket && config.state_key_under_prefix() {
        tracing::warn!(
            state_key = %config.store.state_key,
            prefix = %config.store.prefix,
            "STATE_KEY lies under the object prefix (S3_PREFIX or GCS_PREFIX): the SIEM feed \
             ingests every checkpoint write as a log, and a feed with source deletion deletes \
             it (the next pass would be a first run); set STATE_KEY outside the prefix, e.g. \
             zendesk/crm-state/state.json"
        );
    }
    let store: Arc<dyn Storage> = match (&config.store.s3, &config.store.gcs) {
        (Some(s3), _) => Arc::new(S3Store::open(s3.clone()).await?),
        (None, Some(gcs)) => Arc::new(GcsStore::open(gcs.clone()).await?),
        (None, None) => Arc::new(open_local(config).await?),
    };
    if reset {
        reset_checkpoint(store.as_ref(), config, pass_start).await?;
    }
    Ok(gzip::wrap(store, config.store.compression))
}

async fn open_local(config: &PassConfig) -> Result<LocalStore, HostError> {
    let store = LocalStore::open(&config.store.out, &config.store.state_key)?;
    // The lock is ours, so no pass of this store is writing: what a killed one left
    // half-written goes (never a stored object: those are linked, not renamed).
    let (root, prefix, state) = (
        config.store.out.clone(),
        config.store.prefix.clone(),
        store.state_path().to_path_buf(),
    );
    let removed =
        tokio::task::spawn_blocking(move || local::remove_stale_temps(&root, &prefix, &state))
            .await
            .unwrap_or_default();
    if !removed.is_empty() {
        let files: Vec<String> = removed.iter().map(|p| p.display().to_string()).collect();
        tracing::warn!(
            count = removed.len(),
            files = %files.join(" "),
            "removed temporary files an interrupted pass left (its writer is gone; no stored \
             object or checkpoint was touched)"
        );
    }
    Ok(store)
}

/// `--reset-state`: the old checkpoint set aside (moved in a directory, copied in S3, where
/// replacing it needs no DeleteObject), and this pass a first run.
async fn reset_checkpoint(
    store: &dyn Storage,
    config: &PassConfig,
    pass_start: i64,
) -> Result<(), HostError> {
    let how = if config.store.s3.is_some() || config.store.gcs.is_some() {
        "copied"
    } else {
        "moved"
    };
    match store.reset_checkpoint(pass_start).await {
        Ok(Some(aside)) => {
            tracing::warn!(kept_as = %aside, "checkpoint {how} aside; this pass is a first run");
            Ok(())
        }
        Ok(None) => {
            tracing::info!("no checkpoint to reset");
            Ok(())
        }
        Err(e) => Err(HostError::Reset(e)),
    }
}
