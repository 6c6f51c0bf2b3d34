//! The UTC calendar fields of a moment, for signing schemes that put a formatted timestamp
//! into what they sign (EdgeGrid, Aurora DNS, HTTP `Date`), without a date crate.

use std::time::{SystemTime, UNIX_EPOCH};

/// A moment in UTC, to the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utc {
    /// The year, e.g. 2026.
    pub year: i64,
    /// 1 = January.
    pub month: u32,
    /// Day of the month, from 1.
    pub day: u32,
    /// 0 to 23.
    pub hour: u32,
    /// 0 to 59.
    pub minute: u32,
    /// 0 to 59 (no leap seconds in Unix time).
    pub second: u32,
    /// 0 = Sunday.
    pub weekday: u32,
}

/// The UTC fields of `at` (moments before 1970 count as 1970-01-01T00:00:00Z).
pub fn utc(at: SystemTime) -> Utc {
    let secs = at.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (days, rest) = ((secs / 86_400) as i64, (secs % 86_400) as u32);
    // H. Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    Utc {
        year: yoe + era * 400 + i64::from(month <= 2),
        month,
        day,
        hour: rest / 3600,
        minute: rest % 3600 / 60,
        second: rest % 60,
        weekday: ((days + 4).rem_euclid(7)) as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn known_moments() {
        let at = |s| utc(UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(
            at(1_376_707_753),
            Utc { year: 2013, month: 8, day: 17, hour: 2, minute: 49, second: 13, weekday: 6 }
        );
        assert_eq!(
            at(951_782_400),
            Utc { year: 2000, month: 2, day: 29, hour: 0, minute: 0, second: 0, weekday: 2 }
        );
        assert_eq!(at(0).weekday, 4);
    }
}
