//! Go's builtin template functions over JSON values.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use super::gofmt::{self, num, type_name, Num};
use super::{printf, FuncKind};

type Builtin = fn(&[Value]) -> Result<Value, String>;

pub(super) fn install(map: &mut HashMap<String, FuncKind>) {
    map.insert("and".into(), FuncKind::And);
    map.insert("or".into(), FuncKind::Or);
    let plain: [(&str, Builtin); 17] = [
        ("call", call),
        ("not", not),
        ("len", len),
        ("index", index),
        ("slice", slice),
        ("print", |a| Ok(Value::String(gofmt::sprint(a)))),
        ("println", |a| Ok(Value::String(gofmt::sprintln(a)))),
        ("printf", printf),
        ("eq", eq),
        ("ne", ne),
        ("lt", |a| compare("lt", a, |o| o == Ordering::Less)),
        ("le", |a| compare("le", a, |o| o != Ordering::Greater)),
        ("gt", |a| compare("gt", a, |o| o == Ordering::Greater)),
        ("ge", |a| compare("ge", a, |o| o != Ordering::Less)),
        ("html", |a| Ok(Value::String(html(&text_arg(a))))),
        ("js", |a| Ok(Value::String(js(&text_arg(a))))),
        ("urlquery", |a| Ok(Value::String(urlquery(&text_arg(a))))),
    ];
    for (name, f) in plain {
        map.insert(name.into(), FuncKind::Plain(Arc::new(f)));
    }
}

/// Go's truthiness: false, 0, nil and empty strings, arrays and objects are false.
pub(super) fn truth(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => match num(n) {
            Num::Int(i) => i != 0,
            Num::Float(f) => f != 0.0,
        },
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

fn arity(name: &str, args: &[Value], want: usize) -> String {
    format!(
        "wrong number of args for {name}: want {want} got {}",
        args.len()
    )
}

fn call(_: &[Value]) -> Result<Value, String> {
    Err("call is not supported: template data holds no functions".into())
}

fn not(args: &[Value]) -> Result<Value, String> {
    let [v] = args else {
        return Err(arity("not", args, 1));
    };
    Ok(Value::Bool(!truth(v)))
}

/// Length in bytes for strings, as Go's `len`.
fn len(args: &[Value]) -> Result<Value, String> {
    let [v] = args else {
        return Err(arity("len", args, 1));
    };
    let n = match v {
        Value::String(s) => s.len(),
        Value::Array(a) => a.len(),
        Value::Object(m) => m.len(),
        Value::Null => 0,
        other => return Err(format!("len of type {}", type_name(other))),
    };
    Ok(Value::from(n))
}

fn int_index(v: &Value) -> Result<i64, String> {
    match v {
        Value::Number(n) => match num(n) {
            Num::Int(i) => i64::try_from(i).map_err(|_| format!("index out of range: {i}")),
            Num::Float(_) => Err("cannot index slice/array with type float64".into()),
        },
        Value::Null => Err("cannot index slice/array with nil".into()),
        other => Err(format!(
            "cannot index slice/array with type {}",
            type_name(other)
        )),
    }
}

fn in_range(i: i64, len: usize) -> Result<usize, String> {
    usize::try_from(i)
        .ok()
        .filter(|u| *u < len)
        .ok_or_else(|| format!("index out of range: {i}"))
}

/// `index x 1 "k"` is `x[1]["k"]`; a missing object key gives null, like Go's zero value.
fn index(args: &[Value]) -> Result<Value, String> {
    let Some((item, keys)) = args.split_first() else {
        return Err("wrong number of args for index: want at least 1 got 0".into());
    };
    let mut cur = item.clone();
    for key in keys {
        cur = match &cur {
            Value::Array(a) => a
                .get(in_range(int_index(key)?, a.len())?)
                .cloned()
                .unwrap_or(Value::Null),
            Value::String(s) => Value::from(
                s.as_bytes()
                    .get(in_range(int_index(key)?, s.len())?)
                    .copied()
                    .unwrap_or(0),
            ),
            Value::Object(m) => match key {
                Value::String(k) => m.get(k).cloned().unwrap_or(Value::Null),
                other => {
                    return Err(format!(
                        "value has type {}; should be string",
                        type_name(other)
                    ))
                }
            },
            Value::Null => Value::Null,
            other => return Err(format!("can't index item of type {}", type_name(other))),
        };
    }
    Ok(cur)
}

/// `slice x 1 2` is `x[1:2]`; strings are sliced by bytes, as in Go.
fn slice(args: &[Value]) -> Result<Value, String> {
    let Some((item, idx)) = args.split_first() else {
        return Err("wrong number of args for slice: want at least 1 got 0".into());
    };
    if idx.len() > 3 {
        return Err(format!("too many slice indexes: {}", idx.len()));
    }
    let idx = idx
        .iter()
        .map(int_index)
        .collect::<Result<Vec<i64>, String>>()?;
    let len = match item {
        Value::String(s) if idx.len() == 3 => {
            return Err(format!("cannot 3-index slice a string: {s:?}"))
        }
        Value::String(s) => s.len(),
        Value::Array(a) => a.len(),
        Value::Null => return Err("slice of untyped nil".into()),
        other => return Err(format!("can't slice item of type {}", type_name(other))),
    };
    // Go checks every index against the capacity, which for JSON data is the length.
    let mut bounds = Vec::with_capacity(idx.len());
    for i in &idx {
        bounds.push(
            usize::try_from(*i)
                .ok()
                .filter(|u| *u <= len)
                .ok_or_else(|| format!("index out of range: {i}"))?,
        );
    }
    let lo = bounds.first().copied().unwrap_or(0);
    let hi = bounds.get(1).copied().unwrap_or(len);
    for pair in bounds.windows(2) {
        if let [a, b] = pair {
            if a > b {
                return Err(format!("invalid slice index: {a} > {b}"));
            }
        }
    }
    match item {
        Value::String(s) => s
            .get(lo..hi)
            .map(|t| Value::String(t.to_string()))
            .ok_or_else(|| format!("slice {lo}:{hi} splits a UTF-8 character of {s:?}")),
        Value::Array(a) => Ok(Value::Array(a.get(lo..hi).unwrap_or_default().to_vec())),
        _ => Ok(Value::Null),
    }
}

fn printf(args: &[Value]) -> Result<Value, String> {
    match args.split_first() {
        Some((Value::String(f), rest)) => Ok(Value::String(printf::sprintf(f, rest))),
        Some((other, _)) => Err(format!("format must be a string, not {}", type_name(other))),
        None => Err("wrong number of args for printf: want at least 1 got 0".into()),
    }
}

fn num_cmp(a: Num, b: Num) -> Ordering {
    match (a, b) {
        (Num::Int(x), Num::Int(y)) => x.cmp(&y),
        (x, y) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
    }
}

fn incompatible(a: &Value, b: &Value) -> String {
    format!(
        "incompatible types for comparison: {} and {}",
        type_name(a),
        type_name(b)
    )
}

/// Go's `eq` on basic values; nil equals only nil, arrays and objects are not comparable.
fn equal(a: &Value, b: &Value) -> Result<bool, String> {
    Ok(match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Null, _) | (_, Value::Null) => false,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Number(x), Value::Number(y)) => num_cmp(num(x), num(y)) == Ordering::Equal,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Array(_) | Value::Object(_), Value::Array(_) | Value::Object(_)) => {
            return Err(format!(
                "non-comparable types {} and {}",
                type_name(a),
                type_name(b)
            ))
        }
        _ => return Err(incompatible(a, b)),
    })
}

/// `eq a b c` is true if a equals any of the others.
fn eq(args: &[Value]) -> Result<Value, String> {
    let Some((a, rest)) = args.split_first().filter(|(_, r)| !r.is_empty()) else {
        return Err("missing argument for comparison: eq needs at least 2 arguments".into());
    };
    for b in rest {
        if equal(a, b)? {
            return Ok(Value::Bool(true));
        }
    }
    Ok(Value::Bool(false))
}

fn ne(args: &[Value]) -> Result<Value, String> {
    let [a, b] = args else {
        return Err(arity("ne", args, 2));
    };
    Ok(Value::Bool(!equal(a, b)?))
}

/// Ordering for `lt` and friends: numbers (integer or float) or strings, never mixed.
fn compare(name: &str, args: &[Value], test: fn(Ordering) -> bool) -> Result<Value, String> {
    let [a, b] = args else {
        return Err(arity(name, args, 2));
    };
    let ord = match (a, b) {
        (Value::Number(x), Value::Number(y)) => num_cmp(num(x), num(y)),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Number(_) | Value::String(_), Value::Number(_) | Value::String(_)) => {
            return Err(incompatible(a, b))
        }
        _ => {
            let bad = if matches!(a, Value::Number(_) | Value::String(_)) {
                b
            } else {
                a
            };
            return Err(format!("invalid type for comparison: {}", type_name(bad)));
        }
    };
    Ok(Value::Bool(test(ord)))
}

/// The escapers take one string as is, or print their arguments like `print`.
fn text_arg(args: &[Value]) -> String {
    match args {
        [Value::String(s)] => s.clone(),
        _ => gofmt::sprint(args),
    }
}

fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\'' => out.push_str("&#39;"),
            '"' => out.push_str("&#34;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

fn js(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' | '>' | '&' | '=' => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c if u32::from(c) < 0x20 || (!c.is_ascii() && !gofmt::printable(c)) => {
                out.push_str(&format!("\\u{:04X}", u32::from(c)))
            }
            c => out.push(c),
        }
    }
    out
}

fn urlquery(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
