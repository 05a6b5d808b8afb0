//! Health checks, run by the client that runs the allocation. Each check is one small task that
//! probes, folds the result into its [`CheckState`] and tells its host only when the status
//! changes, so the servers hear of changes, not of every probe. A shared limit on probes in
//! flight keeps a thousand checks from ever crowding the client's other work.
//!
//! Until a check has passed once, it is probed sooner than its interval (20 ms, doubling), so a
//! fresh instance reaches the proxies as soon as it answers rather than one interval later.

mod probe;
mod state;

pub use state::CheckState;

use super::build::CheckSpec;
use crate::drivers::{Driver, TaskConfig, TaskHandle};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// The first re-probe of a check that has not passed yet.
const QUICK_START: Duration = Duration::from_millis(20);

/// Where a script check runs: the task's driver, handle and config.
#[derive(Clone)]
pub struct ScriptTarget {
    pub driver: Arc<dyn Driver>,
    pub handle: TaskHandle,
    pub cfg: Arc<TaskConfig>,
    /// When the task (last) started, for check_restart's grace.
    pub started: Instant,
}

/// What a running check needs from the client.
pub trait CheckHost: Send + Sync + 'static {
    /// The reported status of a check of registration `reg_id` changed.
    fn status_changed(&self, reg_id: &str);
    /// A probe finished (for the Consul TTL heartbeat).
    fn probed(&self, reg_id: &str, check_id: &str);
    /// Where a script check of `task` runs now; None while the task is not running.
    fn script_target(&self, alloc_id: &str, task: &str) -> Option<ScriptTarget>;
    /// check_restart asks for `task` to be restarted.
    fn restart_task(&self, alloc_id: &str, task: &str, reason: String);
}

/// A check's spec and its live state, shared between its task and the registry.
pub struct CheckRun {
    pub spec: CheckSpec,
    pub state: Mutex<CheckState>,
}

impl CheckRun {
    pub fn new(spec: CheckSpec) -> Arc<CheckRun> {
        let state = Mutex::new(CheckState::new(&spec.check));
        Arc::new(CheckRun { spec, state })
    }

    pub fn state(&self) -> CheckState {
        match self.state.lock() {
            Ok(s) => s.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }
}

/// Probes `run` until aborted (or its host is gone).
pub async fn run(
    run: Arc<CheckRun>,
    alloc_id: String,
    reg_id: String,
    host: Weak<dyn CheckHost>,
    limit: Arc<Semaphore>,
) {
    let interval = run.spec.check.interval;
    let mut quick = QUICK_START;
    let mut conn = None;
    // Only script checks and check_restart need the task; the others skip the lookup.
    let needs_task = matches!(run.spec.target, super::build::Target::Script { .. })
        || run.spec.check.check_restart.is_some();
    loop {
        let script = if needs_task {
            host.upgrade()
                .and_then(|h| h.script_target(&alloc_id, &run.spec.exec_task))
        } else {
            None
        };
        let started = script.as_ref().map(|s| s.started);
        let result = {
            let Ok(_permit) = limit.acquire().await else {
                return;
            };
            probe::probe(&run.spec, script, &mut conn).await
        };
        let Some(h) = host.upgrade() else { return };
        let (changed, restart, passed) = {
            let mut st = match run.state.lock() {
                Ok(s) => s,
                Err(p) => p.into_inner(),
            };
            let changed = st.record(&run.spec.check, result);
            let since = started.map_or(Duration::ZERO, |s| s.elapsed());
            let restart = started.is_some() && st.restart_due(&run.spec.check, since);
            (changed, restart, st.passed_once())
        };
        if changed {
            h.status_changed(&reg_id);
        }
        h.probed(&reg_id, &run.spec.id);
        if restart {
            h.restart_task(
                &alloc_id,
                &run.spec.exec_task,
                format!("healthcheck: check {:?} unhealthy", run.spec.check.name),
            );
        }
        drop(h);
        let delay = if passed {
            interval
        } else {
            let d = quick.min(interval);
            quick = (quick * 2).min(interval);
            d
        };
        tokio::time::sleep(delay).await;
    }
}
