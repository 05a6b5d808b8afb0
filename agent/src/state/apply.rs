//! The state machine: applies one command to the tables. Pure and deterministic: no clock, no
//! randomness, no IO, so every replica (and a replay after restart) reaches the same state.

use super::command::{ApplyResult, Command};
use super::events::Change;
use super::id_key::IdKey;
use super::tables::{JobKey, Tables, JOB_TRACKED_VERSIONS};
use api::alloc_jobs::JobIndex;
use api::*;
use std::sync::Arc;

impl Tables {
    /// Changes a stored node with `change`, stamps it, and records the evaluations that follow.
    fn update_node(
        &mut self,
        index: u64,
        node_id: &str,
        now: i64,
        evals: &[Evaluation],
        change: impl FnOnce(&mut Node),
    ) -> ApplyResult {
        let Some(existing) = self.nodes.get(node_id).cloned() else {
            return ApplyResult {
                error: Some(format!("node {node_id} not found")),
                ..Default::default()
            };
        };
        let mut node = (*existing).clone();
        change(&mut node);
        // When the status last changed (a disconnected node's `since`), not any update's time.
        if node.status != existing.status {
            node.status_updated_at = now / 1_000_000_000;
        }
        node.modify_index = index;
        let node = Arc::new(node);
        self.changes.push(Change::Node(node.clone()));
        self.nodes.insert(node_id.to_string(), node);
        self.nodes_index = index;
        self.upsert_evals(index, evals)
    }

    pub fn apply(&mut self, index: u64, cmd: &Command) -> ApplyResult {
        self.index = index;
        match cmd {
            Command::JobRegister { job, eval, now } => {
                self.apply_job_register(index, job, eval, *now)
            }
            Command::JobDeregister {
                namespace,
                job_id,
                purge,
                eval,
                now,
            } => self.apply_job_deregister(index, namespace, job_id, *purge, eval, *now),
            Command::NodeRegister {
                node,
                evals,
                now,
                secret_hash,
            } => {
                if !secret_hash.is_empty() {
                    self.node_secrets
                        .insert(node.id.clone(), secret_hash.clone());
                }
                self.apply_node_register(index, node, *now);
                self.upsert_evals(index, evals)
            }
            Command::NodeStatus {
                node_id,
                status,
                evals,
                now,
            } => {
                if status == NODE_STATUS_DOWN || status == api::NODE_STATUS_DISCONNECTED {
                    // Its instances cannot be reached: out of the catalog before anything else.
                    self.remove_node_services(index, node_id);
                }
                self.update_node(index, node_id, *now, evals, |node| {
                    node.status = status.clone();
                })
            }
            Command::NodeSchedulingUpdate {
                node_id,
                eligibility,
                drain,
                drain_strategy,
                evals,
                now,
            } => self.update_node(index, node_id, *now, evals, |node| {
                if let Some(e) = eligibility {
                    node.scheduling_eligibility = e.clone();
                }
                if let Some(d) = drain {
                    node.drain = *d;
                    node.drain_strategy = if *d { drain_strategy.clone() } else { None };
                }
            }),
            Command::EvalUpsert { evals } => self.upsert_evals(index, evals),
            Command::PlanApply {
                updated,
                placed,
                evals,
                now,
                deployments,
                deployment_updates,
                jobs,
            } => {
                let jobs = JobIndex::new(jobs);
                self.create_deployments(index, *now, deployments);
                for u in deployment_updates {
                    self.update_deployment_status(index, *now, u);
                }
                for a in updated {
                    let mut a = a.clone();
                    let existing = self.allocs.get(&IdKey::new(&a.id)).cloned();
                    self.give_plan_alloc_its_job(&mut a, existing.as_deref(), &jobs);
                    if let Some(existing) = existing {
                        a.create_index = existing.create_index;
                        a.create_time = existing.create_time;
                        // The client owns these and may have reported since the scheduler's
                        // snapshot: a plan must not roll them back, except to mark it lost, or
                        // unknown while its node is disconnected (unless it finished).
                        a.task_states = existing.task_states.clone();
                        let unknown = a.client_status == api::ALLOC_CLIENT_UNKNOWN
                            && !existing.client_terminal()
                            && self
                                .nodes
                                .get(&a.node_id)
                                .is_some_and(|n| n.status == api::NODE_STATUS_DISCONNECTED);
                        if a.client_status != ALLOC_CLIENT_LOST && !unknown {
                            a.client_status = existing.client_status.clone();
                            a.client_description = existing.client_description.clone();
                        }
                    } else {
                        a.create_index = index;
                    }
                    a.modify_index = index;
                    a.alloc_modify_index = index;
                    a.modify_time = *now;
                    if a.terminal() {
                        // Stopped, evicted or lost: no more traffic, even before the client
                        // deregisters (it may be unreachable).
                        self.remove_alloc_services(index, [a.id.as_str()]);
                    }
                    self.put_alloc(a);
                }
                for a in placed {
                    let mut a = a.clone();
                    // New: the plan applier found none of them in the state.
                    self.give_plan_alloc_its_job(&mut a, None, &jobs);
                    a.create_index = index;
                    a.modify_index = index;
                    a.alloc_modify_index = index;
                    a.create_time = *now;
                    a.modify_time = *now;
                    self.count_placed(index, *now, &a);
                    self.put_alloc(a);
                }
                if !updated.is_empty() || !placed.is_empty() {
                    self.allocs_index = index;
                }
                self.upsert_evals(index, evals)
            }
            Command::AllocClientUpdate {
                updates,
                evals,
                now,
            } => {
                for u in updates {
                    let Some(existing) = self.allocs.get(&IdKey::new(&u.id)).cloned() else {
                        continue;
                    };
                    let mut a = (*existing).clone();
                    // A lost allocation stays lost even if a late report arrives.
                    if a.client_status != ALLOC_CLIENT_LOST {
                        a.client_status = u.client_status.clone();
                        a.client_description = u.client_description.clone();
                    }
                    a.task_states = u.task_states.clone();
                    // A verdict made for an earlier deployment (sent before the client saw the
                    // allocation move into this one) is not this deployment's.
                    let current = u.deployment_id.is_empty() || u.deployment_id == a.deployment_id;
                    if let Some(health) = u.deployment_status.as_ref().filter(|_| current) {
                        // The client judges health; the scheduler owns whether it is a canary.
                        let before = a.deployment_status.as_ref().and_then(|d| d.healthy);
                        let canary = a.deployment_status.as_ref().is_some_and(|d| d.canary);
                        if before.is_none() {
                            if let Some(healthy) = health.healthy {
                                self.count_health(index, *now, &a, healthy);
                            }
                        }
                        a.deployment_status = Some(AllocDeploymentStatus {
                            canary,
                            modify_index: index,
                            ..health.clone()
                        });
                    }
                    a.modify_index = index;
                    a.modify_time = *now;
                    if a.client_terminal() {
                        self.remove_alloc_services(index, [a.id.as_str()]);
                    }
                    self.put_alloc(a);
                }
                if !updates.is_empty() {
                    self.allocs_index = index;
                }
                self.upsert_evals(index, evals)
            }
            Command::AllocStop {
                alloc_id,
                eval,
                now,
            } => {
                let Some(existing) = self.allocs.get(&IdKey::new(alloc_id)).cloned() else {
                    return ApplyResult {
                        error: Some(format!("allocation {alloc_id} not found")),
                        ..Default::default()
                    };
                };
                let mut a = (*existing).clone();
                a.desired_status = ALLOC_DESIRED_STOP.into();
                a.desired_description = "alloc was stopped by an operator".into();
                a.modify_index = index;
                a.alloc_modify_index = index;
                a.modify_time = *now;
                self.remove_alloc_services(index, [a.id.as_str()]);
                self.put_alloc(a);
                self.allocs_index = index;
                self.upsert_evals(index, std::slice::from_ref(&**eval))
            }
            Command::AllocTransition {
                alloc_ids,
                transition,
                evals,
            } => {
                for id in alloc_ids {
                    let Some(existing) = self.allocs.get(&IdKey::new(id)).cloned() else {
                        continue;
                    };
                    let mut a = (*existing).clone();
                    a.desired_transition = *transition;
                    a.modify_index = index;
                    a.alloc_modify_index = index;
                    self.put_alloc(a);
                    self.allocs_index = index;
                }
                self.upsert_evals(index, evals)
            }
            Command::NamespaceUpsert { namespaces } => {
                self.apply_namespace_upsert(index, namespaces)
            }
            Command::NamespaceDelete { names } => self.apply_namespace_delete(index, names),
            Command::NodePoolUpsert { pools } => self.apply_node_pool_upsert(index, pools),
            Command::NodePoolDelete { names } => self.apply_node_pool_delete(index, names),
            Command::VarWrite(w) => self.apply_var_write(index, w),
            Command::RootKeyUpsert { key } => self.apply_root_key_upsert(key),
            Command::ScalingEventAdd {
                namespace,
                job_id,
                group,
                event,
            } => {
                let key = (namespace.clone(), job_id.clone());
                let mut event = event.clone();
                event.create_index = index;
                let groups = Arc::make_mut(self.scaling_events.entry(key).or_default());
                let list = groups.entry(group.clone()).or_default();
                list.insert(0, event);
                list.truncate(api::MAX_SCALING_EVENTS);
                self.jobs_index = index;
                ApplyResult::default()
            }
            Command::ReconcileSummaries => {
                let changed = self.reconcile_summaries();
                if changed > 0 {
                    tracing::warn!(changed, "job summaries differed from a recount: repaired");
                }
                self.allocs_index = index;
                ApplyResult::default()
            }
            Command::ServiceUpdate { upsert, delete } => {
                self.update_services(index, upsert, delete);
                ApplyResult::default()
            }
            Command::DeploymentStatus {
                update,
                revert_to,
                evals,
                now,
            } => {
                // Decided on an older state: if the deployment ended meanwhile, or a newer
                // version was registered, the verdict (and its rollback) no longer applies.
                if let Some(why) = self.deployment_outdated(&update.deployment_id) {
                    return ApplyResult {
                        error: Some(why),
                        ..Default::default()
                    };
                }
                self.update_deployment_status(index, *now, update);
                let mut res = match revert_to {
                    Some(job) => self.apply_job_register(index, job, &None, *now),
                    None => ApplyResult::default(),
                };
                res.evals = self.upsert_evals(index, evals).evals;
                res
            }
            Command::DeploymentPromote {
                deployment_id,
                groups,
                evals,
                now,
            } => {
                self.promote_deployment(index, *now, deployment_id, groups.as_deref());
                self.upsert_evals(index, evals)
            }
            Command::AclPolicyUpsert { policies } => self.apply_acl_policy_upsert(index, policies),
            Command::AclPolicyDelete { names } => self.apply_acl_policy_delete(index, names),
            Command::AclTokenUpsert { tokens, bootstrap } => {
                self.apply_acl_token_upsert(index, tokens, *bootstrap)
            }
            Command::AclTokenDelete { accessors } => self.apply_acl_token_delete(index, accessors),
            Command::GarbageCollect { collect } => ApplyResult {
                collected: Some(self.apply_gc(index, collect)),
                ..Default::default()
            },
        }
    }

    fn apply_job_register(
        &mut self,
        index: u64,
        job: &Job,
        eval: &Option<Evaluation>,
        now: i64,
    ) -> ApplyResult {
        let key: JobKey = (job.namespace.clone(), job.id.clone());
        let mut job = job.clone();
        match self.jobs.get(&key) {
            // The same spec again is no new version: only the job's modify index moves.
            Some(prev) if prev.same_spec(&job) => {
                job.version = prev.version;
                job.create_index = prev.create_index;
                job.job_modify_index = prev.job_modify_index;
                job.submit_time = prev.submit_time;
                job.stable = prev.stable;
            }
            Some(prev) => {
                job.version = prev.version + 1;
                job.create_index = prev.create_index;
                job.job_modify_index = index;
                job.submit_time = now;
                job.stable = false;
            }
            None => {
                job.version = 0;
                job.create_index = index;
                job.job_modify_index = index;
                job.submit_time = now;
                job.stable = false;
            }
        }
        job.modify_index = index;
        job.status = if job.stop {
            JOB_STATUS_DEAD
        } else {
            JOB_STATUS_PENDING
        }
        .into();
        let version = job.version;
        self.put_job_version(key, job);
        self.jobs_index = index;
        let mut res = self.upsert_evals(index, eval.as_slice());
        res.job_version = Some(version);
        res
    }

    fn apply_job_deregister(
        &mut self,
        index: u64,
        ns: &str,
        id: &str,
        purge: bool,
        eval: &Option<Evaluation>,
        now: i64,
    ) -> ApplyResult {
        let key: JobKey = (ns.to_string(), id.to_string());
        let Some(existing) = self.jobs.get(&key).cloned() else {
            return ApplyResult {
                error: Some(format!("job {id:?} not found")),
                ..Default::default()
            };
        };
        if purge {
            self.changes.push(Change::JobPurged(existing.clone()));
            self.families.remove(&existing);
            self.jobs.remove(&key);
            self.job_versions.remove(&key);
            self.scaling_events.remove(&key);
        } else {
            let mut job = (*existing).clone();
            job.stop = true;
            job.modify_index = index;
            job.job_modify_index = index;
            job.submit_time = now;
            job.version += 1;
            self.put_job_version(key, job);
        }
        self.jobs_index = index;
        self.upsert_evals(index, eval.as_slice())
    }

    /// Makes `job` the current version and keeps the newest few versions.
    /// An allocation in a plan command comes without its job: it runs the version it already
    /// ran (a stop), else the one the command carries, else the state's copy of that version.
    /// `existing`: the state's version of the allocation, if it has one.
    fn give_plan_alloc_its_job(
        &self,
        a: &mut Allocation,
        existing: Option<&Allocation>,
        jobs: &JobIndex,
    ) {
        if a.job.is_some() {
            return;
        }
        a.job = existing
            .filter(|old| old.job_version == a.job_version)
            .and_then(|old| old.job.clone())
            .or_else(|| jobs.get(a).cloned())
            .or_else(|| self.job_version(&a.namespace, &a.job_id, a.job_version));
    }

    fn put_job_version(&mut self, key: JobKey, job: Job) {
        let version = job.version;
        let job = Arc::new(job);
        self.changes.push(Change::Job(job.clone()));
        self.families.add(&job);
        self.jobs.insert(key.clone(), job.clone());
        let versions = self.job_versions.entry(key).or_default();
        versions.insert(version, job);
        while versions.len() > JOB_TRACKED_VERSIONS {
            let Some(oldest) = versions.keys().next().copied() else {
                break;
            };
            versions.remove(&oldest);
        }
    }

    fn apply_node_register(&mut self, index: u64, node: &Node, now: i64) {
        let mut node = node.clone();
        // Never stored: only its hash is, in `node_secrets`.
        node.secret_id.clear();
        match self.nodes.get(&node.id) {
            Some(prev) => {
                node.create_index = prev.create_index;
                // Operator decisions survive a client re-registering.
                node.scheduling_eligibility = prev.scheduling_eligibility.clone();
                node.drain = prev.drain;
            }
            None => node.create_index = index,
        }
        if node.scheduling_eligibility.is_empty() {
            node.scheduling_eligibility = NODE_ELIGIBLE.into();
        }
        node.modify_index = index;
        node.status_updated_at = now / 1_000_000_000;
        if node.node_pool.is_empty() {
            node.node_pool = api::node_pool::NODE_POOL_DEFAULT.into();
        }
        self.ensure_node_pool(index, &node.node_pool);
        let node = Arc::new(node);
        self.changes.push(Change::Node(node.clone()));
        self.nodes.insert(node.id.clone(), node);
        self.nodes_index = index;
    }

    fn upsert_evals(&mut self, index: u64, evals: &[Evaluation]) -> ApplyResult {
        let mut out = Vec::with_capacity(evals.len());
        for e in evals {
            let mut e = e.clone();
            match self.evals.get(&e.id) {
                Some(prev) => e.create_index = prev.create_index,
                None => e.create_index = index,
            }
            e.modify_index = index;
            out.push(self.put_eval(e));
        }
        if !evals.is_empty() {
            self.evals_index = index;
        }
        ApplyResult {
            evals: out,
            ..Default::default()
        }
    }
}
