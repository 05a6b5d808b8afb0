//! The evaluator's values are JSON values (lists, tuples and sets are arrays; maps and objects
//! are objects). These helpers give them cty's number and string rules.

use serde_json::Value;

/// Numbers are built and printed by the function library's rules, so an expression and a
/// function agree on `2` against `2.0`.
pub(super) use super::funcs::args::{fmt_number, num};

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
        Value::Number(n) => Ok(fmt_number(n)),
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
