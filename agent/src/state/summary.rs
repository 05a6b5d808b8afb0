//! Derived views: a job's summary (allocations per state per group) and its status. Computed from
//! the tables on read, so they can never drift from the allocations they describe.

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
        for a in self.allocs_for_job(&job.namespace, &job.id) {
            let s = summary.entry(a.task_group.clone()).or_default();
            match a.client_status.as_str() {
                ALLOC_CLIENT_PENDING if !a.server_terminal() => s.starting += 1,
                ALLOC_CLIENT_RUNNING => s.running += 1,
                ALLOC_CLIENT_COMPLETE => s.complete += 1,
                ALLOC_CLIENT_FAILED => s.failed += 1,
                ALLOC_CLIENT_LOST => s.lost += 1,
                _ => {}
            }
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
        let allocs = self.allocs_for_job(&job.namespace, &job.id);
        let live_alloc = allocs.iter().any(|a| !a.terminal());
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
        if pending_eval || allocs.is_empty() {
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
