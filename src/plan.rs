//! When a certificate is due: a pure function of its validity, the configuration and the
//! clock, shared by `issue`, `renew`, `run` and `status`.

use std::time::Duration;

use time::OffsetDateTime;

use crate::bundle::CertInfo;
use crate::ceiling::Ceiling;
use crate::state::{CertState, FailureKind};

/// Certificates at or below this lifetime renew at half-life instead of at 2/3.
const SHORT_LIFETIME: Duration = Duration::from_secs(10 * 86_400);

/// The moment renewal becomes due without ARI: when 1/3 of the lifetime is left (1/2 for
/// lifetimes of 10 days or less), or `renew_before` ahead of expiry when configured and
/// shorter than the lifetime. A `renew_before` at least as long as the lifetime would make
/// every new certificate due the moment it is issued (an order loop): it is ignored, and
/// `renew_before_ignored` tells the caller to warn.
pub fn renewal_time(
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    renew_before: Option<Duration>,
) -> OffsetDateTime {
    let lifetime = (not_after - not_before).max(time::Duration::ZERO);
    if let Some(before) = usable_renew_before(lifetime, renew_before) {
        return not_after - before;
    }
    let left = if lifetime <= SHORT_LIFETIME { lifetime / 2 } else { lifetime / 3 };
    not_after - left
}

/// `renew_before` as a signed duration when it is shorter than the lifetime.
fn usable_renew_before(lifetime: time::Duration, renew_before: Option<Duration>) -> Option<time::Duration> {
    let before = time::Duration::try_from(renew_before?).ok()?;
    (before < lifetime).then_some(before)
}

/// Whether `renew_before` is set but ignored for this certificate (at least its lifetime).
pub fn renew_before_ignored(info: &CertInfo, renew_before: Option<Duration>) -> bool {
    renew_before.is_some()
        && usable_renew_before((info.not_after - info.not_before).max(time::Duration::ZERO), renew_before)
            .is_none()
}

/// `t + d`, saturating at the latest representable time instead of panicking (durations
/// from a CA, a DNS API or the configuration can be anything).
pub fn after(t: OffsetDateTime, d: Duration) -> OffsetDateTime {
    time::Duration::try_from(d).ok().and_then(|d| t.checked_add(d)).unwrap_or_else(crate::ceiling::far_future)
}

/// The time a Retry-After of `delay` (from the CA or a DNS API) allows the next attempt:
/// never later than `retry_max` from now, and never past the certificate's expiry (minus
/// an hour), so that "come back later" cannot silently let a certificate expire.
pub fn cap_retry_after(
    delay: Duration,
    now: OffsetDateTime,
    retry_max: Duration,
    not_after: Option<OffsetDateTime>,
) -> OffsetDateTime {
    let mut at = after(now, delay.min(retry_max));
    if let Some(not_after) = not_after {
        let latest = not_after.checked_sub(time::Duration::HOUR).unwrap_or(not_after);
        at = at.min(latest.max(now));
    }
    at
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

/// How attempts are spaced: after failures, doubling from `min` (from `validation_min`
/// after failed validations) up to `max`; new orders, at most as the ceiling allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The first pause after a failure (`[daemon] retry_min`).
    pub min: Duration,
    /// The longest pause (`retry_max`); also caps a CA's Retry-After.
    pub max: Duration,
    /// The first pause after a failed validation (`validation_retry_min`): CAs limit those.
    pub validation_min: Duration,
    /// At most this many new orders per window.
    pub ceiling: Ceiling,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            min: Duration::from_secs(60),
            max: Duration::from_secs(12 * 3600),
            validation_min: Duration::from_secs(3600),
            ceiling: Ceiling::default(),
        }
    }
}

impl RetryPolicy {
    /// The schedule for failures of `kind`: validation failures start at `validation_min`
    /// (and may grow past `max` to at least that).
    fn for_kind(&self, kind: Option<FailureKind>) -> RetryPolicy {
        match kind {
            Some(FailureKind::Validation) => {
                RetryPolicy { min: self.validation_min, max: self.max.max(self.validation_min), ..*self }
            }
            _ => *self,
        }
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
    /// The order ceiling (`[daemon] max_orders` per `orders_window`) was reached.
    Ceiling,
    /// The certificate in use was revoked (`wildcert revoke`): replace it at once.
    Revoked,
}

impl Reason {
    /// The reason in words, for `status`, logs and messages.
    pub fn describe(self) -> &'static str {
        match self {
            Reason::Missing => "nothing stored yet",
            Reason::AriWindow => "in the CA's renewal window (ARI)",
            Reason::Lifetime => "at 2/3 of the lifetime",
            Reason::Backoff => "retry after failure",
            Reason::Ceiling => "order ceiling reached; waiting for the window",
            Reason::Revoked => "revoked; replaced at once",
        }
    }
}

/// The next renewal attempt for one certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// When.
    pub at: OffsetDateTime,
    /// Why then.
    pub reason: Reason,
}

impl Plan {
    /// Whether the attempt is due at `now`.
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
/// `backoff` (on the schedule of the failure's kind); the CA's Retry-After (capped when it
/// was recorded) is honoured; and no order starts before the order ceiling allows one.
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
        Some(info) if state.revoked_serial.as_deref() == Some(info.serial.as_str()) => (now, Reason::Revoked),
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
    // After a ceiling trip the ceiling itself says when; no backoff on top.
    if state.failures > 0
        && state.failure_kind != Some(FailureKind::Ceiling)
        && let Some(last) = state.last_attempt
    {
        let next = after(last, backoff(state.failures, retry.for_kind(state.failure_kind), jitter));
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
    if let Some(allowed) = retry.ceiling.next_allowed(&state.orders, now)
        && allowed > at
    {
        at = allowed;
        reason = Reason::Ceiling;
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
    fn a_revoked_certificate_in_use_is_due_at_once_and_its_successor_is_not() {
        let i = info(datetime!(2026-01-01 0:00 UTC), datetime!(2026-04-01 0:00 UTC));
        let now = datetime!(2026-01-05 0:00 UTC);
        let s = CertState { revoked_serial: Some("01".into()), ..CertState::default() };
        let p = plan(Some(&i), None, &s, RetryPolicy::default(), 0.5, now);
        assert_eq!(p, Plan { at: now, reason: Reason::Revoked });
        let s = CertState { revoked_serial: Some("02".into()), ..CertState::default() };
        let p = plan(Some(&i), None, &s, RetryPolicy::default(), 0.5, now);
        assert_eq!(p.reason, Reason::Lifetime);
        assert!(!p.is_due(now));
    }

    #[test]
    fn failures_back_off_exponentially_to_the_cap() {
        let r = RetryPolicy {
            min: Duration::from_secs(60),
            max: Duration::from_secs(12 * 3600),
            ..Default::default()
        };
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
    fn renew_before_at_least_the_lifetime_is_ignored() {
        // 6-day certificates with renew_before = 30d: every new certificate would be due at
        // once. The lifetime rule (half-life for short lifetimes) applies instead.
        let nb = datetime!(2026-01-01 0:00 UTC);
        let na = datetime!(2026-01-07 0:00 UTC);
        let thirty_days = Some(Duration::from_secs(30 * 86_400));
        assert_eq!(renewal_time(nb, na, thirty_days), datetime!(2026-01-04 0:00 UTC));
        assert!(renew_before_ignored(&info(nb, na), thirty_days));
        assert!(!renew_before_ignored(&info(nb, na), Some(Duration::from_secs(86_400))));
        assert!(!renew_before_ignored(&info(nb, na), None));
        // Exactly the lifetime is ignored too; a huge value does not overflow.
        assert_eq!(
            renewal_time(nb, na, Some(Duration::from_secs(6 * 86_400))),
            datetime!(2026-01-04 0:00 UTC)
        );
        assert_eq!(renewal_time(nb, na, Some(Duration::MAX)), datetime!(2026-01-04 0:00 UTC));
        let p =
            plan(Some(&info(nb, na)), thirty_days, &CertState::default(), RetryPolicy::default(), 0.0, nb);
        assert!(!p.is_due(nb), "a fresh certificate is not due: {p:?}");
    }

    #[test]
    fn validation_failures_wait_an_hour_then_double() {
        let now = datetime!(2026-05-01 12:00 UTC);
        let mut s = CertState::default();
        s.record_failure(now, "incorrect TXT record".into(), None);
        s.failure_kind = Some(FailureKind::Validation);
        let r = RetryPolicy::default();
        assert_eq!(plan(None, None, &s, r, 0.5, now).at, now + Duration::from_secs(3600));
        s.record_failure(now, "incorrect TXT record".into(), None);
        s.failure_kind = Some(FailureKind::Validation);
        assert_eq!(plan(None, None, &s, r, 0.5, now).at, now + Duration::from_secs(7200));
        for _ in 0..20 {
            s.record_failure(now, "incorrect TXT record".into(), None);
        }
        s.failure_kind = Some(FailureKind::Validation);
        assert_eq!(plan(None, None, &s, r, 0.5, now).at, now + r.max, "capped at retry_max");
        // A network error after that is back on the fast schedule.
        let mut s = CertState::default();
        s.record_failure(now, "CA down".into(), None);
        assert_eq!(plan(None, None, &s, r, 0.5, now).at, now + Duration::from_secs(60));
    }

    #[test]
    fn the_ceiling_holds_a_due_certificate_until_the_window_allows() {
        let now = datetime!(2026-05-01 12:00 UTC);
        let s = CertState {
            orders: vec![
                now - time::Duration::hours(20),
                now - time::Duration::hours(2),
                now - time::Duration::hours(1),
            ],
            ..CertState::default()
        };
        let p = plan(None, None, &s, RetryPolicy::default(), 0.5, now);
        assert_eq!(p, Plan { at: now + time::Duration::hours(4), reason: Reason::Ceiling });
        assert!(!p.is_due(now));
        // A certificate not due before the window allows is planned as usual.
        let i = info(datetime!(2026-05-01 0:00 UTC), datetime!(2026-07-30 0:00 UTC));
        let p = plan(Some(&i), None, &s, RetryPolicy::default(), 0.0, now);
        assert_eq!(p.reason, Reason::Lifetime);
    }

    #[test]
    fn retry_after_is_capped_by_retry_max_and_expiry_and_never_overflows() {
        let now = datetime!(2026-05-01 12:00 UTC);
        let max = Duration::from_secs(12 * 3600);
        assert_eq!(cap_retry_after(Duration::from_secs(30), now, max, None), now + Duration::from_secs(30));
        assert_eq!(cap_retry_after(Duration::from_secs(365 * 86_400), now, max, None), now + max);
        assert_eq!(cap_retry_after(Duration::MAX, now, Duration::MAX, None), crate::ceiling::far_future());
        // Expiring in 5 hours: at most until an hour before expiry.
        let not_after = now + time::Duration::hours(5);
        assert_eq!(cap_retry_after(Duration::MAX, now, max, Some(not_after)), now + time::Duration::hours(4));
        // Already expired: now.
        assert_eq!(cap_retry_after(Duration::MAX, now, max, Some(now - time::Duration::DAY)), now);
        assert_eq!(after(now, Duration::MAX), crate::ceiling::far_future());
    }

    #[test]
    fn jitter_is_stable_and_spread() {
        let a = jitter_for("host-a", "gradient", "01");
        assert_eq!(a, jitter_for("host-a", "gradient", "01"));
        assert_ne!(a, jitter_for("host-b", "gradient", "01"));
        assert!((0.0..1.0).contains(&a));
    }
}
