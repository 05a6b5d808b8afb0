//! YAML front-end: `yaml-rust2`'s event stream (each event carries a line/column marker) -> the
//! positioned tree. A labelled block is a mapping from label to body; every mapping key becomes
//! an entry of form [`Form::Key`].

use super::tree::{Body, Entry, Form, Node, Pos, TreeError, Value};
use std::collections::HashMap;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Parses one YAML document into its root node (an empty document gives an empty map).
pub fn parse(src: &str) -> Result<Node, TreeError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(src);
    parser.load(&mut builder, false).map_err(|e| {
        TreeError::new(
            marker_pos(e.marker()),
            format!("YAML syntax error: {}", e.info()),
        )
    })?;
    if let Some(err) = builder.error {
        return Err(err);
    }
    Ok(builder.root.unwrap_or(Node {
        pos: Pos { line: 1, col: 1 },
        value: Value::Map(Body::default()),
    }))
}

fn marker_pos(m: &Marker) -> Pos {
    // yaml-rust2 counts lines from 1 and columns from 0.
    Pos {
        line: m.line(),
        col: m.col() + 1,
    }
}

/// A container being filled: a list, or a map waiting for a key or for the value of `key`.
enum Frame {
    List(Node),
    Map(Node, Option<(String, Pos)>),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    root: Option<Node>,
    anchors: HashMap<usize, Node>,
    /// Anchor ids of open containers, parallel to `stack` (0 = none).
    open_anchors: Vec<usize>,
    error: Option<TreeError>,
}

impl Builder {
    fn fail(&mut self, pos: Pos, msg: impl Into<String>) {
        if self.error.is_none() {
            self.error = Some(TreeError::new(pos, msg));
        }
    }

    /// Places a finished node into its parent (or makes it the root).
    fn push(&mut self, node: Node, anchor: usize) {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some(Frame::List(list)) => {
                if let Value::List(items) = &mut list.value {
                    items.push(node);
                }
            }
            Some(Frame::Map(map, pending)) => match pending.take() {
                None => match node.value {
                    Value::Str(key) => *pending = Some((key, node.pos)),
                    Value::Int(i) => *pending = Some((i.to_string(), node.pos)),
                    Value::Bool(b) => *pending = Some((b.to_string(), node.pos)),
                    _ => {
                        let pos = node.pos;
                        self.fail(pos, "mapping keys must be plain strings");
                    }
                },
                Some((key, pos)) => {
                    if let Value::Map(body) = &mut map.value {
                        body.entries.push(Entry {
                            key,
                            pos,
                            form: Form::Key,
                            labels: Vec::new(),
                            value: node,
                        });
                    }
                }
            },
        }
    }

    fn close(&mut self) {
        let anchor = self.open_anchors.pop().unwrap_or(0);
        match self.stack.pop() {
            Some(Frame::List(node)) | Some(Frame::Map(node, _)) => self.push(node, anchor),
            None => {}
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        let pos = marker_pos(&mark);
        match ev {
            Event::Scalar(text, style, anchor, _tag) => {
                let value = if style == TScalarStyle::Plain {
                    plain_scalar(text)
                } else {
                    Value::Str(text)
                };
                self.push(Node { pos, value }, anchor);
            }
            Event::SequenceStart(anchor, _) => {
                self.stack.push(Frame::List(Node {
                    pos,
                    value: Value::List(Vec::new()),
                }));
                self.open_anchors.push(anchor);
            }
            Event::MappingStart(anchor, _) => {
                self.stack.push(Frame::Map(
                    Node {
                        pos,
                        value: Value::Map(Body::default()),
                    },
                    None,
                ));
                self.open_anchors.push(anchor);
            }
            Event::SequenceEnd | Event::MappingEnd => self.close(),
            Event::Alias(id) => match self.anchors.get(&id).cloned() {
                Some(mut node) => {
                    node.pos = pos;
                    self.push(node, 0);
                }
                None => self.fail(pos, "alias to an unknown anchor"),
            },
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
    }
}

/// YAML 1.2 core schema resolution of an unquoted scalar.
fn plain_scalar(text: String) -> Value {
    match text.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Ok(i) = text.parse::<i64>() {
        return Value::Int(i);
    }
    let numeric = text
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'))
        && text.chars().any(|c| c.is_ascii_digit());
    if numeric {
        if let Ok(f) = text.parse::<f64>() {
            return Value::Float(f);
        }
    }
    Value::Str(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_positioned_maps() {
        let root = parse("a: 1\nb:\n  c: \"2\"\n  d: [x, true, 1.5]\n").unwrap();
        let Value::Map(body) = &root.value else {
            panic!()
        };
        assert_eq!(body.entries[0].key, "a");
        assert_eq!(body.entries[0].value.value, Value::Int(1));
        let Value::Map(b) = &body.entries[1].value.value else {
            panic!()
        };
        assert_eq!(b.entries[0].pos, Pos { line: 3, col: 3 });
        assert_eq!(b.entries[0].value.value, Value::Str("2".into()));
        let Value::List(items) = &b.entries[1].value.value else {
            panic!()
        };
        assert_eq!(items[1].value, Value::Bool(true));
        assert_eq!(items[2].value, Value::Float(1.5));
    }

    #[test]
    fn anchors_and_empty_documents() {
        let root = parse("a: &x {k: v}\nb: *x\n").unwrap();
        let Value::Map(body) = &root.value else {
            panic!()
        };
        assert_eq!(body.entries[0].value.value, body.entries[1].value.value);
        assert_eq!(parse("").unwrap().value, Value::Map(Body::default()));
    }

    #[test]
    fn syntax_errors_have_positions() {
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.message.starts_with("YAML syntax error"), "{err:?}");
        assert!(err.pos.line >= 1);
    }
}
