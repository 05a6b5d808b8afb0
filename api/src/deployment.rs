//! Deployments: the rollout of one job version, driven by the health of its allocations, in
//! Nomad's shape.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const DEPLOYMENT_STATUS_RUNNING: &str = "running";
pub const DEPLOYMENT_STATUS_PAUSED: &str = "paused";
pub const DEPLOYMENT_STATUS_FAILED: &str = "failed";
pub const DEPLOYMENT_STATUS_SUCCESSFUL: &str = "successful";
pub const DEPLOYMENT_STATUS_CANCELLED: &str = "cancelled";

pub const DEPLOYMENT_DESC_RUNNING: &str = "Deployment is running";
pub const DEPLOYMENT_DESC_PAUSED: &str = "Deployment is paused";
pub const DEPLOYMENT_DESC_NEEDS_PROMOTION: &str =
    "Deployment is running but requires manual promotion";
pub const DEPLOYMENT_DESC_AUTO_PROMOTION: &str =
    "Deployment is running pending automatic promotion";
pub const DEPLOYMENT_DESC_SUCCESSFUL: &str = "Deployment completed successfully";
pub const DEPLOYMENT_DESC_UNHEALTHY: &str = "Failed due to unhealthy allocations";
pub const DEPLOYMENT_DESC_PROGRESS_DEADLINE: &str = "Failed due to progress deadline";
pub const DEPLOYMENT_DESC_FAILED_BY_USER: &str = "Deployment marked as failed";
pub const DEPLOYMENT_DESC_STOPPED_JOB: &str = "Cancelled because job is stopped";
pub const DEPLOYMENT_DESC_NEWER_JOB: &str = "Cancelled due to newer version of job";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Deployment {
    #[serde(rename = "ID")]
    pub id: String,
    pub namespace: String,
    #[serde(rename = "JobID")]
    pub job_id: String,
    pub job_version: u64,
    pub job_modify_index: u64,
    pub job_spec_modify_index: u64,
    pub job_create_index: u64,
    #[serde(default)]
    pub is_multiregion: bool,
    /// Group name -> its rollout.
    pub task_groups: BTreeMap<String, DeploymentState>,
    pub status: String,
    pub status_description: String,
    #[serde(default)]
    pub create_index: u64,
    #[serde(default)]
    pub modify_index: u64,
    /// Unix nanoseconds.
    #[serde(default)]
    pub create_time: i64,
    #[serde(default)]
    pub modify_time: i64,
}

impl Deployment {
    /// Still rolling out (running or paused).
    pub fn active(&self) -> bool {
        matches!(
            self.status.as_str(),
            DEPLOYMENT_STATUS_RUNNING | DEPLOYMENT_STATUS_PAUSED
        )
    }

    /// Whether some group waits for its canaries to be promoted.
    pub fn requires_promotion(&self) -> bool {
        self.task_groups
            .values()
            .any(|g| g.desired_canaries > 0 && !g.promoted)
    }

    pub fn has_canaries(&self) -> bool {
        self.task_groups.values().any(|g| g.desired_canaries > 0)
    }
}

/// One group's rollout within a deployment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeploymentState {
    #[serde(default)]
    pub auto_revert: bool,
    #[serde(default)]
    pub auto_promote: bool,
    /// Nanoseconds a rollout may go without an allocation turning healthy.
    #[serde(default)]
    pub progress_deadline: i64,
    /// RFC 3339: when the group fails unless an allocation turns healthy first.
    #[serde(default)]
    pub require_progress_by: String,
    #[serde(default)]
    pub promoted: bool,
    #[serde(default)]
    pub placed_canaries: Vec<String>,
    #[serde(default)]
    pub desired_canaries: i64,
    #[serde(default)]
    pub desired_total: i64,
    #[serde(default)]
    pub placed_allocs: i64,
    #[serde(default)]
    pub healthy_allocs: i64,
    #[serde(default)]
    pub unhealthy_allocs: i64,
}

/// The health of an allocation, as its deployment (or a drain's migration) judges it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AllocDeploymentStatus {
    /// None until the client has judged it.
    #[serde(default)]
    pub healthy: Option<bool>,
    /// RFC 3339: when it was judged.
    #[serde(default)]
    pub timestamp: String,
    #[serde(default)]
    pub canary: bool,
    #[serde(default)]
    pub modify_index: u64,
}

impl AllocDeploymentStatus {
    pub fn is_healthy(&self) -> bool {
        self.healthy == Some(true)
    }
    pub fn is_unhealthy(&self) -> bool {
        self.healthy == Some(false)
    }
}

/// `POST /v1/deployment/promote/:id`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeploymentPromoteRequest {
    #[serde(rename = "DeploymentID", default)]
    pub deployment_id: String,
    #[serde(default)]
    pub all: bool,
    #[serde(default)]
    pub groups: Option<Vec<String>>,
}

/// `POST /v1/deployment/pause/:id`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeploymentPauseRequest {
    #[serde(rename = "DeploymentID", default)]
    pub deployment_id: String,
    /// true pauses, false resumes.
    pub pause: bool,
}

/// What a deployment write answers.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeploymentUpdateResponse {
    #[serde(rename = "EvalID", default)]
    pub eval_id: String,
    #[serde(default)]
    pub eval_create_index: u64,
    #[serde(default)]
    pub deployment_modify_index: u64,
    /// The job version a failed deployment rolled back to, if it did.
    #[serde(default)]
    pub reverted_job_version: Option<u64>,
    #[serde(default)]
    pub index: u64,
}

/// How a client judges an allocation's health, and for whom: its group's `update` block when it
/// belongs to a deployment, its `migrate` block when it replaces a drained allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthRules {
    /// Checks must pass too ("checks"), or task states are enough ("task_states").
    pub checks: bool,
    pub min_healthy_time: std::time::Duration,
    pub healthy_deadline: std::time::Duration,
}

impl HealthRules {
    /// None when nothing waits on this allocation's health (a batch job, no deployment or
    /// migration, `health_check = "manual"`): then it counts once it runs.
    pub fn of(alloc: &crate::Allocation, job: &crate::Job) -> Option<HealthRules> {
        if job.job_type != crate::JOB_TYPE_SERVICE {
            return None;
        }
        let tg = job.lookup_group(&alloc.task_group)?;
        let (check, min, deadline) = if !alloc.deployment_id.is_empty() {
            let u = tg.update.as_ref()?;
            (
                u.health_check.as_str(),
                u.min_healthy_time,
                u.healthy_deadline,
            )
        } else if !alloc.previous_allocation.is_empty() {
            let m = tg.migrate.as_ref()?;
            (
                m.health_check.as_str(),
                m.min_healthy_time,
                m.healthy_deadline,
            )
        } else {
            return None;
        };
        (check != "manual").then(|| HealthRules {
            checks: check != "task_states",
            min_healthy_time: min,
            healthy_deadline: deadline,
        })
    }
}
