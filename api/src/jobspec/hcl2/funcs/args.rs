//! Arity checks and the conversions cty applies to arguments before a function sees them, so
//! every function reports bad arguments the same way.

use super::FuncError;
use serde_json::{Map, Number, Value};
use std::cmp::Ordering;

pub(super) type R = Result<Value, FuncError>;

/// Upper bound for any string or list a function builds, so that `indent(1e9, ...)`, huge
/// format widths and the like fail instead of exhausting memory.
pub(super) const MAX_OUTPUT: usize = 64 << 20;

pub(super) fn err(msg: impl Into<String>) -> FuncError {
    FuncError::Failed(msg.into())
}

pub(super) fn too_large() -> FuncError {
    err(format!("result would be larger than {MAX_OUTPUT} bytes"))
}

/// The one place numbers are built: integral values that fit i64 become i64 so that equal
/// numbers compare equal as JSON. Non-finite values have no JSON form; callers that can
/// produce them check with [`finite`] first.
pub(in crate::jobspec::hcl2) fn num(f: f64) -> Value {
    // 2^63 is exactly representable; i64::MAX is not, hence the half-open range.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if f.fract() == 0.0 && (-LIMIT..LIMIT).contains(&f) {
        return Value::from(f as i64);
    }
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

pub(super) fn finite(f: f64) -> R {
    if f.is_finite() {
        Ok(num(f))
    } else {
        Err(err("the result is not a finite number"))
    }
}

/// Checks the argument count; `max` None means variadic.
pub(super) fn arity(args: &[Value], min: usize, max: Option<usize>) -> Result<(), FuncError> {
    let got = args.len();
    if got >= min && max.is_none_or(|m| got <= m) {
        return Ok(());
    }
    let plural = |n: usize| if n == 1 { "argument" } else { "arguments" };
    let want = match max {
        Some(0) => "no arguments".to_string(),
        Some(m) if m == min => format!("{m} {}", plural(m)),
        Some(m) if m == min + 1 => format!("{min} or {m} arguments"),
        Some(m) => format!("{min} to {m} arguments"),
        None => format!("at least {min} {}", plural(min)),
    };
    Err(err(format!("expects {want}, got {got}")))
}

pub(super) fn exact(args: &[Value], n: usize) -> Result<(), FuncError> {
    arity(args, n, Some(n))
}

pub(super) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

/// cty renders numbers as strings in plain decimal, never with an exponent.
pub(in crate::jobspec::hcl2) fn fmt_number(n: &Number) -> String {
    if let Some(i) = n.as_i64() {
        i.to_string()
    } else if let Some(u) = n.as_u64() {
        u.to_string()
    } else {
        n.as_f64().map_or_else(String::new, |f| f.to_string())
    }
}

/// A string as cty converts it to a number: decimal only, no "inf"/"nan", no whitespace.
pub(super) fn parse_number(s: &str) -> Option<Value> {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let allowed = |b: u8| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-');
    if !body.bytes().all(allowed) || !body.bytes().any(|b| b.is_ascii_digit()) {
        return None;
    }
    if let Ok(i) = s.parse::<i64>() {
        return Some(Value::from(i));
    }
    s.parse::<f64>().ok().filter(|f| f.is_finite()).map(num)
}

/// Primitive values as strings, the conversion cty applies wherever a string is expected.
pub(super) fn to_str(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(fmt_number(n)),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn null_check(v: &Value, what: &str) -> Result<(), FuncError> {
    match v {
        Value::Null => Err(err(format!("{what} must not be null"))),
        _ => Ok(()),
    }
}

pub(super) fn str_of(v: &Value, what: &str) -> Result<String, FuncError> {
    null_check(v, what)?;
    to_str(v).ok_or_else(|| err(format!("{what} must be a string, got {}", type_name(v))))
}

/// A number (or numeric string) kept as a JSON number so that large integers stay exact.
pub(super) fn number_of(v: &Value, what: &str) -> Result<Value, FuncError> {
    null_check(v, what)?;
    match v {
        // Normalized here too, in case a caller built 5.0 instead of 5.
        Value::Number(n) if n.is_f64() => Ok(n.as_f64().map_or(Value::Null, num)),
        Value::Number(_) => Ok(v.clone()),
        Value::String(s) => parse_number(s).ok_or_else(|| {
            err(format!(
                "{what}: cannot convert {s:?} to number; given string must be a decimal \
                 representation of a number"
            ))
        }),
        _ => Err(err(format!(
            "{what} must be a number, got {}",
            type_name(v)
        ))),
    }
}

pub(super) fn f64_of(v: &Value, what: &str) -> Result<f64, FuncError> {
    Ok(number_of(v, what)?.as_f64().unwrap_or(f64::NAN))
}

pub(super) fn int_of(v: &Value, what: &str) -> Result<i64, FuncError> {
    let n = number_of(v, what)?;
    if let Some(i) = n.as_i64() {
        return Ok(i);
    }
    // num() already turned every in-range integral value into an i64.
    Err(err(format!(
        "{what} must be a whole number between {} and {}, got {n}",
        i64::MIN,
        i64::MAX
    )))
}

pub(super) fn bool_of(v: &Value, what: &str) -> Result<bool, FuncError> {
    null_check(v, what)?;
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s == "true" => Ok(true),
        Value::String(s) if s == "false" => Ok(false),
        Value::String(s) => Err(err(format!(
            "{what}: cannot convert {s:?} to bool; only the strings \"true\" or \"false\" are allowed"
        ))),
        _ => Err(err(format!("{what} must be a bool, got {}", type_name(v)))),
    }
}

pub(super) fn list_of<'a>(v: &'a Value, what: &str) -> Result<&'a [Value], FuncError> {
    null_check(v, what)?;
    match v {
        Value::Array(items) => Ok(items),
        _ => Err(err(format!("{what} must be a list, got {}", type_name(v)))),
    }
}

pub(super) fn map_of<'a>(v: &'a Value, what: &str) -> Result<&'a Map<String, Value>, FuncError> {
    null_check(v, what)?;
    match v {
        Value::Object(m) => Ok(m),
        _ => Err(err(format!(
            "{what} must be a map or object, got {}",
            type_name(v)
        ))),
    }
}

/// "argument 1" for args[0]: positions are 1-based in messages.
pub(super) fn nth(i: usize) -> String {
    format!("argument {}", i + 1)
}

fn get(args: &[Value], i: usize) -> Result<&Value, FuncError> {
    args.get(i)
        .ok_or_else(|| err(format!("{} is missing", nth(i))))
}

pub(super) fn string(args: &[Value], i: usize) -> Result<String, FuncError> {
    str_of(get(args, i)?, &nth(i))
}

pub(super) fn number(args: &[Value], i: usize) -> Result<f64, FuncError> {
    f64_of(get(args, i)?, &nth(i))
}

pub(super) fn int(args: &[Value], i: usize) -> Result<i64, FuncError> {
    int_of(get(args, i)?, &nth(i))
}

pub(super) fn list(args: &[Value], i: usize) -> Result<&[Value], FuncError> {
    list_of(get(args, i)?, &nth(i))
}

pub(super) fn map(args: &[Value], i: usize) -> Result<&Map<String, Value>, FuncError> {
    map_of(get(args, i)?, &nth(i))
}

/// Equality as cty sees it: 1 and 1.0 are the same number.
pub(super) fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| equal(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((kx, vx), (ky, vy))| kx == ky && equal(vx, vy))
        }
        _ => a == b,
    }
}

/// A total order used to lay out sets: by type, then numbers numerically and strings by code
/// point, which is how cty orders the elements of primitive sets.
pub(super) fn compare(a: &Value, b: &Value) -> Ordering {
    let rank = |v: &Value| match v {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Number(_) => 2,
        Value::String(_) => 3,
        Value::Array(_) => 4,
        Value::Object(_) => 5,
    };
    match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x.cmp(&y),
            _ => {
                let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
                x.partial_cmp(&y).unwrap_or(Ordering::Equal)
            }
        },
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => x
            .iter()
            .zip(y)
            .map(|(x, y)| compare(x, y))
            .find(|o| o.is_ne())
            .unwrap_or_else(|| x.len().cmp(&y.len())),
        (Value::Object(x), Value::Object(y)) => x
            .iter()
            .zip(y)
            .map(|((kx, vx), (ky, vy))| kx.cmp(ky).then_with(|| compare(vx, vy)))
            .find(|o| o.is_ne())
            .unwrap_or_else(|| x.len().cmp(&y.len())),
        _ => rank(a).cmp(&rank(b)),
    }
}

/// Brings mixed primitive elements to one type the way cty unifies a tuple into a list: any
/// string makes them all strings; numbers and bools cannot meet otherwise.
pub(super) fn unify(items: Vec<Value>, what: &str) -> Result<Vec<Value>, FuncError> {
    let has = |f: fn(&Value) -> bool| items.iter().any(f);
    let strings = has(Value::is_string);
    let numbers = has(Value::is_number);
    let bools = has(Value::is_boolean);
    let collections = has(|v| v.is_array() || v.is_object());
    let mixed = || err(format!("{what}: all elements must have the same type"));
    if collections && (strings || numbers || bools) {
        return Err(mixed());
    }
    if strings {
        return Ok(items
            .into_iter()
            .map(|v| to_str(&v).map_or(v, Value::String))
            .collect());
    }
    if numbers && bools {
        return Err(mixed());
    }
    Ok(items)
}

/// A set as these functions represent it: elements unified, sorted and without duplicates.
pub(super) fn to_set(items: Vec<Value>, what: &str) -> Result<Vec<Value>, FuncError> {
    let mut items = unify(items, what)?;
    items.sort_by(compare);
    items.dedup_by(|a, b| equal(a, b));
    Ok(items)
}

/// Calls a function with its arguments written as one JSON array, for the tests.
#[cfg(test)]
pub(super) fn test_call(f: fn(&[Value]) -> R, args: Value) -> R {
    f(args.as_array().expect("test args are a JSON array"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn num_normalizes() {
        assert_eq!(num(3.0), json!(3));
        assert!(num(3.0).is_i64());
        assert_eq!(num(-0.0), json!(0));
        assert_eq!(num(1.5), json!(1.5));
        assert!(num(1e19).is_f64());
        assert_eq!(num(f64::NAN), Value::Null);
    }

    #[test]
    fn arity_messages() {
        let two = [json!(1), json!(2)];
        let msg = |r: Result<(), FuncError>| match r {
            Err(FuncError::Failed(m)) => m,
            other => panic!("{other:?}"),
        };
        assert_eq!(msg(exact(&two, 3)), "expects 3 arguments, got 2");
        assert_eq!(msg(exact(&two, 1)), "expects 1 argument, got 2");
        assert_eq!(msg(exact(&two, 0)), "expects no arguments, got 2");
        assert_eq!(
            msg(arity(&two, 3, Some(4))),
            "expects 3 or 4 arguments, got 2"
        );
        assert_eq!(
            msg(arity(&two, 3, Some(5))),
            "expects 3 to 5 arguments, got 2"
        );
        assert_eq!(
            msg(arity(&[], 1, None)),
            "expects at least 1 argument, got 0"
        );
        assert!(arity(&two, 1, None).is_ok());
    }

    #[test]
    fn coercions() {
        assert_eq!(string(&[json!(5)], 0), Ok("5".into()));
        assert_eq!(string(&[json!(1.5)], 0), Ok("1.5".into()));
        assert_eq!(string(&[json!(true)], 0), Ok("true".into()));
        assert_eq!(
            string(&[json!(1e21)], 0),
            Ok("1000000000000000000000".into())
        );
        assert_eq!(
            string(&[json!(null)], 0),
            Err(err("argument 1 must not be null"))
        );
        assert_eq!(
            string(&[json!(1), json!([])], 1),
            Err(err("argument 2 must be a string, got list"))
        );
        assert_eq!(number(&[json!("2.5")], 0), Ok(2.5));
        assert_eq!(int(&[json!("-7")], 0), Ok(-7));
        assert!(int(&[json!(1.5)], 0).is_err());
        assert_eq!(int(&[json!(3.0)], 0), Ok(3));
        assert!(number(&[json!("inf")], 0).is_err());
        assert!(number(&[json!(" 1")], 0).is_err());
        assert_eq!(bool_of(&json!("true"), "x"), Ok(true));
        assert!(bool_of(&json!(1), "x").is_err());
    }

    #[test]
    fn sets_and_equality() {
        assert!(equal(&json!(1), &json!(1.0)));
        assert!(equal(&json!({"a": [1]}), &json!({"a": [1.0]})));
        assert!(!equal(&json!("1"), &json!(1)));
        let set = to_set(vec![json!("b"), json!(1), json!("a"), json!("1")], "x");
        assert_eq!(set, Ok(vec![json!("1"), json!("a"), json!("b")]));
        assert!(to_set(vec![json!(1), json!(true)], "x").is_err());
        assert!(to_set(vec![json!("a"), json!(["a"])], "x").is_err());
        assert_eq!(
            to_set(vec![json!(10), json!(9)], "x"),
            Ok(vec![json!(9), json!(10)])
        );
    }
}
