//! Periodic jobs: the leader launches each enabled periodic job's children on its schedule,
//! as `<job>/periodic-<unix time>`, and `job periodic force` launches one now.
//!
//! Only the leader runs the timers, and each term computes the next launches from when it
//! began: a launch the cluster missed while it had no leader is not made up, as in Nomad. A
//! child's id is its launch time, and a launch whose child exists is skipped, so a new leader
//! cannot launch the same time twice.

use super::{Server, ServerError};
use api::{periodic_child_id, Job, JobRegisterResponse, JOB_STATUS_DEAD};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How often the leader looks for due launches and changed periodic jobs; launches are at
/// most this late.
const TICK: Duration = Duration::from_millis(500);

fn now_secs() -> i64 {
    super::now_nanos().div_euclid(1_000_000_000)
}

/// One periodic job's next launch, with the job version it was computed for.
struct Next {
    job_modify_index: u64,
    at: Option<i64>,
}

impl Server {
    /// Leader duty: launches due children until the term ends.
    pub(super) async fn periodic_loop(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut next: HashMap<(String, String), Next> = HashMap::new();
        loop {
            let now = now_secs();
            let parents: Vec<Arc<Job>> = self.state.read(|t| {
                let mut all = t.periodic_jobs();
                all.retain(|j| !j.stop);
                all
            });
            next.retain(|k, _| {
                parents
                    .iter()
                    .any(|j| (&j.namespace, &j.id) == (&k.0, &k.1))
            });
            for job in parents {
                let Some(p) = &job.periodic else { continue };
                let key = (job.namespace.clone(), job.id.clone());
                let entry = next.entry(key).or_insert(Next {
                    job_modify_index: job.job_modify_index,
                    at: p.next_launch(now),
                });
                // A new version of the job may have a new schedule.
                if entry.job_modify_index != job.job_modify_index {
                    *entry = Next {
                        job_modify_index: job.job_modify_index,
                        at: p.next_launch(now),
                    };
                }
                let Some(at) = entry.at.filter(|at| *at <= now) else {
                    continue;
                };
                match self.launch_periodic(&job, at, p.prohibit_overlap).await {
                    Ok(Some(_)) => tracing::info!(job = %job.id, at, "periodic job launched"),
                    Ok(None) => {}
                    Err(e) => tracing::warn!(job = %job.id, at, %e, "periodic launch failed"),
                }
                // Launches that fell due while this one ran are skipped, not bunched.
                entry.at = p.next_launch(now.max(at));
            }
            tokio::select! {
                _ = tokio::time::sleep(TICK) => {}
                _ = stop.changed() => return,
            }
        }
    }

    /// Registers the child for launch time `at`. `None` when there is nothing to launch: the
    /// child exists already, or an earlier one still runs and overlap is prohibited.
    async fn launch_periodic(
        &self,
        parent: &Job,
        at: i64,
        prohibit_overlap: bool,
    ) -> Result<Option<JobRegisterResponse>, ServerError> {
        let id = periodic_child_id(&parent.id, at);
        let (exists, running_child) = self.state.read(|t| {
            let exists = t.job(&parent.namespace, &id).is_some();
            let running = t
                .children_of(&parent.namespace, &parent.id)
                .into_iter()
                .find(|j| t.job_status(j) != JOB_STATUS_DEAD)
                .map(|j| j.id.clone());
            (exists, running)
        });
        if exists {
            return Ok(None);
        }
        if let (true, Some(running)) = (prohibit_overlap, running_child) {
            tracing::info!(job = %parent.id, %running, "periodic launch skipped: overlap is prohibited");
            return Ok(None);
        }
        let mut child = parent.clone();
        child.id = id.clone();
        child.name = id;
        child.parent_id = parent.id.clone();
        child.periodic = None;
        child.version = 0;
        child.create_index = 0;
        child.modify_index = 0;
        child.job_modify_index = 0;
        self.job_register(child, None).await.map(Some)
    }

    /// `job periodic force`: launches a child now, whatever the schedule and overlap.
    pub async fn job_periodic_force(
        &self,
        namespace: &str,
        job_id: &str,
    ) -> Result<JobRegisterResponse, ServerError> {
        let job = self
            .state
            .read(|t| t.job(namespace, job_id))
            .ok_or_else(|| ServerError::NotFound(format!("job {job_id:?} not found")))?;
        match &job.periodic {
            None => Err(ServerError::Invalid(format!(
                "job {job_id:?} is not periodic: only periodic jobs can be forced"
            ))),
            Some(_) if job.stop => Err(ServerError::Invalid(format!(
                "job {job_id:?} is stopped: start it again before forcing a launch"
            ))),
            Some(p) if !p.enabled => Err(ServerError::Invalid(format!(
                "periodic job {job_id:?} is disabled: set enabled = true to launch it"
            ))),
            Some(_) => self
                .launch_periodic(&job, now_secs(), false)
                .await?
                .ok_or_else(|| {
                    ServerError::Conflict(format!(
                        "a child of {job_id:?} was launched this second already; try again"
                    ))
                }),
        }
    }
}
