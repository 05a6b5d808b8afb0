//! Durations: Nomad's API carries them as integer nanoseconds; job and config files write them as
//! Go-style strings ("10s", "5m", "1h30m", "250ms").

use std::time::Duration;

/// Why a duration string does not parse; each message names the input and what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("empty duration")]
    Empty,
    #[error("invalid duration {input:?}: expected a number at {rest:?}")]
    ExpectedNumber { input: String, rest: String },
    #[error("invalid duration {input:?}: bad number {number:?}")]
    BadNumber { input: String, number: String },
    #[error("invalid duration {input:?}: missing unit (use ns, us, ms, s, m or h, e.g. \"10s\")")]
    MissingUnit { input: String },
    #[error("invalid duration {input:?}: unknown unit {unit:?} (use ns, us, ms, s, m or h)")]
    UnknownUnit { input: String, unit: String },
}

/// Parses a Go-style duration string.
pub fn parse_duration(s: &str) -> Result<Duration, DurationError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(DurationError::Empty);
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut total: f64 = 0.0;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
            i += 1;
        }
        if start == i {
            return Err(DurationError::ExpectedNumber {
                input: s.to_string(),
                rest: s[start..].to_string(),
            });
        }
        let num: f64 = s[start..i].parse().map_err(|_| DurationError::BadNumber {
            input: s.to_string(),
            number: s[start..i].to_string(),
        })?;
        let ustart = i;
        while i < bytes.len() && !(bytes[i].is_ascii_digit() || bytes[i] == b'.') {
            i += 1;
        }
        let unit = &s[ustart..i];
        let nanos_per = match unit {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => {
                return Err(DurationError::MissingUnit {
                    input: s.to_string(),
                })
            }
            other => {
                return Err(DurationError::UnknownUnit {
                    input: s.to_string(),
                    unit: other.to_string(),
                })
            }
        };
        total += num * nanos_per;
    }
    Ok(Duration::from_nanos(total as u64))
}

/// Formats a duration the way Go and Nomad print it ("1m30s", "250ms", "0s").
pub fn format_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return format!("{}us", trim_float(nanos as f64 / 1e3));
    }
    if nanos < 1_000_000_000 {
        return format!("{}ms", trim_float(nanos as f64 / 1e6));
    }
    let total_secs = d.as_secs();
    let h = total_secs / 3600;
    let m = (total_secs % 3600) / 60;
    let s = (total_secs % 60) as f64 + f64::from(d.subsec_nanos()) / 1e9;
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&format!("{}s", trim_float(s)));
    out
}

fn trim_float(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// Serde adapter: a `Duration` as integer nanoseconds (Nomad's JSON).
pub mod nanos {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let v = Option::<i64>::deserialize(d)?.unwrap_or(0);
        Ok(Duration::from_nanos(v.max(0) as u64))
    }
}

/// Serde adapter: an optional `Duration` as integer nanoseconds or null.
pub mod opt_nanos {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_i64(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<i64>::deserialize(d)?.map(|v| Duration::from_nanos(v.max(0) as u64)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("10")
            .unwrap_err()
            .to_string()
            .contains("missing unit"));
        assert!(parse_duration("10x")
            .unwrap_err()
            .to_string()
            .contains("unknown unit"));
        assert_eq!(parse_duration(""), Err(DurationError::Empty));
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(format_duration(Duration::ZERO), "0s");
        assert_eq!(format_duration(Duration::from_secs(3600)), "1h0m0s");
    }
}
