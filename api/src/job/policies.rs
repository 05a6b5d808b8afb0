//! How a group restarts, reschedules, updates and migrates its allocations: the `restart`,
//! `reschedule`, `update` and `migrate` blocks, with Nomad's defaults and their checks.

use super::{JOB_TYPE_BATCH, JOB_TYPE_SERVICE};
use crate::duration::nanos;
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RestartPolicy {
    #[serde(default)]
    pub attempts: i32,
    #[serde(with = "nanos", default)]
    pub interval: Duration,
    #[serde(with = "nanos", default)]
    pub delay: Duration,
    #[serde(default)]
    pub mode: String,
}

impl RestartPolicy {
    /// Nomad's defaults: service jobs 2 attempts in 30m, batch 3 in 24h; 15s delay; mode "fail".
    pub fn default_for(job_type: &str) -> Self {
        if super::runs_to_completion(job_type) {
            RestartPolicy {
                attempts: 3,
                interval: Duration::from_secs(24 * 3600),
                delay: Duration::from_secs(15),
                mode: "fail".into(),
            }
        } else {
            RestartPolicy {
                attempts: 2,
                interval: Duration::from_secs(30 * 60),
                delay: Duration::from_secs(15),
                mode: "fail".into(),
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReschedulePolicy {
    #[serde(default)]
    pub attempts: i32,
    #[serde(with = "nanos", default)]
    pub interval: Duration,
    #[serde(with = "nanos", default)]
    pub delay: Duration,
    #[serde(default)]
    pub delay_function: String,
    #[serde(with = "nanos", default)]
    pub max_delay: Duration,
    #[serde(default)]
    pub unlimited: bool,
}

impl ReschedulePolicy {
    /// Nomad's defaults: service jobs reschedule without limit with exponential backoff from 30s
    /// to 1h; batch jobs once in 24h after 5s; system jobs never.
    pub fn default_for(job_type: &str) -> Option<Self> {
        match job_type {
            JOB_TYPE_SERVICE => Some(ReschedulePolicy {
                attempts: 0,
                interval: Duration::ZERO,
                delay: Duration::from_secs(30),
                delay_function: "exponential".into(),
                max_delay: Duration::from_secs(3600),
                unlimited: true,
            }),
            JOB_TYPE_BATCH => Some(ReschedulePolicy {
                attempts: 1,
                interval: Duration::from_secs(24 * 3600),
                delay: Duration::from_secs(5),
                delay_function: "constant".into(),
                max_delay: Duration::ZERO,
                unlimited: false,
            }),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
/// Fields missing from JSON take Nomad's defaults, as its API canonicalizes them.
#[serde(rename_all = "PascalCase", default)]
pub struct UpdateStrategy {
    #[serde(with = "nanos")]
    pub stagger: Duration,
    pub max_parallel: i32,
    pub health_check: String,
    #[serde(with = "nanos")]
    pub min_healthy_time: Duration,
    #[serde(with = "nanos")]
    pub healthy_deadline: Duration,
    #[serde(with = "nanos")]
    pub progress_deadline: Duration,
    pub auto_revert: bool,
    pub auto_promote: bool,
    pub canary: i32,
}

/// A rollout's health rules, shared by `update` and `migrate`.
fn health_problems(
    max_parallel: i32,
    health_check: &str,
    min_healthy_time: Duration,
    healthy_deadline: Duration,
) -> Vec<String> {
    let mut out = Vec::new();
    if max_parallel < 0 {
        out.push(format!("max_parallel {max_parallel} must not be negative"));
    }
    match health_check {
        "checks" | "task_states" => {}
        "manual" => out.push(
            "health_check \"manual\" is not supported: nothing here sets an allocation's \
             health by hand; use \"checks\" or \"task_states\""
                .into(),
        ),
        other => out.push(format!(
            "health_check {other:?} must be \"checks\" or \"task_states\""
        )),
    }
    if healthy_deadline.is_zero() {
        out.push("healthy_deadline must be greater than zero".into());
    } else if min_healthy_time >= healthy_deadline {
        out.push(format!(
            "min_healthy_time ({}) must be less than healthy_deadline ({})",
            crate::duration::format_duration(min_healthy_time),
            crate::duration::format_duration(healthy_deadline)
        ));
    }
    out
}

impl UpdateStrategy {
    /// What is wrong with the block, as Nomad's validation says it.
    pub fn problems(&self) -> Vec<String> {
        let mut out = health_problems(
            self.max_parallel,
            &self.health_check,
            self.min_healthy_time,
            self.healthy_deadline,
        );
        if self.canary < 0 {
            out.push(format!("canary {} must not be negative", self.canary));
        }
        if !self.progress_deadline.is_zero() && self.progress_deadline < self.healthy_deadline {
            out.push(format!(
                "progress_deadline ({}) must be at least healthy_deadline ({}), or 0 for none",
                crate::duration::format_duration(self.progress_deadline),
                crate::duration::format_duration(self.healthy_deadline)
            ));
        }
        out
    }
}

impl MigrateStrategy {
    pub fn problems(&self) -> Vec<String> {
        health_problems(
            self.max_parallel,
            &self.health_check,
            self.min_healthy_time,
            self.healthy_deadline,
        )
    }
}

impl Default for UpdateStrategy {
    /// Nomad's defaults for a service job's update block.
    fn default() -> Self {
        UpdateStrategy {
            stagger: Duration::from_secs(30),
            max_parallel: 1,
            health_check: "checks".into(),
            min_healthy_time: Duration::from_secs(10),
            healthy_deadline: Duration::from_secs(300),
            progress_deadline: Duration::from_secs(600),
            auto_revert: false,
            auto_promote: false,
            canary: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
/// Fields missing from JSON take Nomad's defaults, as its API canonicalizes them.
#[serde(rename_all = "PascalCase", default)]
pub struct MigrateStrategy {
    pub max_parallel: i32,
    pub health_check: String,
    #[serde(with = "nanos")]
    pub min_healthy_time: Duration,
    #[serde(with = "nanos")]
    pub healthy_deadline: Duration,
}

impl Default for MigrateStrategy {
    fn default() -> Self {
        MigrateStrategy {
            max_parallel: 1,
            health_check: "checks".into(),
            min_healthy_time: Duration::from_secs(10),
            healthy_deadline: Duration::from_secs(300),
        }
    }
}
