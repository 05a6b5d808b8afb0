//! `format` and `formatlist`: cty's printf dialect. The verb grammar is cty's ragel machine
//! (`%` flags width .precision [argindex] letter); numbers print the way Go prints the
//! big.Int/big.Float cty hands to fmt, which is what users' existing job files rely on.

use super::args::{arity, err, string, too_large, MAX_OUTPUT, R};
use super::verbs::{append, Verb};
use super::FuncError;
use serde_json::Value;

/// Widths and precisions beyond this are refused instead of allocating gigabytes of padding.
const MAX_WIDTH: usize = 1 << 20;

pub(super) fn format(a: &[Value]) -> R {
    arity(a, 1, None)?;
    Ok(Value::String(sprintf(&string(a, 0)?, &a[1..])?))
}

/// List arguments are walked in lockstep (they must all be the same length); anything else is
/// repeated on every iteration.
pub(super) fn formatlist(a: &[Value]) -> R {
    arity(a, 1, None)?;
    let fmt = string(a, 0)?;
    let args = &a[1..];
    let mut len: Option<(usize, usize)> = None;
    for (i, v) in args.iter().enumerate() {
        if let Value::Array(items) = v {
            match len {
                None => len = Some((items.len(), i)),
                Some((n, first)) if n != items.len() => {
                    return Err(err(format!(
                        "argument {} has length {}, which is inconsistent with argument {} of length {n}",
                        i + 2,
                        items.len(),
                        first + 2
                    )))
                }
                Some(_) => {}
            }
        }
    }
    let rounds = len.map_or(1, |(n, _)| n);
    let mut out = Vec::with_capacity(rounds);
    let mut total = 0usize;
    for round in 0..rounds {
        let row: Vec<Value> = args
            .iter()
            .map(|v| match v {
                Value::Array(items) => items.get(round).cloned().unwrap_or(Value::Null),
                other => other.clone(),
            })
            .collect();
        let line = sprintf(&fmt, &row).map_err(|e| match e {
            FuncError::Failed(m) => err(format!("error on format iteration {round}: {m}")),
            other => other,
        })?;
        total = total.saturating_add(line.len());
        if total > MAX_OUTPUT {
            return Err(too_large());
        }
        out.push(Value::String(line));
    }
    Ok(Value::Array(out))
}

fn digits(b: &[u8], i: &mut usize) -> Result<usize, FuncError> {
    let mut n = 0usize;
    while let Some(d) = b.get(*i).filter(|c| c.is_ascii_digit()) {
        n = n.saturating_mul(10).saturating_add(usize::from(d - b'0'));
        *i += 1;
    }
    if n > MAX_WIDTH {
        return Err(err(format!("width or precision {n} is too large")));
    }
    Ok(n)
}

fn unrecognized(fmt: &str, i: usize) -> FuncError {
    match fmt.get(i..).and_then(|rest| rest.chars().next()) {
        Some(c) => err(format!("unrecognized format character '{c}' at offset {i}")),
        None => err(format!(
            "invalid format string starting at offset {}",
            fmt.len()
        )),
    }
}

fn sprintf(fmt: &str, args: &[Value]) -> Result<String, FuncError> {
    let b = fmt.as_bytes();
    let mut out = String::new();
    let (mut i, mut next_arg, mut highest) = (0, 1, 0);
    while i < b.len() {
        if b[i] != b'%' {
            let end = fmt[i..].find('%').map_or(b.len(), |p| i + p);
            out.push_str(&fmt[i..end]);
            i = end;
            continue;
        }
        if b.get(i + 1) == Some(&b'%') {
            out.push('%');
            i += 2;
            continue;
        }
        let mut v = Verb {
            offset: i,
            arg: next_arg,
            ..Verb::default()
        };
        i += 1;
        while let Some(c) = b.get(i) {
            match c {
                b'0' => v.zero = true,
                b'#' => v.sharp = true,
                b'-' => v.minus = true,
                b'+' => v.plus = true,
                b' ' => v.space = true,
                _ => break,
            }
            i += 1;
        }
        if b.get(i).is_some_and(|c| (b'1'..=b'9').contains(c)) {
            v.width = Some(digits(b, &mut i)?);
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            v.prec = Some(digits(b, &mut i)?);
        }
        if b.get(i) == Some(&b'[') {
            i += 1;
            if !b.get(i).is_some_and(|c| (b'1'..=b'9').contains(c)) {
                return Err(unrecognized(fmt, i));
            }
            v.arg = digits(b, &mut i)?;
            if b.get(i) != Some(&b']') {
                return Err(unrecognized(fmt, i));
            }
            i += 1;
        }
        match b.get(i) {
            Some(c) if c.is_ascii_alphabetic() => v.mode = char::from(*c),
            _ => return Err(unrecognized(fmt, i)),
        }
        i += 1;
        v.raw = &fmt[v.offset..i];
        highest = highest.max(v.arg);
        append(&mut out, &v, args)?;
        next_arg = v.arg + 1;
        if out.len() > MAX_OUTPUT {
            return Err(too_large());
        }
    }
    if highest < args.len() {
        return Err(err(if highest == 0 {
            "too many arguments; no verbs in format string".to_string()
        } else {
            format!("too many arguments; only {highest} used by format string")
        }));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn f(args: Value) -> R {
        format(args.as_array().expect("test args are a JSON array"))
    }

    fn ok(args: Value, want: &str) {
        assert_eq!(f(args.clone()), Ok(json!(want)), "format{args}");
    }

    #[test]
    fn terraform_examples() {
        ok(json!(["Hello, %s!", "Ander"]), "Hello, Ander!");
        ok(json!(["There are %d lights", 4]), "There are 4 lights");
        ok(json!(["%-5s|", "a"]), "a    |");
        ok(json!(["%5s|", "a"]), "    a|");
        ok(json!(["%.2f", 1.23456]), "1.23");
        ok(json!(["%#v", "hello"]), "\"hello\"");
        ok(
            json!(["%#v", {"a": [1, true, null]}]),
            "{\"a\":[1,true,null]}",
        );
        ok(json!(["%v", [1, "a"]]), "[1,\"a\"]");
        ok(json!(["%v", null]), "null");
        ok(json!(["%q", "a\"b<"]), "\"a\\\"b\\u003c\"");
        ok(json!(["100%%"]), "100%");
        ok(json!(["%[2]s %[1]s %s", "a", "b"]), "b a b");
    }

    #[test]
    fn cty_number_cases() {
        ok(json!(["number %v", 2]), "number 2");
        ok(json!(["%v", 12345678]), "1.2345678e+07");
        ok(json!(["%v", 1.5]), "1.5");
        ok(json!(["%+d", 10]), "+10");
        ok(json!(["% d", 10]), " 10");
        ok(json!(["%5d|", 10]), "   10|");
        ok(json!(["%-5d|", 10]), "10   |");
        ok(json!(["%05d", -42]), "-0042");
        ok(json!(["%.3d", 7]), "007");
        ok(json!(["%d", "12"]), "12");
        ok(json!(["%b", 5]), "101");
        ok(json!(["%o", 9]), "11");
        ok(json!(["%#o", 9]), "011");
        ok(json!(["%x", 254]), "fe");
        ok(json!(["%X", 254]), "FE");
        ok(json!(["%#x", 254]), "0xfe");
        ok(json!(["%#08x", 254]), "0x0000fe");
        ok(json!(["%d", 1e20]), "100000000000000000000");
        ok(json!(["%x", 1e20]), "56bc75e2d63100000");
        ok(json!(["%f things", 10]), "10.000000 things");
        ok(json!(["%+f", 10]), "+10.000000");
        ok(json!(["% f", -10]), "-10.000000");
        ok(json!(["%.1f", "1.06"]), "1.1");
        ok(json!(["%08.3f", -1.23456]), "-001.235");
        ok(json!(["%e", 1000]), "1.000000e+03");
        ok(json!(["%E", 1000]), "1.000000E+03");
        ok(json!(["%g", 1000]), "1000");
        ok(json!(["%g", 1e-23]), "1e-23");
        ok(json!(["%G", 1e-23]), "1E-23");
        ok(json!(["%.3g", 1234.5]), "1.23e+03");
        ok(json!(["%.3g", 1]), "1");
        ok(json!(["%g", 0]), "0");
        ok(json!(["%t", true]), "true");
        ok(json!(["%t", "false"]), "false");
        ok(json!(["%.3s|", "abcdef"]), "abc|");
        ok(json!(["%05s", "ab"]), "000ab");
    }

    #[test]
    fn cty_errors() {
        let e = |args: Value| match f(args) {
            Err(FuncError::Failed(m)) => m,
            other => panic!("expected an error, got {other:?}"),
        };
        assert_eq!(
            e(json!(["%s is not in the args list"])),
            "not enough arguments for \"%s\" at 0: need index 1 but have 0 total"
        );
        assert_eq!(
            e(json!(["%[3]s", true, true])),
            "not enough arguments for \"%[3]s\" at 0: need index 3 but have 2 total"
        );
        assert_eq!(
            e(json!(["%[0]s", true])),
            "unrecognized format character '0' at offset 2"
        );
        assert_eq!(
            e(json!(["%z", 10])),
            "unsupported format verb 'z' in \"%z\" at offset 0"
        );
        assert_eq!(
            e(json!(["%012z", 10])),
            "unsupported format verb 'z' in \"%012z\" at offset 0"
        );
        assert_eq!(
            e(json!(["%☠", 10])),
            "unrecognized format character '☠' at offset 1"
        );
        assert_eq!(
            e(json!(["abc%"])),
            "invalid format string starting at offset 4"
        );
        assert_eq!(
            e(json!(["no verbs", 10])),
            "too many arguments; no verbs in format string"
        );
        assert_eq!(
            e(json!(["one %d", 1, 2])),
            "too many arguments; only 1 used by format string"
        );
        assert_eq!(
            e(json!(["%d", null])),
            "unsupported value for \"%d\" at 0: null value cannot be formatted"
        );
        assert_eq!(
            e(json!(["%d", 1.5])),
            "unsupported value for \"%d\" at 0: an integer is required"
        );
        assert_eq!(
            e(json!(["%s", [1]])),
            "unsupported value for \"%s\" at 0: string required"
        );
        assert!(f(json!(["%999999999999s", "a"])).is_err());
    }

    #[test]
    fn formatlist_lockstep() {
        let fl = |args: Value| formatlist(args.as_array().expect("array"));
        assert_eq!(
            fl(json!([
                "Hello, %s!",
                ["Valentina", "Ander", "Olivia", "Sam"]
            ])),
            Ok(json!([
                "Hello, Valentina!",
                "Hello, Ander!",
                "Hello, Olivia!",
                "Hello, Sam!"
            ]))
        );
        assert_eq!(
            fl(json!(["%s, %s!", "Salutations", ["Valentina", "Ander"]])),
            Ok(json!(["Salutations, Valentina!", "Salutations, Ander!"]))
        );
        assert_eq!(fl(json!(["%s", []])), Ok(json!([])));
        assert_eq!(fl(json!(["x"])), Ok(json!(["x"])));
        assert!(fl(json!(["%s %s", ["a"], ["b", "c"]])).is_err());
        assert_eq!(
            fl(json!(["%d", ["a"]])),
            Err(err("error on format iteration 0: unsupported value for \"%d\" at 0: a number is required"))
        );
    }
}
