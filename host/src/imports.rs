//! The store data of one pass and the host side of the component's imports: one field per
//! capability, and the `object-store`, `checkpoint-store`, `pass-control` and `log`
//! implementations. Conversions between WIT and storage types happen here, at the boundary.

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::bindings::zendesk::crm::checkpoint_store::{CheckpointError, WriteMode};
use crate::bindings::zendesk::crm::log::Level;
use crate::bindings::zendesk::crm::object_store::{PutOutcome, StoreError};
use crate::bindings::zendesk::crm::pass_control::StopReason;
use crate::bindings::zendesk::crm::{checkpoint_store, log, object_store, pass_control, types};
use crate::cassette::StopTape;
use crate::clock::GuestClock;
use crate::control::PassControl;
use crate::egress::Egress;
use crate::stats::{PassStats, resource_of_key};
use crate::storage::{KeyPolicy, Put, SaveMode, Storage, StorageError};

/// Everything one pass's component instance can reach.
pub struct PassState {
    pub wasi: WasiCtx,
    pub http: WasiHttpCtx,
    pub table: ResourceTable,
    pub egress: Egress,
    pub storage: Arc<dyn Storage>,
    pub keys: KeyPolicy,
    pub control: PassControl,
    /// Whether the checkpoint was absent when the guest loaded it.
    pub checkpoint_absent: Option<bool>,
    pub memory: MemoryCap,
    pub stats: PassStats,
    /// The guest's monotonic clock, and the waits it asked for.
    pub clock: GuestClock,
    /// The checkpoint bytes the guest loaded (kept for a cassette's header).
    pub loaded_checkpoint: Option<Vec<u8>>,
    /// `stop-requested` answers, recorded or replayed.
    pub stops: StopTape,
}

/// The memory cap of one instance, remembering whether it refused growth so the error can
/// say so instead of showing the guest's abort.
#[derive(Debug)]
pub struct MemoryCap {
    pub limit_bytes: usize,
    pub hit: bool,
}

impl wasmtime::ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit_bytes {
            self.hit = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Tables hold function references; the collector needs a few thousand at most.
        Ok(desired <= 1 << 20)
    }
}

impl PassState {
    /// A WASI context that gives the guest nothing: no environment, arguments, directories,
    /// sockets or stdio. Only `wasi:http` (through [`Egress`]) and our imports reach out.
    pub fn new(
        egress: Egress,
        storage: Arc<dyn Storage>,
        keys: KeyPolicy,
        control: PassControl,
        memory_limit_bytes: usize,
        stats: PassStats,
    ) -> PassState {
        let wasi = WasiCtx::builder()
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        PassState {
            wasi,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            egress,
            storage,
            keys,
            control,
            checkpoint_absent: None,
            memory: MemoryCap {
                limit_bytes: memory_limit_bytes,
                hit: false,
            },
            stats,
            clock: GuestClock::default(),
            loaded_checkpoint: None,
            stops: StopTape::Off,
        }
    }
}

impl WasiView for PassState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for PassState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.egress,
        }
    }
}

impl types::Host for PassState {}

impl object_store::Host for PassState {
    async fn put_object(
        &mut self,
        key: String,
        body: Vec<u8>,
        content_type: String,
    ) -> Result<PutOutcome, StoreError> {
        if let Err(why) = self.keys.check_object_key(&key) {
            tracing::warn!(%why, "refused an object key from the component");
            return Err(StoreError::InvalidKey(why));
        }
        let bytes = body.len() as u64;
        match self
            .storage
            .put_object(&key, body, &content_type, None)
            .await
        {
            Ok(Put::Created) => {
                if let Some(resource) = resource_of_key(&key) {
                    self.stats.add_bytes(resource, bytes);
                }
                Ok(PutOutcome::Created)
            }
            Ok(Put::AlreadyExisted) => Ok(PutOutcome::AlreadyExisted),
            Err(StorageError::InvalidKey(m)) => Err(StoreError::InvalidKey(m)),
            Err(StorageError::Denied(m)) => Err(StoreError::Denied(m)),
            Err(e @ (StorageError::Unavailable(_) | StorageError::Conflict(_))) => {
                Err(StoreError::Unavailable(e.to_string()))
            }
        }
    }
}

impl checkpoint_store::Host for PassState {
    async fn load(&mut self) -> Result<Option<Vec<u8>>, CheckpointError> {
        let loaded = self
            .storage
            .load_checkpoint()
            .await
            .map_err(to_wit_checkpoint_error)?;
        if self.checkpoint_absent.is_none() {
            self.loaded_checkpoint.clone_from(&loaded);
        }
        self.checkpoint_absent = Some(loaded.is_none());
        Ok(loaded)
    }

    async fn save(&mut self, checkpoint: Vec<u8>, mode: WriteMode) -> Result<(), CheckpointError> {
        let mode = match mode {
            WriteMode::Create => SaveMode::Create,
            WriteMode::Replace => SaveMode::Replace,
        };
        self.storage
            .save_checkpoint(checkpoint, mode)
            .await
            .map_err(to_wit_checkpoint_error)
    }
}

fn to_wit_checkpoint_error(e: StorageError) -> CheckpointError {
    match e {
        StorageError::Conflict(m) => CheckpointError::Conflict(m),
        StorageError::Denied(m) => CheckpointError::Denied(m),
        StorageError::Unavailable(m) => CheckpointError::Unavailable(m),
        StorageError::InvalidKey(m) => CheckpointError::Other(m),
    }
}

impl pass_control::Host for PassState {
    async fn stop_requested(&mut self) -> Option<StopReason> {
        let live = if self.control.stop.is_requested() {
            Some("shutdown")
        } else if self.control.deadline_passed() {
            Some("deadline")
        } else {
            None
        };
        match self.stops.answer(live).as_deref() {
            Some("shutdown") => Some(StopReason::Shutdown),
            Some(_) => Some(StopReason::Deadline),
            None => None,
        }
    }

    async fn time_left_ms(&mut self) -> Option<u64> {
        self.control.time_left_ms()
    }

    async fn wait_ms(&mut self, ms: u64) {
        let wait = std::time::Duration::from_millis(ms);
        self.clock.note_wait(wait);
        // On tokio's clock, so a replay's paused clock makes the wait virtual.
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = self.control.stop.requested() => {}
        }
    }
}

impl log::Host for PassState {
    async fn emit(&mut self, level: Level, message: String, fields: Vec<(String, String)>) {
        let fields = fields
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ");
        match level {
            Level::Debug => tracing::debug!(target: "guest", %fields, "{message}"),
            Level::Info => tracing::info!(target: "guest", %fields, "{message}"),
            Level::Warn => tracing::warn!(target: "guest", %fields, "{message}"),
            Level::Error => tracing::error!(target: "guest", %fields, "{message}"),
        }
    }
}
