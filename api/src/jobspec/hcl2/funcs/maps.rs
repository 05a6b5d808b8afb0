//! Functions over maps and objects (JSON objects, whose keys are kept sorted).

use super::args::{arity, err, exact, list, list_of, map, nth, str_of, string, type_name, R};
use serde_json::{Map, Value};

fn requires_map(a: &[Value], fname: &str) -> Result<Map<String, Value>, super::FuncError> {
    match &a[0] {
        Value::Object(m) => Ok(m.clone()),
        Value::Null => Err(err("argument 1 must not be null")),
        _ => Err(err(format!(
            "{fname}() requires a map as the first argument"
        ))),
    }
}

pub(super) fn keys(a: &[Value]) -> R {
    exact(a, 1)?;
    let m = requires_map(a, "keys")?;
    Ok(Value::Array(m.keys().cloned().map(Value::String).collect()))
}

pub(super) fn values(a: &[Value]) -> R {
    exact(a, 1)?;
    let m = requires_map(a, "values")?;
    Ok(Value::Array(m.values().cloned().collect()))
}

/// With two arguments a missing key is an error, with three the default is returned.
pub(super) fn lookup(a: &[Value]) -> R {
    arity(a, 2, Some(3))?;
    let m = requires_map(a, "lookup")?;
    let key = string(a, 1)?;
    match (m.get(&key), a.get(2)) {
        (Some(v), _) => Ok(v.clone()),
        (None, Some(default)) => Ok(default.clone()),
        (None, None) => Err(err(format!("lookup failed to find key {key:?}"))),
    }
}

/// Later arguments win; null arguments are skipped.
pub(super) fn merge(a: &[Value]) -> R {
    let mut out = Map::new();
    for (i, v) in a.iter().enumerate() {
        match v {
            Value::Null => {}
            Value::Object(m) => out.extend(m.iter().map(|(k, v)| (k.clone(), v.clone()))),
            other => {
                return Err(err(format!(
                    "{} must be a map or object, got {}",
                    nth(i),
                    type_name(other)
                )))
            }
        }
    }
    Ok(Value::Object(out))
}

pub(super) fn zipmap(a: &[Value]) -> R {
    exact(a, 2)?;
    let (keys, values) = (list(a, 0)?, list(a, 1)?);
    if keys.len() != values.len() {
        return Err(err(format!(
            "number of keys ({}) does not match number of values ({})",
            keys.len(),
            values.len()
        )));
    }
    let mut out = Map::new();
    for (i, (k, v)) in keys.iter().zip(values).enumerate() {
        if k.is_null() {
            return Err(err(format!("keys list has null value at index {i}")));
        }
        out.insert(str_of(k, &format!("key {i}"))?, v.clone());
    }
    Ok(Value::Object(out))
}

/// Swaps keys and values of a map of lists of strings; each new list follows key order.
pub(super) fn transpose(a: &[Value]) -> R {
    exact(a, 1)?;
    let mut out: Map<String, Value> = Map::new();
    for (key, items) in map(a, 0)? {
        let items = list_of(items, &format!("the list for key {key:?}"))?;
        for (i, item) in items.iter().enumerate() {
            if item.is_null() {
                return Err(err(format!(
                    "input must not contain null list elements (key {key:?})"
                )));
            }
            let name = str_of(item, &format!("element {i} of key {key:?}"))?;
            let entry = out.entry(name).or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(keys) = entry {
                keys.push(Value::String(key.clone()));
            }
        }
    }
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use crate::jobspec::hcl2::funcs::args::test_call as call;

    #[test]
    fn keys_and_values() {
        assert_eq!(
            call(keys, json!([{"a": 1, "c": 2, "d": 3}])),
            Ok(json!(["a", "c", "d"]))
        );
        assert_eq!(
            call(values, json!([{"a": 3, "c": 2, "d": 1}])),
            Ok(json!([3, 2, 1]))
        );
        assert!(call(keys, json!([["a"]])).is_err());
        assert!(call(values, json!([null])).is_err());
    }

    #[test]
    fn lookup_and_merge() {
        assert_eq!(
            call(lookup, json!([{"a": "ay", "b": "bee"}, "a", "what?"])),
            Ok(json!("ay"))
        );
        assert_eq!(
            call(lookup, json!([{"a": "ay", "b": "bee"}, "c", "what?"])),
            Ok(json!("what?"))
        );
        assert_eq!(call(lookup, json!([{"a": "ay"}, "a"])), Ok(json!("ay")));
        assert_eq!(
            call(lookup, json!([{"a": "ay"}, "c"])),
            Err(err("lookup failed to find key \"c\""))
        );
        assert_eq!(
            call(merge, json!([{"a": "b", "c": "d"}, {"e": "f", "c": "z"}])),
            Ok(json!({"a": "b", "c": "z", "e": "f"}))
        );
        assert_eq!(
            call(merge, json!([{"a": 1}, null, {"b": [2]}])),
            Ok(json!({"a": 1, "b": [2]}))
        );
        assert_eq!(call(merge, json!([])), Ok(json!({})));
        assert!(call(merge, json!([{"a": 1}, ["b"]])).is_err());
    }

    #[test]
    fn zipmap_and_transpose() {
        assert_eq!(
            call(zipmap, json!([["a", "b"], [1, 2]])),
            Ok(json!({"a": 1, "b": 2}))
        );
        assert_eq!(
            call(zipmap, json!([["a", "b"], [[1], {"x": 2}]])),
            Ok(json!({"a": [1], "b": {"x": 2}}))
        );
        assert!(call(zipmap, json!([["a"], [1, 2]])).is_err());
        assert!(call(zipmap, json!([[null], [1]])).is_err());
        assert_eq!(
            call(transpose, json!([{"a": ["1", "2"], "b": ["2", "3"]}])),
            Ok(json!({"1": ["a"], "2": ["a", "b"], "3": ["b"]}))
        );
        assert!(call(transpose, json!([{"a": ["1", null]}])).is_err());
    }
}
