//! The deployments table: one rollout per job version, created by the scheduler's plans, its
//! counts kept by the state machine as allocations are placed and judged healthy, its status set
//! by the deployment watcher and by operators (promote, fail).

use super::command::DeploymentStatusUpdate;
use super::events::Change;
use super::id_key::IdKey;
use super::tables::{JobKey, Tables};
use api::*;
use std::sync::Arc;

impl Tables {
    pub fn deployment(&self, id: &str) -> Option<Arc<Deployment>> {
        self.deployments.get(id).cloned()
    }

    pub fn deployments(&self) -> impl Iterator<Item = &Arc<Deployment>> {
        self.deployments.values()
    }

    /// A job's deployments, newest first.
    pub fn deployments_for_job(&self, ns: &str, job: &str) -> Vec<Arc<Deployment>> {
        let mut out: Vec<Arc<Deployment>> = self
            .deployments_by_job
            .get(&(ns.to_string(), job.to_string()))
            .map(|ids| {
                ids.iter()
                    .filter_map(|id| self.deployments.get(id).cloned())
                    .collect()
            })
            .unwrap_or_default();
        out.sort_by_key(|d| std::cmp::Reverse(d.create_index));
        out
    }

    pub fn latest_deployment(&self, ns: &str, job: &str) -> Option<Arc<Deployment>> {
        self.deployments_for_job(ns, job).into_iter().next()
    }

    fn put_deployment(&mut self, d: Deployment) {
        let key: JobKey = (d.namespace.clone(), d.job_id.clone());
        self.deployments_by_job
            .entry(key)
            .or_default()
            .insert(d.id.clone());
        let d = Arc::new(d);
        self.changes.push(Change::Deployment(d.clone()));
        self.deployments.insert(d.id.clone(), d);
    }

    /// Changes a stored deployment, if there is one.
    fn change_deployment(
        &mut self,
        index: u64,
        now: i64,
        id: &str,
        f: impl FnOnce(&mut Deployment),
    ) {
        let Some(existing) = self.deployments.get(id) else {
            return;
        };
        let mut d = (**existing).clone();
        f(&mut d);
        d.modify_index = index;
        d.modify_time = now;
        self.put_deployment(d);
        self.deployments_index = index;
    }

    /// A plan's new deployments. One that exists already keeps the state's counts.
    pub(crate) fn create_deployments(&mut self, index: u64, now: i64, list: &[Deployment]) {
        for d in list {
            if self.deployments.contains_key(&d.id) {
                continue;
            }
            let mut d = d.clone();
            d.create_index = index;
            d.modify_index = index;
            d.create_time = now;
            d.modify_time = now;
            self.put_deployment(d);
            self.deployments_index = index;
        }
    }

    /// Why deployment `id` can no longer be given a verdict, if it cannot: it is not running, or
    /// its job moved on to another version (or was stopped).
    pub(crate) fn deployment_outdated(&self, id: &str) -> Option<String> {
        let Some(d) = self.deployments.get(id) else {
            return Some(format!("deployment {id} not found"));
        };
        if !d.active() {
            return Some(format!("deployment {id} is {} already", d.status));
        }
        let job = self.jobs.get(&(d.namespace.clone(), d.job_id.clone()));
        match job {
            Some(j) if j.version == d.job_version && !j.stop => None,
            _ => Some(format!(
                "deployment {id} is outdated: job {:?} is no longer at version {}",
                d.job_id, d.job_version
            )),
        }
    }

    pub(crate) fn update_deployment_status(
        &mut self,
        index: u64,
        now: i64,
        u: &DeploymentStatusUpdate,
    ) {
        let mut stable = None;
        self.change_deployment(index, now, &u.deployment_id, |d| {
            // A resumed deployment gets its progress deadlines afresh: the pause is not a stall.
            if d.status == DEPLOYMENT_STATUS_PAUSED && u.status == DEPLOYMENT_STATUS_RUNNING {
                for g in d
                    .task_groups
                    .values_mut()
                    .filter(|g| g.progress_deadline > 0)
                {
                    g.require_progress_by =
                        api::time::rfc3339_nanos(now.saturating_add(g.progress_deadline));
                }
            }
            d.status = u.status.clone();
            d.status_description = u.status_description.clone();
            if d.status == DEPLOYMENT_STATUS_SUCCESSFUL {
                stable = Some((d.namespace.clone(), d.job_id.clone(), d.job_version));
            }
        });
        // A version whose deployment succeeded is stable: auto-revert goes back to it.
        if let Some((ns, job_id, version)) = stable {
            self.mark_stable(index, &ns, &job_id, version);
        }
    }

    fn mark_stable(&mut self, index: u64, ns: &str, job_id: &str, version: u64) {
        let key: JobKey = (ns.to_string(), job_id.to_string());
        let Some(versions) = self.job_versions.get_mut(&key) else {
            return;
        };
        let Some(v) = versions.get(&version).cloned() else {
            return;
        };
        let mut v = (*v).clone();
        v.stable = true;
        let v = Arc::new(v);
        versions.insert(version, v.clone());
        if self.jobs.get(&key).is_some_and(|j| j.version == version) {
            let mut j = (*self.jobs[&key]).clone();
            j.stable = true;
            j.modify_index = index;
            let j = Arc::new(j);
            self.changes.push(Change::Job(j.clone()));
            self.jobs.insert(key, j);
            self.jobs_index = index;
        }
    }

    /// Marks canaries promoted, in every group or the named ones.
    pub(crate) fn promote_deployment(
        &mut self,
        index: u64,
        now: i64,
        id: &str,
        groups: Option<&[String]>,
    ) {
        self.change_deployment(index, now, id, |d| {
            for (name, g) in d.task_groups.iter_mut() {
                if g.desired_canaries > 0 && groups.is_none_or(|l| l.contains(name)) {
                    g.promoted = true;
                }
            }
            if d.status == DEPLOYMENT_STATUS_RUNNING && !d.requires_promotion() {
                d.status_description = DEPLOYMENT_DESC_RUNNING.into();
            }
        });
        // Promoted canaries are canaries no more (their services take the regular tags); the
        // deployment's placed_canaries still names them for the scheduler.
        let Some(d) = self.deployments.get(id).cloned() else {
            return;
        };
        let promoted: Vec<String> = d
            .task_groups
            .iter()
            .filter(|(name, g)| g.promoted && groups.is_none_or(|l| l.contains(name)))
            .flat_map(|(_, g)| g.placed_canaries.iter().cloned())
            .collect();
        for alloc_id in promoted {
            let Some(existing) = self.allocs.get(&IdKey::new(&alloc_id)).cloned() else {
                continue;
            };
            let mut a = (*existing).clone();
            if let Some(s) = a.deployment_status.as_mut() {
                s.canary = false;
                s.modify_index = index;
            }
            a.modify_index = index;
            a.alloc_modify_index = index;
            a.modify_time = now;
            self.put_alloc(a);
            self.allocs_index = index;
        }
    }

    /// A placed allocation of a deployment counts as placed (and as a canary when it is one).
    pub(crate) fn count_placed(&mut self, index: u64, now: i64, a: &Allocation) {
        if a.deployment_id.is_empty() {
            return;
        }
        let canary = a.deployment_status.as_ref().is_some_and(|s| s.canary);
        let (group, id) = (a.task_group.clone(), a.id.clone());
        self.change_deployment(index, now, &a.deployment_id, |d| {
            if let Some(g) = d.task_groups.get_mut(&group) {
                g.placed_allocs += 1;
                if canary {
                    g.placed_canaries.push(id);
                }
            }
        });
    }

    /// A client judged an allocation of a deployment: healthy moves the progress deadline on.
    pub(crate) fn count_health(&mut self, index: u64, now: i64, a: &Allocation, healthy: bool) {
        if a.deployment_id.is_empty() {
            return;
        }
        let group = a.task_group.clone();
        self.change_deployment(index, now, &a.deployment_id, |d| {
            if let Some(g) = d.task_groups.get_mut(&group) {
                if healthy {
                    g.healthy_allocs += 1;
                    g.require_progress_by =
                        api::time::rfc3339_nanos(now.saturating_add(g.progress_deadline));
                } else {
                    g.unhealthy_allocs += 1;
                }
            }
        });
    }
}
