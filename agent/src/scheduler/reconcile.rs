//! What one task group of a service or batch job needs: which allocations keep running, which are
//! updated in place, which stop, and which names must be placed (fresh, as replacements, or as
//! destructive updates). Pure bookkeeping; choosing nodes is the placer's job.

use super::reschedule::{self, Verdict};
use api::{
    Allocation, Job, TaskGroup, ALLOC_CLIENT_COMPLETE, ALLOC_CLIENT_FAILED, ALLOC_CLIENT_LOST,
};
use std::collections::BTreeMap;
use std::sync::Arc;

pub const DESC_NOT_NEEDED: &str = "alloc not needed due to job update";
pub const DESC_UPDATING: &str = "alloc is being updated due to job update";
pub const DESC_MIGRATING: &str = "alloc is being migrated";
pub const DESC_LOST: &str = "alloc is lost since its node is down";
pub const DESC_RESCHEDULED: &str = "alloc was rescheduled because it failed";

/// How the scheduler sees the node an allocation runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeHealth {
    Up,
    /// Down or gone from the state: its allocations are lost.
    Down,
    /// Being drained: its allocations migrate.
    Draining,
}

#[derive(Debug, Clone)]
pub struct Stop {
    pub alloc: Arc<Allocation>,
    pub desc: &'static str,
    /// Also mark the allocation's client status "lost".
    pub lost: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaceKind {
    Fresh,
    /// Replaces an allocation already stopped (lost, migrating): link it, nothing else.
    Replace,
    /// Destructive update: stop the previous one only if the replacement finds a node.
    Destructive,
    /// Replaces a failed allocation after `delay` nanoseconds of backoff.
    Reschedule {
        delay: i64,
    },
}

#[derive(Debug, Clone)]
pub struct Place {
    pub index: u32,
    pub previous: Option<Arc<Allocation>>,
    pub kind: PlaceKind,
}

#[derive(Debug, Clone, Default)]
pub struct GroupPlan {
    pub stops: Vec<Stop>,
    pub places: Vec<Place>,
    /// Allocations to move to the new job version without restarting.
    pub inplace: Vec<Arc<Allocation>>,
    /// Failed allocations to replace later: (allocation, wait_until).
    pub followups: Vec<(Arc<Allocation>, i64)>,
}

/// Whether the allocation runs an older version of the job.
pub fn job_changed(a: &Allocation, job: &Job) -> bool {
    match &a.job {
        Some(j) => j.version != job.version || j.job_modify_index != job.job_modify_index,
        None => a.job_version != job.version,
    }
}

/// Whether moving from `old` to `new` needs new allocations rather than an in-place update
/// (the same rule the job diff annotates with).
pub use api::diff::destructive_change as needs_destructive;

/// Reconciles one group. `allocs` are the group's allocations (any status); `health` says how the
/// node of an allocation is doing.
pub fn reconcile_group(
    job: &Job,
    tg: &TaskGroup,
    allocs: &[Arc<Allocation>],
    health: &dyn Fn(&str) -> NodeHealth,
    now: i64,
    eval_id: &str,
) -> GroupPlan {
    let batch = job.job_type == api::JOB_TYPE_BATCH;
    let count = tg.count.max(0) as u32;
    let mut out = GroupPlan::default();
    let mut live: BTreeMap<u32, Vec<&Arc<Allocation>>> = BTreeMap::new();
    let mut failed: BTreeMap<u32, &Arc<Allocation>> = BTreeMap::new();
    let mut lost: BTreeMap<u32, &Arc<Allocation>> = BTreeMap::new();
    let mut done: BTreeMap<u32, ()> = BTreeMap::new();
    for a in allocs {
        // Already replaced by a newer allocation.
        if !a.next_allocation.is_empty() {
            continue;
        }
        let i = a.index();
        let complete = a.client_status == ALLOC_CLIENT_COMPLETE;
        if a.server_terminal() {
            if batch && complete {
                done.insert(i, ());
            }
            continue;
        }
        match a.client_status.as_str() {
            ALLOC_CLIENT_COMPLETE => {
                // A batch task that finished is done for good; a service one is replaced.
                if batch {
                    done.insert(i, ());
                }
            }
            ALLOC_CLIENT_FAILED => {
                let newer = failed
                    .get(&i)
                    .is_none_or(|f| a.create_index >= f.create_index);
                if newer {
                    failed.insert(i, a);
                }
            }
            ALLOC_CLIENT_LOST => {
                lost.insert(i, a);
            }
            _ => live.entry(i).or_default().push(a),
        }
    }

    // Duplicated names keep the oldest; indexes past the count stop, highest first.
    let mut keepers: BTreeMap<u32, &Arc<Allocation>> = BTreeMap::new();
    let mut extra: Vec<&Arc<Allocation>> = Vec::new();
    for (i, mut list) in live {
        list.sort_by(|a, b| (a.create_index, &a.id).cmp(&(b.create_index, &b.id)));
        let mut it = list.into_iter();
        if let Some(first) = it.next() {
            if i < count {
                keepers.insert(i, first);
            } else {
                extra.push(first);
            }
        }
        extra.extend(it);
    }
    extra.sort_by_key(|a| std::cmp::Reverse(a.index()));
    for a in extra {
        let down = health(&a.node_id) == NodeHealth::Down;
        out.stops.push(Stop {
            alloc: a.clone(),
            desc: if down { DESC_LOST } else { DESC_NOT_NEEDED },
            lost: down,
        });
    }

    // A drain moves at most `migrate.max_parallel` allocations of the group at a time: a
    // migration is in flight while its replacement has not started running yet. The rest wait
    // for a later evaluation (the server asks for one when a replacement starts running).
    let migrating_away: BTreeMap<&str, ()> = allocs
        .iter()
        .filter(|a| a.desired_description == DESC_MIGRATING)
        .map(|a| (a.id.as_str(), ()))
        .collect();
    let in_flight = keepers
        .values()
        .filter(|a| {
            a.client_status == api::ALLOC_CLIENT_PENDING
                && migrating_away.contains_key(a.previous_allocation.as_str())
        })
        .count();
    let max_parallel = tg.migrate.as_ref().map_or(usize::MAX, |m| {
        usize::try_from(m.max_parallel.max(1)).unwrap_or(1)
    });
    let mut migration_budget = max_parallel.saturating_sub(in_flight);

    for i in 0..count {
        if let Some(a) = keepers.get(&i) {
            let place = |kind| Place {
                index: i,
                previous: Some((*a).clone()),
                kind,
            };
            match health(&a.node_id) {
                NodeHealth::Down => {
                    out.stops.push(Stop {
                        alloc: (*a).clone(),
                        desc: DESC_LOST,
                        lost: true,
                    });
                    out.places.push(place(PlaceKind::Replace));
                }
                NodeHealth::Draining if migration_budget == 0 => {}
                NodeHealth::Draining => {
                    migration_budget -= 1;
                    out.stops.push(Stop {
                        alloc: (*a).clone(),
                        desc: DESC_MIGRATING,
                        lost: false,
                    });
                    out.places.push(place(PlaceKind::Replace));
                }
                NodeHealth::Up if job_changed(a, job) => {
                    let old_tg = a.job.as_ref().and_then(|j| j.lookup_group(&tg.name));
                    if old_tg.is_none_or(|old| needs_destructive(old, tg)) {
                        out.places.push(place(PlaceKind::Destructive));
                    } else {
                        out.inplace.push((*a).clone());
                    }
                }
                NodeHealth::Up => {}
            }
        } else if done.contains_key(&i) {
            // Batch work that succeeded is never run again.
        } else if let Some(f) = failed.get(&i) {
            match reschedule::verdict(f, tg.reschedule_policy.as_ref(), now, eval_id) {
                Verdict::Now { delay } => out.places.push(Place {
                    index: i,
                    previous: Some((*f).clone()),
                    kind: PlaceKind::Reschedule { delay },
                }),
                Verdict::Later { wait_until, .. } => {
                    if f.followup_eval_id.is_empty() {
                        out.followups.push(((*f).clone(), wait_until));
                    }
                }
                Verdict::Never => {}
            }
        } else if let Some(l) = lost.get(&i) {
            out.stops.push(Stop {
                alloc: (*l).clone(),
                desc: DESC_LOST,
                lost: true,
            });
            out.places.push(Place {
                index: i,
                previous: Some((*l).clone()),
                kind: PlaceKind::Replace,
            });
        } else {
            out.places.push(Place {
                index: i,
                previous: None,
                kind: PlaceKind::Fresh,
            });
        }
    }
    out
}
