//! The service and batch scheduler: reconcile each task group, then place what is missing on the
//! best of a few feasible nodes.

use super::ids::{FastMap, Rng};
use super::outcome::Builder;
use super::placer::Placer;
use super::reconcile::{
    reconcile_group, GroupPlan, NodeHealth, PlaceKind, Rollout, DESC_NOT_NEEDED, DESC_RESCHEDULED,
    DESC_UPDATING,
};
use super::reschedule;
use super::{SchedulerContext, SchedulerOutcome, StateView};
use api::{
    AllocDeploymentStatus, Allocation, Deployment, DeploymentState, Evaluation, Job, Node,
    UpdateStrategy, NODE_STATUS_DOWN,
};
use std::sync::Arc;

/// Salt that separates the placer's random stream from the id stream.
const PLACER_SALT: u64 = 0x05ee_d0f9_1ace;

/// Stops every allocation of a job that is stopped or purged.
pub fn stop_all(b: &mut Builder, allocs: &[Arc<Allocation>]) {
    for a in allocs.iter().filter(|a| !a.terminal()) {
        b.stop(a, DESC_NOT_NEEDED, false);
    }
}

pub fn health_of(nodes: &FastMap<&str, &Node>, id: &str) -> NodeHealth {
    match nodes.get(id) {
        None => NodeHealth::Down,
        Some(n) if n.status == NODE_STATUS_DOWN => NodeHealth::Down,
        Some(n) if n.status == api::NODE_STATUS_DISCONNECTED => NodeHealth::Disconnected {
            since: n.status_updated_at.saturating_mul(1_000_000_000),
        },
        Some(n) if n.drain => NodeHealth::Draining,
        Some(_) => NodeHealth::Up,
    }
}

/// The job to schedule, set on the builder; or, when it is gone or stopped, None after every
/// allocation of it was stopped (and its rollout cancelled). Both schedulers open with this.
pub(super) fn live_job_or_stop_all(
    b: &mut Builder,
    eval: &Evaluation,
    state: &dyn StateView,
    allocs: &[std::sync::Arc<api::Allocation>],
) -> Option<std::sync::Arc<api::Job>> {
    match state.job(&eval.namespace, &eval.job_id) {
        // A parameterized job only stands for its dispatches: it places nothing itself.
        Some(job) if !job.stop && !job.is_parent() => {
            b.set_job(&job);
            Some(job)
        }
        other => {
            if let Some(job) = &other {
                b.set_job(job);
            }
            if let Some(d) = state
                .latest_deployment(&eval.namespace, &eval.job_id)
                .filter(|d| d.active())
            {
                b.cancel_deployment(&d.id, api::DEPLOYMENT_DESC_STOPPED_JOB);
            }
            stop_all(b, allocs);
            None
        }
    }
}

/// The group's update strategy when it rolls out under a deployment.
fn strategy<'a>(job: &Job, tg: &'a api::TaskGroup) -> Option<&'a UpdateStrategy> {
    tg.update
        .as_ref()
        .filter(|u| job.job_type == api::JOB_TYPE_SERVICE && u.max_parallel > 0)
}

/// The deployment of the job's current version, if it has one; an active deployment of an older
/// version is cancelled.
fn current_deployment(
    b: &mut Builder,
    job: &Job,
    state: &dyn StateView,
) -> Option<Arc<Deployment>> {
    let latest = state.latest_deployment(&job.namespace, &job.id)?;
    if latest.job_version == job.version && latest.job_create_index == job.create_index {
        return Some(latest);
    }
    if latest.active() {
        b.cancel_deployment(&latest.id, api::DEPLOYMENT_DESC_NEWER_JOB);
    }
    None
}

/// A new deployment for the job's current version, for the groups that roll out.
fn new_deployment(id: String, job: &Job, plans: &[GroupPlan], now: i64) -> Deployment {
    let mut groups = std::collections::BTreeMap::new();
    for (tg, plan) in job.task_groups.iter().zip(plans) {
        let Some(u) = strategy(job, tg) else { continue };
        let deadline = i64::try_from(u.progress_deadline.as_nanos()).unwrap_or(i64::MAX);
        groups.insert(
            tg.name.clone(),
            DeploymentState {
                auto_revert: u.auto_revert,
                auto_promote: u.auto_promote,
                progress_deadline: deadline,
                require_progress_by: if deadline > 0 {
                    api::time::rfc3339_nanos(now.saturating_add(deadline))
                } else {
                    String::new()
                },
                desired_canaries: if plan.outdated > 0 {
                    i64::from(u.canary)
                } else {
                    0
                },
                desired_total: i64::from(tg.count),
                ..Default::default()
            },
        );
    }
    let canaries = groups.values().any(|g| g.desired_canaries > 0);
    let auto = groups
        .values()
        .filter(|g| g.desired_canaries > 0)
        .all(|g| g.auto_promote);
    Deployment {
        id,
        namespace: job.namespace.clone(),
        job_id: job.id.clone(),
        job_version: job.version,
        job_modify_index: job.modify_index,
        job_spec_modify_index: job.job_modify_index,
        job_create_index: job.create_index,
        is_multiregion: false,
        task_groups: groups,
        status: api::DEPLOYMENT_STATUS_RUNNING.into(),
        status_description: match (canaries, auto) {
            (false, _) => api::DEPLOYMENT_DESC_RUNNING,
            (true, true) => api::DEPLOYMENT_DESC_AUTO_PROMOTION,
            (true, false) => api::DEPLOYMENT_DESC_NEEDS_PROMOTION,
        }
        .into(),
        ..Default::default()
    }
}

pub fn schedule(
    eval: &Evaluation,
    state: &dyn StateView,
    ctx: &SchedulerContext,
) -> SchedulerOutcome {
    let mut b = Builder::new(eval, ctx);
    let allocs = state.allocs_by_job(&eval.namespace, &eval.job_id);
    let Some(job) = live_job_or_stop_all(&mut b, eval, state, &allocs) else {
        return b.finish();
    };
    let nodes = state.nodes();
    let by_id: FastMap<&str, &Node> = nodes.iter().map(|n| (n.id.as_str(), n.as_ref())).collect();
    let health = |id: &str| health_of(&by_id, id);

    // Allocations of groups the job no longer has.
    for a in allocs.iter().filter(|a| !a.terminal()) {
        if job.lookup_group(&a.task_group).is_none() {
            b.stop(a, DESC_NOT_NEEDED, false);
        }
    }

    let mut groups: Vec<Vec<Arc<Allocation>>> = vec![Vec::new(); job.task_groups.len()];
    for a in &allocs {
        if let Some(g) = job
            .task_groups
            .iter()
            .position(|tg| tg.name == a.task_group)
        {
            groups[g].push(a.clone());
        }
    }
    let current = current_deployment(&mut b, &job, state);
    let plans: Vec<GroupPlan> = job
        .task_groups
        .iter()
        .zip(&groups)
        .map(|(tg, ga)| {
            let rollout = Rollout {
                update: strategy(&job, tg),
                deployment_id: current.as_ref().map_or("", |d| d.id.as_str()),
                state: current.as_ref().and_then(|d| d.task_groups.get(&tg.name)),
                // A paused deployment keeps its allocations but rolls no further.
                active: current
                    .as_ref()
                    .is_none_or(|d| d.status == api::DEPLOYMENT_STATUS_RUNNING),
            };
            reconcile_group(&job, tg, ga, &health, ctx.now, &eval.id, &rollout)
        })
        .collect();
    // The groups that roll out stamp their new allocations with the deployment: the current
    // one while it is active, or a new one when this version has none and something changes.
    let changes = job.task_groups.iter().zip(&plans).any(|(tg, p)| {
        strategy(&job, tg).is_some() && (!p.places.is_empty() || !p.inplace.is_empty())
    });
    let deployment_id = match &current {
        Some(d) if d.active() => {
            b.set_deployment(None, &d.id);
            Some(d.id.clone())
        }
        Some(_) => None,
        None if changes => {
            let id = b.new_id();
            b.set_deployment(Some(new_deployment(id.clone(), &job, &plans, ctx.now)), &id);
            Some(id)
        }
        None => None,
    };
    let rolling = |tg: &api::TaskGroup| {
        deployment_id
            .as_deref()
            .filter(|_| strategy(&job, tg).is_some())
    };

    let rng = Rng::seeded_with(ctx.seed ^ PLACER_SALT, &eval.id);
    let mut placer = Placer::new(&job, &nodes, state, &allocs, rng);
    // Stops first, so their resources are free for the placements.
    for plan in &plans {
        for s in &plan.stops {
            placer.mark_stopped(&s.alloc);
            b.stop(&s.alloc, s.desc, s.lost);
        }
        for a in &plan.inplace {
            let tg = job.lookup_group(&a.task_group);
            b.update_in_place(a, &job, tg.and_then(rolling));
        }
        for (a, wait_until) in &plan.followups {
            b.followup(a, *wait_until);
        }
        for (a, lost_at) in &plan.unknown {
            b.mark_unknown(a, *lost_at);
        }
        for a in &plan.reconnected {
            b.reconnected(a);
        }
    }
    let mut placed = 0usize;
    for (g, plan) in plans.iter().enumerate() {
        let tg = &job.task_groups[g];
        for p in &plan.places {
            placed += 1;
            if ctx.over_budget(placed) {
                let wanted: usize = plans.iter().map(|p| p.places.len()).sum();
                return b.abandon(format!(
                    "evaluation exceeded its scheduling budget after {placed} of {wanted} \
                     placements: lower the group's count"
                ));
            }
            if b.has_failed(&tg.name) {
                b.fail(&tg.name, None);
                continue;
            }
            place_one(&mut b, &mut placer, &job, g, p, rolling(tg));
        }
    }
    b.finish()
}

fn place_one(
    b: &mut Builder,
    placer: &mut Placer,
    job: &Job,
    g: usize,
    p: &super::reconcile::Place,
    deployment: Option<&str>,
) {
    let tg = &job.task_groups[g];
    let prev = p.previous.as_deref();
    if p.kind == PlaceKind::Destructive {
        if let Some(prev) = prev {
            placer.mark_stopped(prev);
        }
    }
    let penalty = match p.kind {
        PlaceKind::Reschedule { .. } => prev.map(|a| a.node_id.as_str()),
        _ => None,
    };
    // Sticky or migrating data: the replacement goes where the data is, when it can.
    let sticky = prev
        .filter(|_| tg.keeps_data() && penalty.is_none())
        .map(|p| p.node_id.as_str());
    let chosen = match sticky {
        Some(node) => placer.select_preferring(g, node),
        None => placer.select(g, penalty),
    };
    match chosen {
        Ok(choice) => {
            let name = format!("{}.{}[{}]", job.id, tg.name, p.index);
            let mut a = b.new_alloc(job, tg, name, &choice.node, choice.ports, choice.metric);
            a.placement_score = Some(choice.score);
            if let Some(d) = deployment {
                a.deployment_id = d.to_string();
                if p.kind == PlaceKind::Canary {
                    a.deployment_status = Some(AllocDeploymentStatus {
                        canary: true,
                        ..Default::default()
                    });
                }
            }
            if let Some(prev) = prev {
                a.previous_allocation = prev.id.clone();
                b.link(&prev.id, &a.id);
                match p.kind {
                    PlaceKind::Destructive => b.stop(prev, DESC_UPDATING, false),
                    PlaceKind::Reschedule { delay } => {
                        a.reschedule_tracker = Some(reschedule::next_tracker(
                            prev,
                            tg.reschedule_policy.as_ref(),
                            a.create_time,
                            delay,
                        ));
                        b.stop(prev, DESC_RESCHEDULED, false);
                    }
                    _ => {}
                }
            }
            placer.commit(&a);
            b.add(a);
        }
        Err(metric) => {
            if p.kind == PlaceKind::Destructive {
                if let Some(prev) = prev {
                    placer.unmark_stopped(prev);
                }
            }
            b.fail(&tg.name, Some(*metric));
        }
    }
}
