//! Type conversion functions. Like cty's, they pass null through unchanged (a null of the
//! target type) and refuse conversions cty would not make.

use super::args::{err, exact, number_of, parse_number, to_set, to_str, type_name, unify, R};
use serde_json::{Map, Value};

fn cannot(v: &Value, to: &str) -> super::FuncError {
    err(format!("cannot convert {} to {to}", type_name(v)))
}

pub(super) fn tonumber(a: &[Value]) -> R {
    exact(a, 1)?;
    match &a[0] {
        Value::Null => Ok(Value::Null),
        v @ Value::Number(_) => number_of(v, "argument"),
        Value::String(s) => parse_number(s).ok_or_else(|| {
            err(format!(
                "cannot convert {s:?} to number; given string must be a decimal representation of a number"
            ))
        }),
        v => Err(cannot(v, "number")),
    }
}

pub(super) fn tostring(a: &[Value]) -> R {
    exact(a, 1)?;
    match &a[0] {
        Value::Null => Ok(Value::Null),
        v => to_str(v)
            .map(Value::String)
            .ok_or_else(|| cannot(v, "string")),
    }
}

pub(super) fn tobool(a: &[Value]) -> R {
    exact(a, 1)?;
    match &a[0] {
        v @ (Value::Null | Value::Bool(_)) => Ok(v.clone()),
        Value::String(s) if s == "true" => Ok(Value::Bool(true)),
        Value::String(s) if s == "false" => Ok(Value::Bool(false)),
        Value::String(s) => Err(err(format!(
            "cannot convert {s:?} to bool; only the strings \"true\" or \"false\" are allowed"
        ))),
        v => Err(cannot(v, "bool")),
    }
}

pub(super) fn tolist(a: &[Value]) -> R {
    exact(a, 1)?;
    match &a[0] {
        Value::Null => Ok(Value::Null),
        Value::Array(items) => Ok(Value::Array(unify(
            items.clone(),
            "cannot convert to list",
        )?)),
        v => Err(cannot(v, "list")),
    }
}

pub(super) fn toset(a: &[Value]) -> R {
    exact(a, 1)?;
    match &a[0] {
        Value::Null => Ok(Value::Null),
        Value::Array(items) => Ok(Value::Array(to_set(
            items.clone(),
            "cannot convert to set",
        )?)),
        v => Err(cannot(v, "set")),
    }
}

pub(super) fn tomap(a: &[Value]) -> R {
    exact(a, 1)?;
    match &a[0] {
        Value::Null => Ok(Value::Null),
        Value::Object(map) => {
            let values = unify(map.values().cloned().collect(), "cannot convert to map")?;
            Ok(Value::Object(
                map.keys().cloned().zip(values).collect::<Map<_, _>>(),
            ))
        }
        v => Err(cannot(v, "map")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn primitives() {
        assert_eq!(tonumber(&[json!(1)]), Ok(json!(1)));
        assert!(tonumber(&[json!(2.0)]).is_ok_and(|v| v.is_i64()));
        assert_eq!(tonumber(&[json!("1")]), Ok(json!(1)));
        assert_eq!(tonumber(&[json!("-2.5e1")]), Ok(json!(-25)));
        assert_eq!(tonumber(&[json!(null)]), Ok(json!(null)));
        assert!(tonumber(&[json!("no")]).is_err());
        assert!(tonumber(&[json!(true)]).is_err());
        assert_eq!(tostring(&[json!("hello")]), Ok(json!("hello")));
        assert_eq!(tostring(&[json!(1)]), Ok(json!("1")));
        assert_eq!(tostring(&[json!(true)]), Ok(json!("true")));
        assert_eq!(tostring(&[json!(null)]), Ok(json!(null)));
        assert_eq!(
            tostring(&[json!([])]),
            Err(err("cannot convert list to string"))
        );
        assert_eq!(tobool(&[json!(true)]), Ok(json!(true)));
        assert_eq!(tobool(&[json!("false")]), Ok(json!(false)));
        assert_eq!(tobool(&[json!(null)]), Ok(json!(null)));
        assert!(tobool(&[json!("no")]).is_err());
        assert!(tobool(&[json!(1)]).is_err());
    }

    #[test]
    fn collections() {
        assert_eq!(
            tolist(&[json!(["a", "b", "c"])]),
            Ok(json!(["a", "b", "c"]))
        );
        assert_eq!(tolist(&[json!(["a", "b", 3])]), Ok(json!(["a", "b", "3"])));
        assert!(tolist(&[json!([1, true])]).is_err());
        assert!(tolist(&[json!({"a": 1})]).is_err());
        assert_eq!(toset(&[json!(["c", "b", "b"])]), Ok(json!(["b", "c"])));
        assert_eq!(toset(&[json!(["a", "b", 3])]), Ok(json!(["3", "a", "b"])));
        assert_eq!(
            tomap(&[json!({"a": 1, "b": 2})]),
            Ok(json!({"a": 1, "b": 2}))
        );
        assert_eq!(
            tomap(&[json!({"a": "foo", "b": true})]),
            Ok(json!({"a": "foo", "b": "true"}))
        );
        assert!(tomap(&[json!(["a"])]).is_err());
    }
}
