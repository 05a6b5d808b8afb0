//! Derived views: a job's summary (allocations per state per group) and its status, read from
//! the counts kept over each job's allocations (alloc_tally.rs).

use super::tables::Tables;
use api::*;
use std::collections::BTreeMap;

impl Tables {
    pub fn job_summary(&self, job: &Job) -> JobSummary {
        let mut summary: BTreeMap<String, TaskGroupSummary> = job
            .task_groups
            .iter()
            .map(|g| (g.name.clone(), TaskGroupSummary::default()))
            .collect();
        let groups = self
            .alloc_tally(&job.namespace, &job.id)
            .map(|t| &t.groups)
            .into_iter()
            .flatten();
        for (name, g) in groups {
            let s = summary.entry(name.clone()).or_default();
            s.starting = g.starting;
            s.running = g.running;
            s.complete = g.complete;
            s.failed = g.failed;
            s.lost = g.lost;
            s.unknown = g.unknown;
        }
        // Queued: what the newest evaluation of the job could not place yet.
        if let Some(eval) = self
            .evals_for_job(&job.namespace, &job.id)
            .into_iter()
            .filter(|e| e.status != EVAL_STATUS_BLOCKED)
            .max_by_key(|e| e.modify_index)
        {
            for (g, n) in &eval.queued_allocations {
                if let Some(s) = summary.get_mut(g) {
                    s.queued = *n;
                }
            }
        }
        JobSummary {
            job_id: job.id.clone(),
            namespace: job.namespace.clone(),
            summary,
            children: if job.is_parent() {
                self.children_summary(job)
            } else {
                JobChildrenSummary::default()
            },
            create_index: job.create_index,
            modify_index: self.allocs_index.max(job.modify_index),
        }
    }

    /// Nomad's job status: "pending" until something runs, "running" while any allocation or
    /// evaluation is live, "dead" once the job is stopped or everything finished.
    pub fn job_status(&self, job: &Job) -> &'static str {
        let tally = self.alloc_tally(&job.namespace, &job.id);
        let live_alloc = tally.is_some_and(|t| t.live > 0);
        if job.stop {
            return if live_alloc {
                JOB_STATUS_RUNNING
            } else {
                JOB_STATUS_DEAD
            };
        }
        if live_alloc || job.is_parent() {
            // A parameterized or periodic job stays "running" while it may launch children, as
            // in Nomad.
            return JOB_STATUS_RUNNING;
        }
        let pending_eval = self
            .evals_for_job(&job.namespace, &job.id)
            .iter()
            .any(|e| !e.terminal());
        if pending_eval || tally.is_none_or(|t| t.is_empty()) {
            return JOB_STATUS_PENDING;
        }
        // Every allocation finished and nothing is queued.
        JOB_STATUS_DEAD
    }

    /// A parent's children by status. Children are rare next to other jobs, and only parents
    /// pay for the scan.
    fn children_summary(&self, job: &Job) -> JobChildrenSummary {
        let mut c = JobChildrenSummary::default();
        for child in self.children_of(&job.namespace, &job.id) {
            match self.job_status(&child) {
                JOB_STATUS_PENDING => c.pending += 1,
                JOB_STATUS_RUNNING => c.running += 1,
                _ => c.dead += 1,
            }
        }
        c
    }

    /// A copy of the job with its status filled in, as the API returns it.
    pub fn job_with_status(&self, job: &Job) -> Job {
        let mut j = job.clone();
        j.status = self.job_status(job).into();
        j
    }

    pub fn job_stub(&self, job: &Job) -> JobListStub {
        JobListStub {
            id: job.id.clone(),
            name: job.name.clone(),
            namespace: job.namespace.clone(),
            job_type: job.job_type.clone(),
            priority: job.priority,
            datacenters: job.datacenters.clone(),
            node_pool: job.node_pool.clone(),
            status: self.job_status(job).into(),
            status_description: job.status_description.clone(),
            stop: job.stop,
            version: job.version,
            job_summary: Some(self.job_summary(job)),
            submit_time: job.submit_time,
            create_index: job.create_index,
            modify_index: job.modify_index,
            job_modify_index: job.job_modify_index,
            meta: None,
            parent_id: job.parent_id.clone(),
            periodic: job.periodic.is_some(),
            parameterized_job: job.parameterized_job.is_some(),
        }
    }
}

impl Tables {
    /// `GET /v1/job/:id/scale`: per group, the count asked and what its live allocations are
    /// doing. Counted over the job's allocations: an operator's read, not a hot path.
    pub fn job_scale_status(&self, job: &Job) -> JobScaleStatus {
        let mut groups: BTreeMap<String, TaskGroupScaleStatus> = job
            .task_groups
            .iter()
            .map(|g| {
                let status = TaskGroupScaleStatus {
                    desired: i64::from(g.count),
                    ..Default::default()
                };
                (g.name.clone(), status)
            })
            .collect();
        for a in self.allocs_for_job(&job.namespace, &job.id).iter() {
            if a.terminal() {
                continue;
            }
            let Some(g) = groups.get_mut(&a.task_group) else {
                continue;
            };
            g.placed += 1;
            if a.client_status == ALLOC_CLIENT_RUNNING {
                g.running += 1;
            }
            match a.deployment_status.as_ref().and_then(|d| d.healthy) {
                Some(true) => g.healthy += 1,
                Some(false) => g.unhealthy += 1,
                None => {}
            }
        }
        if let Some(events) = self
            .scaling_events
            .get(&(job.namespace.clone(), job.id.clone()))
        {
            for (group, list) in events.iter() {
                if let Some(g) = groups.get_mut(group) {
                    g.events = list.clone();
                }
            }
        }
        JobScaleStatus {
            job_id: job.id.clone(),
            namespace: job.namespace.clone(),
            job_create_index: job.create_index,
            job_modify_index: job.job_modify_index,
            job_stopped: job.stop,
            task_groups: groups,
        }
    }
}

impl Tables {
    /// `/v1/system/reconcile/summaries`: counts every job's allocations again and replaces the
    /// kept tallies with the result. The tallies are kept exactly as writes happen (tested), so
    /// this repairs nothing in a correct state; it is Nomad's safety valve, and the count of
    /// jobs whose tally changed says whether it was needed.
    pub fn reconcile_summaries(&mut self) -> usize {
        let mut fresh: BTreeMap<super::tables::JobKey, super::alloc_tally::JobTally> =
            BTreeMap::new();
        for a in self.allocs.values() {
            fresh
                .entry((a.namespace.clone(), a.job_id.clone()))
                .or_default()
                .count(a, 1);
        }
        let mut changed = self
            .alloc_tallies
            .keys()
            .filter(|k| !fresh.contains_key(*k))
            .count();
        changed += fresh
            .iter()
            .filter(|(k, t)| self.alloc_tallies.get(*k).map(|kept| &**kept) != Some(*t))
            .count();
        self.alloc_tallies = fresh
            .into_iter()
            .map(|(k, t)| (k, std::sync::Arc::new(t)))
            .collect();
        changed
    }
}
