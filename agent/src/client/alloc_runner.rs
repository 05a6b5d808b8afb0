//! One allocation on this client: runs a task runner per task, folds their states into the
//! allocation's client status (pending -> running -> complete / failed) and reports every change.

use super::allocdir::AllocDir;
use super::health::{self, HealthInputs, HealthVerdict};
use super::lifecycle::{self, LifecycleGate};
use super::services::ServiceRegistry;
use super::state_db::{LocalTaskState, StateDb};
use super::task_runner::{RunnerSignal, TaskCommand, TaskRunner, TaskRunnerDeps};
use super::taskenv::NodeInfo;
use api::{
    AllocClientUpdate, Allocation, TaskState, ALLOC_CLIENT_COMPLETE, ALLOC_CLIENT_FAILED,
    ALLOC_CLIENT_PENDING, ALLOC_CLIENT_RUNNING, TASK_STATE_DEAD, TASK_STATE_RUNNING,
};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, watch};

/// What every alloc runner of a client shares.
#[derive(Clone)]
pub struct RunnerContext {
    pub drivers: Arc<crate::drivers::Drivers>,
    pub db: Arc<StateDb>,
    pub node: Arc<NodeInfo>,
    pub alloc_base: PathBuf,
    pub updates: mpsc::UnboundedSender<AllocClientUpdate>,
    pub services: Arc<ServiceRegistry>,
    /// Whether artifacts may come from the client's own file system (`artifact.allow_local`).
    pub local_artifacts: bool,
    /// The node's `host_volume`s, by name.
    pub host_volumes: Arc<BTreeMap<String, api::ClientHostVolumeConfig>>,
    /// The servers, for what task templates read and where a migrating predecessor ran.
    pub servers: Arc<dyn crate::rpc::ServerRpc>,
    /// For HTTPS calls to other client agents (fetching a migrating predecessor's data).
    pub tls: Option<Arc<crate::tls::Tls>>,
}

pub struct AllocRunner {
    pub id: String,
    dir: AllocDir,
    db: Arc<StateDb>,
    alloc_tx: watch::Sender<Arc<Allocation>>,
    signal_tx: Arc<watch::Sender<RunnerSignal>>,
    /// True once every task runner has ended.
    done: watch::Receiver<bool>,
    states: Arc<Mutex<BTreeMap<String, TaskState>>>,
    services: Arc<ServiceRegistry>,
    /// Task runners still trying to re-attach to their tasks after an agent restart.
    recovering: watch::Receiver<usize>,
    /// The client's verdict on the allocation's health, reported with its status.
    health: Arc<Mutex<Option<HealthVerdict>>>,
    health_watch: Mutex<Option<tokio::task::JoinHandle<()>>>,
    state_changes: Arc<watch::Sender<u64>>,
    /// Sends the allocation's status to the servers. Let go of when the agent stops: it holds
    /// a sender of the client's update channel, which must close for the last updates to flush.
    report: Mutex<Option<Arc<dyn Fn() + Send + Sync>>>,
    names: Vec<String>,
    /// Operators' requests to each task (`alloc signal`, `alloc restart`).
    commands: BTreeMap<String, mpsc::UnboundedSender<TaskCommand>>,
    /// Each running task's main process.
    pids: Arc<Mutex<BTreeMap<String, i32>>>,
}

/// Why an operator's request to an allocation's tasks was not carried out.
#[derive(Debug, thiserror::Error)]
pub enum TaskCommandError {
    #[error("{}", if task.is_empty() { format!("the allocation runs several tasks: name one of {known}") } else { format!("task {task:?} not found in the allocation (tasks: {known})") })]
    UnknownTask { task: String, known: String },
    #[error("no task of the allocation is running")]
    NothingRunning,
    #[error("task {task:?}: {why}")]
    Failed { task: String, why: String },
}

/// Nomad's client status of an allocation from its tasks' states.
pub fn client_status(
    task_names: &[String],
    states: &BTreeMap<String, TaskState>,
) -> (&'static str, &'static str) {
    let all: Vec<Option<&TaskState>> = task_names.iter().map(|n| states.get(n)).collect();
    if all.iter().flatten().any(|s| s.failed) {
        return (ALLOC_CLIENT_FAILED, "Failed tasks");
    }
    if all.iter().flatten().any(|s| s.state == TASK_STATE_RUNNING) {
        return (ALLOC_CLIENT_RUNNING, "Tasks are running");
    }
    if !all.is_empty()
        && all
            .iter()
            .all(|s| matches!(s, Some(s) if s.state == TASK_STATE_DEAD))
    {
        return (ALLOC_CLIENT_COMPLETE, "All tasks have completed");
    }
    (ALLOC_CLIENT_PENDING, "No tasks have started")
}

/// Asks the task runners to stop, unless they already stop or detach.
fn kill(signal: &watch::Sender<RunnerSignal>) {
    signal.send_if_modified(|s| {
        let change = *s == RunnerSignal::Run;
        if change {
            *s = RunnerSignal::Kill;
        }
        change
    });
}

/// Nomad's stop order: the group's services leave the catalog, the group's shutdown_delay
/// passes, then the tasks are killed (each deregistering its own services first).
fn stop_group(
    services: Arc<ServiceRegistry>,
    alloc: &Allocation,
    signal: Arc<watch::Sender<RunnerSignal>>,
) {
    if *signal.borrow() != RunnerSignal::Run {
        return;
    }
    let id = alloc.id.clone();
    let delay = alloc
        .job
        .as_deref()
        .and_then(|j| j.lookup_group(&alloc.task_group))
        .map(|g| g.shutdown_delay)
        .unwrap_or_default();
    tokio::spawn(async move {
        services.alloc_stopping(&id).await;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        kill(&signal);
    });
}

fn leader_tasks(alloc: &Allocation) -> Vec<String> {
    alloc
        .job
        .as_deref()
        .and_then(|j| j.lookup_group(&alloc.task_group))
        .map(|g| {
            g.tasks
                .iter()
                .filter(|t| t.leader)
                .map(|t| t.name.clone())
                .collect()
        })
        .unwrap_or_default()
}

fn task_names(alloc: &Allocation) -> Vec<String> {
    alloc
        .job
        .as_deref()
        .and_then(|j| j.lookup_group(&alloc.task_group))
        .map(|g| g.tasks.iter().map(|t| t.name.clone()).collect())
        .unwrap_or_default()
}

/// Each task's lifecycle role.
fn lifecycle_roles(alloc: &Allocation) -> BTreeMap<String, lifecycle::Role> {
    alloc
        .job
        .as_deref()
        .and_then(|j| j.lookup_group(&alloc.task_group))
        .map(|g| {
            g.tasks
                .iter()
                .map(|t| (t.name.clone(), lifecycle::Role::of(t)))
                .collect()
        })
        .unwrap_or_default()
}

impl AllocRunner {
    /// Starts (or, with `restored` task states, resumes) an allocation.
    pub fn start(
        alloc: Allocation,
        restored: BTreeMap<String, LocalTaskState>,
        ctx: &RunnerContext,
    ) -> Arc<Self> {
        Self::start_after(alloc, restored, ctx, None)
    }

    /// Starts an allocation whose tasks first take over `previous`'s data (see prev_alloc.rs).
    pub fn start_after(
        alloc: Allocation,
        restored: BTreeMap<String, LocalTaskState>,
        ctx: &RunnerContext,
        previous: Option<super::prev_alloc::PreviousAlloc>,
    ) -> Arc<Self> {
        let id = alloc.id.clone();
        let dir = AllocDir::new(&ctx.alloc_base, &id);
        let names = task_names(&alloc);
        let leaders = leader_tasks(&alloc);
        let roles = lifecycle_roles(&alloc);
        if let Err(e) = ctx.db.put_alloc(&alloc) {
            tracing::warn!(alloc = %id, error = %e, "cannot store allocation");
        }
        let (alloc_tx, alloc_rx) = watch::channel(Arc::new(alloc));
        let (signal_tx, signal_rx) = watch::channel(RunnerSignal::Run);
        let signal_tx = Arc::new(signal_tx);
        let (done_tx, done) = watch::channel(false);
        let (recovering_tx, recovering) = watch::channel(names.len());
        let recovering_tx = Arc::new(recovering_tx);
        let (task_tx, mut task_rx) = mpsc::unbounded_channel::<(String, TaskState)>();
        let states: Arc<Mutex<BTreeMap<String, TaskState>>> = Arc::new(Mutex::new(
            restored
                .iter()
                .map(|(k, v)| (k.clone(), v.state.clone()))
                .collect(),
        ));
        // A verdict the servers already have is not judged again.
        let health: Arc<Mutex<Option<HealthVerdict>>> = Arc::new(Mutex::new({
            let a = alloc_rx.borrow();
            a.deployment_status
                .clone()
                .filter(|d| d.healthy.is_some())
                .map(|status| HealthVerdict {
                    deployment_id: a.deployment_id.clone(),
                    status,
                })
        }));
        let report: Arc<dyn Fn() + Send + Sync> = {
            let (states, updates, id, names, health) = (
                states.clone(),
                ctx.updates.clone(),
                id.clone(),
                names.clone(),
                health.clone(),
            );
            Arc::new(move || {
                let Ok(st) = states.lock() else { return };
                let (status, desc) = client_status(&names, &st);
                let verdict = health.lock().ok().and_then(|h| h.clone());
                let _ = updates.send(AllocClientUpdate {
                    id: id.clone(),
                    client_status: status.into(),
                    client_description: desc.into(),
                    task_states: st.clone().into(),
                    deployment_id: verdict
                        .as_ref()
                        .map(|v| v.deployment_id.clone())
                        .unwrap_or_default(),
                    deployment_status: verdict.map(|v| v.status),
                });
            })
        };
        let state_changes = Arc::new(watch::channel(0u64).0);
        if !restored.is_empty() {
            // The servers may have missed our last report before the restart.
            report();
        }
        if names.is_empty() {
            let _ = ctx.updates.send(AllocClientUpdate {
                id: id.clone(),
                client_status: ALLOC_CLIENT_FAILED.into(),
                client_description: "allocation has no job or task group to run".into(),
                task_states: Default::default(),
                ..Default::default()
            });
        }
        let pids = Arc::new(Mutex::new(BTreeMap::new()));
        let deps = TaskRunnerDeps {
            drivers: ctx.drivers.clone(),
            db: ctx.db.clone(),
            node: ctx.node.clone(),
            alloc_dir: dir.clone(),
            alloc: alloc_rx,
            signal: signal_rx,
            updates: task_tx,
            services: ctx.services.clone(),
            recovering: recovering_tx,
            local_artifacts: ctx.local_artifacts,
            host_volumes: ctx.host_volumes.clone(),
            pids: pids.clone(),
            servers: ctx.servers.clone(),
            gate: LifecycleGate::new(roles.clone(), states.clone(), state_changes.subscribe()),
        };
        let mut restored = restored;
        let mut commands = BTreeMap::new();
        let mut inboxes = Vec::new();
        for n in &names {
            let (tx, rx) = mpsc::unbounded_channel();
            commands.insert(n.clone(), tx);
            inboxes.push((n.clone(), restored.remove(n), rx));
        }
        let spawn_tasks = move || -> Vec<_> {
            inboxes
                .into_iter()
                .map(|(n, state, rx)| TaskRunner::spawn(n, deps.clone(), state, rx))
                .collect()
        };
        let states2 = states.clone();
        let signal = signal_tx.clone();
        let services = ctx.services.clone();
        let alloc_rx = alloc_tx.subscribe();
        let (report2, changes2) = (report.clone(), state_changes.clone());
        let sidecar_stops = commands.clone();
        let (new_dir, task_list) = (dir.clone(), names.clone());
        let stop_watch = signal_tx.subscribe();
        tokio::spawn(async move {
            if let Some(prev) = previous {
                prev.hand_over(&new_dir, &task_list, stop_watch).await;
            }
            // The task runners hold the last senders of `task_rx`: the loop below ends with them.
            let joins = spawn_tasks();
            while let Some((task, st)) = task_rx.recv().await {
                // As in Nomad: a failed task, or a dead leader task, stops its siblings.
                if st.state == TASK_STATE_DEAD && (st.failed || leaders.contains(&task)) {
                    let alloc = alloc_rx.borrow().clone();
                    stop_group(services.clone(), &alloc, signal.clone());
                }
                if let Ok(mut m) = states2.lock() {
                    m.insert(task, st);
                    // The main tasks ended: their sidecars have nothing left to serve.
                    if lifecycle::main_tasks_done(&roles, &m) {
                        for (name, role) in &roles {
                            let running = m.get(name).is_some_and(|s| s.state != TASK_STATE_DEAD);
                            if role.is_sidecar() && running {
                                if let Some(tx) = sidecar_stops.get(name) {
                                    let _ = tx.send(TaskCommand::Stop);
                                }
                            }
                        }
                    }
                }
                changes2.send_modify(|n| *n = n.wrapping_add(1));
                report2();
            }
            for j in joins {
                let _ = j.await;
            }
            if *signal.borrow() != RunnerSignal::Detach {
                services.alloc_done(&alloc_rx.borrow().id);
            }
            let _ = done_tx.send(true);
        });
        let runner = Arc::new(AllocRunner {
            id,
            dir,
            db: ctx.db.clone(),
            alloc_tx,
            signal_tx,
            done,
            states,
            services: ctx.services.clone(),
            recovering,
            health,
            health_watch: Mutex::new(None),
            state_changes,
            report: Mutex::new(Some(report)),
            names,
            commands,
            pids,
        });
        runner.watch_health();
        runner
    }

    /// Starts judging the allocation's health when something waits on it and no verdict exists.
    fn watch_health(&self) {
        let alloc = self.alloc();
        if alloc.server_terminal() {
            return;
        }
        let Some(settings) = health::settings_of(&alloc) else {
            return;
        };
        if self.health.lock().is_ok_and(|h| h.is_some()) {
            return;
        }
        let Some(report) = self.report.lock().ok().and_then(|r| r.clone()) else {
            return;
        };
        let inputs = HealthInputs {
            alloc_id: self.id.clone(),
            tasks: self.names.clone(),
            states: self.states.clone(),
            state_changes: self.state_changes.subscribe(),
            services: self.services.clone(),
            health: self.health.clone(),
            deployment_id: alloc.deployment_id.clone(),
            report,
        };
        let handle = tokio::spawn(health::watch(settings, inputs));
        if let Ok(mut w) = self.health_watch.lock() {
            if let Some(old) = w.replace(handle) {
                old.abort();
            }
        }
    }

    /// The main process of each running task.
    pub fn task_pids(&self) -> BTreeMap<String, i32> {
        self.pids.lock().map(|p| p.clone()).unwrap_or_default()
    }

    /// `alloc signal`: sends `signal` to the named task, or to every running task.
    pub async fn signal(&self, task: Option<&str>, signal: &str) -> Result<(), TaskCommandError> {
        self.command(task, |reply| TaskCommand::Signal {
            signal: signal.to_string(),
            reply,
        })
        .await
    }

    /// `alloc restart`: restarts the named task, or every running task, in place.
    pub async fn restart(&self, task: Option<&str>) -> Result<(), TaskCommandError> {
        self.command(task, |reply| TaskCommand::Restart { reply })
            .await
    }

    /// `alloc exec`: `cmd` in the named task's context (the only task's when none is named).
    pub async fn exec(
        &self,
        task: Option<&str>,
        cmd: Vec<String>,
        tty: bool,
    ) -> Result<crate::drivers::exec_session::ExecSession, TaskCommandError> {
        let name = match (task, self.names.as_slice()) {
            (Some(t), _) if self.commands.contains_key(t) => t.to_string(),
            (Some(t), _) => {
                return Err(TaskCommandError::UnknownTask {
                    task: t.to_string(),
                    known: self.names.join(", "),
                })
            }
            (None, [only]) => only.clone(),
            (None, _) => {
                return Err(TaskCommandError::UnknownTask {
                    task: String::new(),
                    known: self.names.join(", "),
                })
            }
        };
        self.send_to(&name, |reply| TaskCommand::Exec { cmd, tty, reply })
            .await
    }

    /// Sends one command to a running task and waits for its answer.
    async fn send_to<T>(
        &self,
        name: &str,
        make: impl FnOnce(tokio::sync::oneshot::Sender<Result<T, String>>) -> TaskCommand,
    ) -> Result<T, TaskCommandError> {
        let failed = |why: &str| TaskCommandError::Failed {
            task: name.to_string(),
            why: why.to_string(),
        };
        let running = self
            .task_states()
            .get(name)
            .is_some_and(|s| s.state == TASK_STATE_RUNNING);
        if !running {
            return Err(failed("the task is not running"));
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        let sent = self.commands.get(name).map(|c| c.send(make(tx)).is_ok());
        if sent != Some(true) {
            return Err(failed("the task is no longer running"));
        }
        match rx.await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(why)) => Err(failed(&why)),
            Err(_) => Err(failed("the task ended before answering")),
        }
    }

    async fn command(
        &self,
        task: Option<&str>,
        make: impl Fn(tokio::sync::oneshot::Sender<Result<(), String>>) -> TaskCommand,
    ) -> Result<(), TaskCommandError> {
        let targets: Vec<String> = match task {
            Some(t) if self.commands.contains_key(t) => vec![t.to_string()],
            Some(t) => {
                return Err(TaskCommandError::UnknownTask {
                    task: t.to_string(),
                    known: self.names.join(", "),
                })
            }
            None => {
                let states = self.task_states();
                let running: Vec<String> = self
                    .names
                    .iter()
                    .filter(|n| {
                        states
                            .get(*n)
                            .is_some_and(|s| s.state == TASK_STATE_RUNNING)
                    })
                    .cloned()
                    .collect();
                if running.is_empty() {
                    return Err(TaskCommandError::NothingRunning);
                }
                running
            }
        };
        for name in targets {
            self.send_to(&name, &make).await?;
        }
        Ok(())
    }

    /// Waits until every task runner has tried to re-attach to its task.
    pub async fn recovered(&self) {
        let mut r = self.recovering.clone();
        let _ = r.wait_for(|n| *n == 0).await;
    }

    pub fn alloc(&self) -> Arc<Allocation> {
        self.alloc_tx.borrow().clone()
    }

    pub fn alloc_dir(&self) -> &AllocDir {
        &self.dir
    }

    pub fn task_states(&self) -> BTreeMap<String, TaskState> {
        self.states.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// A newer version of the allocation from the servers: a stop is carried out, a changed job is
    /// used from the tasks' next start on.
    pub fn update(&self, alloc: Allocation) {
        let stop = alloc.server_terminal();
        if let Err(e) = self.db.put_alloc(&alloc) {
            tracing::warn!(alloc = %self.id, error = %e, "cannot store allocation");
        }
        let version = |a: &Allocation| a.job.as_ref().map(|j| (j.version, j.job_modify_index));
        let before = self.alloc();
        let canary = |a: &Allocation| a.deployment_status.as_ref().is_some_and(|d| d.canary);
        // A promoted canary's services take their regular tags.
        let job_changed = version(&before) != version(&alloc) || canary(&before) != canary(&alloc);
        let new_deployment = before.deployment_id != alloc.deployment_id;
        let unknown = alloc.client_status == api::ALLOC_CLIENT_UNKNOWN;
        let alloc = Arc::new(alloc);
        self.alloc_tx.send_replace(alloc.clone());
        if stop {
            // Stopped before a verdict: nobody waits on its health any more, and judging a
            // stopping allocation would only report it unhealthy at the deadline.
            self.abort_health_watch();
            self.kill();
            return;
        }
        if job_changed {
            // An in-place update: services follow the new job now, tasks at their next start.
            self.services.alloc_updated(alloc);
        }
        if new_deployment {
            // Moved into a new deployment in place: its health is judged again.
            if let Ok(mut h) = self.health.lock() {
                *h = None;
            }
            self.watch_health();
        }
        if unknown {
            // The servers lost sight of it while this node was disconnected: tell them again
            // how it is doing, so that they can decide whether it stays.
            if let Some(report) = self.report.lock().ok().and_then(|r| r.clone()) {
                report();
            }
        }
    }

    /// Stops the allocation: services out, shutdown delays, then every task (kill_signal,
    /// kill_timeout, then SIGKILL).
    pub fn kill(&self) {
        stop_group(self.services.clone(), &self.alloc(), self.signal_tx.clone());
    }

    fn abort_health_watch(&self) {
        if let Some(h) = self.health_watch.lock().ok().and_then(|mut w| w.take()) {
            h.abort();
        }
    }

    /// The health watch ends and the report sender is let go of (the agent stops).
    fn stop_health_watch(&self) {
        self.abort_health_watch();
        if let Ok(mut r) = self.report.lock() {
            r.take();
        }
    }

    /// The agent is stopping: let go of the tasks without stopping them.
    pub fn detach(&self) {
        self.stop_health_watch();
        self.signal_tx.send_replace(RunnerSignal::Detach);
    }

    /// Turns true once every task runner has ended.
    pub fn done_watch(&self) -> watch::Receiver<bool> {
        self.done.clone()
    }

    /// Every task runner has ended: the allocation will not run again here.
    pub fn finished(&self) -> bool {
        *self.done.borrow()
    }

    /// Waits until every task runner has ended.
    pub async fn wait(&self) {
        let mut d = self.done.clone();
        let _ = d.wait_for(|v| *v).await;
    }

    /// The servers forgot the allocation: stop it, delete its directory and its stored state.
    pub async fn destroy(&self) {
        self.stop_health_watch();
        self.kill();
        self.wait().await;
        if let Err(e) = self.dir.destroy() {
            tracing::warn!(alloc = %self.id, error = %e, "cannot remove allocation directory");
        }
        if let Err(e) = self.db.delete_alloc(&self.id) {
            tracing::warn!(alloc = %self.id, error = %e, "cannot forget allocation");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(state: &str, failed: bool) -> TaskState {
        TaskState {
            state: state.into(),
            failed,
            ..Default::default()
        }
    }

    #[test]
    fn folds_task_states() {
        let names = vec!["a".to_string(), "b".to_string()];
        let mut m = BTreeMap::new();
        assert_eq!(client_status(&names, &m).0, ALLOC_CLIENT_PENDING);
        m.insert("a".to_string(), st("running", false));
        assert_eq!(client_status(&names, &m).0, ALLOC_CLIENT_RUNNING);
        m.insert("b".to_string(), st("dead", false));
        assert_eq!(client_status(&names, &m).0, ALLOC_CLIENT_RUNNING);
        m.insert("a".to_string(), st("dead", false));
        assert_eq!(client_status(&names, &m).0, ALLOC_CLIENT_COMPLETE);
        m.insert("b".to_string(), st("dead", true));
        assert_eq!(client_status(&names, &m).0, ALLOC_CLIENT_FAILED);
    }
}
