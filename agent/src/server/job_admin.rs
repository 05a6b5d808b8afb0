//! Operator requests that make the scheduler look again without a new job version: `job eval`
//! (optionally forcing failed allocations to be rescheduled), `node eval`, and `job validate`,
//! which checks a job as registration would without writing anything.

use super::endpoints::{check_group_counts, evals_for_node, new_eval};
use super::{Server, ServerError};
use crate::state::Command;
use api::*;

impl Server {
    /// `POST /v1/job/:id/evaluate`.
    pub async fn job_evaluate(
        &self,
        namespace: &str,
        job_id: &str,
        opts: EvalOptions,
    ) -> Result<JobRegisterResponse, ServerError> {
        let (job, failed) = self.state.read(|t| {
            let job = t.job(namespace, job_id);
            // Failed allocations not replaced yet: those a forced reschedule concerns.
            let failed: Vec<String> = if opts.force_reschedule {
                t.allocs_for_job(namespace, job_id)
                    .iter()
                    .filter(|a| {
                        a.client_status == ALLOC_CLIENT_FAILED
                            && a.desired_status == ALLOC_DESIRED_RUN
                            && a.next_allocation.is_empty()
                    })
                    .map(|a| a.id.clone())
                    .collect()
            } else {
                Vec::new()
            };
            (job, failed)
        });
        let Some(job) = job else {
            return Err(ServerError::NotFound(format!("job {job_id:?} not found")));
        };
        let eval = new_eval(&job, TRIGGER_JOB_REGISTER);
        let cmd = if failed.is_empty() {
            Command::EvalUpsert {
                evals: vec![eval.clone()],
            }
        } else {
            Command::AllocTransition {
                alloc_ids: failed,
                transition: DesiredTransition {
                    force_reschedule: Some(true),
                    ..Default::default()
                },
                evals: vec![eval.clone()],
            }
        };
        let (index, res) = self.raft.apply(cmd).await.map_err(ServerError::Raft)?;
        self.enqueue_evals(&res.evals);
        Ok(JobRegisterResponse {
            eval_id: eval.id,
            eval_create_index: index,
            job_modify_index: job.job_modify_index,
            warnings: String::new(),
            index,
        })
    }

    /// `POST /v1/node/:id/evaluate`: one evaluation per job with allocations on the node, and
    /// every system job.
    pub async fn node_evaluate(&self, node_id: &str) -> Result<NodeUpdateResponse, ServerError> {
        let found = self.state.read(|t| {
            t.node(node_id).map(|n| {
                (
                    n.modify_index,
                    evals_for_node(t, node_id, TRIGGER_NODE_UPDATE),
                )
            })
        });
        let Some((node_modify_index, evals)) = found else {
            return Err(ServerError::UnknownNode(node_id.into()));
        };
        let eval_ids: Vec<String> = evals.iter().map(|e| e.id.clone()).collect();
        let index = if evals.is_empty() {
            0
        } else {
            let (index, res) = self
                .raft
                .apply(Command::EvalUpsert { evals })
                .await
                .map_err(ServerError::Raft)?;
            self.enqueue_evals(&res.evals);
            index
        };
        Ok(NodeUpdateResponse {
            eval_ids,
            eval_create_index: index,
            node_modify_index,
            index,
        })
    }

    /// `POST /v1/job/:id/scale`: a new count for one group (registered as a new version of the
    /// job, with the usual checks), and the request recorded as the group's scaling event.
    pub async fn job_scale(
        &self,
        namespace: &str,
        job_id: &str,
        req: ScalingRequest,
    ) -> Result<JobRegisterResponse, ServerError> {
        let group = req
            .target
            .get("Group")
            .filter(|g| !g.is_empty())
            .cloned()
            .ok_or_else(|| ServerError::Invalid("the scaling target needs a Group".into()))?;
        let job = self
            .state
            .read(|t| t.job(namespace, job_id))
            .ok_or_else(|| ServerError::NotFound(format!("job {job_id:?} not found")))?;
        let Some(previous) = job
            .task_groups
            .iter()
            .find(|g| g.name == group)
            .map(|g| i64::from(g.count))
        else {
            return Err(ServerError::NotFound(format!(
                "group {group:?} not found in job {job_id:?}"
            )));
        };
        let resp = match req.count {
            Some(count) => {
                let count = i32::try_from(count)
                    .ok()
                    .filter(|c| *c >= 0)
                    .ok_or_else(|| {
                        ServerError::Invalid(format!("invalid count {count}: it must be 0 or more"))
                    })?;
                let mut scaled = (*job).clone();
                for g in scaled.task_groups.iter_mut().filter(|g| g.name == group) {
                    if let Some(policy) = &g.scaling {
                        policy
                            .check_count(i64::from(count))
                            .map_err(ServerError::Invalid)?;
                    }
                    g.count = count;
                }
                self.job_register(scaled, None).await?
            }
            None => JobRegisterResponse::default(),
        };
        let event = ScalingEvent {
            time: super::now_nanos(),
            count: req.count,
            previous_count: previous,
            message: req.message,
            error: req.error,
            meta: req.meta,
            eval_id: (!resp.eval_id.is_empty()).then(|| resp.eval_id.clone()),
            create_index: 0,
        };
        let (index, _) = self
            .raft
            .apply(Command::ScalingEventAdd {
                namespace: namespace.to_string(),
                job_id: job_id.to_string(),
                group,
                event,
            })
            .await
            .map_err(ServerError::Raft)?;
        Ok(JobRegisterResponse {
            index: resp.index.max(index),
            ..resp
        })
    }

    /// `PUT /v1/system/reconcile/summaries`: every server recounts the job summaries.
    pub async fn reconcile_summaries(&self) -> Result<u64, ServerError> {
        let (index, _) = self
            .raft
            .apply(Command::ReconcileSummaries)
            .await
            .map_err(ServerError::Raft)?;
        Ok(index)
    }

    /// `POST /v1/validate/job`: the checks registration makes, without registering.
    pub fn job_validate(&self, mut job: Job) -> JobValidateResponse {
        job.canonicalize();
        let mut errors: Vec<String> = match job.validate() {
            Ok(()) => Vec::new(),
            Err(e) => e.0,
        };
        if let Err(e) = check_group_counts(&job, self.cfg.job_max_group_count) {
            errors.push(e.to_string());
        }
        JobValidateResponse {
            driver_config_validated: true,
            error: errors.join("; "),
            validation_errors: errors,
            warnings: String::new(),
        }
    }
}
