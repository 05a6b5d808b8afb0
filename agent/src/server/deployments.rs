//! Operators' deployment commands (`deployment promote|pause|resume|fail`) and the one raft
//! write every deployment status change goes through, the watcher's verdicts included.

use super::deployment_watcher::{fail, healthy_canaries, Decision};
use super::endpoints::new_eval;
use super::{now_nanos, Server, ServerError};
use crate::state::{Command, DeploymentStatusUpdate};
use api::*;
use std::sync::Arc;

impl Server {
    /// The deployment (404 when unknown) and its job as they stand now.
    fn deployment_and_job(
        &self,
        id: &str,
    ) -> Result<(Arc<Deployment>, Option<Arc<Job>>), ServerError> {
        let (d, job) = self.state.read(|t| {
            let d = t.deployment(id);
            let job = d.as_ref().and_then(|d| t.job(&d.namespace, &d.job_id));
            (d, job)
        });
        let d = d.ok_or_else(|| ServerError::NotFound(format!("deployment {id} not found")))?;
        Ok((d, job))
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
        let (d, job) = self.deployment_and_job(id)?;
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
        let (d, job) = self.deployment_and_job(id)?;
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
