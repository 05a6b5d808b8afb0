//! The plan applier (leader only): plans from all workers are applied one at a time. Each node of
//! a plan is checked against the newest state (another worker may have used the capacity since
//! the plan's snapshot); nodes that no longer fit are refused and the worker schedules again.

use super::{endpoints::ServerError, now_nanos, Server};
use crate::scheduler::{allocs_fit, Plan};
use crate::state::Command;
use api::*;
use std::collections::{HashMap, HashSet};

pub(super) struct PlanResult {
    pub index: u64,
    pub rejected_nodes: usize,
}

impl Server {
    /// Applies what fits of `plan`. The evaluations are committed with it when every node was
    /// accepted, or when `commit_evals_anyway` (the worker's last attempt).
    pub(super) async fn apply_plan(
        &self,
        plan: &Plan,
        evals: Vec<Evaluation>,
        commit_evals_anyway: bool,
    ) -> Result<PlanResult, ServerError> {
        let _serial = self.plan_lock.lock().await;
        let snap = self.state.snapshot();
        let mut updated = Vec::new();
        let mut placed = Vec::new();
        let mut rejected_nodes = 0;

        let nodes: HashSet<&String> = plan
            .node_update
            .keys()
            .chain(plan.node_allocation.keys())
            .collect();
        for node_id in nodes {
            let stops = plan
                .node_update
                .get(node_id)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            let allocs = plan
                .node_allocation
                .get(node_id)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            if !allocs.is_empty() {
                let Some(node) = snap.node(node_id) else {
                    rejected_nodes += 1;
                    continue;
                };
                let has_new = allocs.iter().any(|a| snap.alloc(&a.id).is_none());
                if has_new && !node.ready() {
                    rejected_nodes += 1;
                    continue;
                }
                // What the node would run: its live allocations, minus those this plan stops or
                // replaces in place, plus this plan's.
                let removed: HashSet<&str> = stops
                    .iter()
                    .chain(allocs.iter())
                    .map(|a| a.id.as_str())
                    .collect();
                let existing = snap.allocs_for_node(node_id);
                let mut proposed: Vec<&Allocation> = existing
                    .iter()
                    .filter(|a| !a.terminal() && !removed.contains(a.id.as_str()))
                    .map(|a| a.as_ref())
                    .collect();
                proposed.extend(allocs.iter());
                if let Err(why) = allocs_fit(&node, &proposed) {
                    tracing::debug!(node_id, why, "plan applier: node refused");
                    rejected_nodes += 1;
                    continue;
                }
            }
            updated.extend(stops.iter().cloned());
            for a in allocs {
                if snap.alloc(&a.id).is_some() {
                    updated.push(a.clone());
                } else {
                    placed.push(a.clone());
                }
            }
        }
        // Link replacements to what they replace.
        let mut next_of: HashMap<String, String> = HashMap::new();
        for a in &placed {
            if !a.previous_allocation.is_empty() {
                next_of.insert(a.previous_allocation.clone(), a.id.clone());
            }
        }
        for (prev, next) in next_of {
            if let Some(u) = updated.iter_mut().find(|u| u.id == prev) {
                u.next_allocation = next;
            } else if let Some(existing) = snap.alloc(&prev) {
                let mut a = (*existing).clone();
                a.next_allocation = next;
                updated.push(a);
            }
        }
        let commit_evals = rejected_nodes == 0 || commit_evals_anyway;
        let evals = if commit_evals { evals } else { Vec::new() };
        if updated.is_empty() && placed.is_empty() && evals.is_empty() {
            return Ok(PlanResult {
                index: snap.index,
                rejected_nodes,
            });
        }
        let freed = updated.iter().any(|a| a.terminal());
        let (index, _) = self
            .raft
            .apply(Command::PlanApply {
                updated,
                placed,
                evals,
                now: now_nanos(),
            })
            .await
            .map_err(ServerError::Raft)?;
        drop(_serial);
        if freed {
            self.unblock(index).await;
        }
        Ok(PlanResult {
            index,
            rejected_nodes,
        })
    }
}
