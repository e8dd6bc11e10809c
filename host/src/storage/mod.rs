//! Where objects and the checkpoint are kept: one trait, one module per backend. The key
//! policy lives here so every backend refuses the same keys.

pub mod gcs;
pub mod gzip;
mod keys;
pub mod local;
mod open;
pub mod s3;

pub use open::open;

pub use keys::{KeyPolicy, normalize_prefix};

/// What a create-only write found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Put {
    Created,
    AlreadyExisted,
}

/// How a checkpoint save may treat an existing checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveMode {
    Create,
    Replace,
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("key refused: {0}")]
    InvalidKey(String),
    #[error("a checkpoint already exists at {0}")]
    Conflict(String),
    #[error("access denied: {0}")]
    Denied(String),
    #[error("{0}")]
    Unavailable(String),
}

/// A backend for one feed: page objects under the prefix, and the checkpoint at its key.
#[async_trait::async_trait]
pub trait Storage: Send + Sync {
    /// Stores `body` under `key` unless it exists; returns once the object is durable.
    /// `content_encoding` is set when the storage layer compressed the body (`gzip`).
    async fn put_object(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        content_encoding: Option<&str>,
    ) -> Result<Put, StorageError>;

    /// The checkpoint's bytes, or none if there is none yet.
    async fn load_checkpoint(&self) -> Result<Option<Vec<u8>>, StorageError>;

    /// Stores the checkpoint atomically.
    async fn save_checkpoint(&self, bytes: Vec<u8>, mode: SaveMode) -> Result<(), StorageError>;

    /// Where the checkpoint lives, for messages (a path or an `s3://` URL).
    fn checkpoint_location(&self) -> String;

    /// `--reset-state`: sets the checkpoint aside as `{STATE_KEY}.reset-{now_unix}`, so this
    /// pass is a first run. Returns where the old one went, or none when there was none.
    async fn reset_checkpoint(&self, now_unix: i64) -> Result<Option<String>, StorageError>;

    /// `check`: whether the store is there, in a sentence for the report (a missing bucket
    /// is the error; a directory the first pass will create is fine).
    async fn probe_reachable(&self) -> Result<String, StorageError>;

    /// `check`: whether `key` (a page object's or the checkpoint's) may be written, found by a
    /// write designed to fail, so that nothing is left that a SIEM would ingest.
    async fn probe_write(&self, key: &str) -> Result<(), StorageError>;

    /// Why this pass may store nothing more, when a concurrent writer advanced the checkpoint
    /// under it (a conditional write that lost). A store that locks instead never says so.
    fn lost_race(&self) -> Option<String> {
        None
    }
}
