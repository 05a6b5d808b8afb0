//! Requests about a registered job that do not register a new version: validate, evaluate,
//! and its scale status (Nomad's `/v1/validate/job`, `/v1/job/:id/evaluate`, `/v1/job/:id/scale`).

use super::Job;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `POST /v1/validate/job` body.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JobValidateRequest {
    pub job: Job,
}

/// Nomad answers 200 for a job that does not validate: the reasons are in the body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JobValidateResponse {
    /// Whether each task's driver `config` was checked. Ours are, by the job parser.
    pub driver_config_validated: bool,
    #[serde(default)]
    pub validation_errors: Vec<String>,
    /// The errors joined in one message, empty when the job is valid.
    #[serde(default)]
    pub error: String,
    #[serde(default)]
    pub warnings: String,
}

/// `POST /v1/job/:id/evaluate` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JobEvaluateRequest {
    #[serde(rename = "JobID", default)]
    pub job_id: String,
    #[serde(default)]
    pub eval_options: EvalOptions,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EvalOptions {
    /// Reschedule the job's failed allocations now, whatever their reschedule policy allows.
    #[serde(default)]
    pub force_reschedule: bool,
}

/// `GET /v1/job/:id/scale`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JobScaleStatus {
    #[serde(rename = "JobID")]
    pub job_id: String,
    pub namespace: String,
    pub job_create_index: u64,
    pub job_modify_index: u64,
    pub job_stopped: bool,
    pub task_groups: BTreeMap<String, TaskGroupScaleStatus>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TaskGroupScaleStatus {
    pub desired: i64,
    pub placed: i64,
    pub running: i64,
    pub healthy: i64,
    pub unhealthy: i64,
    /// Scaling events of the group, newest first (the last [`MAX_SCALING_EVENTS`]).
    #[serde(default)]
    pub events: Vec<ScalingEvent>,
}

/// How many scaling events are kept per group, as Nomad keeps.
pub const MAX_SCALING_EVENTS: usize = 20;

/// `POST /v1/job/:id/scale` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ScalingRequest {
    /// The new count; without one, only the event is recorded.
    #[serde(default)]
    pub count: Option<i64>,
    #[serde(default)]
    pub target: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub error: bool,
    #[serde(default)]
    pub meta: std::collections::BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    pub policy_override: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ScalingEvent {
    pub time: i64,
    pub count: Option<i64>,
    pub previous_count: i64,
    pub message: String,
    pub error: bool,
    #[serde(default)]
    pub meta: std::collections::BTreeMap<String, serde_json::Value>,
    #[serde(rename = "EvalID")]
    pub eval_id: Option<String>,
    pub create_index: u64,
}
