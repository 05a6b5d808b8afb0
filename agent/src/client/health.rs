//! The client's judgement of an allocation's health, which deployments (and drains) roll on.
//!
//! An allocation is healthy once all its tasks have run, and (with `health_check = "checks"`)
//! every check of its services has passed, for `min_healthy_time` without a break. It is
//! unhealthy when a task fails, or when `healthy_deadline` passes first. The judgement is made
//! once per deployment and reported with the allocation's status.

use super::services::ServiceRegistry;
use api::{
    AllocDeploymentStatus, Allocation, HealthRules, TaskState, TASK_STATE_DEAD, TASK_STATE_RUNNING,
};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;
use tokio::time::Instant;

/// The rules for `alloc` (shared with the scheduler, which waits on the verdicts), from the job
/// it carries.
pub fn settings_of(alloc: &Allocation) -> Option<HealthRules> {
    HealthRules::of(alloc, alloc.job.as_deref()?)
}

/// Where a judgement stands at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Healthy,
    Unhealthy(String),
    /// Not yet: healthy since this instant (if at all so far).
    Pending(Option<Instant>),
}

/// One step of the judgement, pure: the tasks' states, whether the checks pass, when the
/// condition started holding, and now.
pub fn judge(
    s: &HealthRules,
    tasks: &[String],
    states: &BTreeMap<String, TaskState>,
    checks_ok: bool,
    since: Option<Instant>,
    started: Instant,
    now: Instant,
) -> Verdict {
    if let Some((name, _)) = states
        .iter()
        .find(|(_, st)| st.state == TASK_STATE_DEAD && st.failed)
    {
        return Verdict::Unhealthy(format!("task {name:?} failed"));
    }
    let running = !tasks.is_empty()
        && tasks.iter().all(|t| {
            states
                .get(t)
                .is_some_and(|st| st.state == TASK_STATE_RUNNING)
        });
    let good = running && (checks_ok || !s.checks);
    let since = if good { since.or(Some(now)) } else { None };
    if let Some(t) = since {
        if now.duration_since(t) >= s.min_healthy_time {
            return Verdict::Healthy;
        }
    }
    if now.duration_since(started) >= s.healthy_deadline {
        return Verdict::Unhealthy(format!(
            "not healthy within the healthy_deadline of {}",
            api::duration::format_duration(s.healthy_deadline)
        ));
    }
    Verdict::Pending(since)
}

/// A verdict, and the deployment it was made for (empty: a migration's).
#[derive(Debug, Clone, PartialEq)]
pub struct HealthVerdict {
    pub deployment_id: String,
    pub status: AllocDeploymentStatus,
}

/// What a health watcher reads and where it writes.
pub struct HealthInputs {
    pub alloc_id: String,
    pub tasks: Vec<String>,
    pub states: Arc<Mutex<BTreeMap<String, TaskState>>>,
    /// Bumped whenever a task's state changes.
    pub state_changes: watch::Receiver<u64>,
    pub services: Arc<ServiceRegistry>,
    /// The verdict lands here; `report` sends it to the servers.
    pub health: Arc<Mutex<Option<HealthVerdict>>>,
    /// The deployment the allocation belongs to as the watch starts.
    pub deployment_id: String,
    pub report: Arc<dyn Fn() + Send + Sync>,
}

/// Watches until a verdict, stores it and reports it.
pub async fn watch(s: HealthRules, mut i: HealthInputs) {
    let started = Instant::now();
    let mut since = None;
    let mut checks = i.services.check_changes();
    loop {
        let states = i.states.lock().map(|m| m.clone()).unwrap_or_default();
        let checks_ok = i.services.alloc_checks_pass(&i.alloc_id);
        let now = Instant::now();
        match judge(&s, &i.tasks, &states, checks_ok, since, started, now) {
            Verdict::Pending(t) => since = t,
            verdict => {
                let healthy = verdict == Verdict::Healthy;
                if let Verdict::Unhealthy(why) = &verdict {
                    tracing::info!(alloc = %i.alloc_id, reason = %why, "allocation is unhealthy");
                }
                if let Ok(mut h) = i.health.lock() {
                    *h = Some(HealthVerdict {
                        deployment_id: i.deployment_id.clone(),
                        status: AllocDeploymentStatus {
                            healthy: Some(healthy),
                            timestamp: api::time::rfc3339_nanos(crate::client::events::now_nanos()),
                            ..Default::default()
                        },
                    });
                }
                (i.report)();
                return;
            }
        }
        // Wake for the next moment the verdict could change.
        let deadline = started + s.healthy_deadline;
        let next = since.map_or(deadline, |t| (t + s.min_healthy_time).min(deadline));
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            r = i.state_changes.changed() => if r.is_err() { return },
            _ = checks.changed() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn st(state: &str, failed: bool) -> TaskState {
        TaskState {
            state: state.into(),
            failed,
            ..Default::default()
        }
    }

    fn settings(checks: bool) -> HealthRules {
        HealthRules {
            checks,
            min_healthy_time: Duration::from_secs(10),
            healthy_deadline: Duration::from_secs(60),
        }
    }

    #[test]
    fn healthy_after_min_healthy_time_of_running_tasks_and_passing_checks() {
        let t0 = Instant::now();
        let tasks = vec!["web".to_string()];
        let running = BTreeMap::from([("web".to_string(), st(TASK_STATE_RUNNING, false))]);
        let s = settings(true);
        let at = |secs| t0 + Duration::from_secs(secs);
        // Checks not passing: the clock does not start.
        assert_eq!(
            judge(&s, &tasks, &running, false, None, t0, at(5)),
            Verdict::Pending(None)
        );
        let v = judge(&s, &tasks, &running, true, None, t0, at(5));
        assert_eq!(v, Verdict::Pending(Some(at(5))));
        assert_eq!(
            judge(&s, &tasks, &running, true, Some(at(5)), t0, at(14)),
            Verdict::Pending(Some(at(5)))
        );
        assert_eq!(
            judge(&s, &tasks, &running, true, Some(at(5)), t0, at(15)),
            Verdict::Healthy
        );
        // A failing check restarts the clock; task_states ignores checks.
        assert_eq!(
            judge(&s, &tasks, &running, false, Some(at(5)), t0, at(15)),
            Verdict::Pending(None)
        );
        assert_eq!(
            judge(
                &settings(false),
                &tasks,
                &running,
                false,
                Some(at(5)),
                t0,
                at(15)
            ),
            Verdict::Healthy
        );
    }

    #[test]
    fn unhealthy_on_a_failed_task_or_after_the_deadline() {
        let t0 = Instant::now();
        let tasks = vec!["web".to_string()];
        let failed = BTreeMap::from([("web".to_string(), st(TASK_STATE_DEAD, true))]);
        let s = settings(true);
        assert!(matches!(
            judge(&s, &tasks, &failed, true, None, t0, t0),
            Verdict::Unhealthy(_)
        ));
        let pending = BTreeMap::from([("web".to_string(), st("pending", false))]);
        let late = t0 + Duration::from_secs(60);
        match judge(&s, &tasks, &pending, true, None, t0, late) {
            Verdict::Unhealthy(why) => assert!(why.contains("healthy_deadline of 1m0s"), "{why}"),
            other => panic!("{other:?}"),
        }
    }
}
