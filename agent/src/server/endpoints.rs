//! What clients and the HTTP API ask of the servers. Every change goes through raft as one
//! command carrying the evaluations it triggers, so a change and its follow-up work commit
//! together or not at all.

use super::alloc_updates::QueuedReport;
use super::raft::RaftError;
use super::{new_id, now_nanos, Server};
use crate::state::{Command, Tables};
use api::*;
use std::collections::BTreeSet;
use std::time::Duration;

#[derive(Debug, Clone, thiserror::Error)]
pub enum ServerError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error("node {0} not found")]
    UnknownNode(String),
    /// The cluster cannot serve the request right now (no leader, leader unreachable).
    #[error("{0}")]
    Unavailable(String),
    /// Not allowed for this caller; the message says what was refused.
    #[error("Permission denied: {0}")]
    Forbidden(String),
    #[error(transparent)]
    Raft(RaftError),
}

pub(super) fn new_eval(job: &Job, trigger: &str) -> Evaluation {
    let now = now_nanos();
    Evaluation {
        id: new_id(),
        namespace: job.namespace.clone(),
        priority: job.priority,
        eval_type: job.job_type.clone(),
        triggered_by: trigger.into(),
        job_id: job.id.clone(),
        status: EVAL_STATUS_PENDING.into(),
        create_time: now,
        modify_time: now,
        ..Default::default()
    }
}

/// One evaluation per job that a change to `node_id` concerns: jobs with live allocations there,
/// and every system job (which may now fit, or no longer fit, on it).
pub(super) fn evals_for_node(snap: &Tables, node_id: &str, trigger: &str) -> Vec<Evaluation> {
    let mut jobs: BTreeSet<(String, String)> = snap
        .allocs_for_node(node_id)
        .iter()
        .filter(|a| !a.terminal())
        .map(|a| (a.namespace.clone(), a.job_id.clone()))
        .collect();
    for j in snap.jobs() {
        if api::on_every_node(&j.job_type) && !j.stop {
            jobs.insert((j.namespace.clone(), j.id.clone()));
        }
    }
    jobs.into_iter()
        .filter_map(|(ns, id)| snap.job(&ns, &id))
        .map(|j| {
            let mut e = new_eval(&j, trigger);
            e.node_id = node_id.to_string();
            e
        })
        .collect()
}

/// What client reports call for: evaluations (a failed allocation is replaced; a migration
/// that landed lets a drain move on), and whether capacity was freed.
fn report_consequences(snap: &Tables, updates: &[AllocClientUpdate]) -> (Vec<Evaluation>, bool) {
    let mut evals: Vec<Evaluation> = Vec::new();
    let mut freed = false;
    for u in updates {
        let Some(a) = snap.alloc(&u.id) else { continue };
        let becomes_terminal = !a.client_terminal()
            && matches!(
                u.client_status.as_str(),
                ALLOC_CLIENT_COMPLETE | ALLOC_CLIENT_FAILED | ALLOC_CLIENT_LOST
            );
        freed |= becomes_terminal;
        // A migration's replacement started, or was judged healthy: the drain may move the
        // group's next ones.
        let started =
            u.client_status == ALLOC_CLIENT_RUNNING && a.client_status != ALLOC_CLIENT_RUNNING;
        let judged = a
            .deployment_status
            .as_ref()
            .is_none_or(|d| d.healthy.is_none())
            && u.deployment_status.as_ref().is_some_and(|d| d.is_healthy());
        let migration_landed = (started || judged)
            && !a.previous_allocation.is_empty()
            && snap
                .allocs_for_job(&a.namespace, &a.job_id)
                .iter()
                .any(|o| !o.terminal() && snap.node(&o.node_id).is_some_and(|n| n.drain));
        if migration_landed
            && !evals
                .iter()
                .any(|e| e.job_id == a.job_id && e.namespace == a.namespace)
        {
            if let Some(job) = snap.job(&a.namespace, &a.job_id) {
                evals.push(new_eval(&job, TRIGGER_NODE_DRAIN));
            }
        }
        // A copy its node held through a disconnect reports again: the scheduler decides
        // which copy stays, or that it runs on as before.
        let reconnected = a.needs_to_reconnect()
            && u.client_status != api::ALLOC_CLIENT_UNKNOWN
            && !a.server_terminal();
        let trigger = if becomes_terminal && u.client_status == ALLOC_CLIENT_FAILED {
            Some(TRIGGER_ALLOC_FAILURE)
        } else if reconnected {
            Some(api::TRIGGER_RECONNECT)
        } else {
            None
        };
        if let Some(trigger) = trigger.filter(|_| {
            !a.server_terminal()
                && !evals
                    .iter()
                    .any(|e| e.job_id == a.job_id && e.namespace == a.namespace)
        }) {
            if let Some(job) = snap.job(&a.namespace, &a.job_id) {
                evals.push(new_eval(&job, trigger));
            }
        }
    }
    (evals, freed)
}

/// Each driver's (detected, healthy).
fn driver_health(
    drivers: &std::collections::BTreeMap<String, DriverInfo>,
) -> Vec<(&str, bool, bool)> {
    drivers
        .iter()
        .map(|(n, d)| (n.as_str(), d.detected, d.healthy))
        .collect()
}

/// A group's count is bounded, so that one job cannot hold the schedulers (and the state) for
/// minutes: `server { job_max_group_count }`.
pub(super) fn check_group_counts(job: &Job, max: u32) -> Result<(), ServerError> {
    match job
        .task_groups
        .iter()
        .find(|g| i64::from(g.count) > i64::from(max))
    {
        Some(g) => Err(ServerError::Invalid(format!(
            "group {:?} has count {}, more than this cluster's maximum of {max} \
             (server job_max_group_count): split it into several groups or jobs",
            g.name, g.count
        ))),
        None => Ok(()),
    }
}

/// The namespace and node pool a job names must exist.
pub(super) fn check_job_refs(t: &crate::state::Tables, job: &Job) -> Result<(), ServerError> {
    if !t.namespace_exists(&job.namespace) {
        return Err(ServerError::Invalid(format!(
            "namespace {:?} does not exist: create it with `nomadctl namespace apply {}`",
            job.namespace, job.namespace
        )));
    }
    if !t.node_pool_exists(&job.node_pool) {
        return Err(ServerError::Invalid(format!(
            "job {:?} is in nonexistent node pool {:?}: create it with `nomadctl node pool \
             apply`, or start a client with `node_pool = {:?}`",
            job.id, job.node_pool, job.node_pool
        )));
    }
    Ok(())
}

impl Server {
    pub async fn job_register(
        &self,
        mut job: Job,
        enforce_index: Option<u64>,
    ) -> Result<JobRegisterResponse, ServerError> {
        job.canonicalize();
        job.validate()
            .map_err(|e| ServerError::Invalid(e.to_string()))?;
        check_group_counts(&job, self.cfg.job_max_group_count)?;
        self.state.read(|t| check_job_refs(t, &job))?;
        let existing = self.state.read(|t| t.job(&job.namespace, &job.id));
        if let Some(want) = enforce_index {
            let have = existing.as_ref().map(|j| j.job_modify_index).unwrap_or(0);
            if have != want {
                return Err(ServerError::Conflict(format!(
                    "Enforcing job modify index {want}: job {} exists with conflicting job modify index: {have}",
                    job.id
                )));
            }
        }
        job.stop = false;
        // A parameterized job is only a template for its dispatches: nothing to schedule.
        let eval = (!job.is_parent()).then(|| new_eval(&job, TRIGGER_JOB_REGISTER));
        let (index, res) = self
            .raft
            .apply(Command::JobRegister {
                job: Box::new(job.clone()),
                eval: eval.clone(),
                now: now_nanos(),
            })
            .await
            .map_err(ServerError::Raft)?;
        self.cancel_blocked(&job.namespace, &job.id).await;
        self.enqueue_evals(&res.evals);
        // The same spec again keeps the job's modify index: answer the one it has.
        let job_modify_index = self
            .state
            .read(|t| t.job(&job.namespace, &job.id).map(|j| j.job_modify_index))
            .unwrap_or(index);
        Ok(JobRegisterResponse {
            eval_id: eval.map(|e| e.id).unwrap_or_default(),
            eval_create_index: index,
            job_modify_index,
            warnings: job.warnings().join("\n"),
            index,
        })
    }

    /// `job revert`: registers an earlier version's spec again, as a new version.
    pub async fn job_revert(
        &self,
        namespace: &str,
        job_id: &str,
        version: u64,
        enforce_prior: Option<u64>,
    ) -> Result<JobRegisterResponse, ServerError> {
        let (current, versions) = self
            .state
            .read(|t| (t.job(namespace, job_id), t.job_versions(namespace, job_id)));
        let Some(current) = current else {
            return Err(ServerError::NotFound(format!("job {job_id:?} not found")));
        };
        if let Some(prior) = enforce_prior {
            if prior != current.version {
                return Err(ServerError::Conflict(format!(
                    "Current job has version {}; enforcing version {prior}",
                    current.version
                )));
            }
        }
        if version == current.version {
            return Err(ServerError::Invalid(format!(
                "can't revert to current version {version} of job {job_id:?}"
            )));
        }
        let Some(old) = versions.iter().find(|j| j.version == version) else {
            let kept: Vec<String> = versions.iter().map(|j| j.version.to_string()).collect();
            return Err(ServerError::NotFound(format!(
                "job {job_id:?} has no version {version} (versions kept: {})",
                kept.join(", ")
            )));
        };
        self.job_register((**old).clone(), None).await
    }

    pub async fn job_deregister(
        &self,
        namespace: &str,
        job_id: &str,
        purge: bool,
    ) -> Result<JobDeregisterResponse, ServerError> {
        let Some(job) = self.state.read(|t| t.job(namespace, job_id)) else {
            return self.deregister_unknown_job(namespace, job_id).await;
        };
        let eval = new_eval(&job, TRIGGER_JOB_DEREGISTER);
        let (index, res) = self
            .raft
            .apply(Command::JobDeregister {
                namespace: namespace.into(),
                job_id: job_id.into(),
                purge,
                eval: Some(eval.clone()),
                now: now_nanos(),
            })
            .await
            .map_err(ServerError::Raft)?;
        if let Some(err) = res.error {
            return Err(ServerError::NotFound(err));
        }
        self.cancel_blocked(namespace, job_id).await;
        self.enqueue_evals(&res.evals);
        Ok(JobDeregisterResponse {
            eval_id: eval.id,
            eval_create_index: index,
            job_modify_index: index,
            index,
        })
    }

    /// Stopping a job that does not exist succeeds, as in Nomad: scripts that stop a job
    /// "to be sure" must not fail. The evaluation is committed like any other; the scheduler
    /// finds no job and nothing to stop, and completes it.
    async fn deregister_unknown_job(
        &self,
        namespace: &str,
        job_id: &str,
    ) -> Result<JobDeregisterResponse, ServerError> {
        let placeholder = Job {
            id: job_id.into(),
            namespace: namespace.into(),
            // Job's defaults: a service job of priority 50, which Nomad also uses here.
            ..Default::default()
        };
        let eval = new_eval(&placeholder, TRIGGER_JOB_DEREGISTER);
        let (index, res) = self
            .raft
            .apply(Command::EvalUpsert {
                evals: vec![eval.clone()],
            })
            .await
            .map_err(ServerError::Raft)?;
        self.enqueue_evals(&res.evals);
        Ok(JobDeregisterResponse {
            eval_id: eval.id,
            eval_create_index: index,
            job_modify_index: 0,
            index,
        })
    }

    /// A newer evaluation of the job replaces its blocked one.
    async fn cancel_blocked(&self, namespace: &str, job_id: &str) {
        if let Some(mut old) = self.blocked.untrack(&(namespace.into(), job_id.into())) {
            old.status = EVAL_STATUS_CANCELED.into();
            old.status_description = "evaluation superseded by a newer job version".into();
            let _ = self
                .raft
                .apply(Command::EvalUpsert { evals: vec![old] })
                .await;
        }
    }

    pub async fn node_register(&self, mut node: Node) -> Result<Duration, ServerError> {
        if node.id.is_empty() || node.name.is_empty() || node.datacenter.is_empty() {
            return Err(ServerError::Invalid(
                "node registration needs an ID, a Name and a Datacenter".into(),
            ));
        }
        if !node.node_pool.is_empty() {
            api::node_pool::validate_pool_name(&node.node_pool).map_err(ServerError::Invalid)?;
            if node.node_pool == api::node_pool::NODE_POOL_ALL {
                return Err(ServerError::Invalid(
                    "a node cannot be in the \"all\" node pool: it holds every node".into(),
                ));
            }
        }
        let secret_hash = self.registration_secret(&mut node)?;
        let snap = self.state.snapshot();
        let previous = snap.node(&node.id);
        let was_ready = previous
            .as_ref()
            .is_some_and(|n| n.status == NODE_STATUS_READY);
        // A driver that appeared or broke on a ready node changes what it may run: its system
        // jobs are evaluated again, as on a node that just came up.
        let drivers_changed = previous
            .as_ref()
            .is_some_and(|n| driver_health(&n.drivers) != driver_health(&node.drivers));
        // So does a move to another pool.
        let pool_changed = previous
            .as_ref()
            .is_some_and(|n| !n.node_pool.is_empty() && n.node_pool != node.node_pool);
        node.status = NODE_STATUS_READY.into();
        let evals = if was_ready && !drivers_changed && !pool_changed {
            Vec::new()
        } else {
            evals_for_node(&snap, &node.id, TRIGGER_NODE_UPDATE)
        };
        let node_id = node.id.clone();
        drop(snap);
        let (index, res) = self
            .raft
            .apply(Command::NodeRegister {
                node: Box::new(node),
                evals,
                now: now_nanos(),
                secret_hash,
            })
            .await
            .map_err(ServerError::Raft)?;
        let ttl = self.heartbeats.reset(&node_id);
        self.enqueue_evals(&res.evals);
        self.unblock(index).await;
        Ok(ttl)
    }

    pub async fn node_heartbeat(&self, node_id: &str) -> Result<Duration, ServerError> {
        let Some(ready) = self
            .state
            .read(|t| t.node(node_id).map(|n| n.status == NODE_STATUS_READY))
        else {
            return Err(ServerError::UnknownNode(node_id.into()));
        };
        if !ready {
            self.set_node_status(node_id, NODE_STATUS_READY).await?;
        }
        Ok(self.heartbeats.reset(node_id))
    }

    /// Marks a node up or down and evaluates every job it concerns.
    pub async fn set_node_status(&self, node_id: &str, status: &str) -> Result<u64, ServerError> {
        let snap = self.state.snapshot();
        if snap.node(node_id).is_none() {
            return Err(ServerError::UnknownNode(node_id.into()));
        }
        let evals = evals_for_node(&snap, node_id, TRIGGER_NODE_UPDATE);
        drop(snap);
        let (index, res) = self
            .raft
            .apply(Command::NodeStatus {
                node_id: node_id.into(),
                status: status.into(),
                evals,
                now: now_nanos(),
            })
            .await
            .map_err(ServerError::Raft)?;
        if status == NODE_STATUS_DOWN {
            self.heartbeats.remove(node_id);
        }
        self.enqueue_evals(&res.evals);
        if status == NODE_STATUS_READY {
            self.unblock(index).await;
        }
        Ok(index)
    }

    /// `node eligibility` and `node drain`: marks the node (in)eligible for new work and/or
    /// draining. A drain makes the node ineligible and evaluates every job with work on it, so
    /// the schedulers move that work elsewhere; ending a drain makes the node eligible again
    /// unless `eligibility` says otherwise. Returns the evaluations created and the index.
    pub async fn node_update_scheduling(
        &self,
        node_id: &str,
        eligibility: Option<&str>,
        drain: Option<bool>,
        deadline: Option<i64>,
    ) -> Result<(Vec<String>, u64), ServerError> {
        if let Some(e) = eligibility {
            if e != NODE_ELIGIBLE && e != NODE_INELIGIBLE {
                return Err(ServerError::Invalid(format!(
                    "invalid eligibility {e:?}: use \"{NODE_ELIGIBLE}\" or \"{NODE_INELIGIBLE}\""
                )));
            }
        }
        let snap = self.state.snapshot();
        if snap.node(node_id).is_none() {
            return Err(ServerError::UnknownNode(node_id.into()));
        }
        let eligibility = match (drain, eligibility) {
            (Some(true), _) => Some(NODE_INELIGIBLE.to_string()),
            (Some(false), None) => Some(NODE_ELIGIBLE.to_string()),
            (_, e) => e.map(str::to_string),
        };
        let evals = if drain == Some(true) {
            evals_for_node(&snap, node_id, TRIGGER_NODE_DRAIN)
        } else {
            Vec::new()
        };
        let eval_ids = evals.iter().map(|e| e.id.clone()).collect();
        let now = now_nanos();
        let drain_strategy = (drain == Some(true)).then(|| {
            let deadline = deadline.unwrap_or(-1);
            DrainStrategy {
                deadline,
                ignore_system_jobs: false,
                force_deadline: if deadline > 0 {
                    now.saturating_add(deadline)
                } else {
                    0
                },
                started_at: now,
            }
        });
        drop(snap);
        let (index, res) = self
            .raft
            .apply(Command::NodeSchedulingUpdate {
                node_id: node_id.into(),
                eligibility: eligibility.clone(),
                drain,
                drain_strategy,
                evals,
                now,
            })
            .await
            .map_err(ServerError::Raft)?;
        if let Some(e) = &res.error {
            return Err(ServerError::Invalid(e.clone()));
        }
        self.enqueue_evals(&res.evals);
        if eligibility.as_deref() == Some(NODE_ELIGIBLE) {
            // New capacity: blocked evaluations may fit now.
            self.unblock(index).await;
        }
        Ok((eval_ids, index))
    }

    /// Blocking query for a client: its allocations once any of them changed past `min_index`;
    /// only those `known` does not have are copied and sent in full (see alloc_sync.rs).
    pub async fn node_allocations(
        &self,
        node_id: &str,
        min_index: u64,
        wait: Duration,
        known: &crate::rpc::KnownAllocs,
    ) -> Result<crate::rpc::NodeAllocs, ServerError> {
        self.state.wait_node_allocs(node_id, min_index, wait).await;
        Ok(self.state.read(|t| {
            let index = t.node_allocs_index(node_id).max(1);
            crate::rpc::alloc_sync::answer(t.allocs_by_node(node_id).map(|a| &**a), known, index)
        }))
    }

    /// Client reports. A newly failed allocation triggers an evaluation so it is rescheduled;
    /// a finished one frees capacity for blocked evaluations.
    pub async fn update_allocs(&self, updates: Vec<AllocClientUpdate>) -> Result<u64, ServerError> {
        // Read in place: thousands of clients report, and a snapshot alive while raft applies
        // makes the write copy what it touches.
        let (evals, freed) = self.state.read(|snap| report_consequences(snap, &updates));
        self.commit_alloc_report(QueuedReport {
            updates,
            evals,
            freed,
        })
        .await
    }

    /// `alloc stop`: the allocation is stopped and the scheduler places its replacement.
    pub async fn alloc_stop(&self, alloc_id: &str) -> Result<AllocStopResponse, ServerError> {
        let snap = self.state.snapshot();
        let Some(a) = snap.alloc(alloc_id) else {
            return Err(ServerError::NotFound(format!("alloc {alloc_id} not found")));
        };
        let Some(job) = snap.job(&a.namespace, &a.job_id) else {
            return Err(ServerError::NotFound(format!("job {} not found", a.job_id)));
        };
        let eval = new_eval(&job, TRIGGER_ALLOC_STOP);
        drop(snap);
        let (index, res) = self
            .raft
            .apply(Command::AllocStop {
                alloc_id: alloc_id.into(),
                eval: Box::new(eval.clone()),
                now: now_nanos(),
            })
            .await
            .map_err(ServerError::Raft)?;
        self.enqueue_evals(&res.evals);
        self.unblock(index).await;
        Ok(AllocStopResponse {
            eval_id: eval.id,
            index,
        })
    }

    /// Records evaluations' new state (used by workers).
    pub(super) async fn commit_evals(&self, evals: Vec<Evaluation>) -> Result<u64, ServerError> {
        let (index, _) = self
            .raft
            .apply(Command::EvalUpsert { evals })
            .await
            .map_err(ServerError::Raft)?;
        Ok(index)
    }
}
