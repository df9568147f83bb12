//! Durations as people write them in agent.yaml: `500ms`, `5s`, `2m`, `1h`, or a bare number of
//! seconds.

use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};

/// Parses `<number><unit>` with unit `ms`, `s`, `m` or `h`; a bare number means seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (write e.g. 500ms, 5s, 2m, 1h)"))?;
    let millis_per_unit = match unit.trim() {
        "ms" => 1.0,
        "" | "s" => 1000.0,
        "m" => 60_000.0,
        "h" => 3_600_000.0,
        other => {
            return Err(format!(
                "unknown duration unit `{other}` in `{text}` (use ms, s, m or h)"
            ))
        }
    };
    let millis = value * millis_per_unit;
    if !millis.is_finite() || millis > 1e12 {
        return Err(format!("duration `{text}` is too large"));
    }
    Ok(Duration::from_millis(millis.round() as u64))
}

/// `deserialize_with` for a [`Duration`] written as a string or a number of seconds.
///
/// A visitor rather than an untagged enum, so serde_yaml places errors at the value itself.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    struct DurationVisitor;
    impl Visitor<'_> for DurationVisitor {
        type Value = Duration;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a duration such as 500ms, 5s, 2m or 1h")
        }
        fn visit_u64<E: de::Error>(self, seconds: u64) -> Result<Duration, E> {
            Ok(Duration::from_secs(seconds))
        }
        fn visit_i64<E: de::Error>(self, seconds: i64) -> Result<Duration, E> {
            u64::try_from(seconds)
                .map(Duration::from_secs)
                .map_err(|_| E::custom("a duration cannot be negative"))
        }
        fn visit_f64<E: de::Error>(self, seconds: f64) -> Result<Duration, E> {
            parse_duration(&seconds.to_string()).map_err(E::custom)
        }
        fn visit_str<E: de::Error>(self, text: &str) -> Result<Duration, E> {
            parse_duration(text).map_err(E::custom)
        }
    }
    deserializer.deserialize_any(DurationVisitor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_bare_numbers() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
    }

    #[test]
    fn garbage_is_refused_with_a_hint() {
        assert!(parse_duration("fast").unwrap_err().contains("500ms"));
        assert!(parse_duration("5 days")
            .unwrap_err()
            .contains("unknown duration unit"));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("1e300h").is_err());
    }
}
