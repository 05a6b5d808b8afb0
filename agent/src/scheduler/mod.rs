//! PURE placement logic: (state snapshot, evaluation) -> plan. No IO, no async, no clock: the caller
//! passes the time and a seed, so the same inputs always give the same plan.
//!
//! The contract with the server:
//! - the server hands a worker an [`Evaluation`] and a [`StateView`] (a point-in-time snapshot);
//! - [`schedule`] returns a [`SchedulerOutcome`]: a [`Plan`] to apply, the evaluation's new status
//!   (with `FailedTGAllocs` and `QueuedAllocations`), and maybe a blocked evaluation to create;
//! - the plan applier re-checks every node of the plan against the newest state and may refuse
//!   some nodes; the worker then calls [`schedule`] again on a newer snapshot.

mod constraints;
mod feasible;
pub mod fit;
mod generic;
mod ids;
pub mod memstate;
mod metrics;
mod outcome;
mod placer;
mod ports;
mod rank;
mod reconcile;
mod reschedule;
mod system;
mod version;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_disconnect;
#[cfg(test)]
mod tests_ephemeral_disk;
#[cfg(test)]
mod tests_node_pools;
#[cfg(test)]
mod tests_prefs;
#[cfg(test)]
mod tests_rollout;
#[cfg(test)]
mod tests_system;
#[cfg(test)]
mod testutil;

pub use fit::allocs_fit;
pub use memstate::MemState;
pub use reconcile::{DESC_MIGRATING, DESC_UPDATING};

use api::{Allocation, Evaluation, Job, Node};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Runs the scheduler for the evaluation's type: "service" and "batch" share the generic
/// scheduler, "system" and "sysbatch" have their own. Any other type fails the evaluation with a description.
pub fn schedule(
    eval: &Evaluation,
    state: &dyn StateView,
    ctx: &SchedulerContext,
) -> SchedulerOutcome {
    match eval.eval_type.as_str() {
        api::JOB_TYPE_SERVICE | api::JOB_TYPE_BATCH => generic::schedule(eval, state, ctx),
        api::JOB_TYPE_SYSTEM | api::JOB_TYPE_SYSBATCH => system::schedule(eval, state, ctx),
        other => {
            let mut e = eval.clone();
            e.status = api::EVAL_STATUS_FAILED.into();
            e.status_description = format!(
                "evaluation type {other:?} has no scheduler: expected service, batch, system or sysbatch"
            );
            e.modify_time = ctx.now;
            SchedulerOutcome {
                plan: Plan {
                    eval_id: eval.id.clone(),
                    priority: eval.priority,
                    ..Plan::default()
                },
                eval: e,
                blocked_eval: None,
                followup_evals: Vec::new(),
            }
        }
    }
}

/// Read access to the cluster state the scheduler needs. Implemented by the state store's
/// snapshot, and by plain tables in tests and benchmarks.
pub trait StateView {
    /// Every node, in a stable order (by id).
    fn nodes(&self) -> Vec<Arc<Node>>;
    fn node(&self, id: &str) -> Option<Arc<Node>>;
    /// The newest version of a job, or None once purged.
    fn job(&self, namespace: &str, id: &str) -> Option<Arc<Job>>;
    /// Every allocation of a job, terminal ones included.
    fn allocs_by_job(&self, namespace: &str, job_id: &str) -> Vec<Arc<Allocation>>;
    /// Every allocation on a node, terminal ones included.
    fn allocs_by_node(&self, node_id: &str) -> Vec<Arc<Allocation>>;
    /// The job's newest deployment, whatever its status.
    fn latest_deployment(&self, namespace: &str, job_id: &str) -> Option<Arc<api::Deployment>>;
    /// What the node's live allocations use, with its reserved ports. Summed here by default;
    /// the state store keeps the sum as allocations change.
    fn node_usage(&self, node: &Node) -> fit::NodeUsage {
        let mut u = fit::NodeUsage::empty(node);
        for a in self
            .allocs_by_node(&node.id)
            .iter()
            .filter(|a| !a.terminal())
        {
            u.add(a);
        }
        u
    }
}

/// The scheduler reads the state store's snapshots: the state knows nothing of schedulers.
impl StateView for crate::state::Tables {
    fn nodes(&self) -> Vec<Arc<Node>> {
        self.nodes.values().cloned().collect()
    }
    fn node(&self, id: &str) -> Option<Arc<Node>> {
        crate::state::Tables::node(self, id)
    }
    fn job(&self, namespace: &str, id: &str) -> Option<Arc<Job>> {
        crate::state::Tables::job(self, namespace, id)
    }
    fn allocs_by_job(&self, namespace: &str, job_id: &str) -> Vec<Arc<Allocation>> {
        self.allocs_for_job(namespace, job_id)
    }
    fn allocs_by_node(&self, node_id: &str) -> Vec<Arc<Allocation>> {
        self.allocs_for_node(node_id)
    }
    fn latest_deployment(&self, namespace: &str, job_id: &str) -> Option<Arc<api::Deployment>> {
        crate::state::Tables::latest_deployment(self, namespace, job_id)
    }
    fn node_usage(&self, node: &Node) -> fit::NodeUsage {
        fit::NodeUsage::from_tally(node, self.node_tally(&node.id))
    }
}

/// Inputs that are not state: when "now" is and how to break ties.
#[derive(Debug, Clone, Copy)]
pub struct SchedulerContext {
    /// Unix nanoseconds.
    pub now: i64,
    /// Drives the node shuffle, dynamic ports and the ids of new allocations and evaluations
    /// (mixed with the evaluation id). A retry of the same evaluation after the applier refused
    /// part of a plan must pass a different seed (e.g. the snapshot index), or it would reuse ids.
    pub seed: u64,
    /// The evaluation's budget: past it, placement stops and the evaluation fails with the
    /// reason, rather than holding a worker (and, retried by every new leader, the cluster).
    pub deadline: Option<std::time::Instant>,
}

impl SchedulerContext {
    pub fn new(now: i64, seed: u64) -> SchedulerContext {
        SchedulerContext {
            now,
            seed,
            deadline: None,
        }
    }

    /// Checked every [`BUDGET_CHECK_EVERY`] placements: reading the clock is not free.
    pub(crate) fn over_budget(&self, placements: usize) -> bool {
        placements.is_multiple_of(BUDGET_CHECK_EVERY)
            && self.deadline.is_some_and(|d| std::time::Instant::now() > d)
    }
}

const BUDGET_CHECK_EVERY: usize = 256;

/// What the plan applier commits. Allocations are full values; the applier assigns indexes.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub eval_id: String,
    pub priority: i32,
    pub job: Option<Arc<Job>>,
    /// node id -> allocations to stop there (copies with DesiredStatus "stop"/"evict" and a
    /// DesiredDescription saying why).
    pub node_update: BTreeMap<String, Vec<Allocation>>,
    /// node id -> allocations to create or update in place there.
    pub node_allocation: BTreeMap<String, Vec<Allocation>>,
    /// A deployment this plan starts (the rollout of a new job version).
    pub deployment: Option<api::Deployment>,
    /// Deployments this plan ends (superseded by a newer version, or the job stopped).
    pub deployment_updates: Vec<crate::state::DeploymentStatusUpdate>,
}

impl Plan {
    pub fn is_noop(&self) -> bool {
        self.node_update.is_empty()
            && self.node_allocation.is_empty()
            && self.deployment.is_none()
            && self.deployment_updates.is_empty()
    }
}

#[derive(Debug, Clone)]
pub struct SchedulerOutcome {
    pub plan: Plan,
    /// The evaluation with its new Status ("complete", or "failed"), StatusDescription,
    /// FailedTGAllocs and QueuedAllocations filled in.
    pub eval: Evaluation,
    /// When some placements failed for lack of capacity: a new evaluation with Status "blocked",
    /// TriggeredBy "queued-allocs", PreviousEval = eval.id, to be retried when nodes change.
    /// `eval.blocked_eval` names it.
    pub blocked_eval: Option<Evaluation>,
    /// Delayed reschedules: evaluations with Status "pending", TriggeredBy "alloc-failure" and
    /// WaitUntil set, to run once that time has come. The failed allocations name them in
    /// FollowupEvalID (their updated copies are in `plan.node_allocation`).
    pub followup_evals: Vec<Evaluation>,
}
