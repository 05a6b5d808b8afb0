//! The positioned generic tree that every front-end (HCL, YAML) produces and one decoder reads.
//!
//! It keeps just enough of the source to decode a job or an agent config and to point at the
//! offending line and column when something is wrong: values, the keys that name them, block
//! labels, and where each one was written.

/// A place in the source file, both 1-based. Columns count characters, not bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

/// How an entry was written; only used to word error messages the way the user wrote the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// HCL `key = value`.
    Attribute,
    /// HCL `key "label" { ... }`.
    Block,
    /// A YAML mapping key.
    Key,
}

impl Form {
    pub fn word(self) -> &'static str {
        match self {
            Form::Attribute => "attribute",
            Form::Block => "block",
            Form::Key => "key",
        }
    }
}

/// A block label (`group "web"` has the label `web`).
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    pub name: String,
    pub pos: Pos,
}

/// One `key = value` or `key "label" { body }` in a body. A block's value is a `Value::Map`.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub pos: Pos,
    pub form: Form,
    pub labels: Vec<Label>,
    pub value: Node,
}

/// An ordered list of entries; keys may repeat (repeated blocks).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Body {
    pub entries: Vec<Entry>,
}

/// A value and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub pos: Pos,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<Node>),
    Map(Body),
}

impl Value {
    /// What the value is, for "expected X, found Y" messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a bool",
            Value::Int(_) | Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::List(_) => "a list",
            Value::Map(_) => "a block or map",
        }
    }
}

/// A problem found while building or decoding the tree; the caller adds the file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeError {
    pub pos: Pos,
    pub message: String,
}

impl TreeError {
    pub fn new(pos: Pos, message: impl Into<String>) -> Self {
        TreeError {
            pos,
            message: message.into(),
        }
    }
}

/// Maps byte offsets of a source text to line and column.
pub struct LineIndex<'a> {
    src: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub fn new(src: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(src.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { src, starts }
    }

    pub fn pos(&self, offset: usize) -> Pos {
        let offset = offset.min(self.src.len());
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self.starts[line - 1];
        let col = self
            .src
            .get(start..offset)
            .map(|s| s.chars().count())
            .unwrap_or(offset - start);
        Pos { line, col: col + 1 }
    }
}

/// Converts a value to JSON for free-form maps (driver `config`, plugin config). Nested blocks
/// become objects; a block written several times becomes an array; a labelled block nests its
/// body under its labels.
pub fn to_json(node: &Node) -> serde_json::Value {
    use serde_json::Value as J;
    match &node.value {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Int(i) => J::from(*i),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        Value::Str(s) => J::String(s.clone()),
        Value::List(items) => J::Array(items.iter().map(to_json).collect()),
        Value::Map(body) => J::Object(body_to_json(body)),
    }
}

/// See [`to_json`].
pub fn body_to_json(body: &Body) -> serde_json::Map<String, serde_json::Value> {
    use serde_json::Value as J;
    let mut out = serde_json::Map::new();
    for entry in &body.entries {
        let mut value = to_json(&entry.value);
        for label in entry.labels.iter().rev() {
            let mut m = serde_json::Map::new();
            m.insert(label.name.clone(), value);
            value = J::Object(m);
        }
        let repeated_block = entry.form == Form::Block;
        match out.get_mut(&entry.key) {
            Some(J::Array(items)) if repeated_block => items.push(value),
            Some(existing) if repeated_block => {
                let first = existing.take();
                *existing = J::Array(vec![first, value]);
            }
            _ => {
                out.insert(entry.key.clone(), value);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_index_counts_from_one() {
        let idx = LineIndex::new("ab\ncdé\nx");
        assert_eq!(idx.pos(0), Pos { line: 1, col: 1 });
        assert_eq!(idx.pos(3), Pos { line: 2, col: 1 });
        assert_eq!(idx.pos(7), Pos { line: 2, col: 4 });
        assert_eq!(idx.pos(8), Pos { line: 3, col: 1 });
    }
}
