//! Named pause points for crash tests: with `WILDCERT_FAILPOINT=<name>` the process stops
//! at that point (logging it) until it is killed, so a test can `kill -9` it at an exact
//! step of an order. Without the variable these are no-ops.

/// Pauses forever when `WILDCERT_FAILPOINT` names this point.
pub async fn hit(name: &str) {
    if std::env::var("WILDCERT_FAILPOINT").is_ok_and(|v| v == name) {
        tracing::warn!(failpoint = name, "failpoint reached; pausing until killed");
        std::future::pending::<()>().await;
    }
}
