//! What one task group of a service or batch job needs: which allocations keep running, which are
//! updated in place, which stop, and which names must be placed (fresh, as replacements, as
//! destructive updates, or as canaries). Pure bookkeeping; choosing nodes is the placer's job.
//!
//! Under a deployment (a group with an `update` block) destructive updates roll: at most
//! `max_parallel` of the deployment's new allocations may be unhealthy at once, and while a group
//! has canaries to place or to be promoted nothing else of it is replaced. A promoted canary takes
//! the place of the old allocation with its name.

use super::reschedule::{self, Verdict};
use api::{
    Allocation, DeploymentState, Disconnect, Job, TaskGroup, UpdateStrategy, ALLOC_CLIENT_COMPLETE,
    ALLOC_CLIENT_FAILED, ALLOC_CLIENT_LOST, ALLOC_CLIENT_UNKNOWN,
};
use std::collections::BTreeMap;
use std::sync::Arc;

pub const DESC_NOT_NEEDED: &str = "alloc not needed due to job update";
pub const DESC_UPDATING: &str = "alloc is being updated due to job update";
pub const DESC_MIGRATING: &str = "alloc is being migrated";
pub const DESC_LOST: &str = "alloc is lost since its node is down";
pub const DESC_RESCHEDULED: &str = "alloc was rescheduled because it failed";
pub const DESC_CANARY_PROMOTED: &str = "alloc was replaced by a promoted canary";
pub const DESC_UNHEALTHY: &str = "alloc was replaced because it is unhealthy in its deployment";
pub const DESC_RECONNECT_LOSER: &str =
    "alloc not needed: its node reconnected and the other copy was kept";

/// How the scheduler sees the node an allocation runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeHealth {
    Up,
    /// Down or gone from the state: its allocations are lost.
    Down,
    /// Being drained: its allocations migrate.
    Draining,
    /// Missed its heartbeats at `since` (nanoseconds) but may come back: allocations of groups
    /// with disconnect rules wait, `unknown`, until their `lost_after`; the others are lost.
    Disconnected {
        since: i64,
    },
}

/// How a group sees a node: a disconnected one is as good as down for a group without
/// disconnect rules, or once its `lost_after` has passed.
pub fn group_view(health: NodeHealth, rules: Option<Disconnect>, now: i64) -> NodeHealth {
    match (health, rules) {
        (NodeHealth::Disconnected { since }, Some(r))
            if now < since.saturating_add(r.lost_after) =>
        {
            health
        }
        (NodeHealth::Disconnected { .. }, _) => NodeHealth::Down,
        (h, _) => h,
    }
}

/// Of several copies of one name after a node reconnected, the one `reconcile` keeps. The
/// original is the copy that needs to reconnect; it wins ties.
fn reconnect_winner<'a>(copies: &[&'a Arc<Allocation>], reconcile: &str) -> &'a Arc<Allocation> {
    let mut copies = copies.to_vec();
    // Originals first, so that `min_by_key` and the reversed `max_by` below prefer them.
    copies.sort_by_key(|a| !a.needs_to_reconnect());
    let latest_start = |a: &Allocation| {
        a.task_states
            .values()
            .filter_map(|t| api::time::parse_rfc3339(&t.started_at))
            .max()
            .unwrap_or(i64::MAX)
    };
    let pick = match reconcile {
        api::RECONCILE_KEEP_ORIGINAL => copies.first(),
        api::RECONCILE_KEEP_REPLACEMENT => copies.last(),
        // Running continuously the longest: the earliest (re)start of its tasks.
        api::RECONCILE_LONGEST_RUNNING => copies.iter().min_by_key(|a| latest_start(a)),
        // best_score: the higher score its node had when it was placed; the original on a tie.
        _ => copies.iter().rev().max_by(|a, b| {
            let (sa, sb) = (
                a.placement_score.unwrap_or(0.0),
                b.placement_score.unwrap_or(0.0),
            );
            sa.total_cmp(&sb)
        }),
    };
    pick.copied().unwrap_or(copies[0])
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
    /// A canary of the new version beside the old allocation of the same name.
    Canary,
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
    /// How many allocations run an older version that needs replacing (done or not yet).
    pub outdated: u32,
    /// Allocations on a disconnected node to mark `unknown`, with when they become lost.
    pub unknown: Vec<(Arc<Allocation>, i64)>,
    /// Allocations kept after their node reconnected: back to being the servers' own.
    pub reconnected: Vec<Arc<Allocation>>,
}

/// How a group rolls out: its update strategy, and the deployment of the job's current version.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rollout<'a> {
    /// The group's `update` block, when it rolls out under a deployment (service jobs,
    /// max_parallel > 0).
    pub update: Option<&'a UpdateStrategy>,
    /// The current version's deployment ("" while it is still to be created by this plan).
    pub deployment_id: &'a str,
    /// Its state for this group, once it exists.
    pub state: Option<&'a DeploymentState>,
    /// False once the deployment failed or was cancelled: then nothing more rolls.
    pub active: bool,
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

/// Whether a migration's replacement no longer holds the drain back.
fn migration_settled(a: &Allocation) -> bool {
    let judged = a
        .job
        .as_deref()
        .and_then(|j| api::HealthRules::of(a, j))
        .is_some();
    if judged {
        a.deployment_status.as_ref().is_some_and(|d| d.is_healthy())
    } else {
        a.client_status != api::ALLOC_CLIENT_PENDING
    }
}

/// Reconciles one group. `allocs` are the group's allocations (any status); `health` says how the
/// node of an allocation is doing.
pub fn reconcile_group(
    job: &Job,
    tg: &TaskGroup,
    allocs: &[Arc<Allocation>],
    health: &dyn Fn(&str) -> NodeHealth,
    now: i64,
    eval_id: &str,
    rollout: &Rollout,
) -> GroupPlan {
    let batch = job.job_type == api::JOB_TYPE_BATCH;
    let count = tg.count.max(0) as u32;
    let rules = tg.disconnect_rules();
    let health = |node_id: &str| group_view(health(node_id), rules, now);
    let mut out = GroupPlan::default();
    // Copies on a disconnected node, or `unknown` on one that returned and has not reported yet:
    // they hold their name, and only a replacement may run beside them.
    let mut waiting: BTreeMap<u32, Vec<&Arc<Allocation>>> = BTreeMap::new();
    let mut live: BTreeMap<u32, Vec<&Arc<Allocation>>> = BTreeMap::new();
    let mut failed: BTreeMap<u32, &Arc<Allocation>> = BTreeMap::new();
    let mut lost: BTreeMap<u32, Vec<&Arc<Allocation>>> = BTreeMap::new();
    let mut done: BTreeMap<u32, ()> = BTreeMap::new();
    // Canaries of the current deployment stand beside the allocation of their name.
    let mut canaries: BTreeMap<u32, &Arc<Allocation>> = BTreeMap::new();
    // A promoted canary loses its flag but stays in the deployment's list.
    let is_canary = |a: &Allocation| {
        !rollout.deployment_id.is_empty()
            && a.deployment_id == rollout.deployment_id
            && (a.deployment_status.as_ref().is_some_and(|d| d.canary)
                || rollout
                    .state
                    .is_some_and(|s| s.placed_canaries.contains(&a.id)))
    };
    // Judged unhealthy in the running deployment: replaced (a failed one is rescheduled by its
    // reschedule policy instead).
    let unhealthy = |a: &Allocation| {
        rollout.active
            && !rollout.deployment_id.is_empty()
            && a.deployment_id == rollout.deployment_id
            && !a.terminal()
            && a.deployment_status
                .as_ref()
                .is_some_and(|d| d.is_unhealthy())
    };
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
                lost.entry(i).or_default().push(a);
            }
            _ if matches!(health(&a.node_id), NodeHealth::Disconnected { .. }) => {
                if let (NodeHealth::Disconnected { since }, Some(r)) = (health(&a.node_id), rules) {
                    if a.client_status != ALLOC_CLIENT_UNKNOWN {
                        out.unknown
                            .push((a.clone(), since.saturating_add(r.lost_after)));
                    }
                }
                waiting.entry(i).or_default().push(a);
            }
            ALLOC_CLIENT_UNKNOWN if health(&a.node_id) == NodeHealth::Down => {
                lost.entry(i).or_default().push(a);
            }
            ALLOC_CLIENT_UNKNOWN => {
                waiting.entry(i).or_default().push(a);
            }
            _ if is_canary(a) && !a.server_terminal() => {
                canaries.insert(i, a);
            }
            _ => live.entry(i).or_default().push(a),
        }
    }

    // Duplicated names keep the oldest; indexes past the count stop, highest first.
    let mut keepers: BTreeMap<u32, &Arc<Allocation>> = BTreeMap::new();
    let mut extra: Vec<&Arc<Allocation>> = Vec::new();
    // Whether a waiting copy keeps its name from being placed again.
    let holds_name = |w: &Allocation| {
        let away = matches!(health(&w.node_id), NodeHealth::Disconnected { .. });
        !(away && rules.is_some_and(|r| r.replace))
    };
    let mut reconnect_losers: Vec<&str> = Vec::new();
    for (i, mut list) in live {
        list.sort_by(|a, b| (a.create_index, &a.id).cmp(&(b.create_index, &b.id)));
        // A node came back with a copy the servers had replaced: `reconcile` picks the keeper.
        if list.iter().any(|a| a.needs_to_reconnect()) {
            let winner = reconnect_winner(&list, rules.map_or("", |r| r.reconcile));
            if winner.needs_to_reconnect() {
                out.reconnected.push(winner.clone());
            }
            reconnect_losers.extend(
                list.iter()
                    .filter(|a| a.id != winner.id)
                    .map(|a| a.id.as_str()),
            );
            list.retain(|a| a.id != winner.id);
            list.insert(0, winner);
        }
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
    // Waiting copies past the count are not needed either.
    extra.extend(
        waiting
            .iter()
            .filter(|(i, _)| **i >= count)
            .flat_map(|(_, list)| list.iter().copied()),
    );
    extra.sort_by_key(|a| std::cmp::Reverse(a.index()));
    for a in extra {
        let down = health(&a.node_id) == NodeHealth::Down;
        let desc = if down {
            DESC_LOST
        } else if reconnect_losers.contains(&a.id.as_str()) {
            DESC_RECONNECT_LOSER
        } else {
            DESC_NOT_NEEDED
        };
        out.unknown.retain(|(u, _)| u.id != a.id);
        out.stops.push(Stop {
            alloc: a.clone(),
            desc,
            lost: down,
        });
    }

    // A drain moves at most `migrate.max_parallel` allocations of the group at a time: a
    // migration is in flight until its replacement is healthy (by the `migrate` block's rules,
    // judged by its client), or running when nothing judges it. The rest wait for a later
    // evaluation (the server asks for one when a replacement turns healthy or starts running).
    let migrating_away: BTreeMap<&str, ()> = allocs
        .iter()
        .filter(|a| a.desired_description == DESC_MIGRATING)
        .map(|a| (a.id.as_str(), ()))
        .collect();
    let in_flight = keepers
        .values()
        .filter(|a| {
            migrating_away.contains_key(a.previous_allocation.as_str()) && !migration_settled(a)
        })
        .count();
    let max_parallel = tg.migrate.as_ref().map_or(usize::MAX, |m| {
        usize::try_from(m.max_parallel.max(1)).unwrap_or(1)
    });
    let mut migration_budget = max_parallel.saturating_sub(in_flight);

    // The rollout: how many destructive updates may start now, and the canary phase.
    let promoted = rollout.state.is_some_and(|s| s.promoted);
    let wanted_canaries = rollout
        .update
        .map_or(0, |u| u32::try_from(u.canary.max(0)).unwrap_or(0));
    // A promoted canary replaces the old allocation of its name.
    if promoted {
        for (i, c) in &canaries {
            if let Some(old) = keepers.insert(*i, c) {
                if old.id != c.id {
                    out.stops.push(Stop {
                        alloc: old.clone(),
                        desc: DESC_CANARY_PROMOTED,
                        lost: false,
                    });
                }
            }
        }
    } else {
        // Unhealthy canaries make room for new ones.
        let sick: Vec<u32> = canaries
            .iter()
            .filter(|(_, c)| unhealthy(c))
            .map(|(i, _)| *i)
            .collect();
        for i in sick {
            if let Some(c) = canaries.remove(&i) {
                out.stops.push(Stop {
                    alloc: c.clone(),
                    desc: DESC_UNHEALTHY,
                    lost: false,
                });
            }
        }
        // Canaries past the wanted number (a lowered `canary`) stop.
        for c in canaries.values().skip(wanted_canaries as usize) {
            out.stops.push(Stop {
                alloc: (*c).clone(),
                desc: DESC_NOT_NEEDED,
                lost: false,
            });
        }
    }
    let outdated: Vec<u32> = keepers
        .iter()
        .filter(|(_, a)| health(&a.node_id) == NodeHealth::Up && job_changed(a, job))
        .filter(|(_, a)| {
            a.job
                .as_ref()
                .and_then(|j| j.lookup_group(&tg.name))
                .is_none_or(|old| needs_destructive(old, tg))
        })
        .map(|(i, _)| *i)
        .collect();
    out.outdated = u32::try_from(outdated.len()).unwrap_or(u32::MAX);
    let canary_phase = rollout.update.is_some()
        && wanted_canaries > 0
        && !promoted
        && (!outdated.is_empty() || !canaries.is_empty());
    let mut destructive_budget = match rollout.update {
        None => usize::MAX,
        Some(_) if !rollout.active || canary_phase => 0,
        // As Nomad: an unhealthy allocation not replaced yet holds every other update back.
        Some(_)
            if allocs.iter().any(|a| {
                !rollout.deployment_id.is_empty()
                    && a.deployment_id == rollout.deployment_id
                    && a.next_allocation.is_empty()
                    && a.deployment_status
                        .as_ref()
                        .is_some_and(|d| d.is_unhealthy())
            }) =>
        {
            0
        }
        Some(u) => {
            let unhealthy_in_flight = allocs
                .iter()
                .filter(|a| {
                    !rollout.deployment_id.is_empty()
                        && a.deployment_id == rollout.deployment_id
                        && !a.terminal()
                        && !a.deployment_status.as_ref().is_some_and(|d| d.is_healthy())
                })
                .count();
            usize::try_from(u.max_parallel.max(1))
                .unwrap_or(1)
                .saturating_sub(unhealthy_in_flight)
        }
    };
    if canary_phase && rollout.active {
        let missing = wanted_canaries.saturating_sub(canaries.len() as u32) as usize;
        for i in outdated
            .iter()
            .filter(|i| !canaries.contains_key(i))
            .take(missing)
        {
            out.places.push(Place {
                index: *i,
                previous: None,
                kind: PlaceKind::Canary,
            });
        }
    }

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
                NodeHealth::Up if unhealthy(a) => {
                    out.stops.push(Stop {
                        alloc: (*a).clone(),
                        desc: DESC_UNHEALTHY,
                        lost: false,
                    });
                    out.places.push(place(PlaceKind::Replace));
                }
                NodeHealth::Up if job_changed(a, job) => {
                    if !outdated.contains(&i) {
                        out.inplace.push((*a).clone());
                    } else if destructive_budget > 0 {
                        destructive_budget -= 1;
                        out.places.push(place(PlaceKind::Destructive));
                    }
                }
                NodeHealth::Up => {}
                // Classified as waiting above: never a keeper.
                NodeHealth::Disconnected { .. } => {}
            }
        } else if waiting
            .get(&i)
            .is_some_and(|list| list.iter().any(|w| holds_name(w)))
        {
            // A copy back but not reported yet, or away in a group that is not replaced, keeps
            // its name. Otherwise the name is placed below as if the copy were gone, so that a
            // replacement that failed is rescheduled by its policy and one that finished stays
            // finished.
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
        } else if let Some(list) = lost.remove(&i) {
            for l in &list {
                out.stops.push(Stop {
                    alloc: (*l).clone(),
                    desc: DESC_LOST,
                    lost: true,
                });
            }
            out.places.push(Place {
                index: i,
                previous: list.first().map(|l| (*l).clone()),
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
    // Lost copies whose name another allocation already holds (a replacement made while their
    // node was disconnected) just stop.
    for l in lost.into_values().flatten() {
        out.stops.push(Stop {
            alloc: l.clone(),
            desc: DESC_LOST,
            lost: true,
        });
    }
    out
}
