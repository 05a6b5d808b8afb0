//! Evaluates a parsed [`Expr`] against one JSON item.
//!
//! Every value in an expression is kept as text and read as the type of the field it meets,
//! the way go-bexpr coerces values to the field's type: `Priority == 50` parses "50" as a
//! number, `Stop == false` parses "false" as a bool, `Name == 50` compares the string "50".
//!
//! Where the docs are silent we chose, and each negated operator is always exactly the inverse
//! of its plain form:
//! - A selector that finds nothing (a missing key, a key under a non-object, an index past the
//!   end) or finds `null` is "missing": `==`, `contains`, `in` and `matches` are false, so `!=`,
//!   `not contains`, `not in` and `not matches` are true; `is empty` is true. (This is what
//!   HashiCorp documents for missing keys in Boundary, which uses the same library.)
//! - A value that cannot be read as the field's type (`Priority == high`) is not equal.
//! - `==` against an array or object is false; compare elements with `contains`/`in`.
//! - `matches` tests strings, and numbers and bools by their JSON text; arrays and objects
//!   never match.
//! - `is empty` is false for numbers and bools (0 and false included).

use serde_json::Value;

use super::parser::{Expr, Match, MatchOp};

pub(crate) fn eval(expr: &Expr, item: &Value) -> bool {
    match expr {
        Expr::Or(items) => items.iter().any(|e| eval(e, item)),
        Expr::And(items) => items.iter().all(|e| eval(e, item)),
        Expr::Not(inner) => !eval(inner, item),
        Expr::Match(m) => eval_match(m, item) != m.negate,
    }
}

fn eval_match(m: &Match, item: &Value) -> bool {
    let field = resolve(item, &m.selector).filter(|v| !v.is_null());
    match &m.op {
        MatchOp::IsEmpty => match field {
            None => true,
            Some(Value::String(s)) => s.is_empty(),
            Some(Value::Array(a)) => a.is_empty(),
            Some(Value::Object(o)) => o.is_empty(),
            Some(_) => false,
        },
        MatchOp::Equal(text) => field.is_some_and(|f| scalar_equals(f, text)),
        MatchOp::Contains(text) => match field {
            Some(Value::Array(a)) => a.iter().any(|e| scalar_equals(e, text)),
            Some(Value::Object(o)) => o.contains_key(text),
            Some(Value::String(s)) => s.contains(text.as_str()),
            _ => false,
        },
        MatchOp::Matches(re) => match field {
            Some(Value::String(s)) => re.is_match(s),
            Some(v @ (Value::Number(_) | Value::Bool(_))) => re.is_match(&v.to_string()),
            _ => false,
        },
    }
}

/// Walks `path` from `item`: keys into objects, and decimal indices into arrays.
fn resolve<'a>(item: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(item, |v, key| match v {
        Value::Object(o) => o.get(key),
        Value::Array(a) => key.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    })
}

/// Whether a JSON scalar equals `text` read as that scalar's type.
fn scalar_equals(field: &Value, text: &str) -> bool {
    match field {
        Value::String(s) => s == text,
        Value::Bool(b) => parse_bool(text) == Some(*b),
        Value::Number(n) => {
            // Exact for integers, so large ids/indexes do not collide through f64.
            if let (Some(a), Ok(b)) = (n.as_i64(), text.parse::<i64>()) {
                return a == b;
            }
            if let (Some(a), Ok(b)) = (n.as_u64(), text.parse::<u64>()) {
                return a == b;
            }
            match (n.as_f64(), parse_finite(text)) {
                (Some(a), Some(b)) => a == b,
                _ => false,
            }
        }
        Value::Null | Value::Array(_) | Value::Object(_) => false,
    }
}

/// A decimal number; refuses Rust's extra spellings ("inf", "NaN") that no JSON field holds.
fn parse_finite(text: &str) -> Option<f64> {
    text.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// The spellings Go's `strconv.ParseBool` accepts, which go-bexpr uses for bool fields.
fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}
