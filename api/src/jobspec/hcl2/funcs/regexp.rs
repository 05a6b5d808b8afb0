//! Regular-expression functions. Patterns use the regex crate's syntax, which matches Go's
//! RE2 syntax for everything job files use; `\d`, `\w` and `\s` are Unicode-aware here
//! where Go's are ASCII-only.

use super::args::{err, exact, string, too_large, MAX_OUTPUT, R};
use super::FuncError;
use regex::Regex;
use serde_json::{Map, Value};

fn s(v: String) -> R {
    Ok(Value::String(v))
}

pub(super) fn compile(pattern: &str) -> Result<Regex, FuncError> {
    Regex::new(pattern).map_err(|e| err(format!("invalid regular expression {pattern:?}: {e}")))
}

/// Replaces every match, expanding `$1`/`${name}` as Go's ReplaceAllString does, and stops
/// before the result can grow past the output limit.
fn replace_all(re: &Regex, text: &str, replacement: &str) -> Result<String, FuncError> {
    let mut out = String::new();
    let mut last = 0;
    for caps in re.captures_iter(text) {
        let Some(m) = caps.get(0) else { continue };
        out.push_str(&text[last..m.start()]);
        caps.expand(replacement, &mut out);
        last = m.end();
        if out.len() > MAX_OUTPUT {
            return Err(too_large());
        }
    }
    out.push_str(&text[last..]);
    Ok(out)
}

pub(super) fn regex_replace(a: &[Value]) -> R {
    exact(a, 3)?;
    let (text, pattern, replacement) = (string(a, 0)?, string(a, 1)?, string(a, 2)?);
    s(replace_all(&compile(&pattern)?, &text, &replacement)?)
}

/// Terraform's replace: a search string wrapped in slashes is a regular expression.
pub(super) fn replace(a: &[Value]) -> R {
    exact(a, 3)?;
    let (text, search, replacement) = (string(a, 0)?, string(a, 1)?, string(a, 2)?);
    if search.len() > 1 && search.starts_with('/') && search.ends_with('/') {
        let re = compile(&search[1..search.len() - 1])?;
        return s(replace_all(&re, &text, &replacement)?);
    }
    let hits = if search.is_empty() {
        text.chars().count() + 1
    } else {
        text.matches(search.as_str()).count()
    };
    if hits
        .saturating_mul(replacement.len())
        .saturating_add(text.len())
        > MAX_OUTPUT
    {
        return Err(too_large());
    }
    s(text.replace(search.as_str(), &replacement))
}

enum Shape {
    Whole,
    Named(Vec<String>),
    Positional(usize),
}

fn shape(re: &Regex) -> Result<Shape, FuncError> {
    let names: Vec<Option<&str>> = re.capture_names().skip(1).collect();
    let named = names.iter().flatten().count();
    match (named, names.len() - named) {
        (0, 0) => Ok(Shape::Whole),
        (_, 0) => Ok(Shape::Named(
            names.iter().flatten().map(|n| n.to_string()).collect(),
        )),
        (0, n) => Ok(Shape::Positional(n)),
        _ => Err(err(
            "invalid regexp pattern: cannot mix both named and unnamed capture groups",
        )),
    }
}

/// One match in the shape cty gives it; groups that took no part in the match are null.
fn captured(shape: &Shape, caps: &regex::Captures) -> Value {
    let group = |m: Option<regex::Match>| m.map_or(Value::Null, |m| Value::from(m.as_str()));
    match shape {
        Shape::Whole => group(caps.get(0)),
        Shape::Positional(n) => Value::Array((1..=*n).map(|i| group(caps.get(i))).collect()),
        Shape::Named(names) => Value::Object(
            names
                .iter()
                .map(|n| (n.clone(), group(caps.name(n))))
                .collect::<Map<_, _>>(),
        ),
    }
}

pub(super) fn regex(a: &[Value]) -> R {
    exact(a, 2)?;
    let (pattern, text) = (string(a, 0)?, string(a, 1)?);
    let re = compile(&pattern)?;
    let shape = shape(&re)?;
    re.captures(&text)
        .map(|caps| captured(&shape, &caps))
        .ok_or_else(|| err("pattern did not match any part of the given string"))
}

pub(super) fn regexall(a: &[Value]) -> R {
    exact(a, 2)?;
    let (pattern, text) = (string(a, 0)?, string(a, 1)?);
    let re = compile(&pattern)?;
    let shape = shape(&re)?;
    Ok(Value::Array(
        re.captures_iter(&text)
            .map(|c| captured(&shape, &c))
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use crate::jobspec::hcl2::funcs::args::test_call as call;

    #[test]
    fn replacements() {
        assert_eq!(
            call(replace, json!(["1 + 2 + 3", "+", "-"])),
            Ok(json!("1 - 2 - 3"))
        );
        assert_eq!(
            call(replace, json!(["hello world", "/w.*d/", "everybody"])),
            Ok(json!("hello everybody"))
        );
        assert_eq!(call(replace, json!(["abc", "", "-"])), Ok(json!("-a-b-c-")));
        assert_eq!(call(replace, json!(["a/b", "/", "|"])), Ok(json!("a|b")));
        assert_eq!(
            call(
                regex_replace,
                json!(["hello world", "(\\w+) (\\w+)", "$2 $1"])
            ),
            Ok(json!("world hello"))
        );
        assert_eq!(
            call(regex_replace, json!(["key=v", "(?P<k>\\w+)=", "${k}:"])),
            Ok(json!("key:v"))
        );
        assert!(call(regex_replace, json!(["a", "(", "b"])).is_err());
    }

    #[test]
    fn regex_results() {
        assert_eq!(
            call(regex, json!(["[a-z]+", "53453453.345345aaabbbccc23454"])),
            Ok(json!("aaabbbccc"))
        );
        assert_eq!(
            call(
                regex,
                json!(["(\\d\\d\\d\\d)-(\\d\\d)-(\\d\\d)", "2019-02-01"])
            ),
            Ok(json!(["2019", "02", "01"]))
        );
        assert_eq!(
            call(
                regex,
                json!([
                    "^(?:(?P<scheme>[^:/?#]+):)?(?://(?P<authority>[^/?#]*))?",
                    "https://terraform.io/docs/"
                ])
            ),
            Ok(json!({"authority": "terraform.io", "scheme": "https"}))
        );
        assert_eq!(call(regex, json!(["a(b)?", "a"])), Ok(json!([null])));
        assert_eq!(
            call(regex, json!(["[a-z]+", "1234"])),
            Err(err("pattern did not match any part of the given string"))
        );
        assert!(call(regex, json!(["(?P<a>x)(y)", "xy"])).is_err());
        assert_eq!(
            call(regexall, json!(["[a-z]+", "1234abcd5678efgh9"])),
            Ok(json!(["abcd", "efgh"]))
        );
        assert_eq!(call(regexall, json!(["[a-z]+", "123"])), Ok(json!([])));
        assert_eq!(
            call(regexall, json!(["(\\d)x", "1x2x"])),
            Ok(json!([["1"], ["2"]]))
        );
    }
}
