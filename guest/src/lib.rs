//! The Zendesk collector component: collection logic only.
//!
//! It reaches Zendesk through the imported `wasi:http/outgoing-handler` and storage through the
//! `object-store` and `checkpoint-store` imports declared in `wit/collector.wit`; it holds no
//! secret and knows nothing of S3. This file holds only the bindings and the export; the logic
//! lives in one module per concept.

mod checkpoint;
mod collect;
mod error;
#[cfg(test)]
mod fake_host;
mod host;
#[cfg(test)]
mod hostile_input;
mod http;
mod inspect;
mod json_scan;
mod log;
mod object_key;
mod pass;
#[cfg(test)]
mod pending_page_tests;
mod rate_budget;
mod resources;
mod retry;
mod settings;
mod sink;

/// The only `generate!` in the guest: every other module uses the plain Rust types below.
pub(crate) mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "zendesk:crm/collector-component",
        generate_all,
    });
}

use bindings::exports::zendesk::crm::collector::{
    CheckpointReport, Guest, ResourceOutcome, SetupError,
};
use bindings::zendesk::crm::types::Settings;

struct Component;

impl Guest for Component {
    fn run(settings: Settings) -> Result<Vec<ResourceOutcome>, SetupError> {
        pass::run(&host::WitHost, settings)
    }

    fn inspect(settings: Settings) -> Result<CheckpointReport, SetupError> {
        inspect::inspect(&host::WitHost, settings)
    }
}

// Only the wasm build exports `run` and `inspect`: native builds exist for the unit tests, and a native
// shared library cannot carry the component's export names.
#[cfg(target_arch = "wasm32")]
bindings::export!(Component with_types_in bindings);
