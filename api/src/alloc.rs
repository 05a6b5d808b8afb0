//! Allocations: one instance of a task group placed on one node, and its tasks' states.

use crate::job::Job;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

pub const ALLOC_DESIRED_RUN: &str = "run";
pub const ALLOC_DESIRED_STOP: &str = "stop";
pub const ALLOC_DESIRED_EVICT: &str = "evict";

pub const ALLOC_CLIENT_PENDING: &str = "pending";
pub const ALLOC_CLIENT_RUNNING: &str = "running";
pub const ALLOC_CLIENT_COMPLETE: &str = "complete";
pub const ALLOC_CLIENT_FAILED: &str = "failed";
pub const ALLOC_CLIENT_LOST: &str = "lost";
/// Its node is disconnected: the servers do not know how it is doing (see `disconnect`).
pub const ALLOC_CLIENT_UNKNOWN: &str = "unknown";

/// The `Field` of an [`AllocState`] that records a client status the servers set.
pub const ALLOC_STATE_CLIENT_STATUS: &str = "ClientStatus";

/// A change the servers made to an allocation, oldest first in `AllocStates`: it went `unknown`
/// when its node disconnected, and back to `running` when the node returned and it was kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AllocState {
    pub field: String,
    pub value: String,
    /// RFC 3339.
    pub time: String,
}

/// Task name -> state, in name order (compact: see `small_map`).
pub type TaskStates = crate::small_map::SmallMap<String, TaskState>;

pub const TASK_STATE_PENDING: &str = "pending";
pub const TASK_STATE_RUNNING: &str = "running";
pub const TASK_STATE_DEAD: &str = "dead";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Allocation {
    #[serde(rename = "ID")]
    pub id: String,
    pub namespace: String,
    #[serde(rename = "EvalID")]
    pub eval_id: String,
    /// "<job>.<group>[<index>]", as Nomad names them.
    pub name: String,
    #[serde(rename = "NodeID")]
    pub node_id: String,
    pub node_name: String,
    #[serde(rename = "JobID")]
    pub job_id: String,
    /// The job version this allocation runs. Omitted from list stubs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<Arc<Job>>,
    pub task_group: String,
    #[serde(default)]
    pub allocated_resources: Arc<AllocatedResources>,
    pub desired_status: String,
    #[serde(default)]
    pub desired_description: String,
    pub client_status: String,
    #[serde(default)]
    pub client_description: String,
    #[serde(default)]
    pub task_states: TaskStates,
    #[serde(rename = "PreviousAllocation", default)]
    pub previous_allocation: String,
    #[serde(rename = "NextAllocation", default)]
    pub next_allocation: String,
    #[serde(default)]
    pub reschedule_tracker: Option<RescheduleTracker>,
    #[serde(rename = "FollowupEvalID", default)]
    pub followup_eval_id: String,
    /// What an operator asked the scheduler to do with this allocation beyond its job's
    /// policies (`job eval -force-reschedule`). Left out while nothing is asked: every
    /// allocation of every plan entry and snapshot would otherwise carry four named nulls.
    #[serde(default, skip_serializing_if = "DesiredTransition::is_unset")]
    pub desired_transition: DesiredTransition,
    #[serde(default)]
    pub metrics: Option<Arc<AllocationMetric>>,
    /// The deployment that placed it (empty outside a rollout).
    #[serde(rename = "DeploymentID", default)]
    pub deployment_id: String,
    /// Its health as the client judged it (deployments and drains use it).
    #[serde(default)]
    pub deployment_status: Option<crate::deployment::AllocDeploymentStatus>,
    #[serde(default)]
    pub job_version: u64,
    #[serde(default)]
    pub create_index: u64,
    #[serde(default)]
    pub modify_index: u64,
    #[serde(default)]
    pub alloc_modify_index: u64,
    /// Unix nanoseconds.
    #[serde(default)]
    pub create_time: i64,
    #[serde(default)]
    pub modify_time: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alloc_states: Vec<AllocState>,
    /// The score its node had when the scheduler chose it, 0 to 1 (how `disconnect { reconcile =
    /// "best_score" }` picks between an allocation and its replacement).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement_score: Option<f64>,
}

impl Allocation {
    /// It went `unknown` while its node was disconnected, and the servers have not yet decided
    /// whether it stays now that the node reports again.
    pub fn needs_to_reconnect(&self) -> bool {
        self.alloc_states
            .iter()
            .rev()
            .find(|s| s.field == ALLOC_STATE_CLIENT_STATUS)
            .is_some_and(|s| s.value == ALLOC_CLIENT_UNKNOWN)
    }

    /// The index in "<job>.<group>[<index>]".
    pub fn index(&self) -> u32 {
        self.name
            .rsplit_once('[')
            .and_then(|(_, rest)| rest.trim_end_matches(']').parse().ok())
            .unwrap_or(0)
    }

    /// The client has finished with this allocation, for good.
    pub fn client_terminal(&self) -> bool {
        matches!(
            self.client_status.as_str(),
            ALLOC_CLIENT_COMPLETE | ALLOC_CLIENT_FAILED | ALLOC_CLIENT_LOST
        )
    }

    /// The servers no longer want it to run.
    pub fn server_terminal(&self) -> bool {
        matches!(
            self.desired_status.as_str(),
            ALLOC_DESIRED_STOP | ALLOC_DESIRED_EVICT
        )
    }

    pub fn terminal(&self) -> bool {
        self.client_terminal() || self.server_terminal()
    }

    /// A copy without the embedded job, as list endpoints and events return them. Field by field,
    /// so that the job (the bulk of an allocation) is never copied only to be dropped.
    pub fn stub(&self) -> Allocation {
        Allocation {
            job: None,
            id: self.id.clone(),
            namespace: self.namespace.clone(),
            eval_id: self.eval_id.clone(),
            name: self.name.clone(),
            node_id: self.node_id.clone(),
            node_name: self.node_name.clone(),
            job_id: self.job_id.clone(),
            task_group: self.task_group.clone(),
            allocated_resources: self.allocated_resources.clone(),
            desired_status: self.desired_status.clone(),
            desired_description: self.desired_description.clone(),
            client_status: self.client_status.clone(),
            client_description: self.client_description.clone(),
            task_states: self.task_states.clone(),
            previous_allocation: self.previous_allocation.clone(),
            next_allocation: self.next_allocation.clone(),
            reschedule_tracker: self.reschedule_tracker.clone(),
            followup_eval_id: self.followup_eval_id.clone(),
            desired_transition: self.desired_transition,
            metrics: self.metrics.clone(),
            deployment_id: self.deployment_id.clone(),
            deployment_status: self.deployment_status.clone(),
            job_version: self.job_version,
            create_index: self.create_index,
            modify_index: self.modify_index,
            alloc_modify_index: self.alloc_modify_index,
            create_time: self.create_time,
            modify_time: self.modify_time,
            alloc_states: self.alloc_states.clone(),
            placement_score: self.placement_score,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AllocatedResources {
    #[serde(default)]
    pub tasks: BTreeMap<String, AllocatedTaskResources>,
    #[serde(default)]
    pub shared: AllocatedSharedResources,
}

impl AllocatedResources {
    pub fn cpu(&self) -> i64 {
        self.tasks.values().map(|t| t.cpu.cpu_shares).sum()
    }
    pub fn memory_mb(&self) -> i64 {
        self.tasks.values().map(|t| t.memory.memory_mb).sum()
    }
    pub fn disk_mb(&self) -> i64 {
        self.shared.disk_mb
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AllocatedTaskResources {
    pub cpu: AllocatedCpu,
    pub memory: AllocatedMemory,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AllocatedCpu {
    pub cpu_shares: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AllocatedMemory {
    #[serde(rename = "MemoryMB")]
    pub memory_mb: i64,
    #[serde(rename = "MemoryMaxMB", default)]
    pub memory_max_mb: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AllocatedSharedResources {
    #[serde(default)]
    pub ports: Vec<AllocatedPort>,
    /// The group's ephemeral disk, reserved on the node.
    #[serde(rename = "DiskMB", default)]
    pub disk_mb: i64,
}

/// A port given to an allocation: `value` on the host, `to` inside the task (0 = same).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AllocatedPort {
    pub label: String,
    pub value: i64,
    #[serde(default)]
    pub to: i64,
    #[serde(rename = "HostIP", default)]
    pub host_ip: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TaskState {
    pub state: String,
    pub failed: bool,
    pub restarts: u64,
    /// RFC 3339, empty when never.
    #[serde(default)]
    pub last_restart: String,
    #[serde(default)]
    pub started_at: String,
    #[serde(default)]
    pub finished_at: String,
    #[serde(default)]
    pub events: Vec<TaskEvent>,
}

pub const EVENT_RECEIVED: &str = "Received";
pub const EVENT_TASK_SETUP: &str = "Task Setup";
pub const EVENT_DOWNLOADING_ARTIFACTS: &str = "Downloading Artifacts";
pub const EVENT_STARTED: &str = "Started";
pub const EVENT_TERMINATED: &str = "Terminated";
pub const EVENT_RESTARTING: &str = "Restarting";
pub const EVENT_NOT_RESTARTING: &str = "Not Restarting";
pub const EVENT_KILLING: &str = "Killing";
pub const EVENT_KILLED: &str = "Killed";
pub const EVENT_DRIVER_FAILURE: &str = "Driver Failure";
pub const EVENT_SETUP_FAILURE: &str = "Setup Failure";
pub const EVENT_RESTART_SIGNALED: &str = "Restart Signaled";
pub const EVENT_SIGNALING: &str = "Signaling";
pub const EVENT_WAITING_SHUTDOWN_DELAY: &str = "Waiting for shutdown delay";
pub const EVENT_TASK_HOOK_FAILED: &str = "Task hook failed";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TaskEvent {
    #[serde(rename = "Type")]
    pub event_type: String,
    /// Unix nanoseconds.
    pub time: i64,
    #[serde(default)]
    pub display_message: String,
    #[serde(default)]
    pub details: BTreeMap<String, String>,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub exit_code: i64,
    #[serde(default)]
    pub signal: i64,
    #[serde(default)]
    pub fails_task: bool,
    #[serde(default)]
    pub restart_reason: String,
    #[serde(default)]
    pub driver_error: String,
    #[serde(default)]
    pub kill_timeout: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RescheduleTracker {
    pub events: Vec<RescheduleEvent>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RescheduleEvent {
    pub reschedule_time: i64,
    #[serde(rename = "PrevAllocID")]
    pub prev_alloc_id: String,
    #[serde(rename = "PrevNodeID")]
    pub prev_node_id: String,
    pub delay: i64,
}

/// Why a placement did or did not succeed, in Nomad's shape (`FailedTGAllocs` values).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AllocationMetric {
    pub nodes_evaluated: i64,
    pub nodes_filtered: i64,
    pub nodes_in_pool: i64,
    #[serde(default)]
    pub nodes_available: BTreeMap<String, i64>,
    #[serde(default)]
    pub class_filtered: BTreeMap<String, i64>,
    /// Constraint (or check such as "missing drivers") -> nodes it filtered.
    #[serde(default)]
    pub constraint_filtered: BTreeMap<String, i64>,
    pub nodes_exhausted: i64,
    #[serde(default)]
    pub class_exhausted: BTreeMap<String, i64>,
    /// Dimension ("memory", "cpu", "network: reserved port collision") -> nodes exhausted.
    #[serde(default)]
    pub dimension_exhausted: BTreeMap<String, i64>,
    #[serde(default)]
    pub quota_exhausted: Vec<String>,
    #[serde(default)]
    pub coalesced_failures: i64,
    /// Nanoseconds spent placing.
    #[serde(default)]
    pub allocation_time: i64,
}

/// What a client reports about one of its allocations.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AllocClientUpdate {
    #[serde(rename = "ID")]
    pub id: String,
    pub client_status: String,
    pub client_description: String,
    pub task_states: TaskStates,
    /// The client's judgement of the allocation's health, once it has one.
    #[serde(default)]
    pub deployment_status: Option<crate::deployment::AllocDeploymentStatus>,
    /// The deployment (or, empty, the migration) that judgement was made for: a verdict sent
    /// before the client learnt of a newer deployment is not counted for it.
    #[serde(default, rename = "DeploymentID")]
    pub deployment_id: String,
}

/// `POST /v1/allocation/:id/stop` answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AllocStopResponse {
    #[serde(rename = "EvalID")]
    pub eval_id: String,
    pub index: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stub_is_the_allocation_without_its_job() {
        let a = Allocation {
            id: "a1".into(),
            job: Some(Arc::default()),
            job_version: 3,
            deployment_id: "d1".into(),
            create_time: 7,
            ..Default::default()
        };
        let stub = a.stub();
        assert!(stub.job.is_none());
        assert_eq!(
            stub,
            Allocation {
                job: None,
                ..a.clone()
            }
        );
    }
}

/// Nomad's `DesiredTransition`: operator requests the scheduler acts on. Each is unset (`null`)
/// unless asked; only `ForceReschedule` is acted on here (`Migrate` is the drainer's, which
/// marks allocations through their node's drain instead).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DesiredTransition {
    #[serde(default)]
    pub migrate: Option<bool>,
    #[serde(default)]
    pub reschedule: Option<bool>,
    /// Reschedule this failed allocation now, whatever its group's reschedule policy allows.
    #[serde(default)]
    pub force_reschedule: Option<bool>,
    #[serde(default)]
    pub no_shutdown_delay: Option<bool>,
}

impl DesiredTransition {
    pub fn is_unset(&self) -> bool {
        *self == DesiredTransition::default()
    }

    pub fn should_force_reschedule(&self) -> bool {
        self.force_reschedule == Some(true)
    }
}
