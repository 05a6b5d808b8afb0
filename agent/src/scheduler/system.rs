//! The system scheduler: one allocation of each task group on every feasible ready node of the
//! job's datacenters and node pool, for system jobs (kept running) and sysbatch jobs (run to
//! completion once per node and job version). Nodes filtered by drivers or constraints are simply skipped (not failures);
//! only nodes without room are reported in FailedTGAllocs and block the evaluation.

use super::generic::health_of;
use super::ids::{FastMap, Rng};
use super::outcome::Builder;
use super::placer::Placer;
use super::reconcile::{
    group_view, job_changed, needs_destructive, NodeHealth, DESC_LOST, DESC_MIGRATING,
    DESC_NOT_NEEDED, DESC_UPDATING,
};
use super::{SchedulerContext, SchedulerOutcome, StateView};
use api::{Allocation, Evaluation, Job, Node};
use std::collections::HashMap;
use std::sync::Arc;

const PLACER_SALT: u64 = 0x5157_e111;

pub fn schedule(
    eval: &Evaluation,
    state: &dyn StateView,
    ctx: &SchedulerContext,
) -> SchedulerOutcome {
    let mut b = Builder::new(eval, ctx);
    let allocs = state.allocs_by_job(&eval.namespace, &eval.job_id);
    let Some(job) = super::generic::live_job_or_stop_all(&mut b, eval, state, &allocs) else {
        return b.finish();
    };
    let nodes = state.nodes();
    let by_id: FastMap<&str, &Node> = nodes.iter().map(|n| (n.id.as_str(), n.as_ref())).collect();
    let rng = Rng::seeded_with(ctx.seed ^ PLACER_SALT, &eval.id);
    let mut placer = Placer::new(&job, &nodes, state, &allocs, rng);

    for a in allocs.iter().filter(|a| !a.terminal()) {
        if job.lookup_group(&a.task_group).is_none() {
            placer.mark_stopped(a);
            b.stop(a, DESC_NOT_NEEDED, false);
        }
    }
    for g in 0..job.task_groups.len() {
        schedule_group(&mut b, &mut placer, &job, g, &allocs, &nodes, &by_id);
    }
    b.finish()
}

/// What exists of a group on one node.
#[derive(Default)]
struct OnNode {
    live: Vec<Arc<Allocation>>,
    /// A failed or completed allocation the servers still want: not replaced (system jobs have no
    /// reschedule policy).
    occupied: bool,
}

fn schedule_group(
    b: &mut Builder,
    placer: &mut Placer,
    job: &Arc<Job>,
    g: usize,
    allocs: &[Arc<Allocation>],
    nodes: &[Arc<Node>],
    by_id: &FastMap<&str, &Node>,
) {
    let tg = &job.task_groups[g];
    let mut on: HashMap<&str, OnNode> = HashMap::new();
    for a in allocs
        .iter()
        .filter(|a| a.task_group == tg.name && a.next_allocation.is_empty())
    {
        if a.server_terminal() {
            continue;
        }
        let e = on.entry(a.node_id.as_str()).or_default();
        if a.client_terminal() {
            // A sysbatch job's finished run holds its node until the job changes.
            let rerun = job.job_type == api::JOB_TYPE_SYSBATCH && job_changed(a, job);
            e.occupied = e.occupied || (a.client_status != api::ALLOC_CLIENT_LOST && !rerun);
        } else {
            e.live.push(a.clone());
        }
    }
    // Allocations on nodes that left the state are lost.
    for (node_id, e) in &on {
        if !by_id.contains_key(node_id) {
            for a in &e.live {
                b.stop(a, DESC_LOST, true);
            }
        }
    }
    for (idx, node) in nodes.iter().enumerate() {
        let mut here = on.remove(node.id.as_str()).unwrap_or_default();
        here.live
            .sort_by(|a, b| (a.create_index, &a.id).cmp(&(b.create_index, &b.id)));
        // One per node: extra copies stop.
        for extra in here.live.iter().skip(1) {
            placer.mark_stopped(extra);
            b.stop(extra, DESC_NOT_NEEDED, false);
        }
        let current = here.live.first().cloned();
        let rules = tg.disconnect_rules();
        match group_view(health_of(by_id, &node.id), rules, b.now()) {
            NodeHealth::Disconnected { since } => {
                // Unknown until the node returns or lost_after passes (group_view saw rules).
                if let (Some(a), Some(r)) = (&current, rules) {
                    if a.client_status != api::ALLOC_CLIENT_UNKNOWN {
                        b.mark_unknown(a, since.saturating_add(r.lost_after));
                    }
                }
                continue;
            }
            NodeHealth::Up if current.as_ref().is_some_and(|a| a.needs_to_reconnect()) => {
                // Back: the one copy on this node stays once it reports (system jobs have no
                // replacement to choose from), and is then updated like any other.
                match current.as_ref() {
                    Some(a) if a.client_status != api::ALLOC_CLIENT_UNKNOWN => b.reconnected(a),
                    _ => continue,
                }
            }
            NodeHealth::Down => {
                if let Some(a) = &current {
                    b.stop(a, DESC_LOST, true);
                }
                continue;
            }
            NodeHealth::Draining => {
                if let Some(a) = &current {
                    b.stop(a, DESC_MIGRATING, false);
                }
                continue;
            }
            NodeHealth::Up => {}
        }
        let feasible = super::feasible::in_job_nodes(job, node) && placer.feasible(g, idx).is_ok();
        if !feasible {
            if let Some(a) = &current {
                placer.mark_stopped(a);
                b.stop(a, DESC_NOT_NEEDED, false);
            }
            continue;
        }
        if !placer.in_pool(idx) {
            // Ready for nothing new (ineligible, initializing): leave what runs there alone.
            continue;
        }
        match &current {
            Some(a) if job_changed(a, job) => {
                let old_tg = a.job.as_ref().and_then(|j| j.lookup_group(&tg.name));
                if old_tg.is_some_and(|old| !needs_destructive(old, tg)) {
                    b.update_in_place(a, job, None);
                } else {
                    placer.mark_stopped(a);
                    if place(b, placer, job, g, idx, Some(a)) {
                        b.stop(a, DESC_UPDATING, false);
                    } else {
                        placer.unmark_stopped(a);
                    }
                }
            }
            Some(_) => {}
            None if here.occupied => {}
            None => {
                place(b, placer, job, g, idx, None);
            }
        }
    }
}

fn place(
    b: &mut Builder,
    placer: &mut Placer,
    job: &Job,
    g: usize,
    idx: usize,
    prev: Option<&Arc<Allocation>>,
) -> bool {
    let tg = &job.task_groups[g];
    match placer.select_node(g, idx) {
        Ok(choice) => {
            let name = format!("{}.{}[0]", job.id, tg.name);
            let mut a = b.new_alloc(job, tg, name, &choice.node, choice.ports, choice.metric);
            if let Some(prev) = prev {
                a.previous_allocation = prev.id.clone();
                b.link(&prev.id, &a.id);
            }
            placer.commit(&a);
            b.add(a);
            true
        }
        Err(metric) => {
            b.fail(&tg.name, Some(*metric));
            false
        }
    }
}
