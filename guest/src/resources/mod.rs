//! The resources this component collects, one file each, and the registry the pass reads
//! them from. Adding a resource takes its file, a line in [`ALL`], its entry in the
//! checkpoint (checkpoint.rs, where the whole document's schema is read in one place), and
//! its endpoint in the simulator.

use std::marker::PhantomData;

use crate::checkpoint::Checkpoint;
use crate::collect::{self, Position, Resource};
use crate::settings::{PassSettings, ResourceSettings};
use crate::sink::{PageSink, Progress};

pub mod access_logs;
pub mod audit_logs;
mod events;
pub mod tickets;
#[cfg(test)]
pub mod toy;

pub use access_logs::AccessLogs;
pub use audit_logs::AuditLogs;
pub use tickets::Tickets;

/// A resource as the pass sees it: the object-safe face of a [`Resource`].
pub trait Registered: Sync {
    fn name(&self) -> &'static str;
    /// The endpoint's documented requests per rate window; none = only the account's.
    fn default_limit(&self) -> Option<u32>;
    /// The start a `START_TIME` is compared with; none before the first run.
    fn stored_start(&self, checkpoint: &Checkpoint) -> Option<i64>;
    /// See [`Resource::start_time_matters`].
    fn start_time_matters(&self, asked: i64, stored: i64) -> bool;
    /// Drops the entry, so the first-run start is fixed again.
    fn forget(&self, checkpoint: &mut Checkpoint);
    /// Fixes a first run's entry and returns its start and the start asked for when it had
    /// to start later; none when it has an entry already.
    fn begin(&self, checkpoint: &mut Checkpoint, pass: &PassSettings)
    -> Option<(i64, Option<i64>)>;
    /// Where the entry stands; none before the first run.
    fn position(&self, checkpoint: &Checkpoint) -> Option<Position>;
    /// Collects the resource from its entry.
    fn collect(&self, sink: &mut PageSink<'_>, resource: &ResourceSettings) -> Progress;
}

/// The registry entry of `R`.
pub struct Entry<R>(PhantomData<fn() -> R>);

impl<R> Entry<R> {
    pub const fn new() -> Entry<R> {
        Entry(PhantomData)
    }
}

impl<R: Resource> Registered for Entry<R> {
    fn name(&self) -> &'static str {
        R::NAME
    }

    fn default_limit(&self) -> Option<u32> {
        R::DEFAULT_LIMIT
    }

    fn stored_start(&self, checkpoint: &Checkpoint) -> Option<i64> {
        R::entry(&checkpoint.resources).map(R::start)
    }

    fn start_time_matters(&self, asked: i64, stored: i64) -> bool {
        R::start_time_matters(asked, stored)
    }

    fn forget(&self, checkpoint: &mut Checkpoint) {
        *R::entry_mut(&mut checkpoint.resources) = None;
    }

    fn begin(
        &self,
        checkpoint: &mut Checkpoint,
        pass: &PassSettings,
    ) -> Option<(i64, Option<i64>)> {
        let entry = R::entry_mut(&mut checkpoint.resources);
        if entry.is_some() {
            return None;
        }
        let first = R::first(pass);
        *entry = Some(first.state);
        Some((first.start, first.requested))
    }

    fn position(&self, checkpoint: &Checkpoint) -> Option<Position> {
        R::entry(&checkpoint.resources).map(R::position)
    }

    fn collect(&self, sink: &mut PageSink<'_>, resource: &ResourceSettings) -> Progress {
        collect::collect::<R>(sink, resource)
    }
}

/// The resources a pass may be asked for, in the order error messages list them.
pub type Registry = &'static [&'static dyn Registered];

pub static ALL: Registry = &[
    &Entry::<AuditLogs>::new(),
    &Entry::<Tickets>::new(),
    &Entry::<AccessLogs>::new(),
];

/// The entry named `name` in `registry`.
pub fn find(registry: Registry, name: &str) -> Option<&'static dyn Registered> {
    registry.iter().copied().find(|r| r.name() == name)
}

/// The names in `registry`, in its order.
pub fn names(registry: Registry) -> Vec<&'static str> {
    registry.iter().map(|r| r.name()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_endpoint_has_its_documented_limit() {
        let limit = |name| find(ALL, name).and_then(|r| r.default_limit());
        assert_eq!(limit("incremental_tickets"), Some(10));
        assert_eq!(limit("access_logs"), Some(50));
        assert_eq!(limit("audit_logs"), None);
        assert_eq!(
            names(ALL),
            ["audit_logs", "incremental_tickets", "access_logs"]
        );
    }
}
