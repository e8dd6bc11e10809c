//! `record`: one pass like `run`, and the cassette of what the component saw.

use crate::cassette::session::Session;
use crate::cli::RecordArgs;
use crate::exit::Exit;

/// `record`: one pass like `run`, and its cassette.
pub async fn record(args: RecordArgs) -> Exit {
    let (config, runtime) = match super::prepare(args.run) {
        Ok(ready) => ready,
        Err(e) => return e.report(),
    };
    super::run::run_once(runtime, config, Session::record(args.cassette)).await
}
