//! The service and batch scheduler: reconcile each task group, then place what is missing on the
//! best of a few feasible nodes.

use super::ids::{FastMap, Rng};
use super::outcome::Builder;
use super::placer::Placer;
use super::reconcile::{
    reconcile_group, NodeHealth, PlaceKind, DESC_NOT_NEEDED, DESC_RESCHEDULED, DESC_UPDATING,
};
use super::reschedule;
use super::{SchedulerContext, SchedulerOutcome, StateView};
use api::{Allocation, Evaluation, Job, Node, NODE_STATUS_DOWN};
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
        Some(n) if n.drain => NodeHealth::Draining,
        Some(_) => NodeHealth::Up,
    }
}

/// The job to schedule, set on the builder; or, when it is gone or stopped, None after every
/// allocation of it was stopped. Both schedulers open with this.
pub(super) fn live_job_or_stop_all(
    b: &mut Builder,
    eval: &Evaluation,
    state: &dyn StateView,
    allocs: &[std::sync::Arc<api::Allocation>],
) -> Option<std::sync::Arc<api::Job>> {
    match state.job(&eval.namespace, &eval.job_id) {
        Some(job) if !job.stop => {
            b.set_job(&job);
            Some(job)
        }
        other => {
            if let Some(job) = &other {
                b.set_job(job);
            }
            stop_all(b, allocs);
            None
        }
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
    let plans: Vec<_> = job
        .task_groups
        .iter()
        .zip(&groups)
        .map(|(tg, ga)| reconcile_group(&job, tg, ga, &health, ctx.now, &eval.id))
        .collect();

    let rng = Rng::seeded_with(ctx.seed ^ PLACER_SALT, &eval.id);
    let mut placer = Placer::new(&job, &nodes, state, &allocs, rng);
    // Stops first, so their resources are free for the placements.
    for plan in &plans {
        for s in &plan.stops {
            placer.mark_stopped(&s.alloc);
            b.stop(&s.alloc, s.desc, s.lost);
        }
        for a in &plan.inplace {
            b.update_in_place(a, &job);
        }
        for (a, wait_until) in &plan.followups {
            b.followup(a, *wait_until);
        }
    }
    for (g, plan) in plans.iter().enumerate() {
        let tg = &job.task_groups[g];
        for p in &plan.places {
            if b.has_failed(&tg.name) {
                b.fail(&tg.name, None);
                continue;
            }
            place_one(&mut b, &mut placer, &job, g, p);
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
    match placer.select(g, penalty) {
        Ok(choice) => {
            let name = format!("{}.{}[{}]", job.id, tg.name, p.index);
            let mut a = b.new_alloc(job, tg, name, &choice.node, choice.ports, choice.metric);
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
