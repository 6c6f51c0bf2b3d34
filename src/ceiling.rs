//! The hard ceiling on new orders: per certificate, at most `max_orders` in any sliding
//! `window` (`[daemon] max_orders`, `orders_window`; `--force` is the only way past it).
//!
//! Whatever else goes wrong — a plan that stays due, a bucket that reverts the certificate, a
//! CA that keeps failing — this caps how often wildcert asks a CA for a certificate, so a bug
//! or an odd setting cannot hammer it (Let's Encrypt blocks clients that loop). The history
//! is kept in the certificate's state file (`state_dir`, 0600) and shared through the bucket
//! lease, so a restart or another host of the fleet does not reset the count. Pure functions
//! of the history and the clock: easy to test with an injected clock.

use std::time::Duration;

use time::OffsetDateTime;

/// How many order times are kept at most, whatever a history (or a bucket record someone
/// else wrote) holds: enough for any sensible ceiling, small enough to bound the work.
pub const MAX_HISTORY: usize = 64;

/// Clock skew tolerated for order times from other hosts before they count as "in the
/// future" and are ignored.
const SKEW: time::Duration = time::Duration::minutes(5);

/// A due certificate was not ordered because the ceiling was reached: the typed cause of
/// `renewal::Outcome::Failed` that alerts (metrics, notifications) look for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "order ceiling reached: {recent} new orders within the last {window} (limit {max_orders}); no new order until {} (`wildcert issue --force` orders anyway)",
    crate::plan::stamp(*until)
)]
pub struct CeilingTripped {
    /// When the window allows the next order.
    pub until: OffsetDateTime,
    /// Orders counted in the window.
    pub recent: usize,
    /// The configured limit that was reached.
    pub max_orders: u32,
    /// The window, as written for people (`24h`).
    pub window: String,
}

/// The configured limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ceiling {
    /// New orders allowed per certificate within `window`.
    pub max_orders: u32,
    /// How far back orders count.
    pub window: Duration,
}

impl Default for Ceiling {
    fn default() -> Self {
        Ceiling { max_orders: 3, window: Duration::from_secs(24 * 3600) }
    }
}

impl Ceiling {
    /// The window as a signed duration, saturated (a configured window of centuries is
    /// just "very long").
    fn span(&self) -> time::Duration {
        time::Duration::try_from(self.window).unwrap_or(time::Duration::MAX)
    }

    /// When the window allows the next order: `None` when an order may start now, else the
    /// moment the oldest order that still counts leaves the window.
    pub fn next_allowed(&self, history: &[OffsetDateTime], now: OffsetDateTime) -> Option<OffsetDateTime> {
        let max = self.max_orders.max(1) as usize;
        let mut recent: Vec<OffsetDateTime> =
            history.iter().copied().filter(|t| *t <= now + SKEW && in_window(*t, now, self.span())).collect();
        if recent.len() < max {
            return None;
        }
        recent.sort_unstable();
        // With `n` recent orders, one more is allowed once `n - max + 1` of them have aged out.
        let oldest_that_blocks = recent[recent.len() - max];
        Some(oldest_that_blocks.checked_add(self.span()).unwrap_or(far_future()).max(now))
    }

    /// How many orders of `history` count at `now`.
    pub fn recent(&self, history: &[OffsetDateTime], now: OffsetDateTime) -> usize {
        history.iter().filter(|t| **t <= now + SKEW && in_window(**t, now, self.span())).count()
    }

    /// `Err` with the cause when the ceiling holds an order back at `now`.
    pub fn check(&self, history: &[OffsetDateTime], now: OffsetDateTime) -> Result<(), CeilingTripped> {
        match self.next_allowed(history, now) {
            None => Ok(()),
            Some(until) => Err(CeilingTripped {
                until,
                recent: self.recent(history, now),
                max_orders: self.max_orders,
                window: show_duration(self.window),
            }),
        }
    }

    /// The limit, described for logs and errors: "3 orders in 24h".
    pub fn describe(&self) -> String {
        format!("{} orders in {}", self.max_orders, show_duration(self.window))
    }
}

fn in_window(t: OffsetDateTime, now: OffsetDateTime, span: time::Duration) -> bool {
    match now.checked_sub(span) {
        Some(start) => t > start,
        None => true,
    }
}

/// The latest time wildcert writes: saturating arithmetic lands here instead of panicking.
pub fn far_future() -> OffsetDateTime {
    time::PrimitiveDateTime::new(time::Date::MAX, time::Time::MIDNIGHT).assume_utc()
}

/// Merges this host's history with one read from the bucket (untrusted): times in the future
/// (beyond clock skew) are ignored, only times inside the window are kept, duplicates (the
/// same order seen by both) are dropped, and at most `MAX_HISTORY` newest remain.
pub fn merge(
    local: &[OffsetDateTime],
    remote: &[OffsetDateTime],
    window: Duration,
    now: OffsetDateTime,
) -> Vec<OffsetDateTime> {
    let span = time::Duration::try_from(window).unwrap_or(time::Duration::MAX);
    let mut all: Vec<OffsetDateTime> = local
        .iter()
        .chain(remote.iter().take(MAX_HISTORY * 4))
        .copied()
        .filter(|t| *t <= now + SKEW && in_window(*t, now, span))
        .map(|t| t.replace_nanosecond(0).unwrap_or(t).to_offset(time::UtcOffset::UTC))
        .collect();
    all.sort_unstable();
    all.dedup();
    if all.len() > MAX_HISTORY {
        all.drain(..all.len() - MAX_HISTORY);
    }
    all
}

/// `90s`, `15m`, `24h`, `7d`: the largest unit that divides the duration (hours up to two
/// days, as operators say "24 h").
pub fn show_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => format!("{}ms", d.as_millis()),
        s if s % 86_400 == 0 && s > 2 * 86_400 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn three_orders_a_day_then_wait_for_the_oldest_to_age_out() {
        let c = Ceiling::default();
        let t0 = datetime!(2026-05-01 10:00 UTC);
        let mut history = vec![];
        assert_eq!(c.next_allowed(&history, t0), None);
        history.push(t0);
        history.push(t0 + time::Duration::hours(1));
        assert_eq!(c.next_allowed(&history, t0 + time::Duration::hours(2)), None);
        history.push(t0 + time::Duration::hours(2));
        let now = t0 + time::Duration::hours(3);
        assert_eq!(c.next_allowed(&history, now), Some(t0 + time::Duration::DAY));
        // Once the first order is 24 h old, one more is allowed.
        assert_eq!(c.next_allowed(&history, t0 + time::Duration::DAY), None);
    }

    #[test]
    fn more_orders_than_the_ceiling_wait_for_enough_to_age_out() {
        let c = Ceiling { max_orders: 2, window: DAY };
        let t0 = datetime!(2026-05-01 0:00 UTC);
        let history: Vec<_> = (0..5).map(|h| t0 + time::Duration::hours(h)).collect();
        // Five orders, two allowed: the fourth-newest (hour 3) must age out.
        assert_eq!(
            c.next_allowed(&history, t0 + time::Duration::hours(5)),
            Some(t0 + time::Duration::hours(3) + time::Duration::DAY)
        );
    }

    #[test]
    fn zero_is_treated_as_one_and_huge_windows_do_not_overflow() {
        let c = Ceiling { max_orders: 0, window: Duration::MAX };
        let now = datetime!(2026-05-01 0:00 UTC);
        assert_eq!(c.next_allowed(&[], now), None);
        assert_eq!(c.next_allowed(&[now], now), Some(far_future()));
        assert_eq!(merge(&[now], &[], Duration::MAX, now), vec![now]);
    }

    #[test]
    fn merge_drops_future_old_and_duplicate_times_and_bounds_the_length() {
        let now = datetime!(2026-05-01 12:00 UTC);
        let local = vec![now - time::Duration::hours(1)];
        let remote = vec![
            now - time::Duration::hours(1),  // the same order, seen by both
            now + time::Duration::days(300), // a forged future time
            now - time::Duration::days(2),   // outside the window
            now - time::Duration::hours(3),
        ];
        assert_eq!(
            merge(&local, &remote, DAY, now),
            vec![now - time::Duration::hours(3), now - time::Duration::hours(1)]
        );
        let flood: Vec<_> = (0..10_000).map(|s| now - time::Duration::seconds(s)).collect();
        let merged = merge(&[], &flood, DAY, now);
        assert_eq!(merged.len(), MAX_HISTORY);
        assert_eq!(*merged.last().unwrap(), now, "the newest are kept");
    }

    #[test]
    fn future_times_within_skew_count_but_far_ones_do_not() {
        let c = Ceiling { max_orders: 1, window: DAY };
        let now = datetime!(2026-05-01 12:00 UTC);
        assert!(c.next_allowed(&[now + time::Duration::minutes(1)], now).is_some());
        assert_eq!(c.next_allowed(&[now + time::Duration::days(1)], now), None);
    }

    #[test]
    fn a_tripped_ceiling_says_when_orders_resume() {
        let c = Ceiling::default();
        let now = datetime!(2026-05-01 12:00 UTC);
        let history = [now - time::Duration::hours(23), now - time::Duration::hours(1), now];
        let tripped = c.check(&history, now).unwrap_err();
        assert_eq!(tripped.until, now + time::Duration::hours(1));
        assert_eq!(tripped.recent, 3);
        let text = tripped.to_string();
        assert!(
            text.contains("3 new orders within the last 24h") && text.contains("2026-05-01T13:00:00Z"),
            "{text}"
        );
        assert!(c.check(&history[..2], now).is_ok());
    }

    #[test]
    fn durations_read_as_written() {
        assert_eq!(show_duration(DAY), "24h");
        assert_eq!(show_duration(7 * DAY), "7d");
        assert_eq!(show_duration(Duration::from_secs(7200)), "2h");
        assert_eq!(show_duration(Duration::from_secs(90)), "90s");
        assert_eq!(Ceiling::default().describe(), "3 orders in 24h");
    }
}
