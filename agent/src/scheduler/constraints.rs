//! Constraint operators and `${...}` target resolution against a node, as Nomad documents them.

use super::version;
use api::{Constraint, Node};
use regex::Regex;
use std::cmp::Ordering;
use std::collections::HashMap;

pub const OP_DISTINCT_HOSTS: &str = "distinct_hosts";
pub const OP_DISTINCT_PROPERTY: &str = "distinct_property";

/// Resolves a constraint target against a node: `${attr.X}`, `${meta.X}`, `${node.unique.id}`,
/// `${node.unique.name}`, `${node.datacenter}`, `${node.class}`; anything else is a literal.
/// `None` means the node does not have that value.
pub fn resolve<'n>(target: &'n str, node: &'n Node) -> Option<&'n str> {
    let Some(inner) = target.strip_prefix("${").and_then(|t| t.strip_suffix('}')) else {
        return Some(target);
    };
    if let Some(key) = inner.strip_prefix("attr.") {
        return node.attributes.get(key).map(String::as_str);
    }
    if let Some(key) = inner.strip_prefix("meta.") {
        return node.meta.get(key).map(String::as_str);
    }
    match inner {
        "node.unique.id" => Some(&node.id),
        "node.unique.name" => Some(&node.name),
        "node.datacenter" => Some(&node.datacenter),
        "node.class" => Some(&node.node_class),
        _ => None,
    }
}

/// Checks constraints against nodes, caching compiled regular expressions for one evaluation.
#[derive(Default)]
pub struct Checker {
    regexes: HashMap<String, Option<Regex>>,
}

impl Checker {
    /// Whether the node satisfies the constraint. `distinct_hosts` and `distinct_property` depend
    /// on placements, not on the node alone: they pass here and are checked by the placer.
    pub fn check(&mut self, c: &Constraint, node: &Node) -> bool {
        let l = resolve(&c.l_target, node);
        let r = resolve(&c.r_target, node);
        match c.operand.as_str() {
            "" | "=" | "==" | "is" => matches!((l, r), (Some(a), Some(b)) if a == b),
            "!=" | "not" => l != r,
            "<" | "<=" | ">" | ">=" => match (l, r) {
                (Some(a), Some(b)) => {
                    let o = order(a, b);
                    match c.operand.as_str() {
                        "<" => o == Ordering::Less,
                        "<=" => o != Ordering::Greater,
                        ">" => o == Ordering::Greater,
                        _ => o != Ordering::Less,
                    }
                }
                _ => false,
            },
            "is_set" => l.is_some(),
            "is_not_set" => l.is_none(),
            "version" => matches!((l, r), (Some(a), Some(b)) if version::matches(a, b, false)),
            "semver" => matches!((l, r), (Some(a), Some(b)) if version::matches(a, b, true)),
            "regexp" => match (l, r) {
                (Some(a), Some(b)) => self.regex(b).is_some_and(|re| re.is_match(a)),
                _ => false,
            },
            "set_contains" | "set_contains_all" => match (l, r) {
                (Some(a), Some(b)) => {
                    let have: Vec<&str> = split_set(a).collect();
                    split_set(b).all(|want| have.contains(&want))
                }
                _ => false,
            },
            "set_contains_any" => match (l, r) {
                (Some(a), Some(b)) => {
                    let have: Vec<&str> = split_set(a).collect();
                    split_set(b).any(|want| have.contains(&want))
                }
                _ => false,
            },
            OP_DISTINCT_HOSTS | OP_DISTINCT_PROPERTY => true,
            // An operator we do not know can never be satisfied; job validation should have said so.
            _ => false,
        }
    }

    fn regex(&mut self, pattern: &str) -> Option<&Regex> {
        self.regexes
            .entry(pattern.to_string())
            .or_insert_with(|| Regex::new(pattern).ok())
            .as_ref()
    }
}

fn split_set(s: &str) -> impl Iterator<Item = &str> {
    s.split(',').map(str::trim).filter(|x| !x.is_empty())
}

/// Numeric order when both sides parse as numbers, lexical otherwise.
fn order(a: &str, b: &str) -> Ordering {
    if let (Ok(x), Ok(y)) = (a.trim().parse::<i64>(), b.trim().parse::<i64>()) {
        return x.cmp(&y);
    }
    if let (Ok(x), Ok(y)) = (a.trim().parse::<f64>(), b.trim().parse::<f64>()) {
        return x.partial_cmp(&y).unwrap_or(Ordering::Equal);
    }
    a.cmp(b)
}

/// Whether a datacenter matches one of the job's patterns ("dc1", "*", "eu-*", "dc?").
pub fn datacenter_matches(patterns: &[String], dc: &str) -> bool {
    patterns.iter().any(|p| glob(p.as_bytes(), dc.as_bytes()))
}

fn glob(p: &[u8], s: &[u8]) -> bool {
    match (p.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => glob(&p[1..], s) || (!s.is_empty() && glob(p, &s[1..])),
        (Some(b'?'), Some(_)) => glob(&p[1..], &s[1..]),
        (Some(a), Some(b)) if a == b => glob(&p[1..], &s[1..]),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node() -> Node {
        let mut n = Node {
            id: "node-1".into(),
            name: "client-1".into(),
            datacenter: "dc1".into(),
            node_class: "web".into(),
            ..Node::default()
        };
        for (k, v) in [
            ("kernel.name", "linux"),
            ("kernel.version", "5.10.0-28-amd64"),
            ("cpu.numcores", "8"),
            ("os.version", "12.4"),
            ("features", "a,b, c"),
        ] {
            n.attributes.insert(k.into(), v.into());
        }
        n.meta.insert("rack".into(), "r1".into());
        n
    }

    fn c(l: &str, op: &str, r: &str) -> Constraint {
        Constraint {
            l_target: l.into(),
            operand: op.into(),
            r_target: r.into(),
        }
    }

    #[test]
    fn operator_table() {
        let n = node();
        let mut ck = Checker::default();
        let cases = [
            (c("${attr.kernel.name}", "=", "linux"), true),
            (c("${attr.kernel.name}", "==", "windows"), false),
            (c("${attr.kernel.name}", "is", "linux"), true),
            (c("${attr.kernel.name}", "!=", "windows"), true),
            (c("${attr.missing}", "!=", "x"), true),
            (c("${attr.missing}", "=", "x"), false),
            (c("${attr.cpu.numcores}", ">", "4"), true),
            (c("${attr.cpu.numcores}", ">=", "10"), false),
            (c("${attr.cpu.numcores}", "<", "10"), true),
            (c("${attr.os.version}", "<=", "12.4"), true),
            (c("${node.class}", "<", "xyz"), true),
            (c("${attr.kernel.version}", "version", ">= 4.0, < 6"), true),
            (
                c("${attr.kernel.version}", "version", ">= 1.2, < 3.0.0"),
                false,
            ),
            (c("${attr.os.version}", "semver", ">= 12.0.0"), true),
            (c("${attr.kernel.name}", "regexp", "^lin.x$"), true),
            (c("${attr.kernel.name}", "regexp", "^win"), false),
            (c("${attr.kernel.name}", "regexp", "(unclosed"), false),
            (c("${attr.features}", "set_contains", "a,c"), true),
            (c("${attr.features}", "set_contains", "a,d"), false),
            (c("${attr.features}", "set_contains_any", "d,c"), true),
            (c("${attr.features}", "set_contains_any", "d,e"), false),
            (c("${attr.kernel.name}", "is_set", ""), true),
            (c("${attr.missing}", "is_set", ""), false),
            (c("${attr.missing}", "is_not_set", ""), true),
            (c("${meta.rack}", "=", "r1"), true),
            (c("${node.unique.id}", "=", "node-1"), true),
            (c("${node.unique.name}", "=", "client-1"), true),
            (c("${node.datacenter}", "=", "dc1"), true),
            (c("${node.datacenter}", "bogus", "dc1"), false),
        ];
        for (con, want) in cases {
            assert_eq!(ck.check(&con, &n), want, "{con}");
        }
    }

    #[test]
    fn datacenter_globs() {
        let pats = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(datacenter_matches(&pats(&["*"]), "dc1"));
        assert!(datacenter_matches(&pats(&["dc*"]), "dc12"));
        assert!(datacenter_matches(&pats(&["eu", "dc?"]), "dc1"));
        assert!(!datacenter_matches(&pats(&["dc?"]), "dc12"));
        assert!(!datacenter_matches(&pats(&["dc2"]), "dc1"));
        assert!(!datacenter_matches(&[], "dc1"));
    }
}
