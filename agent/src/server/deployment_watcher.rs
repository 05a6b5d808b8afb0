//! The deployment watcher (a leader duty): follows every active deployment as its allocations
//! are judged healthy or not, and moves it on: another evaluation when an allocation turned
//! healthy (so the next ones roll), automatic promotion of healthy canaries, success (the version
//! becomes stable), or failure on an unhealthy allocation or a missed progress deadline, rolling
//! back to the last stable version when the group says `auto_revert`.
//!
//! [`decide`] is pure: the state and the time in, at most one decision per deployment out.

use super::endpoints::new_eval;
use super::{now_nanos, Server, ServerError};
use crate::state::{Command, DeploymentStatusUpdate, Tables};
use api::*;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The watcher looks again at least this often (progress deadlines pass without a write).
const TICK: Duration = Duration::from_secs(1);
/// And at most this often, however busy the state is.
const MIN_GAP: Duration = Duration::from_millis(50);

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
    let mut c = HealthCounts::default();
    for a in t.allocs_for_job(&d.namespace, &d.job_id) {
        if a.deployment_id != d.id {
            continue;
        }
        let status = a.deployment_status.as_ref();
        if status.is_some_and(|s| s.is_unhealthy()) {
            c.verdicts.1 += 1;
            if !c.unhealthy_groups.contains(&a.task_group) {
                c.unhealthy_groups.push(a.task_group.clone());
            }
        }
        if status.is_some_and(|s| s.is_healthy()) && !a.server_terminal() {
            *c.healthy.entry(a.task_group.clone()).or_insert(0) += 1;
            c.verdicts.0 += 1;
        }
    }
    c
}

/// How many of a group's canaries are live and healthy (a stopped one does not count).
fn healthy_canaries(t: &Tables, g: &DeploymentState) -> i64 {
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

fn fail(t: &Tables, d: &Arc<Deployment>, why: &str) -> Decision {
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
pub fn decide(
    t: &Tables,
    d: &Arc<Deployment>,
    now: i64,
    seen: Option<(usize, usize)>,
) -> Option<Decision> {
    if !d.active() || d.status == DEPLOYMENT_STATUS_PAUSED {
        return None;
    }
    // A newer version's evaluation cancels it; nothing to decide meanwhile.
    let job = t.job(&d.namespace, &d.job_id)?;
    if job.version != d.job_version || job.stop {
        return None;
    }
    let counts = health_counts(t, d);
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
                    let total = health_counts(t, d).verdicts;
                    if let Some(decision) = decide(t, d, now, seen.get(&d.id).copied()) {
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

    /// Writes a deployment's status; with `revert_to`, registers that version's spec again as a
    /// new version, with the evaluation that rolls it out.
    pub(super) async fn set_deployment_status(
        &self,
        d: &Deployment,
        status: &str,
        description: String,
        revert_to: Option<Arc<Job>>,
    ) -> Result<DeploymentUpdateResponse, ServerError> {
        let revert = revert_to.map(|j| {
            let mut job = (*j).clone();
            job.stop = false;
            job
        });
        let evals: Vec<Evaluation> = revert
            .iter()
            .map(|j| new_eval(j, TRIGGER_JOB_REGISTER))
            .collect();
        self.write_status(&d.id, status, description, revert, evals)
            .await
    }

    /// One deployment status write through raft, refused (409) when the deployment ended or
    /// its job moved on meanwhile.
    async fn write_status(
        &self,
        id: &str,
        status: &str,
        description: String,
        revert: Option<Job>,
        evals: Vec<Evaluation>,
    ) -> Result<DeploymentUpdateResponse, ServerError> {
        let reverted = revert.as_ref().map(|j| j.version);
        let eval_id = evals.first().map(|e| e.id.clone()).unwrap_or_default();
        let (index, res) = self
            .raft
            .apply(Command::DeploymentStatus {
                update: DeploymentStatusUpdate {
                    deployment_id: id.to_string(),
                    status: status.into(),
                    status_description: description,
                },
                revert_to: revert.map(Box::new),
                evals,
                now: now_nanos(),
            })
            .await
            .map_err(ServerError::Raft)?;
        if let Some(why) = res.error {
            return Err(ServerError::Conflict(why));
        }
        self.enqueue_evals(&res.evals);
        Ok(DeploymentUpdateResponse {
            eval_id,
            eval_create_index: index,
            deployment_modify_index: index,
            reverted_job_version: reverted,
            index,
        })
    }

    /// `deployment promote`: the canaries of every group (or the named ones) take over.
    pub async fn deployment_promote(
        &self,
        id: &str,
        groups: Option<Vec<String>>,
    ) -> Result<DeploymentUpdateResponse, ServerError> {
        let (d, job) = self.state.read(|t| {
            let d = t.deployment(id);
            let job = d.as_ref().and_then(|d| t.job(&d.namespace, &d.job_id));
            (d, job)
        });
        let d = d.ok_or_else(|| ServerError::NotFound(format!("deployment {id} not found")))?;
        if !d.has_canaries() {
            return Err(ServerError::Invalid(format!(
                "deployment {id} has no canaries to promote"
            )));
        }
        if !d.active() {
            return Err(ServerError::Invalid(format!(
                "deployment {id} is {}: only a running deployment can be promoted",
                d.status
            )));
        }
        if let Some(names) = &groups {
            for n in names {
                if d.task_groups.get(n).is_none_or(|g| g.desired_canaries <= 0) {
                    return Err(ServerError::Invalid(format!(
                        "group {n:?} of deployment {id} has no canaries to promote"
                    )));
                }
            }
        }
        // As Nomad: only healthy canaries are promoted.
        let unready: Vec<String> = self.state.read(|t| {
            d.task_groups
                .iter()
                .filter(|(n, g)| {
                    g.desired_canaries > 0 && groups.as_ref().is_none_or(|l| l.contains(n))
                })
                .filter_map(|(n, g)| {
                    let healthy = healthy_canaries(t, g);
                    (healthy < g.desired_canaries).then(|| {
                        format!(
                            "task group {n:?} has {healthy}/{} healthy canaries",
                            g.desired_canaries
                        )
                    })
                })
                .collect()
        });
        if !unready.is_empty() {
            return Err(ServerError::Invalid(format!(
                "deployment {id} cannot be promoted yet: {}",
                unready.join(", ")
            )));
        }
        let job =
            job.ok_or_else(|| ServerError::NotFound(format!("job {} not found", d.job_id)))?;
        let mut eval = new_eval(&job, TRIGGER_DEPLOYMENT_WATCHER);
        eval.deployment_id = d.id.clone();
        let (index, res) = self
            .raft
            .apply(Command::DeploymentPromote {
                deployment_id: d.id.clone(),
                groups,
                evals: vec![eval.clone()],
                now: now_nanos(),
            })
            .await
            .map_err(ServerError::Raft)?;
        self.enqueue_evals(&res.evals);
        Ok(DeploymentUpdateResponse {
            eval_id: eval.id,
            eval_create_index: index,
            deployment_modify_index: index,
            reverted_job_version: None,
            index,
        })
    }

    /// `deployment pause|resume`: a paused rollout places nothing more and misses no deadline;
    /// resuming asks for the evaluation that goes on.
    pub async fn deployment_pause(
        &self,
        id: &str,
        pause: bool,
    ) -> Result<DeploymentUpdateResponse, ServerError> {
        let (d, job) = self.state.read(|t| {
            let d = t.deployment(id);
            let job = d.as_ref().and_then(|d| t.job(&d.namespace, &d.job_id));
            (d, job)
        });
        let d = d.ok_or_else(|| ServerError::NotFound(format!("deployment {id} not found")))?;
        if !d.active() {
            return Err(ServerError::Invalid(format!(
                "deployment {id} is {}: only a running or paused deployment can be {}",
                d.status,
                if pause { "paused" } else { "resumed" }
            )));
        }
        let (status, description) = if pause {
            (DEPLOYMENT_STATUS_PAUSED, DEPLOYMENT_DESC_PAUSED)
        } else if d.requires_promotion() {
            let auto = d
                .task_groups
                .values()
                .filter(|g| g.desired_canaries > 0 && !g.promoted)
                .all(|g| g.auto_promote);
            let desc = if auto {
                DEPLOYMENT_DESC_AUTO_PROMOTION
            } else {
                DEPLOYMENT_DESC_NEEDS_PROMOTION
            };
            (DEPLOYMENT_STATUS_RUNNING, desc)
        } else {
            (DEPLOYMENT_STATUS_RUNNING, DEPLOYMENT_DESC_RUNNING)
        };
        let evals: Vec<Evaluation> = match (&job, pause) {
            (Some(job), false) => {
                let mut eval = new_eval(job, TRIGGER_DEPLOYMENT_WATCHER);
                eval.deployment_id = d.id.clone();
                vec![eval]
            }
            _ => Vec::new(),
        };
        self.write_status(&d.id, status, description.into(), None, evals)
            .await
    }

    /// `deployment fail`: ends the rollout; with `auto_revert`, rolls back to the last stable
    /// version.
    pub async fn deployment_fail(&self, id: &str) -> Result<DeploymentUpdateResponse, ServerError> {
        let decision = self.state.read(|t| {
            let d = t.deployment(id)?;
            Some((
                d.clone(),
                d.active()
                    .then(|| fail(t, &d, DEPLOYMENT_DESC_FAILED_BY_USER)),
            ))
        });
        let (d, decision) =
            decision.ok_or_else(|| ServerError::NotFound(format!("deployment {id} not found")))?;
        let Some(Decision::Fail {
            description,
            revert_to,
            ..
        }) = decision
        else {
            return Err(ServerError::Invalid(format!(
                "deployment {id} is {} already: only a running deployment can be failed",
                d.status
            )));
        };
        self.set_deployment_status(&d, DEPLOYMENT_STATUS_FAILED, description, revert_to)
            .await
    }
}

#[cfg(test)]
mod tests;
