//! Functions over lists (HCL lists, tuples and sets alike, all JSON arrays).

use super::args::{
    arity, bool_of, equal, err, exact, int, list, list_of, nth, str_of, type_name, unify, R,
};
use serde_json::Value;
use unicode_segmentation::UnicodeSegmentation;

fn arr(items: Vec<Value>) -> R {
    Ok(Value::Array(items))
}

pub(super) fn alltrue(a: &[Value]) -> R {
    exact(a, 1)?;
    for (i, v) in list(a, 0)?.iter().enumerate() {
        if v.is_null() || !bool_of(v, &format!("element {i}"))? {
            return Ok(Value::Bool(false));
        }
    }
    Ok(Value::Bool(true))
}

pub(super) fn anytrue(a: &[Value]) -> R {
    exact(a, 1)?;
    for (i, v) in list(a, 0)?.iter().enumerate() {
        if !v.is_null() && bool_of(v, &format!("element {i}"))? {
            return Ok(Value::Bool(true));
        }
    }
    Ok(Value::Bool(false))
}

pub(super) fn chunklist(a: &[Value]) -> R {
    exact(a, 2)?;
    let items = list(a, 0)?;
    let size =
        usize::try_from(int(a, 1)?).map_err(|_| err("the size argument must be positive"))?;
    if items.is_empty() {
        return arr(vec![]);
    }
    if size == 0 {
        return arr(vec![Value::Array(items.to_vec())]);
    }
    arr(items
        .chunks(size)
        .map(|c| Value::Array(c.to_vec()))
        .collect())
}

/// The first argument that is neither null nor an empty string, after bringing primitive
/// arguments to one type (so `coalesce(1, "a")` is "1", as Terraform documents).
pub(super) fn coalesce(a: &[Value]) -> R {
    let args = unify(a.to_vec(), "all arguments must have the same type")?;
    args.into_iter()
        .find(|v| !v.is_null() && v.as_str() != Some(""))
        .ok_or_else(|| err("no non-null, non-empty-string arguments"))
}

pub(super) fn coalescelist(a: &[Value]) -> R {
    arity(a, 1, None)?;
    for v in a {
        match v {
            Value::Null => {}
            Value::Array(items) if !items.is_empty() => return Ok(v.clone()),
            Value::Array(_) => {}
            _ => return Err(err("coalescelist arguments must be lists or tuples")),
        }
    }
    Err(err("no non-null arguments"))
}

pub(super) fn compact(a: &[Value]) -> R {
    exact(a, 1)?;
    let mut out = Vec::new();
    for (i, v) in list(a, 0)?.iter().enumerate() {
        if !v.is_null() {
            let s = str_of(v, &format!("element {i}"))?;
            if !s.is_empty() {
                out.push(Value::String(s));
            }
        }
    }
    arr(out)
}

pub(super) fn concat(a: &[Value]) -> R {
    arity(a, 1, None)?;
    let mut out = Vec::new();
    for i in 0..a.len() {
        out.extend_from_slice(list(a, i)?);
    }
    arr(out)
}

pub(super) fn contains(a: &[Value]) -> R {
    exact(a, 2)?;
    Ok(Value::Bool(list(a, 0)?.iter().any(|v| equal(v, &a[1]))))
}

pub(super) fn distinct(a: &[Value]) -> R {
    exact(a, 1)?;
    let mut out: Vec<Value> = Vec::new();
    for v in unify(list(a, 0)?.to_vec(), &nth(0))? {
        if !out.iter().any(|seen| equal(seen, &v)) {
            out.push(v);
        }
    }
    arr(out)
}

/// Indexes wrap around, negative ones from the end, as in cty.
pub(super) fn element(a: &[Value]) -> R {
    exact(a, 2)?;
    let items = list(a, 0)?;
    let index = int(a, 1)?;
    let len = i64::try_from(items.len()).unwrap_or(i64::MAX);
    if len == 0 {
        return Err(err("cannot use element function with an empty list"));
    }
    let at = usize::try_from(index.rem_euclid(len)).unwrap_or(0);
    Ok(items.get(at).cloned().unwrap_or(Value::Null))
}

fn flatten_into(items: &[Value], out: &mut Vec<Value>) {
    for v in items {
        match v {
            Value::Array(inner) => flatten_into(inner, out),
            other => out.push(other.clone()),
        }
    }
}

pub(super) fn flatten(a: &[Value]) -> R {
    exact(a, 1)?;
    let items = list_of(&a[0], "can only flatten lists, sets and tuples; argument 1")?;
    let mut out = Vec::new();
    flatten_into(items, &mut out);
    arr(out)
}

/// Terraform's index: the position of the first element equal to the value.
pub(super) fn index(a: &[Value]) -> R {
    exact(a, 2)?;
    let items = list(a, 0)?;
    if items.is_empty() {
        return Err(err("cannot search an empty list"));
    }
    items
        .iter()
        .position(|v| equal(v, &a[1]))
        .map(Value::from)
        .ok_or_else(|| err("item not found"))
}

pub(super) fn length(a: &[Value]) -> R {
    exact(a, 1)?;
    match &a[0] {
        Value::String(s) => Ok(Value::from(s.graphemes(true).count())),
        Value::Array(items) => Ok(Value::from(items.len())),
        Value::Object(map) => Ok(Value::from(map.len())),
        Value::Null => Err(err("argument must not be null")),
        v => Err(err(format!(
            "argument must be a string, a collection type, or a structural type, not {}",
            type_name(v)
        ))),
    }
}

pub(super) fn one(a: &[Value]) -> R {
    exact(a, 1)?;
    match list(a, 0)? {
        [] => Ok(Value::Null),
        [v] => Ok(v.clone()),
        _ => Err(err(
            "must be a list, set, or tuple value with either zero or one elements",
        )),
    }
}

/// Lists reverse element-wise; a string reverses by character, which is what Nomad's
/// `reverse` (cty's string reverse) does.
pub(super) fn reverse(a: &[Value]) -> R {
    exact(a, 1)?;
    match &a[0] {
        Value::Array(items) => arr(items.iter().rev().cloned().collect()),
        Value::String(s) => Ok(Value::String(s.graphemes(true).rev().collect())),
        v => Err(err(format!(
            "can only reverse list or tuple values, not {}",
            type_name(v)
        ))),
    }
}

pub(super) fn slice(a: &[Value]) -> R {
    exact(a, 3)?;
    let items = list(a, 0)?;
    let (start, end) = (int(a, 1)?, int(a, 2)?);
    let bound = |i: i64, what: &str| match usize::try_from(i) {
        Err(_) => Err(err(format!("{what} index must not be less than zero"))),
        Ok(i) if i > items.len() => Err(err(format!(
            "{what} index must not be greater than the length of the list"
        ))),
        Ok(i) => Ok(i),
    };
    let (start, end) = (bound(start, "start")?, bound(end, "end")?);
    if start > end {
        return Err(err("start index must not be greater than end index"));
    }
    arr(items[start..end].to_vec())
}

pub(super) fn sort(a: &[Value]) -> R {
    exact(a, 1)?;
    let mut out = Vec::new();
    for (i, v) in list(a, 0)?.iter().enumerate() {
        if v.is_null() {
            return Err(err(format!(
                "given list element {i} is null; a null string cannot be sorted"
            )));
        }
        out.push(str_of(v, &format!("element {i}"))?);
    }
    out.sort();
    arr(out.into_iter().map(Value::String).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use crate::jobspec::hcl2::funcs::args::test_call as call;

    #[test]
    fn booleans_and_coalescing() {
        assert_eq!(call(alltrue, json!([["true", true]])), Ok(json!(true)));
        assert_eq!(call(alltrue, json!([[true, false]])), Ok(json!(false)));
        assert_eq!(call(alltrue, json!([[]])), Ok(json!(true)));
        assert_eq!(call(anytrue, json!([["true"]])), Ok(json!(true)));
        assert_eq!(call(anytrue, json!([[]])), Ok(json!(false)));
        assert!(call(anytrue, json!([["yes"]])).is_err());
        assert_eq!(call(coalesce, json!(["a", "b"])), Ok(json!("a")));
        assert_eq!(call(coalesce, json!(["", "b"])), Ok(json!("b")));
        assert_eq!(call(coalesce, json!([1, 2])), Ok(json!(1)));
        assert_eq!(call(coalesce, json!([null, 1, "hello"])), Ok(json!("1")));
        assert!(call(coalesce, json!([null, ""])).is_err());
        assert!(call(coalesce, json!([1, true])).is_err());
        assert_eq!(
            call(coalescelist, json!([["a", "b"], ["c", "d"]])),
            Ok(json!(["a", "b"]))
        );
        assert_eq!(
            call(coalescelist, json!([[], ["c", "d"]])),
            Ok(json!(["c", "d"]))
        );
        assert!(call(coalescelist, json!([[], null])).is_err());
        assert!(call(coalescelist, json!(["a"])).is_err());
    }

    #[test]
    fn list_shaping() {
        assert_eq!(
            call(chunklist, json!([["a", "b", "c", "d", "e"], 2])),
            Ok(json!([["a", "b"], ["c", "d"], ["e"]]))
        );
        assert_eq!(
            call(chunklist, json!([["a", "b"], 0])),
            Ok(json!([["a", "b"]]))
        );
        assert!(call(chunklist, json!([["a"], -1])).is_err());
        assert_eq!(
            call(compact, json!([["a", "", "b", null, "c"]])),
            Ok(json!(["a", "b", "c"]))
        );
        assert_eq!(
            call(concat, json!([["a", ""], ["b", "c"]])),
            Ok(json!(["a", "", "b", "c"]))
        );
        assert!(call(concat, json!([["a"], "b"])).is_err());
        assert_eq!(
            call(distinct, json!([["a", "b", "a", "c", "d", "b"]])),
            Ok(json!(["a", "b", "c", "d"]))
        );
        assert_eq!(
            call(flatten, json!([[["a", "b"], [], ["c"]]])),
            Ok(json!(["a", "b", "c"]))
        );
        assert_eq!(
            call(flatten, json!([[[["a", "b"], []], ["c"]]])),
            Ok(json!(["a", "b", "c"]))
        );
        assert_eq!(call(reverse, json!([[1, 2, 3]])), Ok(json!([3, 2, 1])));
        assert_eq!(call(reverse, json!(["abc"])), Ok(json!("cba")));
        assert_eq!(
            call(slice, json!([["a", "b", "c", "d"], 1, 3])),
            Ok(json!(["b", "c"]))
        );
        assert!(call(slice, json!([["a"], 0, 2])).is_err());
        assert!(call(slice, json!([["a", "b"], 2, 1])).is_err());
        assert_eq!(
            call(sort, json!([["e", "d", "a", "x", "10", "9"]])),
            Ok(json!(["10", "9", "a", "d", "e", "x"]))
        );
    }

    #[test]
    fn lookups() {
        assert_eq!(
            call(contains, json!([["a", "b", "c"], "a"])),
            Ok(json!(true))
        );
        assert_eq!(
            call(contains, json!([["a", "b", "c"], "d"])),
            Ok(json!(false))
        );
        assert_eq!(call(contains, json!([[1, 2], 2.0])), Ok(json!(true)));
        assert_eq!(call(element, json!([["a", "b", "c"], 1])), Ok(json!("b")));
        assert_eq!(call(element, json!([["a", "b", "c"], 3])), Ok(json!("a")));
        assert_eq!(call(element, json!([["a", "b", "c"], -1])), Ok(json!("c")));
        assert!(call(element, json!([[], 0])).is_err());
        assert_eq!(call(index, json!([["a", "b", "c"], "b"])), Ok(json!(1)));
        assert_eq!(call(index, json!([["a"], "z"])), Err(err("item not found")));
        assert_eq!(call(length, json!([[]])), Ok(json!(0)));
        assert_eq!(call(length, json!([["a", "b"]])), Ok(json!(2)));
        assert_eq!(call(length, json!([{"a": "b"}])), Ok(json!(1)));
        assert_eq!(call(length, json!(["hello"])), Ok(json!(5)));
        assert_eq!(call(length, json!(["💡"])), Ok(json!(1)));
        assert!(call(length, json!([5])).is_err());
        assert_eq!(call(one, json!([[]])), Ok(json!(null)));
        assert_eq!(call(one, json!([["hello"]])), Ok(json!("hello")));
        assert!(call(one, json!([["a", "b"]])).is_err());
    }
}
