//! The evaluator's values are JSON values (lists, tuples and sets are arrays; maps and objects
//! are objects). These helpers give them cty's number and string rules.

use serde_json::{Number, Value};

/// A number, kept integral when it is one so `1 + 1` prints `2`, not `2.0`.
pub fn num(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        Value::from(f as i64)
    } else {
        Number::from_f64(f).map_or(Value::Null, Value::Number)
    }
}

pub fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        _ => None,
    }
}

/// What a value is, for "found X" messages.
pub fn describe(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a bool",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A value inside a string template: strings as they are, numbers and bools printed; null and
/// collections cannot be, as in HCL.
pub fn to_template_string(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(f)) => f.to_string(),
            _ => n.to_string(),
        }),
        Value::Null => Err("cannot include a null value in a string".into()),
        other => Err(format!(
            "cannot include {} in a string: use jsonencode() or join()",
            describe(other)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn integral_numbers_stay_integers() {
        assert_eq!(num(4.0), json!(4));
        assert_eq!(num(2.5), json!(2.5));
        assert_eq!(to_template_string(&num(3.0)).unwrap(), "3");
        assert!(to_template_string(&json!(null)).is_err());
    }
}
