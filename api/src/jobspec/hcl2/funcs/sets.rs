//! Set functions. A set is a sorted, duplicate-free array; any list is accepted as a set.

use super::args::{arity, equal, err, exact, list, to_set, unify, R};
use super::FuncError;
use serde_json::Value;

/// Product sizes above this are refused; setproduct grows multiplicatively.
const MAX_PRODUCT: usize = 1_000_000;

/// Every argument as a list, with element types unified across all of them as cty requires
/// ("given sets must all have compatible element types").
fn all_sets(a: &[Value]) -> Result<Vec<Vec<Value>>, FuncError> {
    let lists = (0..a.len())
        .map(|i| list(a, i))
        .collect::<Result<Vec<_>, _>>()?;
    let lens: Vec<usize> = lists.iter().map(|l| l.len()).collect();
    let flat = unify(
        lists.concat(),
        "given sets must all have compatible element types",
    )?;
    let mut flat = flat.into_iter();
    lens.iter()
        .map(|n| to_set(flat.by_ref().take(*n).collect(), "set"))
        .collect()
}

pub(super) fn setunion(a: &[Value]) -> R {
    arity(a, 1, None)?;
    Ok(Value::Array(to_set(all_sets(a)?.concat(), "set")?))
}

pub(super) fn setintersection(a: &[Value]) -> R {
    arity(a, 1, None)?;
    let mut sets = all_sets(a)?.into_iter();
    let first = sets.next().unwrap_or_default();
    let others: Vec<Vec<Value>> = sets.collect();
    Ok(Value::Array(
        first
            .into_iter()
            .filter(|v| others.iter().all(|s| s.iter().any(|w| equal(v, w))))
            .collect(),
    ))
}

pub(super) fn setsubtract(a: &[Value]) -> R {
    exact(a, 2)?;
    let mut sets = all_sets(a)?.into_iter();
    let (first, second) = (
        sets.next().unwrap_or_default(),
        sets.next().unwrap_or_default(),
    );
    Ok(Value::Array(
        first
            .into_iter()
            .filter(|v| !second.iter().any(|w| equal(v, w)))
            .collect(),
    ))
}

/// The cartesian product in argument order (the first argument varies slowest).
pub(super) fn setproduct(a: &[Value]) -> R {
    if a.len() < 2 {
        return Err(err("at least two arguments are required"));
    }
    let lists = (0..a.len())
        .map(|i| unify(list(a, i)?.to_vec(), &format!("argument {}", i + 1)))
        .collect::<Result<Vec<_>, _>>()?;
    let total = lists
        .iter()
        .try_fold(1usize, |acc, l| acc.checked_mul(l.len()));
    let total = total.filter(|t| *t <= MAX_PRODUCT).ok_or_else(|| {
        err(format!(
            "the product would have more than {MAX_PRODUCT} elements"
        ))
    })?;
    let mut out = Vec::with_capacity(total);
    let mut pos = vec![0usize; lists.len()];
    for _ in 0..total {
        out.push(Value::Array(
            lists.iter().zip(&pos).map(|(l, &p)| l[p].clone()).collect(),
        ));
        // Odometer increment, rightmost position fastest.
        for (p, l) in pos.iter_mut().zip(&lists).rev() {
            *p += 1;
            if *p < l.len() {
                break;
            }
            *p = 0;
        }
    }
    Ok(Value::Array(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use crate::jobspec::hcl2::funcs::args::test_call as call;

    #[test]
    fn set_algebra() {
        assert_eq!(
            call(setunion, json!([["a", "b"], ["b", "c"], ["d"]])),
            Ok(json!(["a", "b", "c", "d"]))
        );
        assert_eq!(call(setunion, json!([["a"], [1]])), Ok(json!(["1", "a"])));
        assert_eq!(
            call(setintersection, json!([["a", "b"], ["b", "c"], ["b", "d"]])),
            Ok(json!(["b"]))
        );
        assert_eq!(
            call(setintersection, json!([["b", "a", "a"]])),
            Ok(json!(["a", "b"]))
        );
        assert_eq!(
            call(setsubtract, json!([["a", "b", "c"], ["a", "c"]])),
            Ok(json!(["b"]))
        );
        assert_eq!(
            call(setsubtract, json!([[1, 2, 3], [2.0]])),
            Ok(json!([1, 3]))
        );
        assert!(call(setunion, json!([[1], [true]])).is_err());
        assert!(call(setunion, json!([])).is_err());
        assert!(call(setsubtract, json!([["a"], "a"])).is_err());
    }

    #[test]
    fn products() {
        assert_eq!(
            call(
                setproduct,
                json!([["development", "staging"], ["app1", "app2"]])
            ),
            Ok(json!([
                ["development", "app1"],
                ["development", "app2"],
                ["staging", "app1"],
                ["staging", "app2"]
            ]))
        );
        assert_eq!(call(setproduct, json!([["a"], []])), Ok(json!([])));
        assert_eq!(
            call(setproduct, json!([["a"], [1, "b"]])),
            Ok(json!([["a", "1"], ["a", "b"]]))
        );
        assert!(call(setproduct, json!([["a"]])).is_err());
        let big: Vec<i64> = (0..1000).collect();
        assert!(call(setproduct, json!([big, big, big])).is_err());
    }
}
