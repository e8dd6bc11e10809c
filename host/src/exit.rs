//! Process exit codes: one table, also in docs/operating.md.

use std::process::ExitCode;

/// Why the process ends; each has its own exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Every resource succeeded (stopping at `MAX_PAGES` is success: the next pass continues).
    Success,
    /// Something unexpected inside the host or the component (a trap, a bug).
    Internal,
    /// The configuration is invalid or incomplete (also clap's usage errors).
    Config,
    /// At least one resource failed; the others ran, and every checkpoint is at its last
    /// stored page.
    ResourceFailed,
    /// A resource is not available to this account or token (403 or 404: a plan without audit
    /// logs, a missing scope) and nothing else failed; the other resources ran.
    ResourceUnavailable,
    /// The pass deadline ended a resource before it caught up (nothing failed; its checkpoint
    /// is at its last stored page and the next pass continues), or the component did not
    /// return in time and was stopped.
    Deadline,
    /// The checkpoint exists but cannot be used: corrupt, torn, foreign or from a newer
    /// version. Nothing was collected; nothing was overwritten.
    CheckpointUnreadable,
    /// A replay did not follow its cassette: the component made a request the cassette does
    /// not hold, or left recorded exchanges unused.
    ReplayDiverged,
    /// Another pass holds the checkpoint's lock.
    CheckpointLocked,
    /// The store could not be opened or the checkpoint could not be loaded or first saved.
    Storage,
    /// Zendesk refused the OAuth client: `invalid_client`, `unauthorized_client` or
    /// `invalid_scope`. Nothing was collected.
    OAuthRefused,
    /// The refresh token is gone (`invalid_grant`): an admin must approve the client again.
    OAuthGrantGone,
    /// Another process holds the refresh-token file's lock.
    RefreshTokenLocked,
    /// `check` found a problem (its report says which, and what to change).
    CheckFailed,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Internal => 1,
            Exit::Config => 2,
            Exit::ResourceFailed => 3,
            Exit::CheckpointUnreadable => 4,
            Exit::CheckpointLocked => 5,
            Exit::Storage => 6,
            Exit::ResourceUnavailable => 7,
            Exit::Deadline => 8,
            Exit::ReplayDiverged => 9,
            Exit::OAuthRefused => 10,
            Exit::OAuthGrantGone => 11,
            Exit::RefreshTokenLocked => 12,
            Exit::CheckFailed => 13,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e.code())
    }
}
