//! `job plan`: the real scheduler, run on a copy of the state in which the job is registered,
//! with nothing written anywhere. The copy shares structure with the state, so it costs nothing
//! but the scheduling itself.

use super::endpoints::new_eval;
use super::{now_nanos, Server, ServerError};
use crate::scheduler::{self, Plan, SchedulerContext, DESC_MIGRATING, DESC_UPDATING};
use crate::state::{Command, Tables};
use api::diff::job_diff;
use api::*;
use std::collections::{BTreeMap, BTreeSet};

impl Server {
    pub async fn job_plan(&self, job: Job, diff: bool) -> Result<JobPlanResponse, ServerError> {
        super::endpoints::check_group_counts(&job, self.cfg.job_max_group_count)?;
        let snap = self.state.snapshot();
        let now = now_nanos();
        tokio::task::spawn_blocking(move || dry_run(snap, job, now, diff))
            .await
            .map_err(|e| ServerError::Unavailable(format!("the plan's scheduler stopped: {e}")))?
    }
}

/// The plan of `job` against `snap` (a copy of the state, changed here and dropped): the
/// scheduler's outcome as Nomad's response, with the diff when asked.
pub fn dry_run(
    mut snap: Tables,
    mut job: Job,
    now: i64,
    diff: bool,
) -> Result<JobPlanResponse, ServerError> {
    job.canonicalize();
    job.validate()
        .map_err(|e| ServerError::Invalid(e.to_string()))?;
    super::endpoints::check_job_refs(&snap, &job)?;
    job.stop = false;
    let existing = snap.job(&job.namespace, &job.id);
    let eval = new_eval(&job, TRIGGER_JOB_REGISTER);
    let index = snap.index + 1;
    snap.apply(
        index,
        &Command::JobRegister {
            job: Box::new(job.clone()),
            eval: Some(eval.clone()),
            now,
        },
    );
    let ctx = SchedulerContext::new(now, index);
    let outcome = scheduler::schedule(&eval, &snap, &ctx);
    let planned = snap
        .job(&job.namespace, &job.id)
        .ok_or_else(|| ServerError::Unavailable("the planned job vanished".into()))?;
    let updates = annotate(&snap, &planned, &outcome.plan);
    let diff = diff.then(|| {
        let mut d = job_diff(existing.as_deref(), &planned, true);
        for g in &mut d.task_groups {
            if let Some(u) = updates.get(&g.name) {
                g.updates = u.as_updates();
            }
        }
        d
    });
    Ok(JobPlanResponse {
        job_modify_index: existing.map(|j| j.job_modify_index).unwrap_or(0),
        diff,
        annotations: Some(PlanAnnotations {
            desired_tg_updates: updates,
            preempted_allocs: None,
        }),
        failed_tg_allocs: outcome.eval.failed_tg_allocs,
        warnings: String::new(),
        created_evals: None,
    })
}

/// What the plan does to each group: Nomad's DesiredTGUpdates.
fn annotate(snap: &Tables, job: &Job, plan: &Plan) -> BTreeMap<String, DesiredUpdates> {
    let mut out: BTreeMap<String, DesiredUpdates> = job
        .task_groups
        .iter()
        .map(|g| (g.name.clone(), DesiredUpdates::default()))
        .collect();
    let stops: BTreeMap<&str, &Allocation> = plan
        .node_update
        .values()
        .flatten()
        .map(|a| (a.id.as_str(), a))
        .collect();
    let mut touched: BTreeSet<&str> = stops.keys().copied().collect();
    for a in plan.node_allocation.values().flatten() {
        touched.insert(a.id.as_str());
        let Some(u) = out.get_mut(&a.task_group) else {
            continue;
        };
        if snap.alloc(&a.id).is_some() {
            u.in_place_update += 1;
            continue;
        }
        if a.deployment_status.as_ref().is_some_and(|d| d.canary) {
            u.canary += 1;
            continue;
        }
        match stops.get(a.previous_allocation.as_str()) {
            Some(p) if p.desired_description == DESC_UPDATING => u.destructive_update += 1,
            Some(p) if p.desired_description == DESC_MIGRATING => u.migrate += 1,
            _ => u.place += 1,
        }
    }
    let replaced: BTreeSet<&str> = plan
        .node_allocation
        .values()
        .flatten()
        .map(|a| a.previous_allocation.as_str())
        .collect();
    for a in stops.values() {
        let counted_as_replacement = replaced.contains(a.id.as_str())
            && [DESC_UPDATING, DESC_MIGRATING].contains(&a.desired_description.as_str());
        if !counted_as_replacement {
            if let Some(u) = out.get_mut(&a.task_group) {
                u.stop += 1;
            }
        }
    }
    for a in snap.allocs_for_job(&job.namespace, &job.id) {
        if !a.terminal() && !touched.contains(a.id.as_str()) {
            if let Some(u) = out.get_mut(&a.task_group) {
                if awaits_rollout(job, &a) {
                    u.destructive_update += 1;
                } else {
                    u.ignore += 1;
                }
            }
        }
    }
    out
}

/// An old copy the rolling update replaces after the first `max_parallel` (Nomad's plan counts
/// the whole rollout); with canaries, the old copies wait for a promotion and are ignored.
fn awaits_rollout(job: &Job, a: &Allocation) -> bool {
    let Some(new) = job.lookup_group(&a.task_group) else {
        return false;
    };
    if new.update.as_ref().is_some_and(|u| u.canary > 0) {
        return false;
    }
    a.job.as_ref().is_some_and(|old| {
        old.version != job.version
            && old
                .lookup_group(&a.task_group)
                .is_some_and(|g| api::diff::destructive_change(g, new))
    })
}
