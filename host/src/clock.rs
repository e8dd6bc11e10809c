//! The component's monotonic clock: the host's own `wasi:clocks/monotonic-clock`, shadowing
//! wasmtime-wasi's in the linker. It reads tokio's clock, and its timers are tokio timers, so
//! when a replay pauses tokio's clock every reading and every wait the guest makes is virtual:
//! a `Retry-After: 30` advances the clock by 30 s at once. It also keeps the waits the guest
//! asked for (`pass-control.wait-ms`, or a `subscribe-duration`: back-off, `Retry-After`, the
//! rate budget), so tests and the summary can show them without measuring wall-clock time.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use wasmtime::component::{HasData, Resource, ResourceTable};
use wasmtime_wasi::p2::bindings::clocks::monotonic_clock;
use wasmtime_wasi::p2::{DynPollable, Pollable, subscribe};

/// One pass's clock: nanoseconds since the instance started, on tokio's clock.
#[derive(Debug, Clone)]
pub struct GuestClock {
    start: Instant,
    waits: Arc<Mutex<Vec<Duration>>>,
}

impl Default for GuestClock {
    fn default() -> GuestClock {
        GuestClock {
            start: Instant::now(),
            waits: Arc::default(),
        }
    }
}

impl GuestClock {
    fn now_ns(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Every wait the guest asked for, in order.
    pub fn waits(&self) -> Vec<Duration> {
        self.waits.lock().map(|w| w.clone()).unwrap_or_default()
    }

    /// Keeps a wait the guest asked for through `pass-control.wait-ms`.
    pub fn note_wait(&self, wait: Duration) {
        if let Ok(mut waits) = self.waits.lock() {
            waits.push(wait);
        }
    }

    /// Time on this clock since the pass started (virtual in a replay).
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }
}

/// What the clock's host functions see of the store.
pub struct ClockView<'a> {
    pub clock: &'a GuestClock,
    pub table: &'a mut ResourceTable,
}

/// Marks [`ClockView`] as the data of the clock interface in the linker.
pub struct Clock;

impl HasData for Clock {
    type Data<'a> = ClockView<'a>;
}

/// A timer on tokio's clock. Like wasmtime-wasi's: a timer already due yields once, so a
/// guest polling in a loop cannot starve the runtime.
enum Timer {
    Due { yielded: bool },
    At(Instant),
    Never,
}

#[async_trait::async_trait]
impl Pollable for Timer {
    async fn ready(&mut self) {
        match self {
            Timer::Due { yielded: true } => {}
            Timer::Due { yielded } => {
                *yielded = true;
                tokio::task::yield_now().await;
            }
            Timer::At(at) => tokio::time::sleep_until(*at).await,
            Timer::Never => std::future::pending().await,
        }
    }
}

fn timer(table: &mut ResourceTable, ns: u64) -> wasmtime::Result<Resource<DynPollable>> {
    let timer = if ns == 0 {
        Timer::Due { yielded: false }
    } else {
        match Instant::now().checked_add(Duration::from_nanos(ns)) {
            Some(at) => Timer::At(at),
            None => Timer::Never,
        }
    };
    let timer = table.push(timer)?;
    subscribe(table, timer)
}

impl monotonic_clock::Host for ClockView<'_> {
    fn now(&mut self) -> wasmtime::Result<monotonic_clock::Instant> {
        Ok(self.clock.now_ns())
    }

    fn resolution(&mut self) -> wasmtime::Result<monotonic_clock::Duration> {
        Ok(1)
    }

    fn subscribe_instant(
        &mut self,
        when: monotonic_clock::Instant,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        let ns = when.saturating_sub(self.clock.now_ns());
        timer(self.table, ns)
    }

    fn subscribe_duration(
        &mut self,
        ns: monotonic_clock::Duration,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        self.clock.note_wait(Duration::from_nanos(ns));
        timer(self.table, ns)
    }
}

/// The system clock in Unix seconds (0 before 1970, which no real clock reads).
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
