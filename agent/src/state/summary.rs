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
            children: JobChildrenSummary::default(),
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
        if live_alloc {
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
            status: self.job_status(job).into(),
            status_description: job.status_description.clone(),
            stop: job.stop,
            version: job.version,
            job_summary: Some(self.job_summary(job)),
            submit_time: job.submit_time,
            create_index: job.create_index,
            modify_index: job.modify_index,
            job_modify_index: job.job_modify_index,
        }
    }
}
