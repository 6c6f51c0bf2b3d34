//! When a certificate is due: a pure function of its validity, the configuration and the
//! clock, shared by `issue`, `renew`, `run` and `status`.

use std::time::Duration;

use time::OffsetDateTime;

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
}
