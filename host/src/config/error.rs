//! What can be wrong with a pass's configuration, and the exit code it maps to.

use crate::credentials::CredentialsError;
use crate::egress::OriginError;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    #[error(transparent)]
    Origin(#[from] OriginError),
    #[error("RESOURCES is empty")]
    NoResources,
    #[error(
        "both S3_BUCKET and --out/ZENDESK_CRM_OUT are set: choose one store (S3, or a local \
         directory)"
    )]
    TwoStores,
    #[error(
        "GCS_BUCKET is set together with {0}: choose one store (Google Cloud Storage, S3, or a \
         local directory)"
    )]
    GcsAndAnotherStore(&'static str),
    #[error("set only one of S3_PREFIX and GCS_PREFIX (the same setting under two names)")]
    TwoPrefixes,
    #[error("SSE_KMS_KEY_ID is set without S3_BUCKET: the local store does not encrypt")]
    KmsWithoutS3,
    #[error(
        "SSE_KMS_KEY_ID is set with GCS_BUCKET: it is S3's setting; set the bucket's default \
         Cloud KMS key in Cloud Storage instead"
    )]
    KmsWithGcs,
    #[error("{0} must be at least 1")]
    Zero(&'static str),
    #[error(transparent)]
    Sender(#[from] crate::sender::SenderError),
    #[error("ZENDESK_BASE_URL (--base-url) is required")]
    MissingBaseUrl,
    #[error(transparent)]
    OAuth(#[from] crate::oauth::SetupError),
    /// Every problem found, so that one run lists them all (each is independent of the others,
    /// or depends only on settings that were valid).
    #[error("{} problems in the configuration: {}", .0.len(), numbered(.0))]
    Many(Vec<ConfigError>),
}

fn numbered(problems: &[ConfigError]) -> String {
    problems
        .iter()
        .enumerate()
        .map(|(i, p)| format!("({}) {p}", i + 1))
        .collect::<Vec<_>>()
        .join("; ")
}

impl ConfigError {
    /// One problem as itself, several as [`ConfigError::Many`].
    pub(super) fn from_problems(mut problems: Vec<ConfigError>) -> Option<ConfigError> {
        match problems.len() {
            0 => None,
            1 => problems.pop(),
            _ => Some(ConfigError::Many(problems)),
        }
    }
}

impl ConfigError {
    /// The exit code of a configuration that cannot be used.
    pub fn exit(&self) -> crate::exit::Exit {
        match self {
            ConfigError::OAuth(crate::oauth::SetupError::Locked { .. }) => {
                crate::exit::Exit::RefreshTokenLocked
            }
            _ => crate::exit::Exit::Config,
        }
    }
}
