//! Why a resource fails, inside the guest; converted to the WIT `resource-error` at the edge.

use crate::bindings::exports::zendesk::crm::collector::ResourceError;

/// A resource's failure. The checkpoint stays at the last stored page whatever the cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    Unauthorized(String),
    Forbidden(String),
    NotFound(String),
    StartTimeRejected(String),
    Rejected(String),
    GaveUp(String),
    RequestRefused(String),
    Transport(String),
    InvalidResponse(String),
    Store(String),
    Checkpoint(String),
}

impl Failure {
    pub fn to_wit(&self) -> ResourceError {
        match self.clone() {
            Failure::Unauthorized(m) => ResourceError::Unauthorized(m),
            Failure::Forbidden(m) => ResourceError::Forbidden(m),
            Failure::NotFound(m) => ResourceError::NotFound(m),
            Failure::StartTimeRejected(m) => ResourceError::StartTimeRejected(m),
            Failure::Rejected(m) => ResourceError::Rejected(m),
            Failure::GaveUp(m) => ResourceError::GaveUp(m),
            Failure::RequestRefused(m) => ResourceError::RequestRefused(m),
            Failure::Transport(m) => ResourceError::Transport(m),
            Failure::InvalidResponse(m) => ResourceError::InvalidResponse(m),
            Failure::Store(m) => ResourceError::Store(m),
            Failure::Checkpoint(m) => ResourceError::Checkpoint(m),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (kind, m) = match self {
            Failure::Unauthorized(m) => ("unauthorized", m),
            Failure::Forbidden(m) => ("forbidden", m),
            Failure::NotFound(m) => ("not found", m),
            Failure::StartTimeRejected(m) => ("start time rejected", m),
            Failure::Rejected(m) => ("rejected", m),
            Failure::GaveUp(m) => ("gave up", m),
            Failure::RequestRefused(m) => ("request refused", m),
            Failure::Transport(m) => ("transport", m),
            Failure::InvalidResponse(m) => ("invalid response", m),
            Failure::Store(m) => ("store", m),
            Failure::Checkpoint(m) => ("checkpoint", m),
        };
        write!(f, "{kind}: {m}")
    }
}
