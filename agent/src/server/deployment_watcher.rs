//! The deployment watcher (a leader duty): follows every active deployment as its allocations
//! are judged healthy or not, and moves it on: another evaluation on every new verdict (so the
//! next copies roll, or an unhealthy one is replaced), automatic promotion of healthy canaries,
//! success (the version becomes stable), or failure at a missed progress deadline (or at the
//! first unhealthy allocation without one), rolling back to the last stable version when the
//! group says `auto_revert`. The writes themselves are in `deployments.rs`.
//!
//! [`decide`] is pure: the state and the time in, at most one decision per deployment out.

use super::endpoints::new_eval;
use super::{now_nanos, Server, ServerError};
use crate::state::{Command, Tables};
use api::*;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The watcher looks again at least this often (progress deadlines pass without a write).
const TICK: Duration = Duration::from_secs(1);
/// And at most this often, however busy the state is.
const MIN_GAP: Duration = Duration::from_millis(200);

#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// An allocation turned healthy: the rollout may go on.
    Continue {
        deployment: Arc<Deployment>,
    },
    /// Every canary is healthy and the groups promote themselves.
    Promote {
        deployment: Arc<Deployment>,
    },
    Succeed {
        deployment: Arc<Deployment>,
    },
    Fail {
        deployment: Arc<Deployment>,
        description: String,
        /// The stable version to go back to (auto_revert).
        revert_to: Option<Arc<Job>>,
    },
}

/// Where a deployment's allocations stand.
#[derive(Debug, Default)]
struct HealthCounts {
    /// Live healthy allocations per group.
    healthy: HashMap<String, i64>,
    /// What the watcher compares between looks: (healthy, unhealthy) verdicts so far.
    verdicts: (usize, usize),
    /// Groups with an unhealthy allocation.
    unhealthy_groups: Vec<String>,
}

fn health_counts(t: &Tables, d: &Deployment) -> HealthCounts {
    // Kept as allocations change (state/alloc_tally.rs): a look costs the job's groups, not its
    // allocations.
    let Some(tally) = t
        .alloc_tally(&d.namespace, &d.job_id)
        .and_then(|t| t.deployments.get(&d.id))
    else {
        return HealthCounts::default();
    };
    let count = |n: i64| usize::try_from(n).unwrap_or(0);
    HealthCounts {
        healthy: tally
            .healthy_live
            .iter()
            .map(|(g, n)| (g.clone(), *n))
            .collect(),
        verdicts: (
            count(tally.healthy_live.values().sum()),
            count(tally.unhealthy_verdicts()),
        ),
        unhealthy_groups: tally.unhealthy.keys().cloned().collect(),
    }
}

/// How many of a group's canaries are live and healthy (a stopped one does not count).
pub(super) fn healthy_canaries(t: &Tables, g: &DeploymentState) -> i64 {
    g.placed_canaries
        .iter()
        .filter_map(|id| t.alloc(id))
        .filter(|a| !a.server_terminal())
        .filter(|a| a.deployment_status.as_ref().is_some_and(|s| s.is_healthy()))
        .count() as i64
}

/// The newest stable version older than the deployment's, for an automatic rollback.
fn stable_version(t: &Tables, d: &Deployment) -> Option<Arc<Job>> {
    t.job_versions(&d.namespace, &d.job_id)
        .into_iter()
        .find(|j| j.stable && j.version < d.job_version)
}

pub(super) fn fail(t: &Tables, d: &Arc<Deployment>, why: &str) -> Decision {
    let revert = d.task_groups.values().any(|g| g.auto_revert);
    let revert_to = revert.then(|| stable_version(t, d)).flatten();
    let description = match &revert_to {
        Some(j) => format!("{why} - rolling back to job version {}", j.version),
        None => why.to_string(),
    };
    Decision::Fail {
        deployment: d.clone(),
        description,
        revert_to,
    }
}

/// What to do about deployment `d` now. `seen` is how many of its allocations were healthy and
/// unhealthy when it was last looked at (None: never), to notice a change.
///
/// As in Nomad, an unhealthy allocation fails the deployment at once only in a group without a
/// progress deadline; otherwise it is replaced (the evaluation this asks for does it) and the
/// deployment fails if no allocation turns healthy before the deadline.
fn decide(
    t: &Tables,
    d: &Arc<Deployment>,
    now: i64,
    seen: Option<(usize, usize)>,
    counts: &HealthCounts,
) -> Option<Decision> {
    if !d.active() || d.status == DEPLOYMENT_STATUS_PAUSED {
        return None;
    }
    // A newer version's evaluation cancels it; nothing to decide meanwhile.
    let job = t.job(&d.namespace, &d.job_id)?;
    if job.version != d.job_version || job.stop {
        return None;
    }
    let healthy = &counts.healthy;
    let no_deadline = counts.unhealthy_groups.iter().any(|g| {
        d.task_groups
            .get(g)
            .is_some_and(|s| s.progress_deadline <= 0)
    });
    if no_deadline {
        return Some(fail(t, d, DEPLOYMENT_DESC_UNHEALTHY));
    }
    let group_done = |name: &str, g: &DeploymentState| {
        (g.desired_canaries == 0 || g.promoted)
            && healthy.get(name).copied().unwrap_or(0) >= g.desired_total
    };
    for (name, g) in &d.task_groups {
        let missed = api::time::parse_rfc3339(&g.require_progress_by)
            .is_some_and(|by| g.progress_deadline > 0 && now > by);
        if missed && !group_done(name, g) {
            return Some(fail(t, d, DEPLOYMENT_DESC_PROGRESS_DEADLINE));
        }
    }
    if d.task_groups.iter().all(|(n, g)| group_done(n, g)) {
        return Some(Decision::Succeed {
            deployment: d.clone(),
        });
    }
    let waiting: Vec<(&String, &DeploymentState)> = d
        .task_groups
        .iter()
        .filter(|(_, g)| g.desired_canaries > 0 && !g.promoted)
        .collect();
    let canaries_ready = !waiting.is_empty()
        && waiting
            .iter()
            .all(|(_, g)| g.auto_promote && healthy_canaries(t, g) >= g.desired_canaries);
    if canaries_ready {
        return Some(Decision::Promote {
            deployment: d.clone(),
        });
    }
    // A new leader (nothing seen yet) kicks only deployments with verdicts.
    (seen.unwrap_or_default() != counts.verdicts).then(|| Decision::Continue {
        deployment: d.clone(),
    })
}

impl Server {
    /// Runs until `stop` (the end of this leadership term) turns true.
    pub(super) async fn deployment_watcher(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut seen: HashMap<String, (usize, usize)> = HashMap::new();
        loop {
            let now = now_nanos();
            let (index, decisions) = self.state.read(|t| {
                let mut out = Vec::new();
                let mut active = HashMap::new();
                for d in t.deployments().filter(|d| d.active()) {
                    let counts = health_counts(t, d);
                    let total = counts.verdicts;
                    if let Some(decision) = decide(t, d, now, seen.get(&d.id).copied(), &counts) {
                        out.push((d.id.clone(), total, decision));
                    } else {
                        active.insert(d.id.clone(), total);
                    }
                }
                // Ended deployments are forgotten; one whose decision fails is looked at again.
                seen.retain(|id, _| active.contains_key(id));
                seen.extend(active);
                (t.index, out)
            });
            for (id, total, d) in decisions {
                match self.carry_out(d).await {
                    Ok(()) => {
                        seen.insert(id, total);
                    }
                    Err(e) => tracing::warn!(error = %e, "deployment watcher"),
                }
            }
            tokio::select! {
                _ = self.state.wait_for_index(index + 1, TICK) => {}
                _ = stop.changed() => return,
            }
            tokio::time::sleep(MIN_GAP).await;
            if *stop.borrow() {
                return;
            }
        }
    }

    async fn carry_out(&self, decision: Decision) -> Result<(), ServerError> {
        let job_of = |d: &Deployment| self.state.read(|t| t.job(&d.namespace, &d.job_id));
        match decision {
            Decision::Continue { deployment } => {
                let Some(job) = job_of(&deployment) else {
                    return Ok(());
                };
                let mut eval = new_eval(&job, TRIGGER_DEPLOYMENT_WATCHER);
                eval.deployment_id = deployment.id.clone();
                let (_, res) = self
                    .raft
                    .apply(Command::EvalUpsert { evals: vec![eval] })
                    .await
                    .map_err(ServerError::Raft)?;
                self.enqueue_evals(&res.evals);
            }
            Decision::Promote { deployment } => {
                tracing::info!(deployment = %deployment.id, "promoting healthy canaries");
                self.deployment_promote(&deployment.id, None).await?;
            }
            Decision::Succeed { deployment } => {
                tracing::info!(deployment = %deployment.id, job = %deployment.job_id, "deployment successful");
                self.set_deployment_status(
                    &deployment,
                    DEPLOYMENT_STATUS_SUCCESSFUL,
                    DEPLOYMENT_DESC_SUCCESSFUL.into(),
                    None,
                )
                .await?;
            }
            Decision::Fail {
                deployment,
                description,
                revert_to,
            } => {
                tracing::warn!(deployment = %deployment.id, job = %deployment.job_id, %description, "deployment failed");
                self.set_deployment_status(
                    &deployment,
                    DEPLOYMENT_STATUS_FAILED,
                    description,
                    revert_to,
                )
                .await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
