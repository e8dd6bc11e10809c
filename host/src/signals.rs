//! SIGINT and SIGTERM: the first asks the pass in flight to stop after its page, the second
//! exits at once.

use crate::control::StopFlag;

/// First SIGINT/SIGTERM: finish the page in flight, save the checkpoint, exit normally.
/// Second: exit at once (objects are always stored before the checkpoint moves, so the
/// checkpoint is still consistent).
pub(crate) fn watch_signals(stop: StopFlag) {
    tokio::spawn(async move {
        if wait_for_signal().await.is_err() {
            return;
        }
        tracing::warn!("stopping after the page in flight; signal again to exit at once");
        stop.request();
        if wait_for_signal().await.is_ok() {
            std::process::exit(130);
        }
    });
}

async fn wait_for_signal() -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r,
        _ = term.recv() => Ok(()),
    }
}
