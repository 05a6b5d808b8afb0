//! Cron expressions as Nomad's `periodic` block takes them, and the next launch after a time,
//! in a time zone.
//!
//! Five fields (minute hour day-of-month month day-of-week), six (a year appended) or seven (a
//! second first), and the macros `@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`,
//! `@midnight` and `@hourly`. Each field takes `*`, `?` (day fields), numbers, names (`JAN`,
//! `MON`), ranges, lists and steps. When both day fields are restricted a day matching either
//! one fires, as in Vixie cron. The `L`, `W` and `#` extensions are refused by name.

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::Timestamp;

/// Years a schedule may name; nothing is searched past the last.
const YEARS: (u32, u32) = (1970, 2099);

#[derive(Debug, Clone, PartialEq)]
pub struct CronSpec {
    seconds: Field,
    minutes: Field,
    hours: Field,
    days: Field,
    months: Field,
    weekdays: Field,
    years: Field,
    /// Whether each day field was restricted (not `*` or `?`).
    days_restricted: bool,
    weekdays_restricted: bool,
}

#[derive(Debug, Clone, PartialEq)]
struct Field {
    min: u32,
    allowed: Vec<bool>,
}

impl Field {
    fn has(&self, v: u32) -> bool {
        v >= self.min && self.allowed.get((v - self.min) as usize) == Some(&true)
    }
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

impl CronSpec {
    pub fn parse(expr: &str) -> Result<CronSpec, String> {
        let expanded = match expr.trim() {
            "@yearly" | "@annually" => "0 0 0 1 1 * *",
            "@monthly" => "0 0 0 1 * * *",
            "@weekly" => "0 0 0 * * 0 *",
            "@daily" | "@midnight" => "0 0 0 * * * *",
            "@hourly" => "0 0 * * * * *",
            other if other.starts_with('@') => {
                return Err(format!(
                "unknown cron macro {other:?}: use @yearly, @monthly, @weekly, @daily or @hourly"
            ))
            }
            other => other,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        let (sec, rest) = match fields.len() {
            5 | 6 => ("0", &fields[..]),
            7 => (fields[0], &fields[1..]),
            n => {
                return Err(format!(
                    "a cron expression has 5, 6 or 7 fields, this one has {n}: \"{expr}\""
                ))
            }
        };
        let year = rest.get(5).copied().unwrap_or("*");
        Ok(CronSpec {
            seconds: field(sec, "second", 0, 59, &[])?,
            minutes: field(rest[0], "minute", 0, 59, &[])?,
            hours: field(rest[1], "hour", 0, 23, &[])?,
            days: field(rest[2], "day of month", 1, 31, &[])?,
            months: field(rest[3], "month", 1, 12, &MONTHS)?,
            weekdays: weekday_field(rest[4])?,
            years: field(year, "year", YEARS.0, YEARS.1, &[])?,
            days_restricted: !matches!(rest[2], "*" | "?"),
            weekdays_restricted: !matches!(rest[4], "*" | "?"),
        })
    }

    fn day_matches(&self, y: u32, m: u32, d: u32) -> bool {
        let dom = self.days.has(d);
        let dow = self.weekdays.has(weekday(y, m, d));
        match (self.days_restricted, self.weekdays_restricted) {
            (true, true) => dom || dow,
            (true, false) => dom,
            (false, true) => dow,
            (false, false) => true,
        }
    }

    /// The first time strictly after `after` (Unix seconds) that matches, read on the wall
    /// clock of `tz`. A wall time that a DST change skips fires at the first instant after
    /// the gap; `None` past 2099.
    pub fn next_after(&self, after: i64, tz: &TimeZone) -> Option<i64> {
        let start = Timestamp::from_second(after.checked_add(1)?).ok()?;
        let dt = start.to_zoned_datetime(tz.clone()).datetime();
        let mut t = Civil {
            y: u32::try_from(dt.year()).ok()?,
            mo: dt.month() as u32,
            d: dt.day() as u32,
            h: dt.hour() as u32,
            mi: dt.minute() as u32,
            s: dt.second() as u32,
        };
        // Each step moves to the start of the next candidate unit; a century of minutes
        // would be far fewer steps than this bound.
        for _ in 0..1_000_000 {
            if t.y > YEARS.1 {
                return None;
            }
            if !self.years.has(t.y) {
                t = Civil::new(t.y + 1, 1, 1);
            } else if !self.months.has(t.mo) {
                t = t.next_month();
            } else if !self.day_matches(t.y, t.mo, t.d) {
                t = t.next_day();
            } else if !self.hours.has(t.h) {
                t = t.next_hour();
            } else if !self.minutes.has(t.mi) {
                t = t.next_minute();
            } else if !self.seconds.has(t.s) {
                t = t.next_second();
            } else {
                let dt = DateTime::new(
                    i16::try_from(t.y).ok()?,
                    t.mo as i8,
                    t.d as i8,
                    t.h as i8,
                    t.mi as i8,
                    t.s as i8,
                    0,
                )
                .ok()?;
                let at = tz
                    .to_ambiguous_zoned_datetime(dt)
                    .compatible()
                    .ok()?
                    .timestamp()
                    .as_second();
                if at > after {
                    return Some(at);
                }
                t = t.next_second();
            }
        }
        None
    }
}

/// A time zone by IANA name; empty and "UTC" are UTC.
pub fn time_zone(name: &str) -> Result<TimeZone, String> {
    if name.is_empty() || name == "UTC" {
        return Ok(TimeZone::UTC);
    }
    TimeZone::get(name).map_err(|e| format!("unknown time zone {name:?}: {e}"))
}

#[derive(Debug, Clone, Copy)]
struct Civil {
    y: u32,
    mo: u32,
    d: u32,
    h: u32,
    mi: u32,
    s: u32,
}

impl Civil {
    fn new(y: u32, mo: u32, d: u32) -> Civil {
        Civil {
            y,
            mo,
            d,
            h: 0,
            mi: 0,
            s: 0,
        }
    }
    fn next_month(self) -> Civil {
        if self.mo == 12 {
            Civil::new(self.y + 1, 1, 1)
        } else {
            Civil::new(self.y, self.mo + 1, 1)
        }
    }
    fn next_day(self) -> Civil {
        if self.d >= days_in_month(self.y, self.mo) {
            self.next_month()
        } else {
            Civil::new(self.y, self.mo, self.d + 1)
        }
    }
    fn next_hour(self) -> Civil {
        if self.h == 23 {
            self.next_day()
        } else {
            Civil {
                h: self.h + 1,
                mi: 0,
                s: 0,
                ..self
            }
        }
    }
    fn next_minute(self) -> Civil {
        if self.mi == 59 {
            self.next_hour()
        } else {
            Civil {
                mi: self.mi + 1,
                s: 0,
                ..self
            }
        }
    }
    fn next_second(self) -> Civil {
        if self.s == 59 {
            self.next_minute()
        } else {
            Civil {
                s: self.s + 1,
                ..self
            }
        }
    }
}

/// The calendar is jiff's; a date outside it (never, for 1970..=2099) reads as day 31 / Sunday.
fn date(y: u32, m: u32, d: u32) -> Option<jiff::civil::Date> {
    jiff::civil::Date::new(i16::try_from(y).ok()?, m as i8, d as i8).ok()
}

fn days_in_month(y: u32, m: u32) -> u32 {
    date(y, m, 1).map_or(31, |d| d.days_in_month() as u32)
}

/// 0 = Sunday.
fn weekday(y: u32, m: u32, d: u32) -> u32 {
    date(y, m, d).map_or(0, |d| d.weekday().to_sunday_zero_offset() as u32)
}

fn weekday_field(s: &str) -> Result<Field, String> {
    // 7 is Sunday too.
    let mut f = field(s, "day of week", 0, 7, &DAYS)?;
    if f.allowed.get(7) == Some(&true) {
        f.allowed[0] = true;
    }
    f.allowed.truncate(7);
    Ok(f)
}

fn field(s: &str, what: &str, min: u32, max: u32, names: &[&str]) -> Result<Field, String> {
    let mut allowed = vec![false; (max - min + 1) as usize];
    for item in s.split(',') {
        if item.contains(['L', 'W', '#']) && !names.iter().any(|n| item.to_uppercase().contains(n))
        {
            return Err(format!(
                "{what} {item:?}: the L, W and # cron extensions are not supported"
            ));
        }
        let (range, step) = match item.split_once('/') {
            Some((r, st)) => {
                let step: u32 = st.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                    format!("{what} {item:?}: the step must be a positive number")
                })?;
                (r, step)
            }
            None => (item, 1),
        };
        let (lo, hi) = if range == "*" || range == "?" {
            if range == "?" && !what.starts_with("day") {
                return Err(format!("{what}: ? is only allowed in the day fields"));
            }
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (
                value(a, what, min, max, names)?,
                value(b, what, min, max, names)?,
            )
        } else {
            let v = value(range, what, min, max, names)?;
            // `5/15` runs from 5 to the end of the range.
            (v, if item.contains('/') { max } else { v })
        };
        if lo > hi {
            return Err(format!("{what} {item:?}: the range runs backwards"));
        }
        for v in (lo..=hi).step_by(step as usize) {
            allowed[(v - min) as usize] = true;
        }
    }
    Ok(Field { min, allowed })
}

fn value(s: &str, what: &str, min: u32, max: u32, names: &[&str]) -> Result<u32, String> {
    let upper = s.to_ascii_uppercase();
    if let Some(i) = names.iter().position(|n| *n == upper) {
        // Months count from 1, weekdays from 0.
        return Ok(i as u32 + u32::from(names.len() == MONTHS.len()));
    }
    match s.parse::<u32>() {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(format!("{what} {s:?} must be a number from {min} to {max}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn next(expr: &str, after: &str, tz: &str) -> String {
        let spec = CronSpec::parse(expr).unwrap();
        let tz = time_zone(tz).unwrap();
        let after: Timestamp = after.parse().unwrap();
        let at = spec.next_after(after.as_second(), &tz).unwrap();
        Timestamp::from_second(at).unwrap().to_string()
    }

    #[test]
    fn next_launches() {
        assert_eq!(
            next("*/15 * * * *", "2026-12-07T11:07:00Z", ""),
            "2026-12-07T11:15:00Z"
        );
        assert_eq!(
            next("0 3 * * MON", "2026-12-07T11:07:00Z", ""),
            "2026-12-14T03:00:00Z"
        );
        assert_eq!(
            next("@monthly", "2026-12-07T11:07:00Z", ""),
            "2027-01-01T00:00:00Z"
        );
        assert_eq!(
            next("0 0 29 2 *", "2026-03-01T00:00:00Z", ""),
            "2028-02-29T00:00:00Z"
        );
        assert_eq!(
            next("30 * * * * * *", "2026-12-07T11:07:00Z", ""),
            "2026-12-07T11:07:30Z"
        );
        assert_eq!(
            next("0 9 * * *", "2026-12-07T11:07:00Z", "America/New_York"),
            "2026-12-07T14:00:00Z"
        );
        // 02:30 does not exist on 2026-03-08 in New York: it fires right after the gap.
        assert_eq!(
            next("30 2 * * *", "2026-03-08T05:00:00Z", "America/New_York"),
            "2026-03-08T07:30:00Z"
        );
        // Both day fields restricted: either matches.
        assert_eq!(
            next("0 0 13 * FRI", "2026-12-07T00:00:00Z", ""),
            "2026-12-11T00:00:00Z"
        );
        assert_eq!(
            next("0 0 * * 7", "2026-12-07T00:00:00Z", ""),
            "2026-12-13T00:00:00Z"
        );
        assert_eq!(
            next("0 0 1 JAN-MAR/2 *", "2026-12-07T00:00:00Z", ""),
            "2027-01-01T00:00:00Z"
        );
    }

    #[test]
    fn bad_expressions_say_what_is_wrong() {
        let err = |e: &str| CronSpec::parse(e).unwrap_err();
        assert!(err("* * *").contains("5, 6 or 7 fields"));
        assert!(err("61 * * * *").contains("minute \"61\" must be a number from 0 to 59"));
        assert!(err("0 0 L * *").contains("not supported"));
        assert!(err("*/0 * * * *").contains("positive"));
        assert!(err("@often").contains("unknown cron macro"));
        assert!(time_zone("Mars/Olympus").is_err());
        let past = CronSpec::parse("0 0 1 1 * 1969").unwrap_err();
        assert!(past.contains("1970 to 2099"), "{past}");
    }
}
