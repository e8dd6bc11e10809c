//! Pass control: how the host asks a running pass to stop after the page in flight, and the
//! pass's wall-clock budget, both read by the guest through `pass-control`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::time::Instant;

/// Shared between the signal handler (which sets it) and the running pass (which reads it).
#[derive(Debug, Clone, Default)]
pub struct StopFlag(Arc<AtomicBool>);

impl StopFlag {
    pub fn request(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_requested(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// What the guest can learn about its own budget.
#[derive(Debug, Clone, Default)]
pub struct PassControl {
    pub stop: StopFlag,
    /// On tokio's clock, so a paused clock (replay) makes it virtual too.
    pub deadline: Option<Instant>,
}

impl PassControl {
    pub fn time_left_ms(&self) -> Option<u64> {
        self.deadline.map(|d| {
            let left = d.saturating_duration_since(Instant::now());
            u64::try_from(left.as_millis()).unwrap_or(u64::MAX)
        })
    }

    pub fn deadline_passed(&self) -> bool {
        self.time_left_ms() == Some(0)
    }
}
