//! `csvdecode`: RFC 4180 as Go's encoding/csv reads it (blank lines skipped, `""` escapes,
//! CRLF accepted, every record as wide as the header).

use super::args::{err, exact, string, R};
use super::FuncError;
use serde_json::{Map, Value};

struct Reader<'a> {
    rest: &'a str,
    line: usize,
}

impl Reader<'_> {
    fn fail(&self, why: &str) -> FuncError {
        err(format!("CSV parse error on line {}: {why}", self.line))
    }

    fn take_newline(&mut self) -> bool {
        for nl in ["\r\n", "\n"] {
            if let Some(rest) = self.rest.strip_prefix(nl) {
                self.rest = rest;
                self.line += 1;
                return true;
            }
        }
        false
    }

    /// Reads one record, or None at the end of the input.
    fn record(&mut self) -> Result<Option<Vec<String>>, FuncError> {
        while self.take_newline() {}
        if self.rest.is_empty() {
            return Ok(None);
        }
        let mut fields = Vec::new();
        loop {
            fields.push(if self.rest.starts_with('"') {
                self.quoted()?
            } else {
                let end = self.rest.find([',', '\n']).unwrap_or(self.rest.len());
                let mut field = &self.rest[..end];
                if end < self.rest.len() && self.rest[end..].starts_with('\n') {
                    field = field.strip_suffix('\r').unwrap_or(field);
                }
                if field.contains('"') {
                    return Err(self.fail("bare \" in non-quoted-field"));
                }
                self.rest = &self.rest[end..];
                field.to_string()
            });
            if let Some(rest) = self.rest.strip_prefix(',') {
                self.rest = rest;
                continue;
            }
            self.take_newline();
            return Ok(Some(fields));
        }
    }

    fn quoted(&mut self) -> Result<String, FuncError> {
        let mut field = String::new();
        let mut rest = &self.rest[1..];
        loop {
            let Some(q) = rest.find('"') else {
                return Err(self.fail("extraneous or missing \" in quoted-field"));
            };
            let chunk = &rest[..q];
            self.line += chunk.matches('\n').count();
            field.push_str(&chunk.replace("\r\n", "\n"));
            rest = &rest[q + 1..];
            if let Some(after) = rest.strip_prefix('"') {
                field.push('"');
                rest = after;
                continue;
            }
            if rest.is_empty() || rest.starts_with([',', '\n']) || rest.starts_with("\r\n") {
                self.rest = rest;
                return Ok(field);
            }
            return Err(self.fail("extraneous or missing \" in quoted-field"));
        }
    }
}

pub(super) fn csvdecode(a: &[Value]) -> R {
    exact(a, 1)?;
    let text = string(a, 0)?;
    let mut reader = Reader {
        rest: &text,
        line: 1,
    };
    let Some(header) = reader.record()? else {
        return Err(err("missing header line"));
    };
    for (i, name) in header.iter().enumerate() {
        if header[..i].contains(name) {
            return Err(err(format!("duplicate column name {name:?}")));
        }
    }
    let mut rows = Vec::new();
    loop {
        let line = reader.line;
        let Some(fields) = reader.record()? else {
            break;
        };
        if fields.len() != header.len() {
            return Err(err(format!(
                "CSV parse error on line {line}: wrong number of fields"
            )));
        }
        let row: Map<String, Value> = header
            .iter()
            .cloned()
            .zip(fields.into_iter().map(Value::String))
            .collect();
        rows.push(Value::Object(row));
    }
    Ok(Value::Array(rows))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decode(text: &str) -> R {
        csvdecode(&[json!(text)])
    }

    #[test]
    fn terraform_example() {
        assert_eq!(
            decode("a,b,c\n1,2,3\n4,5,6"),
            Ok(json!([{"a": "1", "b": "2", "c": "3"}, {"a": "4", "b": "5", "c": "6"}]))
        );
    }

    #[test]
    fn quoting_and_line_endings() {
        assert_eq!(
            decode("name,note\r\n\"Smith, J\",\"said \"\"hi\"\"\r\nthen left\"\r\n\r\nx,\"\"\r\n"),
            Ok(json!([
                {"name": "Smith, J", "note": "said \"hi\"\nthen left"},
                {"name": "x", "note": ""}
            ]))
        );
        assert_eq!(decode("a,b\n"), Ok(json!([])));
        assert_eq!(decode("a,b\n,\n"), Ok(json!([{"a": "", "b": ""}])));
    }

    #[test]
    fn errors() {
        assert_eq!(decode(""), Err(err("missing header line")));
        assert_eq!(decode("a,a\n1,2"), Err(err("duplicate column name \"a\"")));
        assert_eq!(
            decode("a,b\n1,2\n3"),
            Err(err("CSV parse error on line 3: wrong number of fields"))
        );
        assert!(decode("a\nx\"y\n").is_err());
        assert!(decode("a\n\"unterminated\n").is_err());
        assert!(decode("a\n\"x\"y\n").is_err());
    }
}
