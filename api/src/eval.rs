//! Evaluations: the servers' unit of scheduling work.

use crate::alloc::AllocationMetric;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const EVAL_STATUS_PENDING: &str = "pending";
pub const EVAL_STATUS_COMPLETE: &str = "complete";
pub const EVAL_STATUS_FAILED: &str = "failed";
pub const EVAL_STATUS_BLOCKED: &str = "blocked";
pub const EVAL_STATUS_CANCELED: &str = "canceled";

pub const TRIGGER_JOB_REGISTER: &str = "job-register";
pub const TRIGGER_JOB_DEREGISTER: &str = "job-deregister";
pub const TRIGGER_NODE_UPDATE: &str = "node-update";
pub const TRIGGER_NODE_DRAIN: &str = "node-drain";
pub const TRIGGER_ALLOC_STOP: &str = "alloc-stop";
pub const TRIGGER_ALLOC_FAILURE: &str = "alloc-failure";
pub const TRIGGER_QUEUED_ALLOCS: &str = "queued-allocs";
pub const TRIGGER_RETRY_FAILED_ALLOC: &str = "alloc-failure";
pub const TRIGGER_DEPLOYMENT_WATCHER: &str = "deployment-watcher";
pub const TRIGGER_ROLLING_UPDATE: &str = "rolling-update";
/// A disconnected node's allocations reached their `lost_after`.
pub const TRIGGER_MAX_DISCONNECT_TIMEOUT: &str = "max-disconnect-timeout";
/// A disconnected node reported its allocations again.
pub const TRIGGER_RECONNECT: &str = "reconnect";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Evaluation {
    #[serde(rename = "ID")]
    pub id: String,
    pub namespace: String,
    pub priority: i32,
    /// The scheduler to run: the job's type.
    #[serde(rename = "Type")]
    pub eval_type: String,
    pub triggered_by: String,
    #[serde(rename = "JobID")]
    pub job_id: String,
    #[serde(default)]
    pub job_modify_index: u64,
    #[serde(rename = "NodeID", default)]
    pub node_id: String,
    #[serde(default)]
    pub node_modify_index: u64,
    pub status: String,
    #[serde(default)]
    pub status_description: String,
    /// Unix nanoseconds before which the eval must not run (delayed reschedules).
    #[serde(default)]
    pub wait_until: i64,
    /// The deployment this evaluation's scheduling created or continued.
    #[serde(rename = "DeploymentID", default)]
    pub deployment_id: String,
    #[serde(default)]
    pub next_eval: String,
    #[serde(default)]
    pub previous_eval: String,
    #[serde(default)]
    pub blocked_eval: String,
    #[serde(rename = "FailedTGAllocs", default)]
    pub failed_tg_allocs: BTreeMap<String, AllocationMetric>,
    #[serde(default)]
    pub class_eligibility: BTreeMap<String, bool>,
    #[serde(default)]
    pub escaped_computed_class: bool,
    #[serde(default)]
    pub queued_allocations: BTreeMap<String, i64>,
    #[serde(default)]
    pub snapshot_index: u64,
    #[serde(default)]
    pub create_index: u64,
    #[serde(default)]
    pub modify_index: u64,
    #[serde(default)]
    pub create_time: i64,
    #[serde(default)]
    pub modify_time: i64,
}

impl Evaluation {
    pub fn terminal(&self) -> bool {
        matches!(
            self.status.as_str(),
            EVAL_STATUS_COMPLETE | EVAL_STATUS_FAILED | EVAL_STATUS_CANCELED
        )
    }
}
