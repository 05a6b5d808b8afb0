//! Soft placement preferences: `affinity` (prefer, or avoid, nodes that match) and `spread`
//! (share a group's allocations out over the values of a node attribute). Neither filters a
//! node; both only move its score.

use super::Constraint;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Affinity {
    #[serde(rename = "LTarget", default)]
    pub l_target: String,
    #[serde(rename = "RTarget", default)]
    pub r_target: String,
    #[serde(default = "equals")]
    pub operand: String,
    /// -100..=100, not 0: negative avoids matching nodes.
    #[serde(default = "default_weight")]
    pub weight: i8,
}

fn equals() -> String {
    "=".into()
}

fn default_weight() -> i8 {
    50
}

impl Default for Affinity {
    fn default() -> Self {
        Affinity {
            l_target: String::new(),
            r_target: String::new(),
            operand: equals(),
            weight: default_weight(),
        }
    }
}

impl Affinity {
    /// The test a node must pass to match, in the constraint checker's terms.
    pub fn as_constraint(&self) -> Constraint {
        Constraint {
            l_target: self.l_target.clone(),
            r_target: self.r_target.clone(),
            operand: self.operand.clone(),
        }
    }

    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.weight == 0 || !(-100..=100).contains(&self.weight) {
            out.push(format!(
                "affinity {} has weight {}: use -100 to 100, not 0",
                self.as_constraint(),
                self.weight
            ));
        }
        if self.operand.starts_with("distinct_") {
            out.push(format!(
                "affinity operator {:?} is only meaningful as a constraint",
                self.operand
            ));
        }
        if self.l_target.is_empty() {
            out.push("an affinity needs an attribute".into());
        }
        out
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Spread {
    #[serde(default)]
    pub attribute: String,
    /// 1..=100: how much this spread counts against the others.
    #[serde(default = "default_weight")]
    pub weight: i8,
    /// Shares by value; without any, allocations spread evenly over the values seen.
    #[serde(rename = "SpreadTarget", default)]
    pub targets: Vec<SpreadTarget>,
}

impl Default for Spread {
    fn default() -> Self {
        Spread {
            attribute: String::new(),
            weight: default_weight(),
            targets: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SpreadTarget {
    pub value: String,
    pub percent: u8,
}

impl Spread {
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.attribute.is_empty() {
            out.push("a spread needs an attribute".into());
        }
        if !(1..=100).contains(&self.weight) {
            out.push(format!(
                "spread over {} has weight {}: use 1 to 100",
                self.attribute, self.weight
            ));
        }
        let total: u32 = self.targets.iter().map(|t| u32::from(t.percent)).sum();
        if total > 100 {
            out.push(format!(
                "spread over {}: the targets' percents add up to {total}, more than 100",
                self.attribute
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for t in &self.targets {
            if !seen.insert(t.value.as_str()) {
                out.push(format!(
                    "spread over {}: target {:?} is given twice",
                    self.attribute, t.value
                ));
            }
        }
        out
    }

    /// The share of a group of `count` that belongs on nodes whose attribute is `value`, when
    /// `distinct` values exist among the candidate nodes. Values without a target share what
    /// the targets leave, evenly.
    pub fn desired(&self, value: &str, count: u32, distinct: usize) -> f64 {
        let count = f64::from(count);
        if self.targets.is_empty() {
            return count / distinct.max(1) as f64;
        }
        if let Some(t) = self.targets.iter().find(|t| t.value == value) {
            return count * f64::from(t.percent) / 100.0;
        }
        let taken: u32 = self.targets.iter().map(|t| u32::from(t.percent)).sum();
        let others = distinct.saturating_sub(self.targets.len()).max(1) as f64;
        count * f64::from(100u32.saturating_sub(taken)) / 100.0 / others
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_follow_targets_then_split_the_rest() {
        let even = Spread {
            attribute: "${node.datacenter}".into(),
            ..Spread::default()
        };
        assert_eq!(even.desired("dc1", 6, 3), 2.0);
        let targeted = Spread {
            targets: vec![SpreadTarget {
                value: "dc1".into(),
                percent: 70,
            }],
            ..even
        };
        assert_eq!(targeted.desired("dc1", 10, 3), 7.0);
        assert_eq!(targeted.desired("dc2", 10, 3), 1.5);
        assert!(targeted.problems().is_empty());
        let bad = Affinity {
            weight: 0,
            ..Affinity::default()
        };
        assert_eq!(bad.problems().len(), 2);
    }
}
