//! `yamldecode` and `yamlencode` over yaml-rust2. Decoding listens to the parser's events
//! rather than using YamlLoader so that aliases are expanded against a node budget (a
//! "billion laughs" document fails instead of exhausting memory) and nesting is bounded.

use super::args::{err, exact, fmt_number, num, string, R};
use super::FuncError;
use serde_json::{Map, Value};
use std::collections::HashMap;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};
use yaml_rust2::{Yaml, YamlEmitter};

/// Total nodes a document may expand to, aliases included.
const MAX_NODES: usize = 1_000_000;
const MAX_DEPTH: usize = 256;

enum Frame {
    List(Vec<Value>, usize),
    Map(Map<String, Value>, Option<String>, usize),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    docs: Vec<Value>,
    anchors: HashMap<usize, Value>,
    nodes: usize,
    /// `docs.len()` when the current document started, to notice empty documents.
    doc_start: usize,
    error: Option<String>,
}

fn size(v: &Value) -> usize {
    match v {
        Value::Array(items) => 1 + items.iter().map(size).sum::<usize>(),
        Value::Object(map) => 1 + map.values().map(size).sum::<usize>(),
        _ => 1,
    }
}

/// A scalar under YAML 1.2 core-schema rules; quoted scalars and `!!str` are always strings.
fn scalar(text: String, style: TScalarStyle, tag: Option<&Tag>) -> Result<Value, String> {
    let core = tag
        .filter(|t| t.handle == "tag:yaml.org,2002:")
        .map(|t| t.suffix.as_str());
    if style != TScalarStyle::Plain || core == Some("str") || (tag.is_some() && core.is_none()) {
        return Ok(Value::String(text));
    }
    let parsed = match Yaml::from_str(&text) {
        Yaml::Integer(i) => Value::from(i),
        Yaml::Real(r) => match Yaml::Real(r).as_f64() {
            Some(f) if f.is_finite() => num(f),
            _ => return Err(format!("cannot represent {text:?} as a number")),
        },
        Yaml::Boolean(b) => Value::Bool(b),
        Yaml::Null => Value::Null,
        _ => Value::String(text.clone()),
    };
    let fits = match core {
        None => true,
        Some("int") => parsed.is_i64(),
        Some("float") => parsed.is_number(),
        Some("bool") => parsed.is_boolean(),
        Some("null") => parsed.is_null(),
        Some(_) => true,
    };
    if fits {
        Ok(parsed)
    } else {
        Err(format!(
            "cannot decode {text:?} as !!{}",
            core.unwrap_or_default()
        ))
    }
}

impl Builder {
    fn push(&mut self, v: Value, anchor: usize) -> Result<(), String> {
        if anchor != 0 {
            self.anchors.insert(anchor, v.clone());
        }
        match self.stack.last_mut() {
            None => self.docs.push(v),
            Some(Frame::List(items, _)) => items.push(v),
            Some(Frame::Map(map, key, _)) => match key.take() {
                Some(k) => {
                    map.insert(k, v);
                }
                None => {
                    *key = Some(match v {
                        Value::String(s) => s,
                        Value::Number(n) => fmt_number(&n),
                        Value::Bool(b) => b.to_string(),
                        Value::Null => "null".to_string(),
                        _ => return Err("mapping keys must be scalars".to_string()),
                    });
                }
            },
        }
        Ok(())
    }

    fn event(&mut self, ev: Event) -> Result<(), String> {
        self.nodes += 1;
        match ev {
            Event::SequenceStart(anchor, _) => self.stack.push(Frame::List(Vec::new(), anchor)),
            Event::MappingStart(anchor, _) => self.stack.push(Frame::Map(Map::new(), None, anchor)),
            Event::SequenceEnd | Event::MappingEnd => match self.stack.pop() {
                Some(Frame::List(items, anchor)) => self.push(Value::Array(items), anchor)?,
                Some(Frame::Map(map, _, anchor)) => self.push(Value::Object(map), anchor)?,
                None => return Err("unbalanced document".to_string()),
            },
            Event::Scalar(text, style, anchor, tag) => {
                self.push(scalar(text, style, tag.as_ref())?, anchor)?
            }
            Event::Alias(id) => {
                let v = self.anchors.get(&id).cloned().ok_or("unknown alias")?;
                self.nodes += size(&v);
                self.push(v, 0)?;
            }
            Event::DocumentStart => self.doc_start = self.docs.len(),
            Event::DocumentEnd if self.docs.len() == self.doc_start => {
                // A document without content is null.
                self.docs.push(Value::Null);
            }
            _ => {}
        }
        if self.nodes > MAX_NODES {
            return Err(format!(
                "the document expands to more than {MAX_NODES} nodes"
            ));
        }
        if self.stack.len() > MAX_DEPTH {
            return Err(format!(
                "the document is nested more than {MAX_DEPTH} levels deep"
            ));
        }
        Ok(())
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, _mark: Marker) {
        if self.error.is_none() {
            self.error = self.event(ev).err();
        }
    }
}

pub(super) fn yamldecode(a: &[Value]) -> R {
    exact(a, 1)?;
    let text = string(a, 0)?;
    let mut builder = Builder::default();
    Parser::new_from_str(&text)
        .load(&mut builder, true)
        .map_err(|e| err(format!("invalid YAML: {e}")))?;
    if let Some(e) = builder.error {
        return Err(err(format!("invalid YAML: {e}")));
    }
    let docs = builder.docs;
    match docs.len() {
        0 => Ok(Value::Null),
        1 => Ok(docs.into_iter().next().unwrap_or_default()),
        _ => Err(err("the YAML text contains more than one document")),
    }
}

fn to_yaml(v: &Value) -> Yaml {
    match v {
        Value::Null => Yaml::Null,
        Value::Bool(b) => Yaml::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Yaml::Integer(i),
            None => Yaml::Real(fmt_number(n)),
        },
        Value::String(s) => Yaml::String(s.clone()),
        Value::Array(items) => Yaml::Array(items.iter().map(to_yaml).collect()),
        Value::Object(map) => Yaml::Hash(
            map.iter()
                .map(|(k, v)| (Yaml::String(k.clone()), to_yaml(v)))
                .collect(),
        ),
    }
}

/// Block-style YAML without the leading "---", ending in a newline like cty's encoder.
pub(super) fn yamlencode(a: &[Value]) -> R {
    exact(a, 1)?;
    let mut out = String::new();
    YamlEmitter::new(&mut out)
        .dump(&to_yaml(&a[0]))
        .map_err(|e| FuncError::Failed(format!("cannot encode as YAML: {e:?}")))?;
    let body = out
        .strip_prefix("---\n")
        .or_else(|| out.strip_prefix("---"))
        .unwrap_or(&out);
    Ok(Value::String(format!("{}\n", body.trim_start_matches(' '))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decode(text: &str) -> R {
        yamldecode(&[json!(text)])
    }

    fn encode(v: Value) -> R {
        yamlencode(&[v])
    }

    #[test]
    fn decodes_documented_examples() {
        assert_eq!(decode("hello: world"), Ok(json!({"hello": "world"})));
        assert_eq!(decode("true"), Ok(json!(true)));
        assert_eq!(
            decode("{a: &foo [1, 2, 3], b: *foo}"),
            Ok(json!({"a": [1, 2, 3], "b": [1, 2, 3]}))
        );
        assert_eq!(
            decode("- 1.5\n- '2'\n- ~\n- !!str 3\n- 0x10"),
            Ok(json!([1.5, "2", null, "3", 16]))
        );
        assert_eq!(decode(""), Ok(json!(null)));
        assert_eq!(
            decode("1: one\ntrue: yes"),
            Ok(json!({"1": "one", "true": "yes"}))
        );
    }

    #[test]
    fn decode_errors() {
        assert!(decode("a: 1\n---\nb: 2\n").is_err());
        assert!(decode("a: [1, 2").is_err());
        assert!(decode("{[1]: 2}").is_err());
        assert!(decode("!!int abc").is_err());
        // Each level doubles the previous one: 2^30 nodes if expanded.
        let mut bomb = String::from("a0: &a0 [x, x]\n");
        for i in 1..30 {
            bomb.push_str(&format!("a{i}: &a{i} [*a{}, *a{}]\n", i - 1, i - 1));
        }
        assert!(decode(&bomb).is_err());
        assert!(decode(&"[".repeat(1000)).is_err());
    }

    #[test]
    fn encodes_and_round_trips() {
        assert_eq!(
            encode(json!({"a": "b", "c": "d"})),
            Ok(json!("a: b\nc: d\n"))
        );
        assert_eq!(encode(json!("hello")), Ok(json!("hello\n")));
        assert_eq!(encode(json!(null)), Ok(json!("~\n")));
        let v = json!({"bar": "baz", "foo": [1, {"a": "b", "c": "d"}, 3], "s": ["true", "1", "", "x: y"], "f": 1.5});
        let Ok(Value::String(text)) = encode(v.clone()) else {
            panic!("yamlencode failed")
        };
        assert_eq!(decode(&text), Ok(v));
    }
}
