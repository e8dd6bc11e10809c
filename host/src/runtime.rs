//! The wasmtime side: one engine and one pre-linked component, instantiated once per pass.

use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::error::Context as _;
use wasmtime::{Config, Engine, Store};

use crate::bindings::zendesk::crm::{checkpoint_store, log, object_store, pass_control, types};
use crate::bindings::{CollectorComponentPre, ResourceOutcome, Settings, SetupError};
use crate::imports::PassState;

/// The collector component built with this binary (see `build.rs`).
pub static EMBEDDED_COMPONENT: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/zendesk_crm_guest.wasm"));

pub struct Runtime {
    engine: Engine,
    pre: CollectorComponentPre<PassState>,
}

impl Runtime {
    /// Compiles `component` and links it against WASI, `wasi:http` and our imports.
    pub fn new(component: &[u8]) -> anyhow::Result<Runtime> {
        let engine = Engine::new(&Config::new())?;
        let component =
            Component::new(&engine, component).context("compiling the collector component")?;
        let mut linker = Linker::<PassState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
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
        Ok(Runtime { engine, pre })
    }

    /// Runs one pass in a fresh instance. The outer error is a trap or host failure; the
    /// inner one is the component's own setup error.
    pub async fn run_pass(
        &self,
        state: PassState,
        settings: &Settings,
    ) -> (
        anyhow::Result<Result<Vec<ResourceOutcome>, SetupError>>,
        PassState,
    ) {
        let mut store = Store::new(&self.engine, state);
        let result = async {
            let instance = self.pre.instantiate_async(&mut store).await?;
            let outcome = instance
                .zendesk_crm_collector()
                .call_run(&mut store, settings)
                .await?;
            anyhow::Ok(outcome)
        }
        .await;
        (result, store.into_data())
    }
}
