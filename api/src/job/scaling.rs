//! A group's `scaling` block: the bounds of its count (checked by `job scale` and at register)
//! and an autoscaler's policy, kept as written for the tools that read it
//! (`/v1/scaling/policies`). Only horizontal policies on groups exist here; a task's `scaling`
//! blocks (Nomad Enterprise's vertical scaling) are refused by the parser.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const SCALING_HORIZONTAL: &str = "horizontal";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ScalingPolicy {
    #[serde(rename = "ID", default)]
    pub id: String,
    #[serde(default)]
    pub r#type: String,
    /// Namespace, Job and Group.
    #[serde(default)]
    pub target: BTreeMap<String, String>,
    /// The smallest count; the group's count when not given.
    #[serde(default)]
    pub min: Option<i64>,
    pub max: Option<i64>,
    /// The autoscaler's policy, as written.
    #[serde(default)]
    pub policy: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub create_index: u64,
    #[serde(default)]
    pub modify_index: u64,
}

/// `GET /v1/scaling/policies` lists these.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ScalingPolicyListStub {
    #[serde(rename = "ID")]
    pub id: String,
    pub enabled: bool,
    pub r#type: String,
    pub target: BTreeMap<String, String>,
    pub create_index: u64,
    pub modify_index: u64,
}

impl ScalingPolicy {
    /// A stable id for the policy of `group` in a job: the same across the job's versions, as
    /// Nomad keeps a policy's id while its target stays.
    pub fn id_for(namespace: &str, job: &str, group: &str) -> String {
        // FNV-1a over the target, shaped as a UUID.
        let mut h: u128 = 0x6c62272e07bb014262b821756295c58d;
        for b in format!("{namespace}\0{job}\0{group}").bytes() {
            h ^= u128::from(b);
            h = h.wrapping_mul(0x0000000001000000000000000000013B);
        }
        let hex = format!("{h:032x}");
        format!(
            "{}-{}-{}-{}-{}",
            &hex[..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..]
        )
    }

    /// Fills what the servers fill on register: type, target, id, `min` from the count.
    pub fn canonicalize(&mut self, namespace: &str, job: &str, group: &str, count: i32) {
        if self.r#type.is_empty() {
            self.r#type = SCALING_HORIZONTAL.into();
        }
        self.target = BTreeMap::from([
            ("Namespace".to_string(), namespace.to_string()),
            ("Job".to_string(), job.to_string()),
            ("Group".to_string(), group.to_string()),
        ]);
        self.id = ScalingPolicy::id_for(namespace, job, group);
        if self.min.is_none() {
            self.min = Some(i64::from(count));
        }
        if self.enabled.is_none() {
            self.enabled = Some(true);
        }
    }

    /// Whether `count` lies within the policy's bounds; the refusal says which and by how much.
    pub fn check_count(&self, count: i64) -> Result<(), String> {
        if let Some(max) = self.max.filter(|m| count > *m) {
            return Err(format!(
                "group count was greater than scaling policy maximum: {count} > {max}"
            ));
        }
        if let Some(min) = self.min.filter(|m| count < *m) {
            return Err(format!(
                "group count was less than scaling policy minimum: {count} < {min}"
            ));
        }
        Ok(())
    }

    /// What is wrong with the bounds themselves.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        match self.max {
            None => out.push("a scaling policy needs a max".to_string()),
            Some(max) if max < 0 => out.push(format!("scaling max {max} must not be negative")),
            _ => {}
        }
        if let Some(min) = self.min.filter(|m| *m < 0) {
            out.push(format!("scaling min {min} must not be negative"));
        }
        if let (Some(min), Some(max)) = (self.min, self.max) {
            if min > max {
                out.push(format!("scaling min {min} is greater than max {max}"));
            }
        }
        if !self.r#type.is_empty() && self.r#type != SCALING_HORIZONTAL {
            out.push(format!(
                "scaling type {:?} is not supported: only horizontal scaling of groups",
                self.r#type
            ));
        }
        out
    }

    pub fn stub(&self) -> ScalingPolicyListStub {
        ScalingPolicyListStub {
            id: self.id.clone(),
            enabled: self.enabled.unwrap_or(true),
            r#type: self.r#type.clone(),
            target: self.target.clone(),
            create_index: self.create_index,
            modify_index: self.modify_index,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_and_ids() {
        let mut p = ScalingPolicy {
            max: Some(10),
            ..Default::default()
        };
        p.canonicalize("default", "web", "g", 3);
        assert_eq!(p.min, Some(3));
        assert_eq!(p.target["Group"], "g");
        assert_eq!(p.id, ScalingPolicy::id_for("default", "web", "g"));
        assert_ne!(p.id, ScalingPolicy::id_for("default", "web", "h"));
        assert_eq!(p.id.len(), 36);
        assert!(p.check_count(10).is_ok());
        assert!(p.check_count(11).unwrap_err().contains("11 > 10"));
        assert!(p.check_count(2).unwrap_err().contains("2 < 3"));
        assert!(ScalingPolicy::default().problems()[0].contains("needs a max"));
        let bad = ScalingPolicy {
            min: Some(5),
            max: Some(2),
            ..Default::default()
        };
        assert!(bad.problems()[0].contains("greater than max"));
    }
}
