//! Termination signals as a future, so a command can stop cleanly (removing its challenge
//! records) on Ctrl-C or SIGTERM.

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
