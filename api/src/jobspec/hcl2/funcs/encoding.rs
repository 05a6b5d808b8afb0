//! Encoding functions: base64, gzip, JSON, URL and the text-encoding pair. CSV and YAML live
//! in their own files.

use super::args::{err, exact, fmt_number, num, string, R};
use super::FuncError;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::Value;
use std::fmt::Write as _;
use std::io::Write as _;

/// JSON as cty writes it: compact, keys sorted, numbers in plain decimal, and `<`, `>`, `&`,
/// U+2028 and U+2029 escaped the way Go's encoder does.
pub(super) fn to_json(v: &Value) -> String {
    let mut out = String::new();
    write_json(v, &mut out);
    out
}

fn write_json(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&fmt_number(n)),
        Value::String(s) => write_json_str(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_str(k, out);
                out.push(':');
                write_json(item, out);
            }
            out.push('}');
        }
    }
}

fn write_json_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if c < ' ' || matches!(c, '<' | '>' | '&' | '\u{2028}' | '\u{2029}') => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Makes decoded numbers follow the crate-wide convention (1.0 is stored as 1).
pub(super) fn normalize(v: Value) -> Value {
    match v {
        Value::Number(n) if !n.is_i64() => n.as_f64().map_or(Value::Number(n), num),
        Value::Array(items) => Value::Array(items.into_iter().map(normalize).collect()),
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, normalize(v))).collect())
        }
        other => other,
    }
}

pub(super) fn jsonencode(a: &[Value]) -> R {
    exact(a, 1)?;
    Ok(Value::String(to_json(&a[0])))
}

pub(super) fn jsondecode(a: &[Value]) -> R {
    exact(a, 1)?;
    let text = string(a, 0)?;
    serde_json::from_str::<Value>(&text)
        .map(normalize)
        .map_err(|e| err(format!("invalid JSON: {e}")))
}

/// Go's StdEncoding, which skips line breaks inside the data.
fn decode_base64(text: &str) -> Result<Vec<u8>, FuncError> {
    let compact: String = text.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
    STANDARD
        .decode(compact.as_bytes())
        .map_err(|e| err(format!("failed to decode base64 data: {e}")))
}

pub(super) fn base64encode(a: &[Value]) -> R {
    exact(a, 1)?;
    Ok(Value::String(STANDARD.encode(string(a, 0)?)))
}

pub(super) fn base64decode(a: &[Value]) -> R {
    exact(a, 1)?;
    let bytes = decode_base64(&string(a, 0)?)?;
    String::from_utf8(bytes)
        .map(Value::String)
        .map_err(|_| err("the result of decoding the provided string is not valid UTF-8"))
}

pub(super) fn base64gzip(a: &[Value]) -> R {
    exact(a, 1)?;
    let text = string(a, 0)?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let zipped = gz
        .write_all(text.as_bytes())
        .and_then(|()| gz.finish())
        .map_err(|e| err(format!("failed to compress: {e}")))?;
    Ok(Value::String(STANDARD.encode(zipped)))
}

/// Go's url.QueryEscape: unreserved bytes stay, space becomes '+', the rest is %XX.
pub(super) fn urlencode(a: &[Value]) -> R {
    exact(a, 1)?;
    let mut out = String::new();
    for b in string(a, 0)?.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    Ok(Value::String(out))
}

/// Only UTF-8 is available: strings are already UTF-8, and other code pages would need
/// conversion tables this crate does not carry.
fn check_encoding(name: &str) -> Result<(), FuncError> {
    if name.eq_ignore_ascii_case("UTF-8") || name.eq_ignore_ascii_case("csUTF8") {
        Ok(())
    } else {
        Err(err(format!(
            "encoding {name:?} is not supported; only \"UTF-8\" is"
        )))
    }
}

pub(super) fn textencodebase64(a: &[Value]) -> R {
    exact(a, 2)?;
    let text = string(a, 0)?;
    check_encoding(&string(a, 1)?)?;
    Ok(Value::String(STANDARD.encode(text)))
}

pub(super) fn textdecodebase64(a: &[Value]) -> R {
    exact(a, 2)?;
    let bytes = decode_base64(&string(a, 0)?)?;
    check_encoding(&string(a, 1)?)?;
    String::from_utf8(bytes)
        .map(Value::String)
        .map_err(|_| err("the decoded bytes are not valid UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::io::Read as _;

    use crate::jobspec::hcl2::funcs::args::test_call as call;

    #[test]
    fn json_round_trip() {
        assert_eq!(call(jsonencode, json!(["hello"])), Ok(json!("\"hello\"")));
        assert_eq!(
            call(
                jsonencode,
                json!([{"hello": "world", "a": [1, 2.5, null, true]}])
            ),
            Ok(json!("{\"a\":[1,2.5,null,true],\"hello\":\"world\"}"))
        );
        assert_eq!(
            call(jsonencode, json!(["<&>\u{2028}\n"])),
            Ok(json!("\"\\u003c\\u0026\\u003e\\u2028\\n\""))
        );
        assert_eq!(
            call(jsonencode, json!([1e21])),
            Ok(json!("1000000000000000000000"))
        );
        assert_eq!(
            call(jsondecode, json!(["{\"hello\": \"world\"}"])),
            Ok(json!({"hello": "world"}))
        );
        assert_eq!(call(jsondecode, json!(["true"])), Ok(json!(true)));
        let one = call(jsondecode, json!(["[1.0, 2.5]"])).expect("valid JSON");
        assert!(one[0].is_i64());
        assert!(call(jsondecode, json!(["{"])).is_err());
        assert!(call(jsondecode, json!(["1 2"])).is_err());
    }

    #[test]
    fn base64_and_text() {
        assert_eq!(
            call(base64encode, json!(["Hello World"])),
            Ok(json!("SGVsbG8gV29ybGQ="))
        );
        assert_eq!(
            call(base64decode, json!(["SGVsbG8gV29ybGQ="])),
            Ok(json!("Hello World"))
        );
        assert_eq!(
            call(base64decode, json!(["SGVsbG8g\nV29ybGQ="])),
            Ok(json!("Hello World"))
        );
        assert_eq!(
            call(base64decode, json!(["YWJjMTIzIT8kKiYoKSctPUB+"])),
            Ok(json!("abc123!?$*&()'-=@~"))
        );
        assert!(call(base64decode, json!(["this-is-an-invalid-base64-data"])).is_err());
        assert!(call(base64decode, json!(["wyg="])).is_err()); // "\xc3\x28" is not UTF-8
        assert_eq!(
            call(textencodebase64, json!(["Hello World", "UTF-8"])),
            Ok(json!("SGVsbG8gV29ybGQ="))
        );
        assert_eq!(
            call(textdecodebase64, json!(["SGVsbG8gV29ybGQ=", "utf-8"])),
            Ok(json!("Hello World"))
        );
        assert_eq!(
            call(textencodebase64, json!(["x", "UTF-16LE"])),
            Err(err(
                "encoding \"UTF-16LE\" is not supported; only \"UTF-8\" is"
            ))
        );
    }

    #[test]
    fn gzip_round_trip() {
        let Ok(Value::String(b64)) = call(base64gzip, json!(["test"])) else {
            panic!("base64gzip failed")
        };
        let zipped = STANDARD.decode(b64).expect("valid base64");
        let mut text = String::new();
        flate2::read::GzDecoder::new(zipped.as_slice())
            .read_to_string(&mut text)
            .expect("valid gzip");
        assert_eq!(text, "test");
    }

    #[test]
    fn urlencode_like_go() {
        assert_eq!(
            call(urlencode, json!(["Hello World!"])),
            Ok(json!("Hello+World%21"))
        );
        assert_eq!(call(urlencode, json!(["abc123-_"])), Ok(json!("abc123-_")));
        assert_eq!(
            call(urlencode, json!(["foo:bar@localhost?foo=bar&bar=baz"])),
            Ok(json!("foo%3Abar%40localhost%3Ffoo%3Dbar%26bar%3Dbaz"))
        );
        assert_eq!(call(urlencode, json!(["☃"])), Ok(json!("%E2%98%83")));
    }
}
