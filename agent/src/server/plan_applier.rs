//! The plan applier (leader only): plans from all workers are checked one at a time against the
//! newest state (another worker may have used the capacity since the plan's snapshot); nodes
//! that no longer fit are refused and the worker schedules again.
//!
//! Plans are committed in batches. A worker queues its plan and takes the applier's lock; whoever
//! holds the lock checks every queued plan, in order, against the state plus the plans checked
//! before it in the batch, and commits them all as one raft entry. While one batch commits, the
//! next one gathers, so under load one commit serves many plans instead of each plan waiting for
//! a commit of its own.

use super::{endpoints::ServerError, now_nanos, Server};
use crate::scheduler::fit::{add_if_fits, NodeUsage};
use crate::scheduler::Plan;
use crate::state::{Command, Tables};
use api::*;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::oneshot;

/// Plans committed together at most: bounds the size of one raft entry.
const MAX_BATCH: usize = 64;
/// Allocations per raft entry. A plan of ten thousand placements commits as several entries of
/// at most this many: each stays around a megabyte, quick to replicate, append and apply, so
/// that no single entry holds raft's replication or the state's lock for long.
const MAX_ALLOCS_PER_ENTRY: usize = 1000;
/// Entries of one batch proposed at once (see `apply_batch`).
const ENTRIES_IN_FLIGHT: usize = 4;

#[derive(Debug, Clone)]
pub(super) struct PlanResult {
    pub index: u64,
    pub rejected_nodes: usize,
}

/// Plans waiting for the applier, oldest first.
#[derive(Default)]
pub(super) struct PlanQueue(Mutex<Vec<QueuedPlan>>);

struct QueuedPlan {
    plan: Plan,
    evals: Vec<Evaluation>,
    commit_evals_anyway: bool,
    reply: oneshot::Sender<Result<PlanResult, ServerError>>,
}

impl PlanQueue {
    fn lock(&self) -> MutexGuard<'_, Vec<QueuedPlan>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// What a batch accepted so far: the usage of each node it touched, and the allocations it
/// counts differently from the state (placed or changed by an earlier plan of the batch, or
/// stopped by one), so later plans in the batch are checked against them rather than against
/// the state alone.
#[derive(Default)]
struct BatchOverlay {
    usage: HashMap<String, NodeUsage>,
    /// Allocation id -> the version its node's usage includes (none: it no longer counts).
    counted: HashMap<String, Option<Arc<Allocation>>>,
}

impl BatchOverlay {
    /// The version of allocation `id` whose resources its node's usage includes, if any.
    fn counted(&self, snap: &Tables, id: &str) -> Option<Arc<Allocation>> {
        match self.counted.get(id) {
            Some(v) => v.clone(),
            None => snap.alloc(id).filter(|a| !a.terminal()),
        }
    }

    /// Takes what `changes` replace out of `usage` (those on `node_id`, as `batch` counts
    /// them), and records their new versions here, to be kept only if the node is accepted.
    fn apply_changes_from(
        &mut self,
        batch: &BatchOverlay,
        snap: &Tables,
        node_id: &str,
        usage: &mut NodeUsage,
        changes: &[&Allocation],
    ) {
        for a in changes {
            let old = batch
                .counted(snap, &a.id)
                .filter(|old| old.node_id == node_id);
            if let Some(old) = old {
                usage.remove(&old);
            }
        }
        for a in changes {
            let now = (!a.terminal()).then(|| Arc::new((*a).clone()));
            self.counted.insert(a.id.clone(), now);
        }
    }
}

/// The accepted part of one plan.
#[derive(Default)]
struct Accepted {
    updated: Vec<Allocation>,
    placed: Vec<Allocation>,
    rejected_nodes: usize,
}

impl Server {
    /// Applies what fits of `plan`. The evaluations are committed with it when every node was
    /// accepted, or when `commit_evals_anyway` (the worker's last attempt).
    pub(super) async fn apply_plan(
        &self,
        plan: Plan,
        evals: Vec<Evaluation>,
        commit_evals_anyway: bool,
    ) -> Result<PlanResult, ServerError> {
        let (reply, mut answer) = oneshot::channel();
        self.plan_queue.lock().push(QueuedPlan {
            plan,
            evals,
            commit_evals_anyway,
            reply,
        });
        let serial = self.plan_lock.lock().await;
        let mut freed_at = None;
        let result = loop {
            match answer.try_recv() {
                // An earlier holder of the lock applied this plan with its batch.
                Ok(result) => break result,
                Err(oneshot::error::TryRecvError::Closed) => {
                    break Err(ServerError::Unavailable("the plan was dropped".into()))
                }
                Err(oneshot::error::TryRecvError::Empty) => {}
            }
            let batch: Vec<QueuedPlan> = {
                let mut queue = self.plan_queue.lock();
                let n = queue.len().min(MAX_BATCH);
                queue.drain(..n).collect()
            };
            if let Some(index) = self.apply_batch(batch).await {
                freed_at = Some(index);
            }
        };
        drop(serial);
        if let Some(index) = freed_at {
            self.unblock(index).await;
        }
        result
    }

    /// Checks and commits one batch, answers each plan's worker, and returns the commit's index
    /// when it freed capacity (stopped allocations), which may unblock waiting evaluations.
    async fn apply_batch(&self, batch: Vec<QueuedPlan>) -> Option<u64> {
        let snap = self.state.snapshot();
        let mut overlay = BatchOverlay::default();
        let (mut updated, mut placed, mut evals) = (Vec::new(), Vec::new(), Vec::new());
        let (mut deployments, mut deployment_updates) = (Vec::new(), Vec::new());
        let mut replies = Vec::with_capacity(batch.len());
        for mut queued in batch {
            let deployment = queued.plan.deployment.take();
            let updates = std::mem::take(&mut queued.plan.deployment_updates);
            let accepted = check_plan(&snap, &mut overlay, queued.plan);
            if accepted.rejected_nodes == 0 || queued.commit_evals_anyway {
                evals.extend(queued.evals);
            }
            // A deployment starts with whatever part of its plan fits; a retry finds it and
            // carries on with it.
            deployments.extend(deployment);
            deployment_updates.extend(updates);
            updated.extend(accepted.updated);
            placed.extend(accepted.placed);
            replies.push((queued.reply, accepted.rejected_nodes));
        }
        let snapshot_index = snap.index;
        // Not held across the commit below (see `StateStore::read`).
        drop(snap);
        if updated.is_empty()
            && placed.is_empty()
            && evals.is_empty()
            && deployments.is_empty()
            && deployment_updates.is_empty()
        {
            for (reply, rejected_nodes) in replies {
                let _ = reply.send(Ok(PlanResult {
                    index: snapshot_index,
                    rejected_nodes,
                }));
            }
            return None;
        }
        let freed = updated.iter().any(|a| a.terminal());
        let now = now_nanos();
        let chunks = split_allocs(updated, placed, MAX_ALLOCS_PER_ENTRY);
        let last = chunks.len() - 1;
        let mut cmds = Vec::with_capacity(chunks.len());
        for (i, (mut updated, mut placed)) in chunks.into_iter().enumerate() {
            let jobs = api::alloc_jobs::detach_jobs(updated.iter_mut().chain(placed.iter_mut()));
            let first = i == 0;
            cmds.push(Command::PlanApply {
                updated,
                placed,
                // The evaluations' new state last: until it commits they are still pending, and
                // a new leader runs them again over what the earlier entries placed.
                evals: if i == last {
                    std::mem::take(&mut evals)
                } else {
                    Vec::new()
                },
                now,
                // The deployments first: the allocations refer to them.
                deployments: if first {
                    std::mem::take(&mut deployments)
                } else {
                    Vec::new()
                },
                deployment_updates: if first {
                    std::mem::take(&mut deployment_updates)
                } else {
                    Vec::new()
                },
                jobs,
            });
        }
        // Proposed a few at a time, in order: the next entries replicate while the first apply,
        // and no more than a few megabytes wait on a follower at once.
        let mut committed = Ok(snapshot_index);
        let mut cmds = cmds.into_iter().peekable();
        while cmds.peek().is_some() {
            let window: Vec<Command> = cmds.by_ref().take(ENTRIES_IN_FLIGHT).collect();
            committed = self
                .raft
                .apply_many(window)
                .await
                .map_err(ServerError::Raft);
            if committed.is_err() {
                break;
            }
        }
        for (reply, rejected_nodes) in replies {
            let _ = reply.send(committed.clone().map(|index| PlanResult {
                index,
                rejected_nodes,
            }));
        }
        committed.ok().filter(|_| freed)
    }
}

/// Splits a batch's allocations into raft entries of at most `max` allocations each (one entry
/// when there are none: the evaluations still commit).
fn split_allocs(
    updated: Vec<Allocation>,
    placed: Vec<Allocation>,
    max: usize,
) -> Vec<(Vec<Allocation>, Vec<Allocation>)> {
    let max = max.max(1);
    let mut chunks: Vec<(Vec<Allocation>, Vec<Allocation>)> = vec![(Vec::new(), Vec::new())];
    let full = |c: &(Vec<Allocation>, Vec<Allocation>)| c.0.len() + c.1.len() >= max;
    for a in updated {
        if chunks.last().is_some_and(full) {
            chunks.push((Vec::new(), Vec::new()));
        }
        if let Some(c) = chunks.last_mut() {
            c.0.push(a);
        }
    }
    for a in placed {
        if chunks.last().is_some_and(full) {
            chunks.push((Vec::new(), Vec::new()));
        }
        if let Some(c) = chunks.last_mut() {
            c.1.push(a);
        }
    }
    chunks
}

/// The part of `plan` that fits on the state plus what the batch accepted before it.
fn check_plan(snap: &Tables, overlay: &mut BatchOverlay, plan: Plan) -> Accepted {
    let mut out = Accepted::default();
    let Plan {
        mut node_update,
        node_allocation,
        ..
    } = plan;
    for (node_id, allocs) in node_allocation {
        let stops = node_update.remove(&node_id).unwrap_or_default();
        let Some(node) = snap.node(&node_id) else {
            out.rejected_nodes += 1;
            continue;
        };
        // One lookup per allocation: whether the state has it decides the rest. A placement
        // (not in the state) needs no entry in the overlay: no other plan of the batch can know
        // of it, since each was made on a snapshot older than this batch.
        let in_state: Vec<bool> = allocs.iter().map(|a| snap.alloc(&a.id).is_some()).collect();
        let has_new = in_state.iter().any(|known| !known);
        if has_new && !node.ready() {
            out.rejected_nodes += 1;
            continue;
        }
        // What the node would run: what its live allocations use (the state keeps the sum),
        // less what this plan stops or replaces in place, plus this plan's allocations.
        let mut usage = overlay
            .usage
            .get(node_id.as_str())
            .cloned()
            .unwrap_or_else(|| NodeUsage::from_tally(&node, snap.node_tally(&node_id)));
        let changes: Vec<&Allocation> = stops
            .iter()
            .chain(
                allocs
                    .iter()
                    .zip(&in_state)
                    .filter(|(_, k)| **k)
                    .map(|(a, _)| a),
            )
            .collect();
        let mut trial = BatchOverlay::default();
        trial.apply_changes_from(overlay, snap, &node_id, &mut usage, &changes);
        let new: Vec<&Allocation> = allocs.iter().filter(|a| !a.terminal()).collect();
        if let Err(why) = add_if_fits(&node, &mut usage, &new) {
            tracing::debug!(node_id, %why, "plan applier: node refused");
            out.rejected_nodes += 1;
            continue;
        }
        overlay.counted.extend(trial.counted);
        overlay.usage.insert(node_id, usage);
        out.updated.extend(stops);
        for (a, known) in allocs.into_iter().zip(in_state) {
            if known {
                out.updated.push(a);
            } else {
                out.placed.push(a);
            }
        }
    }
    // Stops only: they free capacity for the rest of the batch.
    for (node_id, stops) in node_update {
        let changes: Vec<&Allocation> = stops.iter().collect();
        match snap.node(&node_id) {
            Some(node) => {
                let mut usage = overlay
                    .usage
                    .remove(node_id.as_str())
                    .unwrap_or_else(|| NodeUsage::from_tally(&node, snap.node_tally(&node_id)));
                let mut trial = BatchOverlay::default();
                trial.apply_changes_from(overlay, snap, &node_id, &mut usage, &changes);
                overlay.counted.extend(trial.counted);
                overlay.usage.insert(node_id, usage);
            }
            // A node gone from the state takes no placement: only the counts matter.
            None => {
                for a in changes {
                    overlay.counted.insert(a.id.clone(), None);
                }
            }
        }
        out.updated.extend(stops);
    }
    // Link replacements to what they replace.
    let mut next_of: HashMap<String, String> = HashMap::new();
    for a in &out.placed {
        if !a.previous_allocation.is_empty() {
            next_of.insert(a.previous_allocation.clone(), a.id.clone());
        }
    }
    for (prev, next) in next_of {
        if let Some(u) = out.updated.iter_mut().find(|u| u.id == prev) {
            u.next_allocation = next;
        } else if let Some(existing) = snap.alloc(&prev) {
            let mut a = (*existing).clone();
            a.next_allocation = next;
            out.updated.push(a);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str) -> Node {
        let mut n = Node {
            id: id.into(),
            name: id.into(),
            datacenter: "dc1".into(),
            status: NODE_STATUS_READY.into(),
            scheduling_eligibility: "eligible".into(),
            ..Node::default()
        };
        n.node_resources.cpu.cpu_shares = 1000;
        n.node_resources.memory.memory_mb = 1024;
        n.node_resources.disk.disk_mb = 100_000;
        n
    }

    fn alloc(id: &str, node_id: &str, cpu: i64) -> Allocation {
        let mut a = crate::scheduler::fit::tests::alloc(cpu, 100, &[]);
        a.id = id.into();
        a.node_id = node_id.into();
        a
    }

    fn placing(allocs: Vec<Allocation>) -> Plan {
        let mut plan = Plan::default();
        for a in allocs {
            plan.node_allocation
                .entry(a.node_id.clone())
                .or_default()
                .push(a);
        }
        plan
    }

    fn stopping(a: Allocation) -> Plan {
        let mut plan = Plan::default();
        let mut stop = a;
        stop.desired_status = ALLOC_DESIRED_STOP.into();
        plan.node_update.insert(stop.node_id.clone(), vec![stop]);
        plan
    }

    fn state_with(nodes: &[Node], allocs: &[Allocation]) -> Tables {
        let mut t = Tables::default();
        for (i, n) in nodes.iter().enumerate() {
            t.apply(
                i as u64 + 1,
                &Command::NodeRegister {
                    node: Box::new(n.clone()),
                    evals: vec![],
                    now: 1,
                    secret_hash: String::new(),
                },
            );
        }
        t.apply(
            100,
            &Command::PlanApply {
                jobs: vec![],
                updated: vec![],
                placed: allocs.to_vec(),
                evals: vec![],
                now: 1,
                deployments: vec![],
                deployment_updates: vec![],
            },
        );
        t
    }

    #[test]
    fn a_large_batch_commits_as_entries_of_bounded_size() {
        let n = |k: usize| -> Vec<Allocation> {
            (0..k)
                .map(|i| Allocation {
                    id: format!("a{i}"),
                    ..Default::default()
                })
                .collect()
        };
        let sizes = |c: Vec<(Vec<Allocation>, Vec<Allocation>)>| {
            c.iter()
                .map(|(u, p)| (u.len(), p.len()))
                .collect::<Vec<_>>()
        };
        assert_eq!(sizes(split_allocs(n(0), n(0), 3)), [(0, 0)]);
        assert_eq!(sizes(split_allocs(n(2), n(5), 3)), [(2, 1), (0, 3), (0, 1)]);
        assert_eq!(sizes(split_allocs(n(3), n(0), 3)), [(3, 0)]);
    }

    #[test]
    fn plans_of_one_batch_see_the_capacity_earlier_plans_took() {
        // Scenario: two workers scheduled from the same snapshot and both chose node n1, which
        // has room for one of them; their plans land in one batch.
        let snap = state_with(&[node("n1")], &[]);
        let mut overlay = BatchOverlay::default();
        let first = check_plan(&snap, &mut overlay, placing(vec![alloc("a", "n1", 600)]));
        let second = check_plan(&snap, &mut overlay, placing(vec![alloc("b", "n1", 600)]));
        assert_eq!((first.rejected_nodes, first.placed.len()), (0, 1));
        assert_eq!((second.rejected_nodes, second.placed.len()), (1, 0));
    }

    #[test]
    fn a_stop_earlier_in_the_batch_frees_room_for_a_later_plan() {
        // Scenario: one plan stops the node's only allocation, the next places a new one that
        // fits only once the first is gone.
        let running = alloc("old", "n1", 600);
        let snap = state_with(&[node("n1")], std::slice::from_ref(&running));
        let mut overlay = BatchOverlay::default();
        let stop = check_plan(&snap, &mut overlay, stopping(running));
        let place = check_plan(&snap, &mut overlay, placing(vec![alloc("new", "n1", 600)]));
        assert_eq!((stop.rejected_nodes, stop.updated.len()), (0, 1));
        assert_eq!((place.rejected_nodes, place.placed.len()), (0, 1));
    }

    #[test]
    fn a_plan_for_an_unknown_or_down_node_is_refused() {
        let mut down = node("n2");
        down.status = NODE_STATUS_DOWN.into();
        let snap = state_with(&[down], &[]);
        let mut overlay = BatchOverlay::default();
        let plan = placing(vec![alloc("a", "n2", 100), alloc("b", "gone", 100)]);
        let out = check_plan(&snap, &mut overlay, plan);
        assert_eq!((out.rejected_nodes, out.placed.len()), (2, 0));
    }
}
