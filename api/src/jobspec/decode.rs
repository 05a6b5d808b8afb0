//! Typed reading of a positioned [`Body`]: the one place that knows how HCL blocks and YAML maps
//! line up, and that words "unknown key" and "wrong type" errors. The job decoder and the agent
//! config decoder are both written on top of it.

use super::suggest::did_you_mean;
use super::tree::{to_json, Body, Entry, Form, Label, Pos, TreeError, Value};
use std::collections::BTreeMap;
use std::time::Duration;

pub type Result<T> = std::result::Result<T, TreeError>;

/// A block (or map) body being decoded, with a description of it for messages, like
/// `group "web"`.
#[derive(Clone)]
pub struct Block<'a> {
    pub body: &'a Body,
    pub pos: Pos,
    pub what: String,
}

impl<'a> Block<'a> {
    pub fn new(body: &'a Body, pos: Pos, what: impl Into<String>) -> Self {
        Block {
            body,
            pos,
            what: what.into(),
        }
    }
}

/// A block body whose keys have been checked against a schema.
pub struct Fields<'a> {
    body: &'a Body,
    what: String,
    pos: Pos,
}

impl<'a> Fields<'a> {
    /// Checks every key of `body`: it must be one of `single` (at most once) or `repeated`.
    /// Unknown keys are reported with the nearest known name.
    pub fn new(block: Block<'a>, single: &[&str], repeated: &[&str]) -> Result<Fields<'a>> {
        let mut seen: BTreeMap<&str, Pos> = BTreeMap::new();
        for entry in &block.body.entries {
            let key = entry.key.as_str();
            if repeated.contains(&key) {
                continue;
            }
            if !single.contains(&key) {
                if let Some(msg) = super::nomad_keys::not_supported(key, &block.what) {
                    return Err(TreeError::new(entry.pos, msg));
                }
                let hint = did_you_mean(key, single.iter().chain(repeated).copied());
                return Err(TreeError::new(
                    entry.pos,
                    format!(
                        "unknown {} {key:?} in {}{hint}",
                        entry.form.word(),
                        block.what
                    ),
                ));
            }
            if let Some(first) = seen.insert(key, entry.pos) {
                return Err(TreeError::new(
                    entry.pos,
                    format!(
                        "{key:?} is set twice in {} (first at line {})",
                        block.what, first.line
                    ),
                ));
            }
        }
        Ok(Fields {
            body: block.body,
            what: block.what,
            pos: block.pos,
        })
    }

    /// What this body is, for messages (`group "web"`).
    pub fn what(&self) -> &str {
        &self.what
    }

    /// Where the block starts.
    pub fn pos(&self) -> Pos {
        self.pos
    }

    pub fn get(&self, key: &str) -> Option<&'a Entry> {
        self.body.entries.iter().find(|e| e.key == key)
    }

    pub fn all(&self, key: &'a str) -> impl Iterator<Item = &'a Entry> + 'a {
        self.body.entries.iter().filter(move |e| e.key == key)
    }

    fn err(&self, entry: &Entry, expected: &str) -> TreeError {
        TreeError::new(
            entry.value.pos,
            format!(
                "{:?} in {} must be {expected}, found {}",
                entry.key,
                self.what,
                entry.value.value.kind()
            ),
        )
    }

    /// A string. Numbers and bools are accepted and written out, as HCL converts them.
    pub fn string(&self, key: &str) -> Result<Option<String>> {
        let Some(e) = self.get(key) else {
            return Ok(None);
        };
        scalar_string(&e.value.value)
            .map(Some)
            .ok_or_else(|| self.err(e, "a string"))
    }

    pub fn int(&self, key: &str) -> Result<Option<i64>> {
        let Some(e) = self.get(key) else {
            return Ok(None);
        };
        match &e.value.value {
            Value::Int(i) => Ok(Some(*i)),
            Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Some(*f as i64)),
            // HCL2 converts a string holding a number where a number is wanted; Nomad job
            // files write `priority = "100"` and `static = "53"`.
            Value::Str(s) => s
                .trim()
                .parse::<i64>()
                .map(Some)
                .map_err(|_| self.err(e, "a whole number")),
            _ => Err(self.err(e, "a whole number")),
        }
    }

    /// A whole number that must fit the target type (ports, counts).
    pub fn int_as<T: TryFrom<i64>>(&self, key: &str) -> Result<Option<T>> {
        let Some(v) = self.int(key)? else {
            return Ok(None);
        };
        match T::try_from(v) {
            Ok(t) => Ok(Some(t)),
            Err(_) => {
                let pos = self.get(key).map_or(self.pos, |e| e.value.pos);
                Err(TreeError::new(
                    pos,
                    format!("{key:?} in {}: {v} is out of range", self.what),
                ))
            }
        }
    }

    pub fn bool(&self, key: &str) -> Result<Option<bool>> {
        let Some(e) = self.get(key) else {
            return Ok(None);
        };
        match &e.value.value {
            Value::Bool(b) => Ok(Some(*b)),
            Value::Str(s) if s == "true" => Ok(Some(true)),
            Value::Str(s) if s == "false" => Ok(Some(false)),
            _ => Err(self.err(e, "true or false")),
        }
    }

    /// A Go-style duration string ("10s", "1h30m"). A bare number is refused: its unit would be
    /// a guess.
    pub fn duration(&self, key: &str) -> Result<Option<Duration>> {
        let Some(e) = self.get(key) else {
            return Ok(None);
        };
        match &e.value.value {
            Value::Str(s) => crate::duration::parse_duration(s)
                .map(Some)
                .map_err(|m| TreeError::new(e.value.pos, format!("{key:?} in {}: {m}", self.what))),
            _ => Err(self.err(e, "a duration string like \"10s\"")),
        }
    }

    /// A list of strings.
    pub fn strings(&self, key: &str) -> Result<Option<Vec<String>>> {
        let Some(e) = self.get(key) else {
            return Ok(None);
        };
        let Value::List(items) = &e.value.value else {
            return Err(self.err(e, "a list of strings"));
        };
        items
            .iter()
            .map(|n| {
                scalar_string(&n.value).ok_or_else(|| {
                    TreeError::new(
                        n.pos,
                        format!(
                            "items of {key:?} in {} must be strings, found {}",
                            self.what,
                            n.value.kind()
                        ),
                    )
                })
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    /// A map of strings, written as a block (`env { A = "1" }`) or a map attribute
    /// (`env = { A = "1" }`).
    pub fn string_map(&self, key: &str) -> Result<Option<BTreeMap<String, String>>> {
        let Some(e) = self.get(key) else {
            return Ok(None);
        };
        let Value::Map(body) = &e.value.value else {
            return Err(self.err(e, "a block or map of strings"));
        };
        let mut out = BTreeMap::new();
        for item in &body.entries {
            let v = scalar_string(&item.value.value).ok_or_else(|| {
                TreeError::new(
                    item.value.pos,
                    format!(
                        "{:?} in the {key} of {} must be a string, found {}",
                        item.key,
                        self.what,
                        item.value.value.kind()
                    ),
                )
            })?;
            out.insert(item.key.clone(), v);
        }
        Ok(Some(out))
    }

    /// A free-form map (driver `config`), nested blocks turned into JSON objects.
    pub fn json_map(&self, key: &str) -> Result<Option<BTreeMap<String, serde_json::Value>>> {
        let Some(e) = self.get(key) else {
            return Ok(None);
        };
        match to_json(&e.value) {
            serde_json::Value::Object(m) => Ok(Some(m.into_iter().collect())),
            _ => Err(self.err(e, "a block or map")),
        }
    }

    /// A block that may appear at most once.
    pub fn block(&self, key: &str, what: &str) -> Result<Option<Block<'a>>> {
        let Some(e) = self.get(key) else {
            return Ok(None);
        };
        self.unlabelled(e, what).map(Some)
    }

    fn unlabelled(&self, e: &'a Entry, what: &str) -> Result<Block<'a>> {
        if let Some(l) = e.labels.first() {
            return Err(TreeError::new(
                l.pos,
                format!("block {:?} in {} takes no label", e.key, self.what),
            ));
        }
        match &e.value.value {
            Value::Map(body) => Ok(Block::new(body, e.value.pos, what)),
            _ => Err(self.err(e, "a block")),
        }
    }

    /// A repeatable block without label (`constraint`, `artifact`): HCL repeats the block; YAML
    /// writes a list of maps, or one map.
    pub fn blocks(&self, key: &'a str, what: &str) -> Result<Vec<Block<'a>>> {
        let mut out = Vec::new();
        for e in self.all(key) {
            match &e.value.value {
                Value::List(items) if e.form != Form::Block => {
                    for item in items {
                        match &item.value {
                            Value::Map(body) => out.push(Block::new(body, item.pos, what)),
                            other => {
                                return Err(TreeError::new(
                                    item.pos,
                                    format!(
                                        "items of {key:?} in {} must be blocks or maps, found {}",
                                        self.what,
                                        other.kind()
                                    ),
                                ))
                            }
                        }
                    }
                }
                _ => out.push(self.unlabelled(e, what)?),
            }
        }
        Ok(out)
    }

    /// A repeatable block with one label (`group "web" {}`): HCL repeats the block; YAML writes
    /// a map from label to body.
    pub fn labelled(&self, key: &'a str) -> Result<Vec<(Label, &'a Body, Pos)>> {
        let mut out = Vec::new();
        for e in self.all(key) {
            match (e.form, e.labels.as_slice(), &e.value.value) {
                (Form::Block, [label], Value::Map(body)) => {
                    out.push((label.clone(), body, e.value.pos))
                }
                (Form::Block, [], _) => {
                    return Err(TreeError::new(
                        e.pos,
                        format!(
                            "block {key:?} in {} needs a name: {key} \"name\" {{ ... }}",
                            self.what
                        ),
                    ))
                }
                (Form::Block, [_, extra, ..], _) => {
                    return Err(TreeError::new(
                        extra.pos,
                        format!("block {key:?} in {} takes exactly one label", self.what),
                    ))
                }
                (_, _, Value::Map(labels)) => {
                    for item in &labels.entries {
                        let Value::Map(body) = &item.value.value else {
                            return Err(TreeError::new(
                                item.value.pos,
                                format!(
                                    "{key} {:?} in {} must be a block or map, found {}",
                                    item.key,
                                    self.what,
                                    item.value.value.kind()
                                ),
                            ));
                        };
                        let label = Label {
                            name: item.key.clone(),
                            pos: item.pos,
                        };
                        out.push((label, body, item.value.pos));
                    }
                }
                _ => return Err(self.err(e, "a map from name to block")),
            }
        }
        Ok(out)
    }
}

/// Scalars as text, the way HCL converts numbers and bools to strings.
fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::Str(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        Value::Float(f) => Some(f.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null | Value::List(_) | Value::Map(_) => None,
    }
}

/// The description of a labelled block for messages: `group "web"`.
pub fn describe(kind: &str, label: &str) -> String {
    format!("{kind} {label:?}")
}
