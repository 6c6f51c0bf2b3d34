//! Human durations in the configuration file: `90s`, `2m`, `12h`, `30d`, `500ms`, or a
//! combination such as `1h30m`.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};

/// Parses `1h30m`, `45s`, `250ms`, `7d`. A bare number is refused: the unit is the part an
/// operator gets wrong, so it must be written. The same parser reads DNS adapters' settings.
pub use wildcert_dns_api::spec::parse_duration as parse;

/// The longest duration the configuration accepts: anything added to "now" stays far inside
/// the calendar, so no scheduling arithmetic can overflow on a typo like `99999999999d`.
pub const MAX: Duration = wildcert_dns_api::spec::MAX_DURATION;

/// Formats a duration the way `parse` reads it, largest units first (`1h30m`, `250ms`).
pub fn format(d: Duration) -> String {
    let mut secs = d.as_secs();
    if secs == 0 {
        return format!("{}ms", d.subsec_millis());
    }
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    out
}

/// serde adapter for `#[serde(deserialize_with = "duration::deserialize")]`.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    struct DurationVisitor;
    impl Visitor<'_> for DurationVisitor {
        type Value = Duration;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a duration such as \"30s\", \"5m\", \"12h\" or \"7d\"")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
            parse(v).map_err(E::custom)
        }
    }
    deserializer.deserialize_str(DurationVisitor)
}

/// serde adapter for optional durations.
pub fn deserialize_opt<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Duration>, D::Error> {
    deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_combinations() {
        assert_eq!(parse("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse("7d").unwrap(), Duration::from_secs(7 * 86_400));
    }

    #[test]
    fn refuses_missing_or_unknown_units() {
        assert!(parse("30").unwrap_err().contains("no unit"));
        assert!(parse("3w").unwrap_err().contains("unknown unit"));
        assert!(parse("").is_err());
        assert!(parse("m5").is_err());
    }

    #[test]
    fn refuses_durations_no_calendar_can_hold() {
        assert!(parse("36500d").is_ok());
        assert!(parse("99999999999d").unwrap_err().contains("100 years"));
        assert!(parse("18446744073709551615s").unwrap_err().contains("100 years"));
    }

    #[test]
    fn format_round_trips() {
        for text in ["1h30m", "45s", "2d3h", "250ms"] {
            assert_eq!(format(parse(text).unwrap()), text);
        }
    }
}
