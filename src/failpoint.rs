//! Named pause points for crash tests: with `WILDCERT_FAILPOINT=<name>` the process stops
//! at that point (logging it) until it is killed, so a test can `kill -9` it at an exact
//! step of an order. With `WILDCERT_FAILPOINT_RELEASE=<path>` as well, it goes on once that
//! file exists, so a test can act while an order is in flight and then let it finish.
//! Without the variables these are no-ops.

use std::time::Duration;

/// Pauses when `WILDCERT_FAILPOINT` names this point: forever, or until the release file
/// exists.
pub async fn hit(name: &str) {
    if std::env::var("WILDCERT_FAILPOINT").is_ok_and(|v| v == name) {
        let Some(release) = std::env::var_os("WILDCERT_FAILPOINT_RELEASE") else {
            tracing::warn!(failpoint = name, "failpoint reached; pausing until killed");
            return std::future::pending::<()>().await;
        };
        tracing::warn!(failpoint = name, "failpoint reached; pausing until released");
        while !std::path::Path::new(&release).exists() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tracing::warn!(failpoint = name, "failpoint released");
    }
}
