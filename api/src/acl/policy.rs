//! Nomad's ACL policy language: HCL rules text -> a typed [`Policy`].
//!
//! Reference: Nomad's "ACL Policy Specification"
//! (developer.hashicorp.com/nomad/docs/other-specifications/acl-policy). Only the rules this
//! orchestrator can enforce are accepted: `namespace` (with its `variables` block), `node`,
//! `agent` and `operator`. Everything else (`host_volume`, `plugin`, `quota`, unknown keys or
//! values) is
//! an error with its line and column, because a rule that is accepted but not enforced would
//! silently grant or withhold access the operator did not intend.

use super::types::{Capability, VariableCapability};
use super::{Level, NamespacePolicy};
use crate::jobspec::hcl;
use crate::jobspec::suggest::did_you_mean;
use crate::jobspec::tree::{Body, Entry, Form, Node, Pos, Value};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// One `namespace "NAME" { ... }` block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespaceRule {
    /// An exact namespace name, or a glob where `*` matches any run of characters.
    pub name: String,
    /// The `policy` as written, kept so the rule can be shown back to the operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<NamespacePolicy>,
    /// The written `capabilities` plus the expansion of `policy`.
    #[serde(default)]
    pub capabilities: BTreeSet<Capability>,
    /// The `variables` block: path (exact, or a glob) -> capabilities, `write` and `read`
    /// already expanded to include `list`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub variables: BTreeMap<String, BTreeSet<VariableCapability>>,
}

/// A parsed policy: what one `AclPolicy.Rules` text grants. Stored in raft state next to the
/// rules text so that tokens are resolved without reparsing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// In the order written; labels are unique within one policy.
    #[serde(default)]
    pub namespaces: Vec<NamespaceRule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<Level>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<Level>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<Level>,
}

/// Why a rules text was refused. Displays as `line L, col C: message`, or just the message
/// when it concerns the whole text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct PolicyError {
    /// 1-based; 0 when the error has no position.
    pub line: usize,
    /// 1-based; 0 when the error has no position.
    pub col: usize,
    pub message: String,
}

impl PolicyError {
    fn at(pos: Pos, message: impl Into<String>) -> Self {
        PolicyError {
            line: pos.line,
            col: pos.col,
            message: message.into(),
        }
    }

    fn render(&self) -> String {
        if self.line == 0 {
            self.message.clone()
        } else {
            format!("line {}, col {}: {}", self.line, self.col, self.message)
        }
    }
}

/// Rule blocks of Nomad's language that this orchestrator does not enforce.
const UNSUPPORTED_RULES: &[&str] = &["host_volume", "plugin", "quota", "node_pool"];
const KNOWN_RULES: &[&str] = &["namespace", "node", "agent", "operator"];

/// Parses a policy's rules text (HCL). See the module documentation for what is accepted.
pub fn parse_policy(rules: &str) -> Result<Policy, PolicyError> {
    if rules.trim_start().starts_with('{') {
        // Nomad's HCL 1 parser also reads JSON; ours does not, so say so plainly rather than
        // report a confusing syntax error.
        return Err(PolicyError::at(
            Pos { line: 1, col: 1 },
            "JSON policy rules are not supported; write the rules in HCL",
        ));
    }
    let body = hcl::parse(rules).map_err(|e| PolicyError::at(e.pos, e.message))?;
    let mut policy = Policy::default();
    for entry in &body.entries {
        match entry.key.as_str() {
            "namespace" => {
                let rule = namespace_rule(entry)?;
                if policy.namespaces.iter().any(|r| r.name == rule.name) {
                    return Err(PolicyError::at(
                        entry.pos,
                        format!("duplicate namespace rule {:?}", rule.name),
                    ));
                }
                policy.namespaces.push(rule);
            }
            "node" => set_level(&mut policy.node, entry)?,
            "agent" => set_level(&mut policy.agent, entry)?,
            "operator" => set_level(&mut policy.operator, entry)?,
            key if UNSUPPORTED_RULES.contains(&key) => return Err(not_supported(entry)),
            key => {
                return Err(PolicyError::at(
                    entry.pos,
                    format!(
                        "unknown rule {key:?}{}",
                        did_you_mean(key, KNOWN_RULES.iter().copied())
                    ),
                ))
            }
        }
    }
    // As in Nomad: a policy must grant or deny something, or it is almost certainly a mistake.
    if policy == Policy::default() {
        return Err(PolicyError::at(Pos::default(), "policy has no rules"));
    }
    Ok(policy)
}

fn not_supported(entry: &Entry) -> PolicyError {
    PolicyError::at(
        entry.pos,
        format!("{:?} rules are not supported", entry.key),
    )
}

/// The body of a block entry, refusing `key = { ... }` and labels where none belong.
fn block_body(entry: &Entry, labels: usize) -> Result<&Body, PolicyError> {
    let Value::Map(body) = &entry.value.value else {
        return Err(PolicyError::at(
            entry.pos,
            format!("{:?} must be a block", entry.key),
        ));
    };
    if entry.form != Form::Block {
        return Err(PolicyError::at(
            entry.pos,
            format!("{:?} must be a block", entry.key),
        ));
    }
    if entry.labels.len() != labels {
        let pos = entry.labels.get(labels).map_or(entry.pos, |l| l.pos);
        let want = match labels {
            0 => format!("{:?} takes no label", entry.key),
            _ => format!("{:?} needs one label, the namespace name", entry.key),
        };
        return Err(PolicyError::at(pos, want));
    }
    Ok(body)
}

fn namespace_rule(entry: &Entry) -> Result<NamespaceRule, PolicyError> {
    let body = block_body(entry, 1)?;
    let label = &entry.labels[0];
    if !valid_namespace_glob(&label.name) {
        return Err(PolicyError::at(
            label.pos,
            format!(
                "invalid namespace {:?}: use 1 to 128 letters, digits, '-' or '*'",
                label.name
            ),
        ));
    }
    let mut rule = NamespaceRule {
        name: label.name.clone(),
        policy: None,
        capabilities: BTreeSet::new(),
        variables: BTreeMap::new(),
    };
    let mut seen_variables = false;
    // hcl-edit already refuses a repeated attribute, so `policy` and `capabilities` come once.
    for e in &body.entries {
        match e.key.as_str() {
            "policy" => {
                let text = string(&e.value)?;
                let p = text.parse::<NamespacePolicy>().map_err(|_| {
                    let hint = if text == "list" {
                        " (\"list\" applies only to plugin rules)"
                    } else {
                        ""
                    };
                    PolicyError::at(
                        e.value.pos,
                        format!(
                            "unknown namespace policy {text:?}{hint}: use deny, read, write or scale"
                        ),
                    )
                })?;
                rule.capabilities.extend(p.capabilities());
                rule.policy = Some(p);
            }
            "capabilities" => {
                let Value::List(items) = &e.value.value else {
                    return Err(PolicyError::at(
                        e.value.pos,
                        format!(
                            "capabilities must be a list, found {}",
                            e.value.value.kind()
                        ),
                    ));
                };
                for item in items {
                    let text = string(item)?;
                    let cap = text.parse::<Capability>().map_err(|_| {
                        let names = Capability::ALL.iter().map(|c| c.as_str());
                        PolicyError::at(
                            item.pos,
                            format!("unknown capability {text:?}{}", did_you_mean(text, names)),
                        )
                    })?;
                    rule.capabilities.insert(cap);
                }
            }
            "variables" => {
                if std::mem::replace(&mut seen_variables, true) {
                    return Err(duplicate(e));
                }
                rule.variables = variables_rule(e)?;
            }
            key => {
                return Err(PolicyError::at(
                    e.pos,
                    format!(
                        "unknown key {key:?} in namespace {:?}{}",
                        rule.name,
                        did_you_mean(key, ["policy", "capabilities", "variables"])
                    ),
                ))
            }
        }
    }
    Ok(rule)
}

/// `variables { path "GLOB" { capabilities = [...] } ... }`.
fn variables_rule(
    entry: &Entry,
) -> Result<BTreeMap<String, BTreeSet<VariableCapability>>, PolicyError> {
    let body = block_body(entry, 0)?;
    let mut paths = BTreeMap::new();
    for e in &body.entries {
        if e.key != "path" {
            return Err(PolicyError::at(
                e.pos,
                format!(
                    "unknown key {:?} in variables{}",
                    e.key,
                    did_you_mean(&e.key, ["path"])
                ),
            ));
        }
        let body = block_body(e, 1)?;
        let label = &e.labels[0];
        if label.name.is_empty() {
            return Err(PolicyError::at(label.pos, "a variables path needs a label"));
        }
        let mut caps = BTreeSet::new();
        let mut seen = false;
        for attr in &body.entries {
            if attr.key != "capabilities" {
                return Err(PolicyError::at(
                    attr.pos,
                    format!(
                        "unknown key {:?} in path {:?}{}",
                        attr.key,
                        label.name,
                        did_you_mean(&attr.key, ["capabilities"])
                    ),
                ));
            }
            seen = true;
            let Value::List(items) = &attr.value.value else {
                return Err(PolicyError::at(
                    attr.value.pos,
                    format!(
                        "capabilities must be a list, found {}",
                        attr.value.value.kind()
                    ),
                ));
            };
            for item in items {
                let text = string(item)?;
                let cap = text.parse::<VariableCapability>().map_err(|_| {
                    let names = VariableCapability::ALL.iter().map(|c| c.as_str());
                    PolicyError::at(
                        item.pos,
                        format!(
                            "unknown variables capability {text:?}{}: use write, read, list, destroy or deny",
                            did_you_mean(text, names)
                        ),
                    )
                })?;
                caps.insert(cap);
                if matches!(cap, VariableCapability::Write | VariableCapability::Read) {
                    caps.insert(VariableCapability::List);
                }
            }
        }
        if !seen {
            return Err(PolicyError::at(
                e.pos,
                format!("path {:?} needs capabilities", label.name),
            ));
        }
        if paths.insert(label.name.clone(), caps).is_some() {
            return Err(PolicyError::at(
                label.pos,
                format!("duplicate variables path {:?}", label.name),
            ));
        }
    }
    Ok(paths)
}

/// Decodes a `node`/`agent`/`operator` block into its slot, which must still be empty.
fn set_level(slot: &mut Option<Level>, entry: &Entry) -> Result<(), PolicyError> {
    if slot.is_some() {
        return Err(duplicate(entry));
    }
    let body = block_body(entry, 0)?;
    for e in &body.entries {
        if e.key != "policy" {
            return Err(PolicyError::at(
                e.pos,
                format!("unknown key {:?} in {} rule", e.key, entry.key),
            ));
        }
        let text = string(&e.value)?;
        let level = text.parse::<Level>().map_err(|_| {
            PolicyError::at(
                e.value.pos,
                format!(
                    "unknown {} policy {text:?}: use deny, read or write",
                    entry.key
                ),
            )
        })?;
        *slot = Some(level);
    }
    if slot.is_none() {
        return Err(PolicyError::at(
            entry.pos,
            format!("{} rule needs a policy", entry.key),
        ));
    }
    Ok(())
}

fn duplicate(entry: &Entry) -> PolicyError {
    PolicyError::at(entry.pos, format!("duplicate {:?}", entry.key))
}

fn string(node: &Node) -> Result<&str, PolicyError> {
    match &node.value {
        Value::Str(s) => Ok(s),
        other => Err(PolicyError::at(
            node.pos,
            format!("expected a string, found {}", other.kind()),
        )),
    }
}

/// Nomad's rule for namespace labels in policies: namespace characters plus the `*` wildcard.
fn valid_namespace_glob(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '*')
}
