//! Commands: every change to the cluster state is one of these, appended to the log and applied
//! in order by the state machine. They carry every value (ids, times) the leader chose, so that
//! applying a command is deterministic on every server and on replay.

use api::{
    AllocClientUpdate, Allocation, Deployment, DesiredTransition, Evaluation, Job, Node,
    ServiceRegistration,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Command {
    /// A new version of a job, and the evaluation it triggers.
    JobRegister {
        job: Box<Job>,
        eval: Option<Evaluation>,
        now: i64,
    },
    /// Stop (or purge) a job, and the evaluation that stops its allocations.
    JobDeregister {
        namespace: String,
        job_id: String,
        purge: bool,
        eval: Option<Evaluation>,
        now: i64,
    },
    NodeRegister {
        node: Box<Node>,
        evals: Vec<Evaluation>,
        now: i64,
        /// SHA-256 (hex) of the node's secret, kept to check its later calls.
        #[serde(default)]
        secret_hash: String,
    },
    NodeStatus {
        node_id: String,
        status: String,
        evals: Vec<Evaluation>,
        now: i64,
    },
    /// An operator's change of a node's scheduling: eligibility and/or drain, with the
    /// evaluations that move its work.
    NodeSchedulingUpdate {
        node_id: String,
        eligibility: Option<String>,
        drain: Option<bool>,
        /// Set with a drain that starts.
        drain_strategy: Option<api::DrainStrategy>,
        evals: Vec<Evaluation>,
        now: i64,
    },
    /// Create or update evaluations (status changes, blocked and follow-up evals).
    EvalUpsert {
        evals: Vec<Evaluation>,
    },
    /// A scheduler's plan, as accepted by the plan applier.
    PlanApply {
        /// Allocations stopped, lost or updated in place: full new values, without their job
        /// (see `jobs`).
        updated: Vec<Allocation>,
        /// New allocations, without their job.
        placed: Vec<Allocation>,
        /// The evaluation's new state, plus blocked or follow-up evaluations.
        evals: Vec<Evaluation>,
        now: i64,
        /// Deployments the plans created.
        #[serde(default)]
        deployments: Vec<Deployment>,
        /// Deployments the plans cancelled (a newer job version, a stopped job).
        #[serde(default)]
        deployment_updates: Vec<DeploymentStatusUpdate>,
        /// Each job version the allocations run, once (`api::alloc_jobs`). Commands written
        /// before it embed the job in every allocation instead.
        #[serde(default)]
        jobs: Vec<Arc<Job>>,
    },
    /// Task states reported by a client, and evaluations they trigger (failed allocations).
    AllocClientUpdate {
        updates: Vec<AllocClientUpdate>,
        evals: Vec<Evaluation>,
        now: i64,
    },
    /// An operator stops one allocation (`alloc stop`): it is replaced by the eval.
    AllocStop {
        alloc_id: String,
        eval: Box<Evaluation>,
        now: i64,
    },
    /// Service catalog changes from clients (registrations of running tasks, check status
    /// changes, deregistrations) and operators (`service delete`). Registrations of allocations
    /// that are gone or finished are skipped.
    ServiceUpdate {
        upsert: Vec<ServiceRegistration>,
        delete: Vec<String>,
    },
    /// A deployment's new status (the watcher's verdict, or an operator's `deployment fail`),
    /// with the job version an auto-revert registers and the evaluations that follow.
    DeploymentStatus {
        update: DeploymentStatusUpdate,
        revert_to: Option<Box<Job>>,
        evals: Vec<Evaluation>,
        now: i64,
    },
    /// ACL policies written (created or replaced), rules parsed by the leader.
    AclPolicyUpsert {
        policies: Vec<super::acl::AclPolicyEntry>,
    },
    AclPolicyDelete {
        names: Vec<String>,
    },
    /// Tokens written; `bootstrap` marks the one-time bootstrap, refused once it happened.
    AclTokenUpsert {
        tokens: Vec<super::acl::AclTokenEntry>,
        bootstrap: bool,
    },
    AclTokenDelete {
        accessors: Vec<String>,
    },
    /// Garbage collection: what the leader found old and terminal enough (see gc.rs).
    GarbageCollect {
        collect: super::GcCandidates,
    },
    /// Canaries promoted: in every group, or in the named ones.
    DeploymentPromote {
        deployment_id: String,
        groups: Option<Vec<String>>,
        evals: Vec<Evaluation>,
        now: i64,
    },
    /// An operator's request on allocations (`job eval -force-reschedule`), and the evaluation
    /// that acts on it.
    AllocTransition {
        alloc_ids: Vec<String>,
        transition: DesiredTransition,
        evals: Vec<Evaluation>,
    },
    /// Recount every job's allocations (`/v1/system/reconcile/summaries`).
    ReconcileSummaries,
    /// Namespaces created or replaced.
    NamespaceUpsert {
        namespaces: Vec<api::namespace::Namespace>,
    },
    /// Namespaces deleted; refused whole when one still holds a job.
    NamespaceDelete {
        names: Vec<String>,
    },
    /// A `job scale` request recorded against the job's group (its count change, if any, is a
    /// JobRegister of its own).
    ScalingEventAdd {
        namespace: String,
        job_id: String,
        group: String,
        event: api::ScalingEvent,
    },
    /// A variable written, deleted, locked or unlocked; its items sealed by the leader.
    VarWrite(Box<super::variables::VarWrite>),
    /// A keyring key's metadata (the key itself travels between servers, never in the log).
    RootKeyUpsert {
        key: super::variables::RootKeyMeta,
    },
    /// Node pools created or replaced; refused whole when one is built in.
    NodePoolUpsert {
        pools: Vec<api::node_pool::NodePool>,
    },
    /// Node pools deleted; refused whole when one still has a node or a job.
    NodePoolDelete {
        names: Vec<String>,
    },
}

/// A deployment's new status and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentStatusUpdate {
    pub deployment_id: String,
    pub status: String,
    pub status_description: String,
}

/// What applying a command produced, for the caller that proposed it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ApplyResult {
    /// The job's new version (JobRegister).
    pub job_version: Option<u64>,
    /// Evaluations this command created or changed that the broker must see.
    pub evals: Vec<Arc<Evaluation>>,
    /// Something about the command was refused (e.g. unknown node): applied as a no-op.
    pub error: Option<String>,
    /// What a GarbageCollect removed.
    #[serde(default)]
    pub collected: Option<super::GcCounts>,
    /// How a variable write ended.
    #[serde(default)]
    pub variable: Option<super::variables::VarOutcome>,
}

/// A command's name, for logs (raft logs entries by their Display).
impl std::fmt::Display for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Command::JobRegister { .. } => "JobRegister",
            Command::JobDeregister { .. } => "JobDeregister",
            Command::NodeRegister { .. } => "NodeRegister",
            Command::NodeStatus { .. } => "NodeStatus",
            Command::NodeSchedulingUpdate { .. } => "NodeSchedulingUpdate",
            Command::EvalUpsert { .. } => "EvalUpsert",
            Command::PlanApply { .. } => "PlanApply",
            Command::AllocClientUpdate { .. } => "AllocClientUpdate",
            Command::AllocStop { .. } => "AllocStop",
            Command::ServiceUpdate { .. } => "ServiceUpdate",
            Command::DeploymentStatus { .. } => "DeploymentStatus",
            Command::DeploymentPromote { .. } => "DeploymentPromote",
            Command::AllocTransition { .. } => "AllocTransition",
            Command::ReconcileSummaries => "ReconcileSummaries",
            Command::NamespaceUpsert { .. } => "NamespaceUpsert",
            Command::NamespaceDelete { .. } => "NamespaceDelete",
            Command::ScalingEventAdd { .. } => "ScalingEventAdd",
            Command::VarWrite(_) => "VarWrite",
            Command::RootKeyUpsert { .. } => "RootKeyUpsert",
            Command::GarbageCollect { .. } => "GarbageCollect",
            Command::AclPolicyUpsert { .. } => "AclPolicyUpsert",
            Command::AclPolicyDelete { .. } => "AclPolicyDelete",
            Command::AclTokenUpsert { .. } => "AclTokenUpsert",
            Command::AclTokenDelete { .. } => "AclTokenDelete",
            Command::NodePoolUpsert { .. } => "NodePoolUpsert",
            Command::NodePoolDelete { .. } => "NodePoolDelete",
        };
        f.write_str(name)
    }
}
