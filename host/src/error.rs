//! What stops a command before or around a pass, each with its exit code: the one place the
//! exit-code table (`exit.rs`, docs/operating.md) is applied to the host's own failures. A
//! pass that ran reports its resources' errors in its summary instead (`summary.rs`).

use crate::exit::Exit;
use crate::storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Feeds(#[from] crate::feeds::FeedsError),
    #[error("{0:#}")]
    Component(anyhow::Error),
    #[error("{0}")]
    Replay(String),
    #[error("{0}")]
    S3(#[from] crate::storage::s3::OpenError),
    #[error("{0}")]
    Gcs(#[from] crate::storage::gcs::OpenError),
    #[error(transparent)]
    LocalStore(#[from] crate::storage::local::OpenError),
    #[error("{0}")]
    Reset(StorageError),
    #[error("{0}")]
    Seed(String),
    #[error("serve needs --every (SCHEDULE_EVERY)")]
    NoInterval,
    #[error("{addr}: {source}")]
    Metrics {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
}

impl HostError {
    /// The process's exit code for this failure.
    pub fn exit(&self) -> Exit {
        use crate::storage::local::OpenError as Local;
        match self {
            HostError::Config(e) => e.exit(),
            HostError::Feeds(e) => e.exit(),
            HostError::Component(_) => Exit::Internal,
            HostError::Replay(_) | HostError::S3(_) | HostError::NoInterval => Exit::Config,
            HostError::Gcs(_) => Exit::Config,
            HostError::Metrics { .. } => Exit::Config,
            HostError::LocalStore(Local::Locked(_)) => Exit::CheckpointLocked,
            HostError::LocalStore(Local::BadStateKey(_)) => Exit::Config,
            HostError::LocalStore(_) | HostError::Reset(_) | HostError::Seed(_) => Exit::Storage,
        }
    }

    /// What failed, as the log line's message; the error itself is its `error` field.
    fn what(&self) -> &'static str {
        use crate::storage::local::OpenError as Local;
        match self {
            HostError::Config(_) | HostError::Feeds(_) => "invalid configuration",
            HostError::Component(_) => "cannot load the component",
            HostError::Replay(_) => "cannot replay",
            HostError::S3(_) => "cannot configure S3",
            HostError::Gcs(_) => "cannot configure Google Cloud Storage",
            HostError::LocalStore(Local::Locked(_)) => {
                "checkpoint is locked; is another pass running?"
            }
            HostError::LocalStore(Local::BadStateKey(_)) => "invalid STATE_KEY",
            HostError::LocalStore(_) => "cannot open the output directory",
            HostError::Reset(_) => "cannot set the checkpoint aside",
            HostError::Seed(_) => "cannot store the cassette's initial checkpoint",
            HostError::NoInterval => "cannot serve",
            HostError::Metrics { .. } => "cannot serve metrics",
        }
    }

    /// Logs the failure once and returns its exit code: every command ends a failure here.
    pub fn report(&self) -> Exit {
        tracing::error!(error = %self, "{}", self.what());
        self.exit()
    }
}
