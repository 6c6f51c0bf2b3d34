//! A process-wide progress counter for the service watchdog: work that completes a step
//! (an answer from the CA, a propagation check, a certificate done) ticks it, and the daemon
//! pings systemd's watchdog during a round only while it moves. A round stuck on something
//! without a deadline then stops the pings, and systemd restarts the service.

use std::sync::atomic::{AtomicU64, Ordering};

static STEPS: AtomicU64 = AtomicU64::new(0);

/// Records that some work made progress.
pub fn tick() {
    STEPS.fetch_add(1, Ordering::Relaxed);
}

/// Steps completed so far; compare two readings to see whether anything moved.
pub fn steps() -> u64 {
    STEPS.load(Ordering::Relaxed)
}
