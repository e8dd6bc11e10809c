//! The wasmtime side: one engine and one pre-linked component, instantiated once per pass
//! (and shared by every pass of a `serve` process).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::error::Context as _;
use wasmtime::{
    Cache, CacheConfig, Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig,
    ProfilingStrategy, Store,
};

use crate::bindings::zendesk::crm::{checkpoint_store, log, object_store, pass_control, types};
use crate::bindings::{
    CheckpointReport, CollectorComponentPre, ResourceOutcome, Settings, SetupError,
};
use crate::clock::{Clock, ClockView};
use crate::imports::PassState;

/// The collector component built with this binary (see `build.rs`).
pub static EMBEDDED_COMPONENT: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/zendesk_crm_guest.wasm"));

/// How long a component may run past its deadline before it is stopped: it stops by itself
/// at the deadline, so this covers only a host call already under way. A deadline shorter
/// than this (tests) gets a grace as long as itself: see [`grace_for`].
pub const DEADLINE_GRACE: Duration = Duration::from_secs(30);

/// How often the engine's epoch advances while some guest computes. A running guest yields
/// to tokio at every tick (epoch interruption), so a component in a pure CPU loop still meets
/// its timeout and shares the threads with other feeds' passes: the cost is one check per
/// loop back-edge and function entry, and one yield per tick. While every guest waits (in a
/// host call, for a response, a timer or a store), the ticker sleeps and costs nothing.
pub const EPOCH_TICK: Duration = Duration::from_millis(20);

/// The grace a pass with this deadline gets past it before the component is stopped.
pub fn grace_for(deadline: Duration) -> Duration {
    DEADLINE_GRACE.min(deadline)
}

/// How a pass ended, seen from the host.
pub enum PassResult {
    /// The component returned.
    Returned(Result<Vec<ResourceOutcome>, SetupError>),
    /// It trapped or the host failed.
    Failed(anyhow::Error),
    /// It ran past its deadline and grace and was stopped.
    Overran,
}

pub struct Runtime {
    engine: Engine,
    pre: CollectorComponentPre<PassState>,
    ticker: Arc<Ticker>,
}

/// The epoch ticker: a thread that advances the engine's epoch every [`EPOCH_TICK`] while
/// guest code runs, and parks while none does, so a process whose passes all wait (and
/// `serve` between passes) never wakes up for it.
///
/// Every store marks [`Ticker::entered`] when it enters guest code (a call into the
/// component, or a return from a host call or from an epoch yield). The ticker parks only
/// after a whole tick in which nothing entered: a guest still computing at a tick yields at
/// that tick and so enters again, which keeps the ticker going for as long as it computes.
struct Ticker {
    /// Some store entered guest code since the ticker last looked.
    entered: AtomicBool,
    /// The ticker is parked (or about to park) and must be woken by the next entry.
    parked: AtomicBool,
    /// The runtime is gone: the thread ends.
    closed: AtomicBool,
    thread: OnceLock<std::thread::Thread>,
}

impl Ticker {
    /// Called from every store's call hook on entering guest code: one relaxed load when the
    /// ticker is already awake and has seen an entry this tick.
    fn entered(&self) {
        if self.entered.load(Ordering::Relaxed) {
            return;
        }
        self.entered.store(true, Ordering::SeqCst);
        if self.parked.swap(false, Ordering::SeqCst) {
            self.unpark();
        }
    }

    fn unpark(&self) {
        if let Some(thread) = self.thread.get() {
            thread.unpark();
        }
    }

    /// The ticker's loop: a tick after every [`EPOCH_TICK`] in which guest code was entered,
    /// else parked until it is.
    fn run(&self, engine: wasmtime::EngineWeak) {
        while !self.closed.load(Ordering::SeqCst) {
            std::thread::sleep(EPOCH_TICK);
            // Dekker's handshake with `entered()`: either this sees the entry, or the entry
            // sees `parked` and unparks (an unpark that comes before the park is kept).
            self.parked.store(true, Ordering::SeqCst);
            if self.entered.swap(false, Ordering::SeqCst) {
                self.parked.store(false, Ordering::SeqCst);
                let Some(engine) = engine.upgrade() else {
                    return;
                };
                engine.increment_epoch();
            } else {
                // The next tick is a whole EPOCH_TICK after the wake-up, so a guest that
                // just started does not yield at once.
                std::thread::park();
                self.parked.store(false, Ordering::SeqCst);
            }
        }
    }
}

/// Starts the ticker of `engine`; it ends with the [`Runtime`].
fn start_epoch_ticker(engine: &Engine) -> anyhow::Result<Arc<Ticker>> {
    let ticker = Arc::new(Ticker {
        entered: AtomicBool::new(false),
        parked: AtomicBool::new(false),
        closed: AtomicBool::new(false),
        thread: OnceLock::new(),
    });
    let weak = engine.weak();
    let theirs = Arc::clone(&ticker);
    let handle = std::thread::Builder::new()
        .name("epoch-ticker".into())
        .spawn(move || theirs.run(weak))
        .context("starting the epoch ticker")?;
    let _ = ticker.thread.set(handle.thread().clone());
    Ok(ticker)
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.ticker.closed.store(true, Ordering::SeqCst);
        self.ticker.unpark();
    }
}

impl Runtime {
    /// Compiles `component` (or finds it in `cache_dir`) and links it against WASI,
    /// `wasi:http` and our imports.
    pub fn new(component: &[u8], cache_dir: Option<&Path>) -> anyhow::Result<Runtime> {
        let mut config = Config::new();
        if let Some(dir) = cache_dir {
            match compiled_code_cache(dir) {
                Ok(cache) => {
                    config.cache(Some(cache));
                }
                Err(e) => {
                    tracing::warn!(dir = %dir.display(), error = %e, "compiled-code cache off");
                }
            }
        }
        // A guest that never calls the host (a CPU loop) must still yield, or no timeout
        // can stop it.
        config.epoch_interruption(true);
        // Test only, for `scripts/bench`: instances from wasmtime's pooling allocator instead
        // of fresh mappings per pass, to measure whether it makes instantiation cheaper.
        if std::env::var_os("ZENDESK_CRM_BENCH_POOLING").is_some() {
            let mut pool = PoolingAllocationConfig::new();
            pool.total_component_instances(64)
                .total_core_instances(256)
                .total_memories(256)
                .total_tables(256)
                .max_memory_size(1 << 30);
            config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        }
        // For profiling the component's compiled code (`perf record`; see docs/performance.md):
        // a /tmp/perf-PID.map that names each wasm function.
        if std::env::var_os("ZENDESK_CRM_BENCH_PERFMAP").is_some() {
            config.profiler(ProfilingStrategy::PerfMap);
        }
        let engine = Engine::new(&config)?;
        let ticker = start_epoch_ticker(&engine)?;
        let component =
            Component::new(&engine, component).context("compiling the collector component")?;
        let mut linker = Linker::<PassState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        // The host's own monotonic clock (see clock.rs) replaces wasmtime-wasi's, so every
        // clock reading and wait of the guest is on tokio's clock, virtual in a replay.
        linker.allow_shadowing(true);
        wasmtime_wasi::p2::bindings::clocks::monotonic_clock::add_to_linker::<_, Clock>(
            &mut linker,
            |s: &mut PassState| ClockView {
                clock: &s.clock,
                table: &mut s.table,
            },
        )?;
        linker.allow_shadowing(false);
        types::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
        object_store::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
        checkpoint_store::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
        pass_control::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
        log::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
        let pre = linker
            .instantiate_pre(&component)
            .context("linking the collector component")?;
        let pre = CollectorComponentPre::new(pre)
            .context("the component does not export the collector interface")?;
        Ok(Runtime {
            engine,
            pre,
            ticker,
        })
    }

    /// Runs one pass in a fresh instance, under the state's memory cap, stopping it if it runs
    /// past `hard_limit` (the deadline plus its grace).
    pub async fn run_pass(
        &self,
        state: PassState,
        settings: &Settings,
        hard_limit: Option<tokio::time::Instant>,
    ) -> (PassResult, PassState) {
        let mut store = self.store(state);
        let run = async {
            let started = std::time::Instant::now();
            let instance = self.pre.instantiate_async(&mut store).await?;
            // Read by `scripts/bench` (RUST_LOG=zendesk_crm::runtime=debug).
            tracing::debug!(
                micros = started.elapsed().as_micros() as u64,
                "component instantiated"
            );
            let outcome = instance
                .zendesk_crm_collector()
                .call_run(&mut store, settings)
                .await?;
            anyhow::Ok(outcome)
        };
        let result = match hard_limit {
            Some(limit) => tokio::time::timeout_at(limit, run)
                .await
                .unwrap_or_else(|_| Err(anyhow::anyhow!(Overran))),
            None => run.await,
        };
        let result = match result {
            Ok(r) => PassResult::Returned(r),
            Err(e) if e.is::<Overran>() => PassResult::Overran,
            Err(e) => PassResult::Failed(e),
        };
        (result, store.into_data())
    }

    /// The component's reading of the checkpoint (`check`): where each resource stands, or
    /// why a pass would refuse it. The component gets a store that refuses writes.
    pub async fn inspect(
        &self,
        state: PassState,
        settings: &Settings,
    ) -> anyhow::Result<Result<CheckpointReport, SetupError>> {
        let mut store = self.store(state);
        let instance = self.pre.instantiate_async(&mut store).await?;
        let report = instance
            .zendesk_crm_collector()
            .call_inspect(&mut store, settings)
            .await?;
        Ok(report)
    }

    /// A store for one instance: the memory cap, and a yield to tokio at every epoch tick,
    /// so a timeout is polled even while the guest computes without calling the host.
    fn store(&self, state: PassState) -> Store<PassState> {
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.memory);
        store.set_epoch_deadline(1);
        store.epoch_deadline_async_yield_and_update(1);
        // Wakes the ticker whenever guest code starts or resumes running.
        let ticker = Arc::clone(&self.ticker);
        store.call_hook(move |_, hook| {
            if hook.exiting_host() {
                ticker.entered();
            }
            Ok(())
        });
        store
    }
}

/// Marks the timeout of a component that did not stop by itself.
#[derive(Debug, thiserror::Error)]
#[error("the component ran past its deadline")]
struct Overran;

/// wasmtime's cache in `dir`. wasmtime refuses a relative directory, so `--cache-dir cache`
/// is taken from the current directory rather than turning the cache off.
fn compiled_code_cache(dir: &Path) -> anyhow::Result<Cache> {
    let dir = std::path::absolute(dir)?;
    let mut cache = CacheConfig::new();
    cache.with_directory(dir);
    Ok(Cache::new(cache)?)
}

/// The component of `config` (`--component`, else the embedded one), compiled or taken from
/// the compiled-code cache.
pub fn load(config: &crate::config::PassConfig) -> anyhow::Result<Runtime> {
    let cache = config.runtime.cache_dir.as_deref();
    match &config.runtime.component {
        Some(path) => {
            let bytes = anyhow::Context::with_context(std::fs::read(path), || {
                format!("reading {}", path.display())
            })?;
            Runtime::new(&bytes, cache)
        }
        None => Runtime::new(EMBEDDED_COMPONENT, cache),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the component may import: `wasi:http` (the only way out), our own interfaces, and
    /// what `wasi:http` and Rust's standard library bring, which the host gives nothing
    /// (empty environment and arguments, no stdio). No filesystem, no sockets, no wall clock,
    /// no randomness.
    const DOCUMENTED_IMPORTS: &[&str] = &[
        // Rust's standard library (at the WASI version its target pins).
        "wasi:cli/environment@0.2.6",
        "wasi:cli/exit@0.2.6",
        "wasi:cli/stderr@0.2.6",
        "wasi:cli/stdin@0.2.6",
        "wasi:cli/stdout@0.2.6",
        "wasi:cli/terminal-input@0.2.6",
        "wasi:cli/terminal-output@0.2.6",
        "wasi:cli/terminal-stderr@0.2.6",
        "wasi:cli/terminal-stdin@0.2.6",
        "wasi:cli/terminal-stdout@0.2.6",
        // Timeouts and back-off; there is no wall clock and no randomness.
        "wasi:clocks/monotonic-clock@0.2.12",
        // The one way out, and what it is made of.
        "wasi:http/outgoing-handler@0.2.12",
        "wasi:http/types@0.2.12",
        "wasi:io/error@0.2.12",
        "wasi:io/poll@0.2.12",
        "wasi:io/streams@0.2.12",
        // Ours.
        "zendesk:crm/checkpoint-store@0.1.0",
        "zendesk:crm/log@0.1.0",
        "zendesk:crm/object-store@0.1.0",
        "zendesk:crm/pass-control@0.1.0",
        "zendesk:crm/types@0.1.0",
    ];

    #[test]
    fn a_relative_cache_directory_is_taken_from_the_current_directory() {
        let dir = tempfile::tempdir_in(".").unwrap();
        let relative = Path::new(dir.path().file_name().unwrap());
        assert!(relative.is_relative() && relative.exists());
        compiled_code_cache(relative).unwrap();
    }

    #[test]
    fn component_imports_are_exactly_the_documented_ones() {
        let engine = Engine::default();
        let component = Component::new(&engine, EMBEDDED_COMPONENT).unwrap();
        let mut imports: Vec<String> = component
            .component_type()
            .imports(&engine)
            .map(|(name, _)| name.to_owned())
            .collect();
        imports.sort();
        assert_eq!(imports, DOCUMENTED_IMPORTS);
        assert!(
            !imports
                .iter()
                .any(|i| i.starts_with("wasi:filesystem") || i.starts_with("wasi:sockets"))
        );
    }
}
