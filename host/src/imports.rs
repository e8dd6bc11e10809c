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
use crate::cassette::session::Session;
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
    /// The pass's record/replay session: `stop-requested` answers, recorded or replayed.
    pub session: Session,
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
            session: Session::Live,
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
        match self.session.answer_stop(live).as_deref() {
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
    /// The guest's fields become real fields of the event, so JSON logs can be filtered by
    /// `resource` or compared by `records`: tracing needs field names at compile time, so the
    /// names the component uses are listed here (numbers as numbers), and any other name goes
    /// into one `fields="name=value …"` string rather than being dropped.
    async fn emit(&mut self, level: Level, message: String, fields: Vec<(String, String)>) {
        let f = GuestFields::new(&fields);
        macro_rules! guest_event {
            ($level:ident) => {
                tracing::$level!(
                    target: "guest",
                    resource = f.text("resource"),
                    records = f.int("records"),
                    records_total = f.int("records_total"),
                    position = f.text("position"),
                    behind_seconds = f.int("behind_seconds"),
                    behind = f.text("behind"),
                    records_per_s = f.int("records_per_s"),
                    pages = f.int("pages"),
                    key = f.text("key"),
                    status = f.int("status"),
                    attempt = f.int("attempt"),
                    wait_ms = f.int("wait_ms"),
                    reason = f.text("reason"),
                    error = f.text("error"),
                    request = f.text("request"),
                    body = f.text("body"),
                    limit = f.int("limit"),
                    start = f.int("start"),
                    start_time = f.int("start_time"),
                    requested_start = f.int("requested_start"),
                    records_then = f.int("records_then"),
                    records_now = f.int("records_now"),
                    fields = f.rest(),
                    "{message}"
                )
            };
        }
        match level {
            Level::Debug => guest_event!(debug),
            Level::Info => guest_event!(info),
            Level::Warn => guest_event!(warn),
            Level::Error => guest_event!(error),
        }
    }
}

/// A guest event's fields, looked up by the names `emit` knows; the rest kept as text.
struct GuestFields<'a> {
    fields: &'a [(String, String)],
    rest: String,
}

impl<'a> GuestFields<'a> {
    const TEXT: &'static [&'static str] = &[
        "resource", "position", "behind", "key", "reason", "error", "request", "body",
    ];
    const INT: &'static [&'static str] = &[
        "records",
        "records_total",
        "behind_seconds",
        "records_per_s",
        "pages",
        "status",
        "attempt",
        "wait_ms",
        "limit",
        "start",
        "start_time",
        "requested_start",
        "records_then",
        "records_now",
    ];

    fn new(fields: &'a [(String, String)]) -> GuestFields<'a> {
        let rest = fields
            .iter()
            .filter(|(k, v)| {
                let k = k.as_str();
                !(Self::TEXT.contains(&k) || Self::INT.contains(&k) && v.parse::<i64>().is_ok())
            })
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ");
        GuestFields { fields, rest }
    }

    fn get(&self, name: &str) -> Option<&'a str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn text(&self, name: &str) -> Option<&'a str> {
        self.get(name)
    }

    /// A number field; one that does not parse is in `rest` instead.
    fn int(&self, name: &str) -> Option<i64> {
        self.get(name).and_then(|v| v.parse().ok())
    }

    fn rest(&self) -> Option<&str> {
        (!self.rest.is_empty()).then_some(self.rest.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::GuestFields;

    #[test]
    fn known_guest_fields_are_typed_and_the_rest_kept_as_text() {
        let fields = vec![
            ("resource".to_owned(), "audit_logs".to_owned()),
            ("records".to_owned(), "100".to_owned()),
            ("status".to_owned(), "soon".to_owned()),
            ("shard".to_owned(), "7".to_owned()),
        ];
        let f = GuestFields::new(&fields);
        assert_eq!(f.text("resource"), Some("audit_logs"));
        assert_eq!(f.int("records"), Some(100));
        assert_eq!(f.int("status"), None, "not a number: kept in the rest");
        assert_eq!(f.rest(), Some("status=soon shard=7"));
        assert_eq!(f.text("key"), None);
    }
}
