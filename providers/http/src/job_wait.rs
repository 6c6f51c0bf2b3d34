//! Waiting for a provider's asynchronous change (a job, an operation, a change set) to finish:
//! the adapter looks at its state, and between looks pauses that double up to a maximum,
//! never past the time limit. Every adapter whose API answers a write with "pending" polls
//! through this one schedule, so none can poll faster or longer than it says.

use std::time::Duration;

use tokio::time::Instant;

/// The schedule of one wait.
#[derive(Debug)]
pub struct JobWait {
    deadline: Instant,
    limit: Duration,
    pause: Duration,
    max_pause: Duration,
}

impl JobWait {
    /// A wait of at most `limit`, pausing `first_pause` before the second look, doubling up
    /// to `max_pause` (equal values poll at a fixed interval).
    pub fn new(limit: Duration, first_pause: Duration, max_pause: Duration) -> JobWait {
        JobWait { deadline: Instant::now() + limit, limit, pause: first_pause, max_pause }
    }

    /// The time limit, for the timeout error.
    pub fn limit(&self) -> Duration {
        self.limit
    }

    /// Sleeps before the next look and returns true; returns false at once when the limit
    /// is reached (the caller reports the timeout with what it last saw).
    pub async fn pause(&mut self) -> bool {
        let now = Instant::now();
        if now >= self.deadline {
            return false;
        }
        tokio::time::sleep(self.pause.min(self.deadline - now)).await;
        self.pause = (self.pause * 2).min(self.max_pause);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pauses_double_up_to_the_maximum() {
        let ms = Duration::from_millis;
        let mut wait = JobWait::new(Duration::from_secs(60), ms(1), ms(4));
        let mut next = Vec::new();
        for _ in 0..4 {
            assert!(wait.pause().await);
            next.push(wait.pause);
        }
        assert_eq!(next, [ms(2), ms(4), ms(4), ms(4)]);
    }

    #[tokio::test]
    async fn the_wait_ends_at_its_limit_and_stays_over() {
        let ms = Duration::from_millis;
        let mut wait = JobWait::new(ms(100), ms(10), ms(40));
        let started = Instant::now();
        let mut looks = 0;
        while wait.pause().await {
            looks += 1;
            assert!(looks < 20, "the wait does not end");
        }
        // At most 10 + 20 + 40 + 30 (the last pause cut at the limit), fewer if the machine
        // overslept; never over before the limit.
        assert!((1..=4).contains(&looks), "{looks} pauses");
        assert!(started.elapsed() >= ms(100), "ended before the limit: {:?}", started.elapsed());
        assert!(!wait.pause().await, "a wait past its limit stays over");
        assert_eq!(wait.limit(), ms(100));
    }
}
