//! Strict RFC 3339 timestamps ("2006-01-02T15:04:05.999999999Z07:00", as cty parses them)
//! and the proleptic Gregorian calendar arithmetic behind them.

use super::args::err;
use super::FuncError;

/// An instant plus the offset it was written in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Time {
    pub(super) secs: i64,
    pub(super) nanos: u32,
    pub(super) offset: i32,
}

/// Howard Hinnant's days_from_civil: days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn invalid(why: &str) -> FuncError {
    err(format!("not a valid RFC3339 timestamp: {why}"))
}

fn field(s: &str, at: usize, len: usize, what: &str, max: u32) -> Result<u32, FuncError> {
    let Some(text) = s.get(at..at + len) else {
        return Err(invalid(&format!("end of string before {what}")));
    };
    match text.parse::<u32>() {
        Ok(v) if text.bytes().all(|b| b.is_ascii_digit()) && v <= max => Ok(v),
        _ => Err(invalid(&format!("cannot use {text:?} as {what}"))),
    }
}

fn expect(s: &str, at: usize, c: u8) -> Result<(), FuncError> {
    match s.as_bytes().get(at) {
        Some(&b) if b == c => Ok(()),
        _ if c == b'T' => Err(invalid("missing required time introducer 'T'")),
        Some(_) => Err(invalid(&format!(
            "found {:?} where {:?} is expected",
            &s[at..],
            char::from(c)
        ))),
        None => Err(invalid(&format!(
            "end of string where {:?} is expected",
            char::from(c)
        ))),
    }
}

/// "2006-01-02T15:04:05.999999999Z07:00" with either "Z" or a ±hh:mm offset.
pub(super) fn parse(s: &str) -> Result<Time, FuncError> {
    let year = i64::from(field(s, 0, 4, "year", 9999)?);
    expect(s, 4, b'-')?;
    let month = field(s, 5, 2, "month", 12)?;
    expect(s, 7, b'-')?;
    let day = field(s, 8, 2, "day of month", 31)?;
    expect(s, 10, b'T')?;
    let hour = field(s, 11, 2, "hour", 23)?;
    expect(s, 13, b':')?;
    let minute = field(s, 14, 2, "minute", 59)?;
    expect(s, 16, b':')?;
    let second = field(s, 17, 2, "second", 59)?;
    if month == 0 || day == 0 || day > days_in_month(year, month) {
        return Err(invalid("day out of range"));
    }
    let mut rest = &s[19..];
    let mut nanos = 0u32;
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return Err(invalid("missing fractional seconds after '.'"));
        }
        let digits = format!("{:0<9}", &frac[..n.min(9)]);
        nanos = digits.parse().unwrap_or(0);
        rest = &frac[n..];
    }
    let offset = match rest.as_bytes() {
        [b'Z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let h = field(rest, 1, 2, "UTC offset", 23)?;
            let m = field(rest, 4, 2, "UTC offset", 59)?;
            let secs = i32::try_from(h * 3600 + m * 60).unwrap_or(0);
            if *sign == b'-' {
                -secs
            } else {
                secs
            }
        }
        [] => return Err(invalid("end of string before UTC offset")),
        _ => return Err(invalid(&format!("cannot use {rest:?} as UTC offset"))),
    };
    let local =
        days_from_civil(year, month, day) * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    Ok(Time {
        secs: local - i64::from(offset),
        nanos,
        offset,
    })
}

/// Local calendar fields: (year, month, day, hour, minute, second, weekday with 0 = Sunday).
pub(super) fn fields(t: Time) -> (i64, u32, u32, u32, u32, u32, u32) {
    let local = t.secs + i64::from(t.offset);
    let (days, secs) = (local.div_euclid(86_400), local.rem_euclid(86_400) as u32);
    let (y, m, d) = civil_from_days(days);
    let weekday = (days + 4).rem_euclid(7) as u32;
    (y, m, d, secs / 3600, secs % 3600 / 60, secs % 60, weekday)
}

pub(super) fn offset_text(offset: i32, colon: bool) -> String {
    let sign = if offset < 0 { '-' } else { '+' };
    let (h, m) = (
        offset.unsigned_abs() / 3600,
        offset.unsigned_abs() % 3600 / 60,
    );
    if colon {
        format!("{sign}{h:02}:{m:02}")
    } else {
        format!("{sign}{h:02}{m:02}")
    }
}

/// Go's time.RFC3339 layout: whole seconds, "Z" for a zero offset.
pub(super) fn rfc3339(t: Time) -> String {
    let (y, mo, d, h, mi, s, _) = fields(t);
    let zone = if t.offset == 0 {
        "Z".to_string()
    } else {
        offset_text(t.offset, true)
    };
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{zone}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_round_trip() {
        for days in [-719_468, -1, 0, 1, 11_016, 18_262, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
    }

    #[test]
    fn parses_offsets_and_fractions() {
        let t = parse("2018-01-02T23:12:01.5+05:30").expect("valid timestamp");
        assert_eq!((t.nanos, t.offset), (500_000_000, 19_800));
        assert_eq!(rfc3339(t), "2018-01-02T23:12:01+05:30");
        assert_eq!(
            rfc3339(parse("1970-01-01T00:00:00-00:00").expect("valid")),
            "1970-01-01T00:00:00Z"
        );
        assert_eq!(parse("1970-01-01T01:00:00+01:00").map(|t| t.secs), Ok(0));
        assert_eq!(
            fields(parse("2024-02-29T13:14:15Z").expect("leap day")),
            (2024, 2, 29, 13, 14, 15, 4)
        );
    }

    #[test]
    fn rejects_malformed_timestamps() {
        for bad in [
            "2018-01-02",
            "2018-01-02 23:12:01Z",
            "2018-13-02T23:12:01Z",
            "2019-02-29T00:00:00Z",
            "2018-01-02T24:00:00Z",
            "2018-01-02T23:12:01",
            "2018-01-02T23:12:01+0800",
            "2018-01-02T23:12:01.Z",
            "2018-01-02T23:12:01z",
            "２018",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse("2018-01-02 23:12:01Z"),
            Err(err(
                "not a valid RFC3339 timestamp: missing required time introducer 'T'"
            ))
        );
    }
}
