//! Numeric functions, `range` and `sum` included. Integers stay exact where the operation
//! allows it; results that are not finite (log(0, 10), pow(10, 400)) are errors because JSON
//! cannot hold infinities.

use super::args::{
    arity, err, exact, f64_of, finite, int, list, nth, num, number, number_of, string, R,
};
use serde_json::Value;

pub(super) fn abs(a: &[Value]) -> R {
    exact(a, 1)?;
    let n = number_of(&a[0], &nth(0))?;
    match n.as_i64().and_then(i64::checked_abs) {
        Some(i) => Ok(Value::from(i)),
        None => Ok(num(number(a, 0)?.abs())),
    }
}

pub(super) fn ceil(a: &[Value]) -> R {
    exact(a, 1)?;
    Ok(num(number(a, 0)?.ceil()))
}

pub(super) fn floor(a: &[Value]) -> R {
    exact(a, 1)?;
    Ok(num(number(a, 0)?.floor()))
}

pub(super) fn log(a: &[Value]) -> R {
    exact(a, 2)?;
    finite(number(a, 0)?.ln() / number(a, 1)?.ln())
}

pub(super) fn pow(a: &[Value]) -> R {
    exact(a, 2)?;
    finite(number(a, 0)?.powf(number(a, 1)?))
}

pub(super) fn signum(a: &[Value]) -> R {
    exact(a, 1)?;
    let n = number(a, 0)?;
    Ok(Value::from(if n < 0.0 {
        -1
    } else if n > 0.0 {
        1
    } else {
        0
    }))
}

/// Shared by max and min: the winning argument itself, so large integers stay exact.
fn extreme(a: &[Value], better: fn(f64, f64) -> bool) -> R {
    arity(a, 1, None)?;
    let mut best: Option<(f64, Value)> = None;
    for (i, v) in a.iter().enumerate() {
        let n = number_of(v, &nth(i))?;
        let f = n.as_f64().unwrap_or(f64::NAN);
        if best.as_ref().is_none_or(|(b, _)| better(f, *b)) {
            best = Some((f, n));
        }
    }
    best.map(|(_, v)| v)
        .ok_or_else(|| err("must pass at least one number"))
}

pub(super) fn max(a: &[Value]) -> R {
    extreme(a, |x, best| x > best)
}

pub(super) fn min(a: &[Value]) -> R {
    extreme(a, |x, best| x < best)
}

/// Go's big.Int SetString for bases 2 to 62: an optional sign, then digits where letters are
/// case-insensitive up to base 36 and lowercase-before-uppercase above it.
pub(super) fn parseint(a: &[Value]) -> R {
    exact(a, 2)?;
    let text = string(a, 0)?;
    let base = int(a, 1)?;
    if !(2..=62).contains(&base) {
        return Err(err(
            "base must be a whole number between 2 and 62 inclusive",
        ));
    }
    let base = base as u32;
    let bad = || err(format!("cannot parse {text:?} as a base {base} integer"));
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(&text)),
    };
    if digits.is_empty() {
        return Err(bad());
    }
    let mut exact_value: Option<u128> = Some(0);
    let mut approx = 0f64;
    for c in digits.chars() {
        let d = match c {
            '0'..='9' => c as u32 - '0' as u32,
            'a'..='z' => c as u32 - 'a' as u32 + 10,
            'A'..='Z' if base <= 36 => c as u32 - 'A' as u32 + 10,
            'A'..='Z' => c as u32 - 'A' as u32 + 36,
            _ => return Err(bad()),
        };
        if d >= base {
            return Err(bad());
        }
        exact_value = exact_value
            .and_then(|v| v.checked_mul(u128::from(base)))
            .and_then(|v| v.checked_add(u128::from(d)));
        approx = approx * f64::from(base) + f64::from(d);
    }
    match exact_value.and_then(|v| i64::try_from(v).ok()) {
        Some(v) => Ok(Value::from(if negative { -v } else { v })),
        None => finite(if negative { -approx } else { approx }),
    }
}

/// cty's range limit: the list is meant for indices to iterate over, not for bulk data.
const MAX_RANGE: usize = 1024;

/// Rounds away binary noise from `start + i * step` (0.30000000000000004 -> 0.3), which cty's
/// decimal arithmetic does not produce.
fn tidy(x: f64) -> f64 {
    format!("{x:.14e}").parse().unwrap_or(x)
}

pub(super) fn range(a: &[Value]) -> R {
    arity(a, 1, Some(3))?;
    let n = a
        .iter()
        .enumerate()
        .map(|(i, v)| f64_of(v, &nth(i)))
        .collect::<Result<Vec<_>, _>>()?;
    let (start, end, step) = match n[..] {
        [end] => (0.0, end, if end < 0.0 { -1.0 } else { 1.0 }),
        [start, end] => (start, end, if end < start { -1.0 } else { 1.0 }),
        [start, end, step] => (start, end, step),
        _ => return Err(err("must have one, two, or three arguments")),
    };
    if step == 0.0 {
        return Err(err("step must not be zero"));
    }
    let down = step < 0.0;
    if down && end > start {
        return Err(err("end must be less than start when step is negative"));
    }
    if !down && end < start {
        return Err(err("end must be greater than start when step is positive"));
    }
    let whole = start.fract() == 0.0 && step.fract() == 0.0;
    let mut out = Vec::new();
    for i in 0.. {
        let x = start + f64::from(i) * step;
        if (down && x <= end) || (!down && x >= end) {
            break;
        }
        if out.len() >= MAX_RANGE {
            return Err(err(format!(
                "more than {MAX_RANGE} values were generated; either decrease the difference \
                 between start and end or use a smaller step"
            )));
        }
        out.push(num(if whole { x } else { tidy(x) }));
    }
    Ok(Value::Array(out))
}

pub(super) fn sum(a: &[Value]) -> R {
    exact(a, 1)?;
    let items = list(a, 0)?;
    if items.is_empty() {
        return Err(err("cannot sum an empty list"));
    }
    let mut exact_total: Option<i64> = Some(0);
    let mut total = 0.0;
    for (i, v) in items.iter().enumerate() {
        let what = format!("element {i}");
        let n = number_of(v, &what)?;
        exact_total = exact_total
            .zip(n.as_i64())
            .and_then(|(t, n)| t.checked_add(n));
        total += f64_of(&n, &what)?;
    }
    exact_total.map_or_else(|| finite(total), |t| Ok(Value::from(t)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use crate::jobspec::hcl2::funcs::args::test_call as call;

    #[test]
    fn terraform_examples() {
        assert_eq!(call(abs, json!([23])), Ok(json!(23)));
        assert_eq!(call(abs, json!([0])), Ok(json!(0)));
        assert_eq!(call(abs, json!([-12.4])), Ok(json!(12.4)));
        assert_eq!(
            call(abs, json!([i64::MIN])),
            Ok(json!(9223372036854775808.0))
        );
        assert_eq!(call(ceil, json!([5])), Ok(json!(5)));
        assert_eq!(call(ceil, json!([5.1])), Ok(json!(6)));
        assert_eq!(call(floor, json!([4.9])), Ok(json!(4)));
        assert_eq!(call(floor, json!(["-4.1"])), Ok(json!(-5)));
        assert_eq!(call(log, json!([50, 10])), Ok(json!(1.6989700043360185)));
        assert_eq!(call(log, json!([16, 2])), Ok(json!(4)));
        assert!(call(log, json!([0, 10])).is_err());
        assert_eq!(call(max, json!([12, 54, 3])), Ok(json!(54)));
        assert_eq!(call(min, json!([12, 54, 3])), Ok(json!(3)));
        assert_eq!(call(max, json!(["7", 2.5])), Ok(json!(7)));
        assert!(call(max, json!([])).is_err());
        assert_eq!(call(pow, json!([3, 2])), Ok(json!(9)));
        assert_eq!(call(pow, json!([4, 0])), Ok(json!(1)));
        assert_eq!(call(pow, json!([2, -1])), Ok(json!(0.5)));
        assert!(call(pow, json!([10, 400])).is_err());
        assert_eq!(call(signum, json!([-13])), Ok(json!(-1)));
        assert_eq!(call(signum, json!([0])), Ok(json!(0)));
        assert_eq!(call(signum, json!([344])), Ok(json!(1)));
    }

    #[test]
    fn parseint_bases() {
        assert_eq!(call(parseint, json!(["100", 10])), Ok(json!(100)));
        assert_eq!(call(parseint, json!(["FF", 16])), Ok(json!(255)));
        assert_eq!(call(parseint, json!(["-10", 16])), Ok(json!(-16)));
        assert_eq!(
            call(parseint, json!(["1011111011101111", 2])),
            Ok(json!(48879))
        );
        assert_eq!(call(parseint, json!(["aA", 62])), Ok(json!(10 * 62 + 36)));
        assert_eq!(call(parseint, json!(["zz", 36])), Ok(json!(1295)));
        assert_eq!(
            call(parseint, json!(["ffffffffffffffffff", 16])),
            Ok(json!(4722366482869645213696.0))
        );
        assert_eq!(
            call(parseint, json!(["12", 2])),
            Err(err("cannot parse \"12\" as a base 2 integer"))
        );
        assert!(call(parseint, json!(["", 10])).is_err());
        assert!(call(parseint, json!(["1_000", 10])).is_err());
        assert!(call(parseint, json!(["10", 1])).is_err());
        assert!(call(parseint, json!(["10", 63])).is_err());
    }

    #[test]
    fn ranges_and_sums() {
        assert_eq!(call(range, json!([3])), Ok(json!([0, 1, 2])));
        assert_eq!(call(range, json!([1, 4])), Ok(json!([1, 2, 3])));
        assert_eq!(call(range, json!([1, 8, 2])), Ok(json!([1, 3, 5, 7])));
        assert_eq!(
            call(range, json!([1, 4, 0.5])),
            Ok(json!([1, 1.5, 2, 2.5, 3, 3.5]))
        );
        assert_eq!(call(range, json!([4, 1])), Ok(json!([4, 3, 2])));
        assert_eq!(call(range, json!([10, 5, -2])), Ok(json!([10, 8, 6])));
        assert_eq!(call(range, json!([-3])), Ok(json!([0, -1, -2])));
        assert_eq!(
            call(range, json!([0, 0.5, 0.1])),
            Ok(json!([0, 0.1, 0.2, 0.3, 0.4]))
        );
        assert_eq!(call(range, json!([0])), Ok(json!([])));
        assert!(call(range, json!([1, 2, 0])).is_err());
        assert!(call(range, json!([1, 4, -1])).is_err());
        assert!(call(range, json!([1e300])).is_err());
        assert!(call(range, json!([])).is_err());
        assert_eq!(call(sum, json!([[10, 2, 6, 4]])), Ok(json!(22)));
        assert_eq!(call(sum, json!([[10, 13, 6, 4.5]])), Ok(json!(33.5)));
        assert_eq!(call(sum, json!([[1.5, "2"]])), Ok(json!(3.5)));
        assert_eq!(
            call(sum, json!([[i64::MAX, 1]])),
            Ok(json!(9223372036854775808.0))
        );
        assert!(call(sum, json!([[]])).is_err());
        assert!(call(sum, json!([[1, null]])).is_err());
    }
}
