//! Pass control: how the host asks a running pass to stop after the page in flight, and the
//! pass's wall-clock budget, both read by the guest through `pass-control`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;
use tokio::time::Instant;

/// Shared between the signal handler (which sets it) and the passes and schedule (which read
/// it, or wait for it).
#[derive(Debug, Clone, Default)]
pub struct StopFlag(Arc<(AtomicBool, Notify)>);

impl StopFlag {
    pub fn request(&self) {
        self.0.0.store(true, Ordering::SeqCst);
        self.0.1.notify_waiters();
    }

    pub fn is_requested(&self) -> bool {
        self.0.0.load(Ordering::SeqCst)
    }

    /// Returns once a stop is requested.
    pub async fn requested(&self) {
        let notified = self.0.1.notified();
        if !self.is_requested() {
            notified.await;
        }
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
