//! The host behind one seam: everything the collection logic asks of the world outside the
//! component (the object store, the checkpoint, the pass control, the monotonic clock and
//! HTTP) goes through [`Host`]. [`WitHost`] is the only implementation in the component; it
//! calls the generated bindings and turns their types into the plain ones below, so the rest
//! of the guest never names a WIT import and can run natively against a fake host.
//!
//! The logic takes `&dyn Host` rather than a generic: there is one implementation per build,
//! the call behind each method (a request, a write, a wait) dwarfs a virtual call, and the
//! types that hold it (`PageSink`, `Retrier`) stay free of a type parameter. Methods take
//! `&self`: the real host keeps no state here, and a fake keeps its own in cells.

use crate::bindings::wasi::clocks::monotonic_clock;
use crate::bindings::zendesk::crm::checkpoint_store::{self, CheckpointError};
use crate::bindings::zendesk::crm::object_store::{self, StoreError};
use crate::bindings::zendesk::crm::pass_control;
use crate::http::{self, HttpError, Response};
use crate::settings::Origin;

/// Why the host wants the pass to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    Shutdown,
    Deadline,
}

/// How a checkpoint save may land: the first save of a new checkpoint must not replace one
/// another pass wrote meanwhile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    Create,
    Replace,
}

/// What a create-only object write found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    Created,
    AlreadyExisted,
}

/// The imports the collection logic uses. Errors are the host's message, already worded.
pub trait Host {
    /// Writes an object unless one is stored under `key`.
    fn put_object(&self, key: &str, bytes: &[u8], content_type: &str)
    -> Result<PutOutcome, String>;
    /// The checkpoint's bytes, or None when there is none yet.
    fn load_checkpoint(&self) -> Result<Option<Vec<u8>>, String>;
    fn save_checkpoint(&self, bytes: &[u8], mode: WriteMode) -> Result<(), String>;
    fn stop_requested(&self) -> Option<StopReason>;
    /// Milliseconds until the pass deadline, if it has one.
    fn time_left_ms(&self) -> Option<u64>;
    /// The monotonic clock, in nanoseconds.
    fn now_ns(&self) -> u64;
    /// Waits, ending early when the host is asked to stop.
    fn wait_ms(&self, ms: u64);
    /// One GET of `path_and_query` on `origin`, with no retry.
    fn get(
        &self,
        origin: &Origin,
        path_and_query: &str,
        timeout_ms: u64,
        max_body_bytes: u64,
    ) -> Result<Response, HttpError>;
}

/// The component's host: the generated bindings.
pub struct WitHost;

impl Host for WitHost {
    fn put_object(
        &self,
        key: &str,
        bytes: &[u8],
        content_type: &str,
    ) -> Result<PutOutcome, String> {
        match object_store::put_object(key, bytes, content_type) {
            Ok(object_store::PutOutcome::Created) => Ok(PutOutcome::Created),
            Ok(object_store::PutOutcome::AlreadyExisted) => Ok(PutOutcome::AlreadyExisted),
            Err(e) => Err(store_error_from_wit(e)),
        }
    }

    fn load_checkpoint(&self) -> Result<Option<Vec<u8>>, String> {
        checkpoint_store::load().map_err(checkpoint_error_from_wit)
    }

    fn save_checkpoint(&self, bytes: &[u8], mode: WriteMode) -> Result<(), String> {
        checkpoint_store::save(bytes, write_mode_to_wit(mode)).map_err(checkpoint_error_from_wit)
    }

    fn stop_requested(&self) -> Option<StopReason> {
        pass_control::stop_requested().map(stop_reason_from_wit)
    }

    fn time_left_ms(&self) -> Option<u64> {
        pass_control::time_left_ms()
    }

    fn now_ns(&self) -> u64 {
        monotonic_clock::now()
    }

    fn wait_ms(&self, ms: u64) {
        pass_control::wait_ms(ms);
    }

    fn get(
        &self,
        origin: &Origin,
        path_and_query: &str,
        timeout_ms: u64,
        max_body_bytes: u64,
    ) -> Result<Response, HttpError> {
        http::get(origin, path_and_query, timeout_ms, max_body_bytes)
    }
}

fn write_mode_to_wit(mode: WriteMode) -> checkpoint_store::WriteMode {
    match mode {
        WriteMode::Create => checkpoint_store::WriteMode::Create,
        WriteMode::Replace => checkpoint_store::WriteMode::Replace,
    }
}

fn stop_reason_from_wit(r: pass_control::StopReason) -> StopReason {
    match r {
        pass_control::StopReason::Shutdown => StopReason::Shutdown,
        pass_control::StopReason::Deadline => StopReason::Deadline,
    }
}

fn store_error_from_wit(e: StoreError) -> String {
    match e {
        StoreError::InvalidKey(m) => format!("key refused: {m}"),
        StoreError::Denied(m) => format!("denied: {m}"),
        StoreError::Unavailable(m) => format!("unavailable: {m}"),
        StoreError::Other(m) => m,
    }
}

fn checkpoint_error_from_wit(e: CheckpointError) -> String {
    match e {
        CheckpointError::Conflict(m) => format!("conflict: {m}"),
        CheckpointError::Denied(m) => format!("denied: {m}"),
        CheckpointError::Unavailable(m) => format!("unavailable: {m}"),
        CheckpointError::Other(m) => m,
    }
}
