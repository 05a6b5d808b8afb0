//! Builds a [`SchedulerOutcome`]: the plan's stops and placements, the evaluation's new status,
//! failed-placement metrics, the blocked and follow-up evaluations.

use super::ids::Rng;
use super::{Plan, SchedulerContext, SchedulerOutcome};
use api::{
    AllocatedCpu, AllocatedMemory, AllocatedPort, AllocatedResources, AllocatedTaskResources,
    Allocation, AllocationMetric, Evaluation, Job, Node, TaskGroup, ALLOC_CLIENT_LOST,
    ALLOC_CLIENT_PENDING, ALLOC_DESIRED_RUN, ALLOC_DESIRED_STOP, EVAL_STATUS_BLOCKED,
    EVAL_STATUS_COMPLETE, EVAL_STATUS_FAILED, EVAL_STATUS_PENDING, TRIGGER_ALLOC_FAILURE,
    TRIGGER_QUEUED_ALLOCS,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

pub struct Builder {
    eval: Evaluation,
    now: i64,
    ids: Rng,
    plan: Plan,
    /// Old allocation id -> the id of its replacement, written into the stop copies at the end.
    links: HashMap<String, String>,
    failed: BTreeMap<String, AllocationMetric>,
    queued: BTreeMap<String, i64>,
    followups: Vec<Evaluation>,
    /// Allocations kept after their node reconnected, each with its new `AllocStates` entry:
    /// merged at the end into whatever else the plan does to them (see `finish`).
    reconnects: Vec<Allocation>,
    /// The last placement's resources and metric: the next one shares them when equal, as most
    /// placements of a group are.
    last_resources: Option<Arc<AllocatedResources>>,
    last_metric: Option<Arc<AllocationMetric>>,
}

/// `value` as an `Arc`, the one in `last` when equal.
fn share<T: PartialEq>(last: &mut Option<Arc<T>>, value: T) -> Arc<T> {
    match last {
        Some(l) if **l == value => l.clone(),
        _ => {
            let v = Arc::new(value);
            *last = Some(v.clone());
            v
        }
    }
}

impl Builder {
    pub fn new(eval: &Evaluation, ctx: &SchedulerContext) -> Builder {
        Builder {
            eval: eval.clone(),
            now: ctx.now,
            ids: Rng::seeded_with(ctx.seed, &eval.id),
            plan: Plan {
                eval_id: eval.id.clone(),
                priority: eval.priority,
                ..Plan::default()
            },
            links: HashMap::new(),
            failed: BTreeMap::new(),
            queued: BTreeMap::new(),
            followups: Vec::new(),
            reconnects: Vec::new(),
            last_resources: None,
            last_metric: None,
        }
    }

    pub fn set_job(&mut self, job: &Arc<Job>) {
        self.plan.job = Some(job.clone());
        for tg in &job.task_groups {
            self.queued.insert(tg.name.clone(), 0);
        }
    }

    /// Plans a stop: a copy with DesiredStatus "stop" (and ClientStatus "lost" when its node died).
    pub fn stop(&mut self, a: &Allocation, desc: &str, lost: bool) {
        let mut c = a.clone();
        c.desired_status = ALLOC_DESIRED_STOP.into();
        c.desired_description = desc.into();
        if lost {
            c.client_status = ALLOC_CLIENT_LOST.into();
        }
        c.modify_time = self.now;
        self.plan
            .node_update
            .entry(c.node_id.clone())
            .or_default()
            .push(c);
    }

    /// The evaluation's clock, nanoseconds.
    pub fn now(&self) -> i64 {
        self.now
    }

    /// A fresh id from the plan's random stream (for a deployment).
    pub fn new_id(&mut self) -> String {
        self.ids.uuid()
    }

    /// The deployment this evaluation creates or continues.
    pub fn set_deployment(&mut self, d: Option<api::Deployment>, id: &str) {
        self.eval.deployment_id = id.to_string();
        self.plan.deployment = d;
    }

    /// Ends a deployment (superseded, or its job stopped).
    pub fn cancel_deployment(&mut self, id: &str, why: &str) {
        self.plan
            .deployment_updates
            .push(crate::state::DeploymentStatusUpdate {
                deployment_id: id.to_string(),
                status: api::DEPLOYMENT_STATUS_CANCELLED.into(),
                status_description: why.to_string(),
            });
    }

    pub fn link(&mut self, old: &str, new: &str) {
        self.links.insert(old.to_string(), new.to_string());
    }

    /// Moves a running allocation to the current job version without restarting it. Under a
    /// new deployment its health is judged again.
    pub fn update_in_place(&mut self, a: &Allocation, job: &Job, deployment: Option<&str>) {
        let mut c = a.clone();
        c.job = self.plan.job.clone();
        c.job_version = job.version;
        if let Some(d) = deployment.filter(|d| *d != a.deployment_id) {
            c.deployment_id = d.to_string();
            c.deployment_status = None;
        }
        c.eval_id = self.eval.id.clone();
        c.modify_time = self.now;
        self.plan
            .node_allocation
            .entry(c.node_id.clone())
            .or_default()
            .push(c);
    }

    /// A new allocation of `tg` named `name` on `node`. Not yet in the plan: see [`Builder::add`].
    pub fn new_alloc(
        &mut self,
        job: &Job,
        tg: &TaskGroup,
        name: String,
        node: &Node,
        ports: Vec<AllocatedPort>,
        metric: AllocationMetric,
    ) -> Allocation {
        let tasks = tg
            .tasks
            .iter()
            .map(|t| {
                let r = AllocatedTaskResources {
                    cpu: AllocatedCpu {
                        cpu_shares: t.resources.cpu,
                    },
                    memory: AllocatedMemory {
                        memory_mb: t.resources.memory_mb,
                        memory_max_mb: t.resources.memory_max_mb,
                    },
                };
                (t.name.clone(), r)
            })
            .collect();
        Allocation {
            id: self.ids.uuid(),
            namespace: job.namespace.clone(),
            eval_id: self.eval.id.clone(),
            name,
            node_id: node.id.clone(),
            node_name: node.name.clone(),
            job_id: job.id.clone(),
            job: self.plan.job.clone(),
            task_group: tg.name.clone(),
            allocated_resources: share(
                &mut self.last_resources,
                AllocatedResources {
                    tasks,
                    shared: api::AllocatedSharedResources {
                        ports,
                        disk_mb: tg.disk_mb(),
                    },
                },
            ),
            desired_status: ALLOC_DESIRED_RUN.into(),
            client_status: ALLOC_CLIENT_PENDING.into(),
            job_version: job.version,
            metrics: Some(share(&mut self.last_metric, metric)),
            create_time: self.now,
            modify_time: self.now,
            ..Allocation::default()
        }
    }

    pub fn add(&mut self, a: Allocation) {
        self.plan
            .node_allocation
            .entry(a.node_id.clone())
            .or_default()
            .push(a);
    }

    /// One placement of `group` failed; later ones of the same group only count as coalesced.
    pub fn fail(&mut self, group: &str, metric: Option<AllocationMetric>) {
        *self.queued.entry(group.to_string()).or_insert(0) += 1;
        match self.failed.get_mut(group) {
            Some(m) => m.coalesced_failures += 1,
            None => {
                self.failed
                    .insert(group.to_string(), metric.unwrap_or_default());
            }
        }
    }

    pub fn has_failed(&self, group: &str) -> bool {
        self.failed.contains_key(group)
    }

    /// Schedules a follow-up evaluation to replace `a` at `wait_until`, and records its id on `a`.
    pub fn followup(&mut self, a: &Allocation, wait_until: i64) {
        let id = self.followup_eval(
            wait_until,
            TRIGGER_ALLOC_FAILURE,
            "created for delayed rescheduling",
        );
        // ModifyTime stays: it is the failure time when the tasks report no FinishedAt.
        let mut c = a.clone();
        c.followup_eval_id = id;
        self.plan
            .node_allocation
            .entry(c.node_id.clone())
            .or_default()
            .push(c);
    }

    /// The id of this plan's follow-up evaluation due at `wait_until` for `trigger`: one per
    /// time and reason, shared by every allocation that waits for it.
    fn followup_eval(&mut self, wait_until: i64, trigger: &str, why: &str) -> String {
        let same = |e: &&Evaluation| e.wait_until == wait_until && e.triggered_by == trigger;
        if let Some(e) = self.followups.iter().find(same) {
            return e.id.clone();
        }
        let e = Evaluation {
            id: self.ids.uuid(),
            status: EVAL_STATUS_PENDING.into(),
            status_description: why.into(),
            triggered_by: trigger.into(),
            wait_until,
            ..self.child_eval()
        };
        let id = e.id.clone();
        self.followups.push(e);
        id
    }

    /// Marks an allocation on a disconnected node `unknown`, with an evaluation at `lost_at`
    /// that finds it lost if its node has not returned by then.
    pub fn mark_unknown(&mut self, a: &Allocation, lost_at: i64) {
        let id = self.followup_eval(
            lost_at,
            api::TRIGGER_MAX_DISCONNECT_TIMEOUT,
            "created for an allocation's disconnect timeout",
        );
        let mut c = a.clone();
        c.followup_eval_id = id;
        c.client_status = api::ALLOC_CLIENT_UNKNOWN.into();
        c.client_description = "the node is disconnected".into();
        c.alloc_states
            .push(self.client_status_state(api::ALLOC_CLIENT_UNKNOWN));
        c.modify_time = self.now;
        self.plan
            .node_allocation
            .entry(c.node_id.clone())
            .or_default()
            .push(c);
    }

    /// An allocation kept after its node reconnected: its client status is the client's again,
    /// and the disconnect timeout no longer concerns it.
    pub fn reconnected(&mut self, a: &Allocation) {
        let mut c = a.clone();
        c.alloc_states
            .push(self.client_status_state(&a.client_status));
        c.followup_eval_id.clear();
        c.modify_time = self.now;
        self.reconnects.push(c);
    }

    /// A reconnected allocation that the plan also stops or updates gets the reconnect's state
    /// on that copy; one the plan leaves alone is updated with it alone. Without the merge, two
    /// copies of one allocation would be written and the later would undo the earlier.
    fn merge_reconnects(&mut self) {
        for r in std::mem::take(&mut self.reconnects) {
            let mut merged = false;
            let lists = self
                .plan
                .node_update
                .values_mut()
                .chain(self.plan.node_allocation.values_mut());
            for a in lists.flatten().filter(|a| a.id == r.id) {
                a.alloc_states = r.alloc_states.clone();
                a.followup_eval_id.clear();
                merged = true;
            }
            if !merged {
                self.plan
                    .node_allocation
                    .entry(r.node_id.clone())
                    .or_default()
                    .push(r);
            }
        }
    }

    fn client_status_state(&self, value: &str) -> api::AllocState {
        api::AllocState {
            field: api::ALLOC_STATE_CLIENT_STATUS.into(),
            value: value.into(),
            time: api::time::rfc3339_nanos(self.now),
        }
    }

    fn child_eval(&self) -> Evaluation {
        Evaluation {
            namespace: self.eval.namespace.clone(),
            priority: self.eval.priority,
            eval_type: self.eval.eval_type.clone(),
            job_id: self.eval.job_id.clone(),
            job_modify_index: self.eval.job_modify_index,
            previous_eval: self.eval.id.clone(),
            create_time: self.now,
            modify_time: self.now,
            ..Evaluation::default()
        }
    }

    /// The evaluation ran out of its budget: nothing of its plan is committed and it fails with
    /// `why`, so no leader runs it again.
    pub fn abandon(mut self, why: String) -> SchedulerOutcome {
        self.eval.status = EVAL_STATUS_FAILED.into();
        self.eval.status_description = why;
        self.eval.modify_time = self.now;
        SchedulerOutcome {
            plan: Plan {
                eval_id: self.plan.eval_id,
                priority: self.plan.priority,
                ..Default::default()
            },
            eval: self.eval,
            blocked_eval: None,
            followup_evals: Vec::new(),
        }
    }

    pub fn finish(mut self) -> SchedulerOutcome {
        self.merge_reconnects();
        if !self.links.is_empty() {
            for list in self.plan.node_update.values_mut() {
                for a in list.iter_mut() {
                    if let Some(next) = self.links.get(&a.id) {
                        a.next_allocation = next.clone();
                    }
                }
            }
        }
        let mut blocked_eval = None;
        if !self.failed.is_empty() {
            let e = Evaluation {
                id: self.ids.uuid(),
                status: EVAL_STATUS_BLOCKED.into(),
                status_description: "created to place remaining allocations".into(),
                triggered_by: TRIGGER_QUEUED_ALLOCS.into(),
                ..self.child_eval()
            };
            self.eval.blocked_eval = e.id.clone();
            blocked_eval = Some(e);
        }
        self.eval.status = EVAL_STATUS_COMPLETE.into();
        self.eval.failed_tg_allocs = self.failed;
        self.eval.queued_allocations = self.queued;
        self.eval.modify_time = self.now;
        SchedulerOutcome {
            plan: self.plan,
            eval: self.eval,
            blocked_eval,
            followup_evals: self.followups,
        }
    }
}
