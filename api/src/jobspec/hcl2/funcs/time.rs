//! `timestamp`, `timeadd` and `formatdate`. Timestamps keep their UTC offset through
//! arithmetic and formatting.

use super::args::{err, exact, string, R};
use super::rfc3339::{fields, offset_text, parse, rfc3339, Time};
use super::FuncError;
use serde_json::Value;
use std::time::{SystemTime, UNIX_EPOCH};

pub(super) fn timestamp(a: &[Value]) -> R {
    exact(a, 0)?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| err(e.to_string()))?;
    let secs = i64::try_from(now.as_secs()).map_err(|e| err(e.to_string()))?;
    Ok(Value::String(rfc3339(Time {
        secs,
        nanos: 0,
        offset: 0,
    })))
}

/// Go's time.ParseDuration, in nanoseconds: "300ms", "-1.5h", "2h45m".
fn parse_duration(text: &str) -> Result<i128, FuncError> {
    let bad = || err(format!("time: invalid duration {text:?}"));
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_part, after) = rest.split_at(int_len);
        let (frac_part, after) = match after.strip_prefix('.') {
            Some(f) => f.split_at(f.bytes().take_while(u8::is_ascii_digit).count()),
            None => ("", after),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(bad());
        }
        let unit_len = after
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let scale: i128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err(err(format!("time: missing unit in duration {text:?}"))),
            _ => {
                return Err(err(format!(
                    "time: unknown unit {unit:?} in duration {text:?}"
                )))
            }
        };
        let whole: i128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| bad())?
        };
        let mut frac: i128 = 0;
        let mut denom: i128 = 1;
        for d in frac_part.bytes().take(18) {
            frac = frac * 10 + i128::from(d - b'0');
            denom *= 10;
        }
        total = whole
            .checked_mul(scale)
            .and_then(|w| w.checked_add(frac * scale / denom))
            .and_then(|v| total.checked_add(v))
            .filter(|v| *v <= i128::from(i64::MAX) + 1)
            .ok_or_else(bad)?;
        rest = next;
    }
    let total = if negative { -total } else { total };
    if total > i128::from(i64::MAX) {
        return Err(bad());
    }
    Ok(total)
}

pub(super) fn timeadd(a: &[Value]) -> R {
    exact(a, 2)?;
    let t = parse(&string(a, 0)?)?;
    let d = parse_duration(&string(a, 1)?)?;
    let nanos = i128::from(t.secs) * 1_000_000_000 + i128::from(t.nanos) + d;
    let secs =
        i64::try_from(nanos.div_euclid(1_000_000_000)).map_err(|_| err("time out of range"))?;
    let sum = Time {
        secs,
        nanos: nanos.rem_euclid(1_000_000_000) as u32,
        offset: t.offset,
    };
    Ok(Value::String(rfc3339(sum)))
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

fn verb(tok: &str, t: Time, out: &mut String) -> Result<(), FuncError> {
    let (y, mo, d, h, mi, s, wd) = fields(t);
    let month = MONTHS[(mo as usize).saturating_sub(1) % 12];
    let day = DAYS[wd as usize % 7];
    let h12 = if h % 12 == 0 { 12 } else { h % 12 };
    let bad = |rule: &str| err(format!("invalid date format verb {tok:?}: {rule}"));
    let text = match tok {
        "YYYY" => format!("{y:04}"),
        "YY" => format!("{:02}", y.rem_euclid(100)),
        t if t.starts_with('Y') => return Err(bad("year must either be \"YY\" or \"YYYY\"")),
        "M" => mo.to_string(),
        "MM" => format!("{mo:02}"),
        "MMM" => month[..3].to_string(),
        "MMMM" => month.to_string(),
        t if t.starts_with('M') => {
            return Err(bad("month must be \"M\", \"MM\", \"MMM\", or \"MMMM\""))
        }
        "D" => d.to_string(),
        "DD" => format!("{d:02}"),
        t if t.starts_with('D') => return Err(bad("day of month must either be \"D\" or \"DD\"")),
        "EEE" => day[..3].to_string(),
        "EEEE" => day.to_string(),
        t if t.starts_with('E') => {
            return Err(bad("day of week must either be \"EEE\" or \"EEEE\""))
        }
        "h" => h.to_string(),
        "hh" => format!("{h:02}"),
        t if t.starts_with('h') => return Err(bad("24-hour must either be \"h\" or \"hh\"")),
        "H" => h12.to_string(),
        "HH" => format!("{h12:02}"),
        t if t.starts_with('H') => return Err(bad("12-hour must either be \"H\" or \"HH\"")),
        "AA" => (if h < 12 { "AM" } else { "PM" }).to_string(),
        "aa" => (if h < 12 { "am" } else { "pm" }).to_string(),
        t if t.starts_with(['A', 'a']) => return Err(bad(&format!("must be \"{0}{0}\"", &t[..1]))),
        "m" => mi.to_string(),
        "mm" => format!("{mi:02}"),
        t if t.starts_with('m') => return Err(bad("minute must either be \"m\" or \"mm\"")),
        "s" => s.to_string(),
        "ss" => format!("{s:02}"),
        t if t.starts_with('s') => return Err(bad("second must either be \"s\" or \"ss\"")),
        "Z" if t.offset == 0 => "Z".to_string(),
        "Z" | "ZZZZZ" => offset_text(t.offset, true),
        "ZZZ" if t.offset == 0 => "UTC".to_string(),
        "ZZZ" | "ZZZZ" => offset_text(t.offset, false),
        t if t.starts_with('Z') => return Err(bad("timezone must be Z, ZZZZ, or ZZZZZ")),
        _ => return Err(err(format!("invalid date format verb {tok:?}"))),
    };
    out.push_str(&text);
    Ok(())
}

/// Letters repeat to form verbs, 'quoted text' is literal ('' is a quote), anything else is
/// copied.
pub(super) fn formatdate(a: &[Value]) -> R {
    exact(a, 2)?;
    let spec = string(a, 0)?;
    let t = parse(&string(a, 1)?)?;
    let mut out = String::new();
    let mut rest = spec.as_str();
    while let Some(c) = rest.chars().next() {
        if c == '\'' {
            if let Some(after) = rest.strip_prefix("''") {
                out.push('\'');
                rest = after;
                continue;
            }
            let body = &rest[1..];
            let mut i = 0;
            loop {
                match body[i..].find('\'') {
                    None => return Err(err("unterminated literal '")),
                    Some(q) if body[i + q + 1..].starts_with('\'') => {
                        out.push_str(&body[i..i + q + 1]);
                        i += q + 2;
                    }
                    Some(q) => {
                        out.push_str(&body[i..i + q]);
                        rest = &body[i + q + 1..];
                        break;
                    }
                }
            }
        } else if c.is_ascii_alphabetic() {
            let n = rest.find(|x| x != c).unwrap_or(rest.len());
            verb(&rest[..n], t, &mut out)?;
            rest = &rest[n..];
        } else {
            let n = rest
                .find(|x: char| x == '\'' || x.is_ascii_alphabetic())
                .unwrap_or(rest.len());
            out.push_str(&rest[..n]);
            rest = &rest[n..];
        }
    }
    Ok(Value::String(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use crate::jobspec::hcl2::funcs::args::test_call as call;

    fn date(spec: &str, ts: &str) -> R {
        call(formatdate, json!([spec, ts]))
    }

    #[test]
    fn formatdate_terraform_examples() {
        assert_eq!(
            date("DD MMM YYYY hh:mm ZZZ", "2018-01-02T23:12:01Z"),
            Ok(json!("02 Jan 2018 23:12 UTC"))
        );
        assert_eq!(
            date("EEEE, DD-MMM-YY hh:mm:ss ZZZ", "2018-01-02T23:12:01Z"),
            Ok(json!("Tuesday, 02-Jan-18 23:12:01 UTC"))
        );
        assert_eq!(
            date("EEE, DD MMM YYYY hh:mm:ss ZZZ", "2018-01-02T23:12:01-08:00"),
            Ok(json!("Tue, 02 Jan 2018 23:12:01 -0800"))
        );
        assert_eq!(
            date("h'h'mm", "2018-01-02T23:12:01-08:00"),
            Ok(json!("23h12"))
        );
        assert_eq!(
            date("MMM DD, YYYY", "2018-01-02T23:12:01Z"),
            Ok(json!("Jan 02, 2018"))
        );
        assert_eq!(
            date("HH:mmaa", "2018-01-02T23:12:01Z"),
            Ok(json!("11:12pm"))
        );
        assert_eq!(
            date("h 'o''clock' AA", "2018-01-02T00:12:01Z"),
            Ok(json!("0 o'clock AM"))
        );
        assert_eq!(
            date("YYYY-MM-DD'T'hh:mm:ssZ", "2018-01-02T23:12:01.5+05:30"),
            Ok(json!("2018-01-02T23:12:01+05:30"))
        );
        assert_eq!(
            date("Z ZZZZ ZZZZZ", "2018-01-02T23:12:01Z"),
            Ok(json!("Z +0000 +00:00"))
        );
        assert_eq!(
            date("M/D ''H", "2024-02-29T12:00:00Z"),
            Ok(json!("2/29 '12"))
        );
    }

    #[test]
    fn formatdate_errors() {
        assert!(date("YYY", "2018-01-02T23:12:01Z").is_err());
        assert!(date("x", "2018-01-02T23:12:01Z").is_err());
        assert_eq!(
            date("'abc", "2018-01-02T23:12:01Z"),
            Err(err("unterminated literal '"))
        );
        assert!(date("YYYY", "2018-01-02").is_err());
    }

    #[test]
    fn timeadd_and_durations() {
        assert_eq!(
            call(timeadd, json!(["2017-11-22T00:00:00Z", "10m"])),
            Ok(json!("2017-11-22T00:10:00Z"))
        );
        assert_eq!(
            call(timeadd, json!(["2017-11-22T00:00:00Z", "-10m"])),
            Ok(json!("2017-11-21T23:50:00Z"))
        );
        assert_eq!(
            call(timeadd, json!(["2017-11-22T00:00:00Z", "1.5h"])),
            Ok(json!("2017-11-22T01:30:00Z"))
        );
        assert_eq!(
            call(timeadd, json!(["2017-11-22T23:30:00+02:00", "1h30m"])),
            Ok(json!("2017-11-23T01:00:00+02:00"))
        );
        assert_eq!(
            call(timeadd, json!(["2016-02-28T12:00:00.9Z", "24h100ms"])),
            Ok(json!("2016-02-29T12:00:01Z"))
        );
        assert_eq!(
            call(timeadd, json!(["9999-12-31T23:00:00Z", "1h"])),
            Ok(json!("10000-01-01T00:00:00Z"))
        );
        assert_eq!(parse_duration("1h2m3.5s"), Ok(3_723_500_000_000));
        assert_eq!(parse_duration("-.5us"), Ok(-500));
        assert_eq!(parse_duration("0"), Ok(0));
        for bad in [
            "",
            "1",
            "h",
            "1x",
            "-",
            ".h",
            "1h-2m",
            "9999999999999999999h",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn timestamp_shape() {
        let Ok(Value::String(now)) = call(timestamp, json!([])) else {
            panic!("timestamp failed")
        };
        assert!(now.ends_with('Z') && now.len() == 20, "{now}");
        assert!(parse(&now).is_ok());
    }
}
