//! Test-only crash points: `ZENDESK_CRM_FAILPOINT=name:N[,name:N…]` aborts the process (no
//! unwinding, no cleanup, like a power cut or a `SIGKILL`) the N-th time the named point is
//! reached. The crash tests use it to prove that a pass killed anywhere resumes with nothing
//! lost and nothing stored twice.
//!
//! The variable is read once, by [`init`] at start. Any store calls [`hit`] with the same
//! names, so one crash test covers every backend.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The environment variable that arms failpoints.
pub const VARIABLE: &str = "ZENDESK_CRM_FAILPOINT";

/// Before an object's bytes are written anywhere.
pub const OBJECT_BEFORE_WRITE: &str = "object.before-write";
/// The object's bytes are written aside (a temporary file, an upload in progress) but not
/// visible under the key.
pub const OBJECT_AFTER_TEMP_WRITE: &str = "object.after-temp-write";
/// The object is durable under its key; the put has not returned.
pub const OBJECT_AFTER_WRITE: &str = "object.after-write";
/// Before a checkpoint's bytes are written anywhere.
pub const CHECKPOINT_BEFORE_WRITE: &str = "checkpoint.before-write";
/// The new checkpoint is written aside but has not replaced the old one.
pub const CHECKPOINT_AFTER_TEMP_WRITE: &str = "checkpoint.after-temp-write";
/// The new checkpoint is durable; the save has not returned.
pub const CHECKPOINT_AFTER_WRITE: &str = "checkpoint.after-write";
/// A request from the component has passed the egress policy and is about to be sent: the
/// point between two pages.
pub const REQUEST_BEFORE_SEND: &str = "request.before-send";

/// Zendesk answered a refresh with a rotated refresh token, which is not yet saved: the old
/// one is already revoked.
pub const REFRESH_TOKEN_ANSWERED: &str = "refresh-token.answered";
/// The rotated refresh token is durable in its file (renamed, directory synced); the access
/// token has not been used.
pub const REFRESH_TOKEN_AFTER_WRITE: &str = "refresh-token.after-write";

/// Every point there is; a name outside this list is a typo, refused at start.
pub const ALL: &[&str] = &[
    OBJECT_BEFORE_WRITE,
    OBJECT_AFTER_TEMP_WRITE,
    OBJECT_AFTER_WRITE,
    CHECKPOINT_BEFORE_WRITE,
    CHECKPOINT_AFTER_TEMP_WRITE,
    CHECKPOINT_AFTER_WRITE,
    REQUEST_BEFORE_SEND,
    REFRESH_TOKEN_ANSWERED,
    REFRESH_TOKEN_AFTER_WRITE,
];

struct Armed {
    name: &'static str,
    at: u64,
    reached: AtomicU64,
}

static ARMED: OnceLock<Vec<Armed>> = OnceLock::new();

/// Why `ZENDESK_CRM_FAILPOINT` cannot be used.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{VARIABLE}: {0}")]
pub struct SpecError(String);

/// Reads `ZENDESK_CRM_FAILPOINT` once. Unset or empty arms nothing.
pub fn init() -> Result<(), SpecError> {
    let spec = std::env::var(VARIABLE).unwrap_or_default();
    let armed = parse(&spec)?;
    if !armed.is_empty() {
        tracing::warn!(failpoints = %spec, "test-only failpoints armed: the process will abort");
    }
    // A second call keeps the first reading.
    let _ = ARMED.set(armed);
    Ok(())
}

fn parse(spec: &str) -> Result<Vec<Armed>, SpecError> {
    let mut armed = Vec::new();
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, n) = item
            .split_once(':')
            .ok_or_else(|| SpecError(format!("{item:?} is not name:N")))?;
        let name = ALL.iter().copied().find(|p| *p == name).ok_or_else(|| {
            SpecError(format!(
                "unknown failpoint {name:?}; known: {}",
                ALL.join(", ")
            ))
        })?;
        let at = n
            .parse::<u64>()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| SpecError(format!("{item:?}: N must be a positive integer")))?;
        armed.push(Armed {
            name,
            at,
            reached: AtomicU64::new(0),
        });
    }
    Ok(armed)
}

/// Marks that `name` is reached; aborts the process if this is the armed hit.
pub fn hit(name: &str) {
    let Some(armed) = ARMED.get() else { return };
    if let Some(at) = due(armed, name) {
        // Straight to stderr: the logger may buffer, and nothing after this line runs.
        eprintln!("failpoint {name}:{at} reached: aborting");
        std::process::abort();
    }
}

/// Counts a hit of `name`; the armed count when this hit is the one to crash at.
fn due(armed: &[Armed], name: &str) -> Option<u64> {
    // Every entry of the name counts the hit, even once one is due.
    let mut due = None;
    for a in armed.iter().filter(|a| a.name == name) {
        if a.reached.fetch_add(1, Ordering::SeqCst) + 1 == a.at {
            due = due.or(Some(a.at));
        }
    }
    due
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_list_and_refuses_typos_and_zero() {
        let armed = parse("object.after-write:3, request.before-send:1").unwrap();
        assert_eq!(
            armed.iter().map(|a| (a.name, a.at)).collect::<Vec<_>>(),
            vec![(OBJECT_AFTER_WRITE, 3), (REQUEST_BEFORE_SEND, 1)]
        );
        assert!(parse("").unwrap().is_empty());
        assert!(parse("object.after-wrote:1").is_err());
        assert!(parse("object.after-write").is_err());
        assert!(parse("object.after-write:0").is_err());
        assert!(parse("object.after-write:x").is_err());
    }

    #[test]
    fn unarmed_points_do_nothing() {
        // Nothing armed in this process: every point returns (an abort would end the test).
        for p in ALL {
            hit(p);
        }
        assert!(ARMED.get().is_none_or(|armed| armed.is_empty()));
        // Armed elsewhere: no other point is ever due, however often it is reached.
        let armed = parse("object.after-write:2").unwrap();
        for _ in 0..5 {
            for p in ALL.iter().filter(|p| **p != OBJECT_AFTER_WRITE) {
                assert_eq!(due(&armed, p), None, "{p}");
            }
        }
    }

    #[test]
    fn an_armed_point_is_due_at_its_nth_hit_only() {
        let armed = parse("object.after-write:3").unwrap();
        let hits: Vec<Option<u64>> = (0..5).map(|_| due(&armed, OBJECT_AFTER_WRITE)).collect();
        assert_eq!(hits, [None, None, Some(3), None, None]);
    }
}
