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

/// How often a bounded wait counts as progress.
const BOUNDED_WAIT_TICK: std::time::Duration = std::time::Duration::from_secs(20);

/// Runs `work`, a wait that ends by its own deadline (a deploy hook with its timeout, a
/// configured settle time), counting it as progress while it lasts: such a wait may be
/// longer than the watchdog allows between pings, yet it cannot hang.
pub async fn bounded_wait<T>(work: impl std::future::Future<Output = T>) -> T {
    bounded_wait_ticking(work, BOUNDED_WAIT_TICK).await
}

async fn bounded_wait_ticking<T>(
    work: impl std::future::Future<Output = T>,
    every: std::time::Duration,
) -> T {
    tokio::pin!(work);
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            out = &mut work => return out,
            _ = tick.tick() => self::tick(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_bounded_wait_counts_as_progress() {
        let before = steps();
        let every = std::time::Duration::from_millis(20);
        let out = bounded_wait_ticking(
            async {
                tokio::time::sleep(every * 10).await;
                7
            },
            every,
        )
        .await;
        assert_eq!(out, 7);
        assert!(steps() >= before + 5, "{} steps", steps() - before);
    }
}
