//! The only `bindgen!` in the host: Rust types for `wit/collector.wit`. `wasi:*` interfaces
//! map to wasmtime's own implementations, so only our interfaces get host traits here.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "zendesk:crm/collector-component",
    imports: { default: async },
    exports: { default: async },
    require_store_data_send: true,
    with: {
        "wasi:http": wasmtime_wasi_http::p2::bindings::http,
        "wasi:io": wasmtime_wasi::p2::bindings::io,
        "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
    },
});

pub use exports::zendesk::crm::collector::{
    CheckpointReport, ResourceError, ResourceOutcome, ResourcePosition, SetupError, StopCause,
};
pub use zendesk::crm::types::{OutputFormat, RateBudget, ResourceRequest, RetryPolicy, Settings};
