//! When a certificate is due: a pure function of its validity, the configuration and the
//! clock, shared by `issue`, `renew`, `run` and `status`.

use std::time::Duration;

use time::OffsetDateTime;

use crate::bundle::CertInfo;
use crate::state::CertState;

/// Certificates at or below this lifetime renew at half-life instead of at 2/3.
const SHORT_LIFETIME: Duration = Duration::from_secs(10 * 86_400);

/// The moment renewal becomes due without ARI: when 1/3 of the lifetime is left (1/2 for
/// lifetimes of 10 days or less), or `renew_before` ahead of expiry when configured.
pub fn renewal_time(
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    renew_before: Option<Duration>,
) -> OffsetDateTime {
    if let Some(before) = renew_before {
        return not_after - before;
    }
    let lifetime = (not_after - not_before).max(time::Duration::ZERO);
    let left = if lifetime <= SHORT_LIFETIME { lifetime / 2 } else { lifetime / 3 };
    not_after - left
}

/// Whether a certificate with this validity should be renewed at `now`.
pub fn is_due(
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    renew_before: Option<Duration>,
    now: OffsetDateTime,
) -> bool {
    now >= renewal_time(not_before, not_after, renew_before)
}

/// How failed attempts are spaced: doubling from `min` up to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub min: Duration,
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { min: Duration::from_secs(60), max: Duration::from_secs(12 * 3600) }
    }
}

/// Why the planned time is what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Nothing stored yet.
    Missing,
    /// Inside the CA's suggested renewal window (ARI).
    AriWindow,
    /// 2/3 of the lifetime (or `renew_before`) reached.
    Lifetime,
    /// Waiting out the backoff after failures, or the CA's Retry-After.
    Backoff,
}

impl Reason {
    pub fn describe(self) -> &'static str {
        match self {
            Reason::Missing => "nothing stored yet",
            Reason::AriWindow => "in the CA's renewal window (ARI)",
            Reason::Lifetime => "at 2/3 of the lifetime",
            Reason::Backoff => "retry after failure",
        }
    }
}

/// The next renewal attempt for one certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub at: OffsetDateTime,
    pub reason: Reason,
}

impl Plan {
    pub fn is_due(&self, now: OffsetDateTime) -> bool {
        now >= self.at
    }
}

/// The delay after `failures` failed attempts in a row: `min` doubling to `max`, spread by
/// ±20% with `jitter` (0..1) so that hosts that failed together do not retry together.
pub fn backoff(failures: u32, retry: RetryPolicy, jitter: f64) -> Duration {
    if failures == 0 {
        return Duration::ZERO;
    }
    let exp = failures.saturating_sub(1).min(30);
    let base = retry.min.saturating_mul(1u32 << exp.min(20)).min(retry.max);
    base.mul_f64(0.8 + 0.4 * jitter.clamp(0.0, 1.0))
}

/// Plans the next attempt: a pure function of the stored certificate (if any), what was
/// remembered, the clock and a per-host jitter in 0..1.
///
/// Without ARI the time is the lifetime rule, moved earlier by up to 1/20 of the lifetime
/// (at most 6 h) so that a fleet does not renew in the same second. With an ARI window for
/// this exact certificate, a point inside the window. Failures push the time out by
/// `backoff`; the CA's Retry-After is always honoured.
pub fn plan(
    info: Option<&CertInfo>,
    renew_before: Option<Duration>,
    state: &CertState,
    retry: RetryPolicy,
    jitter: f64,
    now: OffsetDateTime,
) -> Plan {
    let jitter = jitter.clamp(0.0, 1.0);
    let (mut at, mut reason) = match info {
        None => (now, Reason::Missing),
        Some(info) => match &state.ari {
            Some(ari) if info.ari_id.as_deref() == Some(ari.cert_id.as_str()) && ari.end > ari.start => {
                (ari.start + (ari.end - ari.start) * jitter, Reason::AriWindow)
            }
            _ => {
                let due = renewal_time(info.not_before, info.not_after, renew_before);
                let lifetime: time::Duration = info.not_after - info.not_before;
                let spread = (lifetime / 20_i32).min(time::Duration::hours(6)).max(time::Duration::ZERO);
                (due - spread * jitter, Reason::Lifetime)
            }
        },
    };
    if state.failures > 0
        && let Some(last) = state.last_attempt
    {
        let next = last + backoff(state.failures, retry, jitter);
        if next > at {
            at = next;
            reason = Reason::Backoff;
        }
    }
    if let Some(retry_after) = state.retry_after
        && retry_after > at
    {
        at = retry_after;
        reason = Reason::Backoff;
    }
    Plan { at, reason }
}

/// A time as people read it in logs and status: `2027-01-24 17:57 UTC`.
pub fn show(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!("{} {:02}:{:02} UTC", t.date(), t.hour(), t.minute())
}

/// A precise time for logs: RFC 3339, seconds.
pub fn stamp(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

/// A stable number in 0..1 for this host and certificate, so a restart does not move the
/// planned time and different hosts spread out. `seed` must differ between hosts even where
/// their names do not (`host::Identity::jitter_seed`: the machine id).
pub fn jitter_for(seed: &str, name: &str, serial: &str) -> f64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (seed, name, serial).hash(&mut h);
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn ninety_day_certificate_renews_with_thirty_days_left() {
        let nb = datetime!(2026-01-01 0:00 UTC);
        let na = datetime!(2026-04-01 0:00 UTC); // 90 days
        assert_eq!(renewal_time(nb, na, None), datetime!(2026-03-02 0:00 UTC));
        assert!(!is_due(nb, na, None, datetime!(2026-03-01 23:59 UTC)));
        assert!(is_due(nb, na, None, datetime!(2026-03-02 0:00 UTC)));
    }

    #[test]
    fn six_day_certificate_renews_at_half_life() {
        let nb = datetime!(2026-01-01 0:00 UTC);
        let na = datetime!(2026-01-07 0:00 UTC);
        assert_eq!(renewal_time(nb, na, None), datetime!(2026-01-04 0:00 UTC));
    }

    #[test]
    fn renew_before_overrides() {
        let nb = datetime!(2026-01-01 0:00 UTC);
        let na = datetime!(2026-04-01 0:00 UTC);
        let t = renewal_time(nb, na, Some(Duration::from_secs(7 * 86_400)));
        assert_eq!(t, datetime!(2026-03-25 0:00 UTC));
    }

    fn info(nb: OffsetDateTime, na: OffsetDateTime) -> CertInfo {
        CertInfo {
            names: vec!["*.gradient.example.com".into()],
            not_before: nb,
            not_after: na,
            serial: "01".into(),
            subject: String::new(),
            issuer: String::new(),
            ari_id: Some("aki.01".into()),
        }
    }

    #[test]
    fn missing_certificate_is_due_now() {
        let now = datetime!(2026-05-01 0:00 UTC);
        let p = plan(None, None, &CertState::default(), RetryPolicy::default(), 0.5, now);
        assert_eq!(p, Plan { at: now, reason: Reason::Missing });
    }

    #[test]
    fn jitter_moves_renewal_earlier_by_at_most_a_twentieth() {
        let i = info(datetime!(2026-01-01 0:00 UTC), datetime!(2026-04-01 0:00 UTC));
        let s = CertState::default();
        let now = datetime!(2026-02-01 0:00 UTC);
        let late = plan(Some(&i), None, &s, RetryPolicy::default(), 0.0, now);
        let early = plan(Some(&i), None, &s, RetryPolicy::default(), 1.0, now);
        assert_eq!(late.at, datetime!(2026-03-02 0:00 UTC));
        assert_eq!(late.at - early.at, time::Duration::hours(6));
        assert_eq!(late.reason, Reason::Lifetime);
        assert!(!late.is_due(now));
    }

    #[test]
    fn ari_window_for_this_certificate_wins() {
        let i = info(datetime!(2026-01-01 0:00 UTC), datetime!(2026-04-01 0:00 UTC));
        let mut s = CertState {
            ari: Some(crate::state::AriWindow {
                cert_id: "aki.01".into(),
                start: datetime!(2026-01-10 0:00 UTC),
                end: datetime!(2026-01-12 0:00 UTC),
                refetch_at: datetime!(2026-01-02 0:00 UTC),
                explanation_url: None,
            }),
            ..CertState::default()
        };
        let p = plan(Some(&i), None, &s, RetryPolicy::default(), 0.5, datetime!(2026-01-05 0:00 UTC));
        assert_eq!(p, Plan { at: datetime!(2026-01-11 0:00 UTC), reason: Reason::AriWindow });
        // A window for another certificate (the one before a renewal) is ignored.
        s.ari.as_mut().unwrap().cert_id = "aki.02".into();
        let p = plan(Some(&i), None, &s, RetryPolicy::default(), 0.5, datetime!(2026-01-05 0:00 UTC));
        assert_eq!(p.reason, Reason::Lifetime);
    }

    #[test]
    fn failures_back_off_exponentially_to_the_cap() {
        let r = RetryPolicy { min: Duration::from_secs(60), max: Duration::from_secs(12 * 3600) };
        assert_eq!(backoff(1, r, 0.5), Duration::from_secs(60));
        assert_eq!(backoff(2, r, 0.5), Duration::from_secs(120));
        assert_eq!(backoff(5, r, 0.5), Duration::from_secs(960));
        assert_eq!(backoff(40, r, 0.5), Duration::from_secs(12 * 3600));
        assert!(backoff(3, r, 0.0) < backoff(3, r, 1.0));
    }

    #[test]
    fn failed_attempt_is_not_retried_before_the_backoff_or_retry_after() {
        let now = datetime!(2026-05-01 12:00 UTC);
        let mut s = CertState::default();
        s.record_failure(now, "CA down".into(), None);
        let p = plan(None, None, &s, RetryPolicy::default(), 0.5, now);
        assert_eq!(p, Plan { at: now + Duration::from_secs(60), reason: Reason::Backoff });
        s.retry_after = Some(now + Duration::from_secs(3600));
        let p = plan(None, None, &s, RetryPolicy::default(), 0.5, now);
        assert_eq!(p.at, now + Duration::from_secs(3600));
    }

    #[test]
    fn jitter_is_stable_and_spread() {
        let a = jitter_for("host-a", "gradient", "01");
        assert_eq!(a, jitter_for("host-a", "gradient", "01"));
        assert_ne!(a, jitter_for("host-b", "gradient", "01"));
        assert!((0.0..1.0).contains(&a));
    }
}
