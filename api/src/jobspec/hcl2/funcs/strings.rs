//! String functions. Lengths and offsets count grapheme clusters ("characters" as cty's
//! documentation means them), so a letter with a combining accent is one character.

use super::args::{arity, err, exact, int, str_of, string, too_large, MAX_OUTPUT, R};
use serde_json::Value;
use unicode_segmentation::UnicodeSegmentation;

fn s(v: String) -> R {
    Ok(Value::String(v))
}

pub(super) fn chomp(a: &[Value]) -> R {
    exact(a, 1)?;
    s(string(a, 0)?.trim_end_matches(['\r', '\n']).to_string())
}

pub(super) fn indent(a: &[Value]) -> R {
    exact(a, 2)?;
    let spaces = usize::try_from(int(a, 0)?).map_err(|_| err("spaces must not be negative"))?;
    let text = string(a, 1)?;
    let lines = text.matches('\n').count();
    if lines == 0 {
        return s(text);
    }
    if spaces.saturating_mul(lines).saturating_add(text.len()) > MAX_OUTPUT {
        return Err(too_large());
    }
    s(text.replace('\n', &format!("\n{}", " ".repeat(spaces))))
}

pub(super) fn join(a: &[Value]) -> R {
    arity(a, 1, None)?;
    if a.len() < 2 {
        return Err(err("at least one list is required"));
    }
    let sep = string(a, 0)?;
    let mut items = Vec::new();
    for (ai, list) in a.iter().enumerate().skip(1) {
        let list = super::args::list_of(list, &super::args::nth(ai))?;
        for (ei, v) in list.iter().enumerate() {
            if v.is_null() {
                return Err(err(format!(
                    "element {ei} of list {ai} is null; cannot concatenate null values"
                )));
            }
            items.push(str_of(v, &format!("element {ei} of list {ai}"))?);
        }
    }
    let total: usize = items.iter().map(String::len).sum::<usize>()
        + sep.len().saturating_mul(items.len().saturating_sub(1));
    if total > MAX_OUTPUT {
        return Err(too_large());
    }
    s(items.join(&sep))
}

pub(super) fn lower(a: &[Value]) -> R {
    exact(a, 1)?;
    s(string(a, 0)?.to_lowercase())
}

pub(super) fn upper(a: &[Value]) -> R {
    exact(a, 1)?;
    s(string(a, 0)?.to_uppercase())
}

/// Go's strings.Split: an empty separator splits into characters, an empty string into [""].
pub(super) fn split(a: &[Value]) -> R {
    exact(a, 2)?;
    let (sep, text) = (string(a, 0)?, string(a, 1)?);
    let parts: Vec<Value> = if sep.is_empty() {
        text.chars().map(|c| Value::String(c.to_string())).collect()
    } else {
        text.split(sep.as_str()).map(Value::from).collect()
    };
    Ok(Value::Array(parts))
}

pub(super) fn strrev(a: &[Value]) -> R {
    exact(a, 1)?;
    s(string(a, 0)?.graphemes(true).rev().collect())
}

pub(super) fn strlen(a: &[Value]) -> R {
    exact(a, 1)?;
    Ok(Value::from(string(a, 0)?.graphemes(true).count()))
}

/// A negative offset counts back from the end; a negative length means "to the end".
pub(super) fn substr(a: &[Value]) -> R {
    exact(a, 3)?;
    let text = string(a, 0)?;
    let (offset, length) = (int(a, 1)?, int(a, 2)?);
    let chars: Vec<&str> = text.graphemes(true).collect();
    let total = i64::try_from(chars.len()).unwrap_or(i64::MAX);
    let start = if offset < 0 {
        offset.saturating_add(total).max(0)
    } else {
        offset.min(total)
    };
    let rest = total - start;
    let take = if length < 0 { rest } else { length.min(rest) };
    let (start, take) = (start as usize, take as usize);
    s(chars[start..start + take].concat())
}

/// Go's strings.Title: upper-cases the first letter after anything that is not a letter,
/// digit or underscore.
pub(super) fn title(a: &[Value]) -> R {
    exact(a, 1)?;
    let separator = |c: char| {
        if c.is_ascii() {
            !(c.is_ascii_alphanumeric() || c == '_')
        } else {
            !(c.is_alphabetic() || c.is_numeric()) && c.is_whitespace()
        }
    };
    let mut prev = ' ';
    let mut out = String::new();
    for c in string(a, 0)?.chars() {
        if separator(prev) {
            let mut up = c.to_uppercase();
            // Go maps one rune to one rune; a multi-rune uppercase ("ß" -> "SS") stays as is.
            match (up.next(), up.next()) {
                (Some(u), None) => out.push(u),
                _ => out.push(c),
            }
        } else {
            out.push(c);
        }
        prev = c;
    }
    s(out)
}

pub(super) fn trim(a: &[Value]) -> R {
    exact(a, 2)?;
    let (text, cutset) = (string(a, 0)?, string(a, 1)?);
    s(text.trim_matches(|c| cutset.contains(c)).to_string())
}

pub(super) fn trimprefix(a: &[Value]) -> R {
    exact(a, 2)?;
    let (text, prefix) = (string(a, 0)?, string(a, 1)?);
    s(text
        .strip_prefix(prefix.as_str())
        .unwrap_or(&text)
        .to_string())
}

pub(super) fn trimsuffix(a: &[Value]) -> R {
    exact(a, 2)?;
    let (text, suffix) = (string(a, 0)?, string(a, 1)?);
    s(text
        .strip_suffix(suffix.as_str())
        .unwrap_or(&text)
        .to_string())
}

pub(super) fn trimspace(a: &[Value]) -> R {
    exact(a, 1)?;
    s(string(a, 0)?.trim().to_string())
}

pub(super) fn startswith(a: &[Value]) -> R {
    exact(a, 2)?;
    Ok(Value::Bool(string(a, 0)?.starts_with(&string(a, 1)?)))
}

pub(super) fn endswith(a: &[Value]) -> R {
    exact(a, 2)?;
    Ok(Value::Bool(string(a, 0)?.ends_with(&string(a, 1)?)))
}

pub(super) fn strcontains(a: &[Value]) -> R {
    exact(a, 2)?;
    Ok(Value::Bool(string(a, 0)?.contains(&string(a, 1)?)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use crate::jobspec::hcl2::funcs::args::test_call as call;

    #[test]
    fn simple_string_functions() {
        assert_eq!(call(chomp, json!(["hello\n\r\n"])), Ok(json!("hello")));
        assert_eq!(
            call(chomp, json!(["hello\nworld"])),
            Ok(json!("hello\nworld"))
        );
        assert_eq!(call(indent, json!([2, "a\nb\n"])), Ok(json!("a\n  b\n  ")));
        assert!(call(indent, json!([-1, "a"])).is_err());
        assert!(call(indent, json!([1e15, "a\nb"])).is_err());
        assert_eq!(call(indent, json!([1e15, "a"])), Ok(json!("a")));
        assert_eq!(
            call(join, json!([", ", ["foo", "bar", "baz"]])),
            Ok(json!("foo, bar, baz"))
        );
        assert_eq!(
            call(join, json!(["-", ["a"], [1, true]])),
            Ok(json!("a-1-true"))
        );
        assert!(call(join, json!(["-", ["a", null]])).is_err());
        assert!(call(join, json!(["-"])).is_err());
        assert_eq!(
            call(lower, json!(["HELLO Ünïcode"])),
            Ok(json!("hello ünïcode"))
        );
        assert_eq!(call(upper, json!(["hello"])), Ok(json!("HELLO")));
        assert_eq!(
            call(title, json!(["hello world-wide_web ño"])),
            Ok(json!("Hello World-Wide_web Ño"))
        );
        assert_eq!(call(trim, json!(["?!hello?!", "!?"])), Ok(json!("hello")));
        assert_eq!(
            call(trimprefix, json!(["helloworld", "hello"])),
            Ok(json!("world"))
        );
        assert_eq!(
            call(trimsuffix, json!(["helloworld", "world"])),
            Ok(json!("hello"))
        );
        assert_eq!(call(trimspace, json!(["  hello\n\n"])), Ok(json!("hello")));
        assert_eq!(
            call(startswith, json!(["hello world", "hello"])),
            Ok(json!(true))
        );
        assert_eq!(
            call(endswith, json!(["hello world", "hello"])),
            Ok(json!(false))
        );
        assert_eq!(
            call(strcontains, json!(["hello world", "wor"])),
            Ok(json!(true))
        );
    }

    #[test]
    fn split_like_go() {
        assert_eq!(
            call(split, json!([",", "foo,bar,baz"])),
            Ok(json!(["foo", "bar", "baz"]))
        );
        assert_eq!(call(split, json!([",", "foo"])), Ok(json!(["foo"])));
        assert_eq!(call(split, json!([",", ""])), Ok(json!([""])));
        assert_eq!(call(split, json!(["", "añ"])), Ok(json!(["a", "ñ"])));
    }

    #[test]
    fn unicode_characters() {
        assert_eq!(call(strrev, json!(["hello"])), Ok(json!("olleh")));
        // "e" + combining acute accent stays one character.
        assert_eq!(call(strrev, json!(["ae\u{301}b"])), Ok(json!("be\u{301}a")));
        assert_eq!(call(strlen, json!(["e\u{301}💡"])), Ok(json!(2)));
        assert_eq!(
            call(substr, json!(["hello world", 1, 4])),
            Ok(json!("ello"))
        );
        assert_eq!(call(substr, json!(["🤔🤷", 0, 1])), Ok(json!("🤔")));
        assert_eq!(
            call(substr, json!(["hello world", -5, -1])),
            Ok(json!("world"))
        );
        assert_eq!(call(substr, json!(["hello", 3, -1])), Ok(json!("lo")));
        assert_eq!(call(substr, json!(["hello", 10, 2])), Ok(json!("")));
        assert_eq!(call(substr, json!(["hello", -10, 2])), Ok(json!("he")));
        assert_eq!(call(substr, json!(["hello", 1, 0])), Ok(json!("")));
        assert_eq!(call(substr, json!(["hello", 1, 100])), Ok(json!("ello")));
    }
}
