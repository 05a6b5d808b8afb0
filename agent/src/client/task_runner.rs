//! One task of an allocation through its life: set up its directory and log copying, fetch its
//! artifacts, start it through its driver (or re-attach after an agent restart), wait for it, apply
//! the restart policy, kill it when asked. Every state change is stored in the client db and sent
//! to the alloc runner.

use super::allocdir::AllocDir;
use super::artifacts;
use super::events;
use super::logs::{LogCollector, LogKind, RotatingWriter};
use super::restarts::{Decision, RestartTracker};
use super::services::{RunningTask, ScriptTarget, ServiceRegistry};
use super::state_db::{LocalTaskState, StateDb};
use super::taskenv::{self, NodeInfo, TaskDirs};
use super::templates::{TaskTemplates, TemplateChange};
use crate::drivers::exec_session::ExecSession;
use crate::drivers::{Driver, DriverError, ExitResult, TaskConfig, TaskHandle};
use api::{
    Allocation, RestartPolicy, TaskEvent, TaskState, TASK_STATE_DEAD, TASK_STATE_PENDING,
    TASK_STATE_RUNNING,
};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{mpsc, oneshot, watch};

/// The task's restart requests from check_restart, while it runs.
type RestartRequests = Option<mpsc::UnboundedReceiver<String>>;

/// What an operator asks of a running task (`alloc signal`, `alloc restart`). The reply says
/// whether it was done; a task that is not running answers with why not.
pub enum TaskCommand {
    Signal {
        signal: String,
        reply: oneshot::Sender<Result<(), String>>,
    },
    Restart {
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// `alloc exec`: a command in the task's context.
    Exec {
        cmd: Vec<String>,
        tty: bool,
        reply: oneshot::Sender<Result<ExecSession, String>>,
    },
    /// Stop the task for good (a sidecar whose main tasks ended).
    Stop,
}

impl TaskCommand {
    fn refuse(self, why: &str) {
        let why = why.to_string();
        match self {
            TaskCommand::Signal { reply, .. } | TaskCommand::Restart { reply } => {
                let _ = reply.send(Err(why));
            }
            TaskCommand::Exec { reply, .. } => {
                let _ = reply.send(Err(why));
            }
            TaskCommand::Stop => {}
        }
    }
}

/// Nomad keeps the newest ten events per task.
const MAX_EVENTS: usize = 10;

/// What the alloc runner wants of its tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunnerSignal {
    Run,
    /// Stop the tasks (kill_signal, kill_timeout, SIGKILL) and end.
    Kill,
    /// The agent is stopping: leave the tasks running and end.
    Detach,
}

/// Shared by the task runners of one allocation.
#[derive(Clone)]
pub struct TaskRunnerDeps {
    pub drivers: Arc<crate::drivers::Drivers>,
    pub db: Arc<StateDb>,
    pub node: Arc<NodeInfo>,
    pub alloc_dir: AllocDir,
    pub alloc: watch::Receiver<Arc<Allocation>>,
    pub signal: watch::Receiver<RunnerSignal>,
    pub updates: mpsc::UnboundedSender<(String, TaskState)>,
    pub services: Arc<ServiceRegistry>,
    /// Counts down as each task runner has tried to re-attach to its task (see AllocRunner).
    pub recovering: Arc<watch::Sender<usize>>,
    /// Whether artifacts may come from the client's own file system (`artifact.allow_local`).
    pub local_artifacts: bool,
    /// The main process of each running task, for resource usage (`alloc status -stats`).
    pub pids: Arc<std::sync::Mutex<BTreeMap<String, i32>>>,
    /// The servers, for what task templates read (services, variables).
    pub servers: Arc<dyn crate::rpc::ServerRpc>,
    /// Lifecycle hooks: when this task may first start.
    pub gate: super::lifecycle::LifecycleGate,
    /// The node's `host_volume`s, by name.
    pub host_volumes: Arc<BTreeMap<String, api::ClientHostVolumeConfig>>,
}

pub struct TaskRunner {
    name: String,
    deps: TaskRunnerDeps,
    local: LocalTaskState,
    handle: Option<TaskHandle>,
    restarts: RestartTracker,
    collectors: Vec<LogCollector>,
    /// Artifacts are fetched once, before the first start: a task that ever started has them.
    artifacts_done: bool,
    restart_requests: RestartRequests,
    commands: mpsc::UnboundedReceiver<TaskCommand>,
    /// Templates render once, before the first start; a watcher keeps them fresh after.
    templates_done: bool,
    /// What the `env = true` templates add to the task's environment.
    template_env: BTreeMap<String, String>,
    template_changes: Option<mpsc::UnboundedReceiver<TemplateChange>>,
    template_watch: Option<tokio::task::JoinHandle<()>>,
    /// The lifecycle gate opened (once; a restart does not wait again).
    gate_passed: bool,
    /// A poststop task running after its allocation was told to stop: the stop is what it
    /// runs for, so it runs to its end.
    finishing: bool,
}

/// Counts one task runner as done re-attaching when told, or when dropped on an early return.
struct RecoveryCountdown(Option<Arc<watch::Sender<usize>>>);

impl RecoveryCountdown {
    fn done(&mut self) {
        if let Some(tx) = self.0.take() {
            tx.send_modify(|n| *n = n.saturating_sub(1));
        }
    }
}

impl Drop for RecoveryCountdown {
    fn drop(&mut self) {
        self.done();
    }
}

/// What woke a running task's runner.
enum Woke {
    Exited(ExitResult),
    Signal(RunnerSignal),
    /// check_restart: the reason.
    RestartRequested(String),
    Command(TaskCommand),
    /// Templates re-rendered with new content.
    Template(TemplateChange),
}

/// The next re-render that asks for something; never, without templates.
async fn template_changed(
    rx: &mut Option<mpsc::UnboundedReceiver<TemplateChange>>,
) -> TemplateChange {
    match rx {
        Some(rx) => match rx.recv().await {
            Some(c) => c,
            None => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}

/// The next restart request; never, when there is no channel.
async fn restart_requested(rx: &mut RestartRequests) -> String {
    match rx {
        Some(rx) => match rx.recv().await {
            Some(reason) => reason,
            None => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}

/// Waits for the alloc runner to ask for something other than running; a vanished alloc runner
/// means the agent is going away.
async fn next_signal(rx: &mut watch::Receiver<RunnerSignal>) -> RunnerSignal {
    rx.wait_for(|s| *s != RunnerSignal::Run)
        .await
        .map(|s| *s)
        .unwrap_or(RunnerSignal::Detach)
}

enum Flow {
    Continue,
    Stop,
    Detach,
}

/// Why the task's directories or log copiers could not be set up; the "Setup Failure" event
/// shows it.
#[derive(Debug, thiserror::Error)]
enum SetupError {
    #[error("task {0:?} is not in the allocation's job")]
    NotInJob(String),
    #[error("failed to build task directory {}: {source}", path.display())]
    TaskDir {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to open {kind} log of {task}: {source}")]
    LogFile {
        kind: &'static str,
        task: String,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to open {kind} pipe of {task}: {source}")]
    LogPipe {
        kind: &'static str,
        task: String,
        #[source]
        source: std::io::Error,
    },
}

enum ArtifactsFailed {
    /// What failed, for the event; the restart policy decides what comes next.
    Download(String),
    /// Killed or detached during the download.
    Interrupted(Flow),
}

impl TaskRunner {
    /// `restored` is the state stored before an agent restart, if any.
    pub fn spawn(
        name: String,
        deps: TaskRunnerDeps,
        restored: Option<LocalTaskState>,
        commands: mpsc::UnboundedReceiver<TaskCommand>,
    ) -> tokio::task::JoinHandle<()> {
        let alloc = deps.alloc.borrow().clone();
        let job = alloc.job.as_deref();
        let mut job_type = job.map(|j| j.job_type.clone()).unwrap_or_default();
        // A hook task that is no sidecar runs once: its success completes it, as a batch
        // task's does, whatever the job's type.
        let role = deps.gate.role(&name);
        if role != super::lifecycle::Role::Main && !role.is_sidecar() {
            job_type = api::JOB_TYPE_BATCH.to_string();
        }
        let group = job.and_then(|j| j.lookup_group(&alloc.task_group));
        let policy = group
            .and_then(|g| g.tasks.iter().find(|t| t.name == name))
            .and_then(|t| t.restart_policy.clone())
            .or_else(|| group.and_then(|g| g.restart_policy.clone()))
            .unwrap_or_else(|| RestartPolicy::default_for(&job_type));
        let mut local = restored.unwrap_or_default();
        if local.state.state.is_empty() {
            local.state.state = TASK_STATE_PENDING.into();
        }
        let runner = TaskRunner {
            name,
            deps,
            artifacts_done: !local.state.started_at.is_empty(),
            local,
            handle: None,
            restarts: RestartTracker::new(policy, &job_type),
            collectors: Vec::new(),
            restart_requests: None,
            commands,
            templates_done: false,
            template_env: BTreeMap::new(),
            template_changes: None,
            template_watch: None,
            gate_passed: false,
            finishing: false,
        };
        tokio::spawn(runner.run())
    }

    fn push_event(&mut self, e: TaskEvent) {
        self.local.state.events.push(e);
        let n = self.local.state.events.len();
        if n > MAX_EVENTS {
            self.local.state.events.drain(..n - MAX_EVENTS);
        }
    }

    /// Stores the state and tells the alloc runner.
    fn publish(&self) {
        let alloc_id = self.deps.alloc.borrow().id.clone();
        if let Err(e) = self.deps.db.put_task(&alloc_id, &self.name, &self.local) {
            tracing::warn!(alloc = %alloc_id, task = %self.name, error = %e, "cannot store task state");
        }
        let _ = self
            .deps
            .updates
            .send((self.name.clone(), self.local.state.clone()));
    }

    fn set_dead(&mut self, failed: bool) {
        self.local.state.state = TASK_STATE_DEAD.into();
        self.local.state.failed |= failed;
        self.local.state.finished_at = events::rfc3339_now();
        self.local.handle = None;
    }

    fn set_handle(&mut self, h: Option<TaskHandle>) {
        if let Ok(mut pids) = self.deps.pids.lock() {
            match &h {
                Some(h) if h.state.pid > 0 => pids.insert(self.name.clone(), h.state.pid),
                _ => pids.remove(&self.name),
            };
        }
        self.handle = h;
    }

    fn signal_now(&self) -> RunnerSignal {
        *self.deps.signal.borrow()
    }

    async fn run(mut self) {
        let mut countdown = RecoveryCountdown(Some(self.deps.recovering.clone()));
        if self.local.state.state == TASK_STATE_DEAD {
            return; // finished before an agent restart
        }
        let restored = !self.local.state.events.is_empty();
        if !restored {
            self.push_event(events::received());
            self.publish();
        }
        if let Err(e) = self.setup() {
            self.push_event(events::setup_failure(&e.to_string()));
            self.set_dead(true);
            self.publish();
            return;
        }
        if !restored {
            self.push_event(events::setup());
            self.publish();
        }
        let mut pending_exit = None;
        let recovering = self.local.handle.is_some();
        if let Some(hs) = self.local.handle.clone() {
            match self.driver().map_err(|e| e.to_string()) {
                Ok(d) => match d.recover(&hs).await {
                    Ok(h) => {
                        tracing::info!(task = %self.name, pid = hs.pid, "re-attached to running task");
                        self.set_handle(Some(h));
                    }
                    Err(_) => {
                        pending_exit = Some(ExitResult::unknown(
                            "the task exited while the agent was down",
                        ))
                    }
                },
                Err(e) => pending_exit = Some(ExitResult::unknown(&e)),
            }
        }
        if recovering && self.handle.is_some() {
            self.services_up();
        }
        countdown.done();
        let flow = self.main_loop(pending_exit).await;
        if let Some(w) = self.template_watch.take() {
            w.abort();
        }
        // Commands that arrive from now on find the channel closed; refuse the queued ones.
        self.commands.close();
        while let Ok(c) = self.commands.try_recv() {
            c.refuse("the task is no longer running");
        }
        let collectors = std::mem::take(&mut self.collectors);
        for c in collectors {
            match flow {
                Flow::Detach => c.detach(),
                _ => c.finish().await,
            }
        }
    }

    async fn main_loop(&mut self, mut pending_exit: Option<ExitResult>) -> Flow {
        loop {
            if self.handle.is_none() && pending_exit.is_none() {
                match self.signal_now() {
                    RunnerSignal::Detach => return Flow::Detach,
                    // A poststop task that has not run yet still runs once the main tasks
                    // are gone: stopping the allocation is when it is for.
                    RunnerSignal::Kill if self.poststop_pending() => self.finishing = true,
                    RunnerSignal::Kill => {
                        self.set_dead(false);
                        self.publish();
                        return Flow::Stop;
                    }
                    RunnerSignal::Run => {}
                }
                if self.local.state.started_at.is_empty() && !self.gate_passed {
                    let mut sig = self.deps.signal.clone();
                    let gate = self.deps.gate.clone();
                    let finishing = self.finishing;
                    tokio::select! {
                        _ = gate.wait(&self.name) => self.gate_passed = true,
                        s = next_signal(&mut sig), if !finishing => {
                            if s == RunnerSignal::Kill && self.poststop_pending() {
                                self.finishing = true;
                                continue;
                            }
                            if s == RunnerSignal::Kill {
                                self.set_dead(false);
                                self.publish();
                                return Flow::Stop;
                            }
                            return Flow::Detach;
                        }
                    }
                }
                if !self.artifacts_done {
                    match self.fetch_artifacts().await {
                        Ok(()) => self.artifacts_done = true,
                        Err(ArtifactsFailed::Download(err)) => {
                            self.push_event(events::artifact_download_failed(&err));
                            let d = self.restarts.on_exit(None, true, Instant::now());
                            match self.apply(d).await {
                                Flow::Continue => continue,
                                other => return other,
                            }
                        }
                        Err(ArtifactsFailed::Interrupted(flow)) => return flow,
                    }
                }
                if !self.templates_done {
                    let prepared = match self.write_dispatch_payload() {
                        Ok(()) => self.render_templates().await,
                        Err(e) => Err(e),
                    };
                    if let Err(err) = prepared {
                        self.push_event(events::hook_failed(&format!("Template failed: {err}")));
                        let d = self.restarts.on_exit(None, true, Instant::now());
                        match self.apply(d).await {
                            Flow::Continue => continue,
                            other => return other,
                        }
                    }
                    self.templates_done = true;
                }
                match self.start().await {
                    Ok(h) => {
                        self.local.handle = Some(h.state.clone());
                        self.local.state.state = TASK_STATE_RUNNING.into();
                        if self.local.state.started_at.is_empty() {
                            self.local.state.started_at = events::rfc3339_now();
                        }
                        self.push_event(events::started());
                        // Registered before "running" is published: whoever waits on the
                        // running state (health) finds the checks already in place.
                        self.set_handle(Some(h));
                        self.services_up();
                        self.publish();
                    }
                    Err(e) => {
                        self.push_event(events::driver_failure(&e.to_string(), !e.recoverable()));
                        let d = self.restarts.on_exit(None, e.recoverable(), Instant::now());
                        match self.apply(d).await {
                            Flow::Continue => continue,
                            other => return other,
                        }
                    }
                }
            }
            let exit = match (pending_exit.take(), self.handle.clone()) {
                (Some(e), _) => e,
                (None, Some(h)) => {
                    let mut sig = self.deps.signal.clone();
                    let mut requests = self.restart_requests.take();
                    let woke = tokio::select! {
                        e = h.wait() => Woke::Exited(e),
                        s = next_signal(&mut sig), if !self.finishing => Woke::Signal(s),
                        r = restart_requested(&mut requests) => Woke::RestartRequested(r),
                        Some(c) = self.commands.recv() => Woke::Command(c),
                        t = template_changed(&mut self.template_changes) => Woke::Template(t),
                    };
                    self.restart_requests = requests;
                    match woke {
                        Woke::Exited(e) => e,
                        Woke::Signal(RunnerSignal::Kill) => {
                            self.kill(&h).await;
                            return Flow::Stop;
                        }
                        Woke::Signal(_) => return Flow::Detach,
                        Woke::RestartRequested(reason) => self.restart_for_check(&h, reason).await,
                        Woke::Command(TaskCommand::Signal { signal, reply }) => {
                            let _ = reply.send(self.send_signal(&h, &signal));
                            continue;
                        }
                        Woke::Command(TaskCommand::Exec { cmd, tty, reply }) => {
                            let _ = reply.send(self.exec_session(&h, &cmd, tty).await);
                            continue;
                        }
                        Woke::Command(TaskCommand::Restart { reply }) => {
                            self.restart_in_place(&h, "User requested restart").await;
                            let _ = reply.send(Ok(()));
                            continue;
                        }
                        Woke::Command(TaskCommand::Stop) => {
                            self.kill(&h).await;
                            return Flow::Stop;
                        }
                        Woke::Template(change) => {
                            if let Some(flow) = self.apply_template_change(&h, change).await {
                                return flow;
                            }
                            continue;
                        }
                    }
                }
                (None, None) => continue,
            };
            self.set_handle(None);
            self.local.handle = None;
            self.restart_requests = None;
            self.services_down();
            self.push_event(events::terminated(&exit));
            let d = self.restarts.on_exit(Some(&exit), true, Instant::now());
            match self.apply(d).await {
                Flow::Continue => {}
                other => return other,
            }
        }
    }

    /// Carries out a restart decision: Continue means start the task again.
    async fn apply(&mut self, d: Decision) -> Flow {
        match d {
            Decision::Complete => {
                self.set_dead(false);
                self.publish();
                Flow::Stop
            }
            Decision::Fail { reason } => {
                self.push_event(events::not_restarting(&reason, true));
                self.set_dead(true);
                self.publish();
                Flow::Stop
            }
            Decision::Restart { delay, reason } => {
                self.push_event(events::restarting(delay, &reason));
                self.local.state.state = TASK_STATE_PENDING.into();
                self.publish();
                let mut sig = self.deps.signal.clone();
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {
                        self.local.state.restarts += 1;
                        self.local.state.last_restart = events::rfc3339_now();
                        Flow::Continue
                    }
                    s = next_signal(&mut sig) => {
                        if s == RunnerSignal::Kill {
                            self.set_dead(false);
                            self.publish();
                            Flow::Stop
                        } else {
                            Flow::Detach
                        }
                    }
                }
            }
        }
    }

    /// Registers the running task's services, with what script checks and check_restart need.
    fn services_up(&mut self) {
        let Some(handle) = self.handle.clone() else {
            return;
        };
        let alloc = self.deps.alloc.borrow().clone();
        let (Some(task), Ok(driver), Ok(cfg)) =
            (self.task_spec(), self.driver(), self.task_config())
        else {
            return;
        };
        let (tx, rx) = mpsc::unbounded_channel();
        self.restart_requests = Some(rx);
        let errors = self.deps.services.task_running(RunningTask {
            env: self.task_env(&alloc, &task),
            alloc,
            task: self.name.clone(),
            script: ScriptTarget {
                driver,
                handle,
                cfg: Arc::new(cfg),
                started: Instant::now(),
            },
            restart: tx,
        });
        if !errors.is_empty() {
            for e in errors {
                tracing::warn!(task = %self.name, error = %e, "service registration failed");
                self.push_event(events::hook_failed(&e));
            }
            self.publish();
        }
    }

    /// The task ended: its services leave the catalog.
    fn services_down(&self) {
        let alloc_id = self.deps.alloc.borrow().id.clone();
        self.deps.services.task_stopped(&alloc_id, &self.name);
    }

    /// check_restart: the task is stopped (services first) and its exit counts as a failure, so
    /// the restart policy decides what happens next.
    async fn restart_for_check(&mut self, h: &TaskHandle, reason: String) -> ExitResult {
        self.push_event(events::restart_signaled(&reason));
        self.publish();
        let alloc_id = self.deps.alloc.borrow().id.clone();
        self.deps
            .services
            .task_stopping(&alloc_id, &self.name)
            .await;
        let exit = self
            .stop_process(h)
            .await
            .unwrap_or_else(|e| ExitResult::unknown(&format!("failed to stop the task: {e}")));
        ExitResult {
            err: Some(reason),
            ..exit
        }
    }

    /// `alloc signal`: the signal goes to the task through its driver, with an event.
    fn send_signal(&mut self, h: &TaskHandle, signal: &str) -> Result<(), String> {
        self.driver()
            .and_then(|d| d.signal(h, signal))
            .map_err(|e| format!("signalling task {}: {e}", self.name))?;
        self.push_event(events::signaling(signal));
        self.publish();
        Ok(())
    }

    /// `alloc exec`: starts the command through the task's driver, in the task's context.
    async fn exec_session(
        &self,
        h: &TaskHandle,
        cmd: &[String],
        tty: bool,
    ) -> Result<ExecSession, String> {
        let driver = self.driver().map_err(|e| e.to_string())?;
        let cfg = self.task_config().map_err(|e| e.to_string())?;
        driver
            .exec_session(h, &cfg, cmd, tty)
            .await
            .map_err(|e| e.to_string())
    }

    /// `alloc restart`, or a template that changed: stop the task and start it again at once.
    /// Unlike a failure, it does not count against the restart policy, as in Nomad.
    async fn restart_in_place(&mut self, h: &TaskHandle, reason: &str) {
        let exit = self.restart_for_check(h, reason.into()).await;
        self.set_handle(None);
        self.local.handle = None;
        self.restart_requests = None;
        self.services_down();
        self.push_event(events::terminated(&exit));
        self.push_event(events::restarting(std::time::Duration::ZERO, reason));
        self.local.state.state = TASK_STATE_PENDING.into();
        self.local.state.restarts += 1;
        self.local.state.last_restart = events::rfc3339_now();
        self.publish();
    }

    /// The driver's stop with the task's kill_signal and kill_timeout.
    async fn stop_process(&self, h: &TaskHandle) -> Result<ExitResult, DriverError> {
        let (timeout, signal) = self.kill_settings();
        self.driver()?.stop(h, timeout, &signal).await
    }

    fn kill_settings(&self) -> (std::time::Duration, String) {
        self.task_spec()
            .map(|t| (t.kill_timeout, t.kill_signal.clone()))
            .unwrap_or((std::time::Duration::from_secs(5), String::new()))
    }

    async fn kill(&mut self, h: &TaskHandle) {
        // Out of the catalog first, then the shutdown delay, then the signal: proxies stop
        // sending before the process goes away.
        let alloc_id = self.deps.alloc.borrow().id.clone();
        self.deps
            .services
            .task_stopping(&alloc_id, &self.name)
            .await;
        self.restart_requests = None;
        let delay = self
            .task_spec()
            .map(|t| t.shutdown_delay)
            .unwrap_or_default();
        if !delay.is_zero() {
            self.push_event(events::waiting_shutdown_delay(delay));
            self.publish();
            tokio::time::sleep(delay).await;
        }
        let (timeout, signal) = self.kill_settings();
        self.push_event(events::killing(timeout, &signal));
        self.publish();
        let exit = self.stop_process(h).await;
        match exit {
            Ok(exit) => self.push_event(events::terminated(&exit)),
            Err(e) => self.push_event(events::driver_failure(
                &format!("failed to kill task: {e}"),
                false,
            )),
        }
        self.push_event(events::killed());
        self.set_handle(None);
        self.set_dead(false);
        self.publish();
    }

    fn task_spec(&self) -> Option<api::Task> {
        let alloc = self.deps.alloc.borrow();
        let group = alloc.job.as_deref()?.lookup_group(&alloc.task_group)?;
        group.tasks.iter().find(|t| t.name == self.name).cloned()
    }

    fn driver(&self) -> Result<Arc<dyn Driver>, DriverError> {
        let name = self.task_spec().map(|t| t.driver).ok_or_else(|| {
            DriverError::Config(format!(
                "task {:?} is not in the allocation's job",
                self.name
            ))
        })?;
        self.deps.drivers.get(&name).cloned().ok_or_else(|| {
            DriverError::Config(format!("driver {name:?} is not available on this client"))
        })
    }

    /// Directories and log copiers. Idempotent: a restored task runs it again.
    fn setup(&mut self) -> Result<(), SetupError> {
        let task = self
            .task_spec()
            .ok_or_else(|| SetupError::NotInJob(self.name.clone()))?;
        let dir = &self.deps.alloc_dir;
        dir.build_task(&self.name)
            .map_err(|source| SetupError::TaskDir {
                path: dir.task_dir(&self.name),
                source,
            })?;
        let max_files = u64::try_from(task.log_config.max_files).unwrap_or(1);
        let max_size = u64::try_from(task.log_config.max_file_size_mb).unwrap_or(1) * 1024 * 1024;
        for kind in [LogKind::Stdout, LogKind::Stderr] {
            let writer =
                RotatingWriter::open(&dir.logs_dir(), &self.name, kind, max_files, max_size)
                    .map_err(|source| SetupError::LogFile {
                        kind: kind.as_str(),
                        task: self.name.clone(),
                        source,
                    })?;
            let c = LogCollector::spawn(&dir.fifo_path(&self.name, kind), writer).map_err(
                |source| SetupError::LogPipe {
                    kind: kind.as_str(),
                    task: self.name.clone(),
                    source,
                },
            )?;
            self.collectors.push(c);
        }
        Ok(())
    }

    /// Fetches the task's artifacts into its directory, with a "Downloading Artifacts" event
    /// first. Nothing to do (and no event) for a task without artifacts.
    async fn fetch_artifacts(&mut self) -> Result<(), ArtifactsFailed> {
        let task = self.task_spec().ok_or_else(|| {
            ArtifactsFailed::Download(format!(
                "task {:?} is not in the allocation's job",
                self.name
            ))
        })?;
        if task.artifacts.is_empty() {
            return Ok(());
        }
        self.push_event(events::downloading_artifacts());
        self.publish();
        let alloc = self.deps.alloc.borrow().clone();
        let env = self.task_env(&alloc, &task);
        let list = task
            .artifacts
            .iter()
            .map(|a| artifacts::interpolate(a, &env, &self.deps.node))
            .collect();
        let task_dir = self.deps.alloc_dir.task_dir(&self.name);
        let fetch = artifacts::fetch_all(
            task_dir,
            list,
            artifacts::RetryPolicy::default(),
            self.deps.local_artifacts,
        );
        let mut sig = self.deps.signal.clone();
        // Dropping the fetch on a signal cancels it; nothing half-fetched is left in place.
        tokio::select! {
            r = fetch => r.map_err(|e| ArtifactsFailed::Download(e.to_string())),
            s = next_signal(&mut sig), if !self.finishing => {
                if s == RunnerSignal::Kill {
                    self.set_dead(false);
                    self.publish();
                    return Err(ArtifactsFailed::Interrupted(Flow::Stop));
                }
                Err(ArtifactsFailed::Interrupted(Flow::Detach))
            }
        }
    }

    /// A poststop task that has not started yet.
    fn poststop_pending(&self) -> bool {
        self.deps.gate.role(&self.name) == super::lifecycle::Role::Poststop
            && self.local.state.started_at.is_empty()
    }

    /// A dispatched job's payload, into the task's `local/<dispatch_payload.file>`.
    fn write_dispatch_payload(&self) -> Result<(), String> {
        use base64::Engine;
        let Some(task) = self.task_spec() else {
            return Ok(());
        };
        let Some(cfg) = &task.dispatch_payload else {
            return Ok(());
        };
        let alloc = self.deps.alloc.borrow().clone();
        let encoded = alloc
            .job
            .as_deref()
            .map(|j| j.payload.clone())
            .unwrap_or_default();
        let payload = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_bytes())
            .map_err(|e| format!("the dispatch payload is not valid base64: {e}"))?;
        let path = self.deps.alloc_dir.local_dir(&self.name).join(&cfg.file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("creating {}: {e}", parent.display()))?;
        }
        std::fs::write(&path, payload).map_err(|e| format!("writing {}: {e}", path.display()))
    }

    /// Renders the task's templates before its first start, then leaves a watcher that
    /// renders them again when what they read changes. Nothing to do without templates.
    async fn render_templates(&mut self) -> Result<(), String> {
        let task = self
            .task_spec()
            .ok_or_else(|| format!("task {:?} is not in the allocation's job", self.name))?;
        if task.templates.is_empty() {
            return Ok(());
        }
        let alloc = self.deps.alloc.borrow().clone();
        let mut templates = TaskTemplates::new(
            task.templates.clone(),
            self.deps.alloc_dir.task_dir(&self.name),
            &alloc,
            &self.name,
            self.base_env(&alloc, &task),
            self.deps.servers.clone(),
        );
        let mut sig = self.deps.signal.clone();
        let env = tokio::select! {
            r = templates.first_render() => r?,
            _ = next_signal(&mut sig), if !self.finishing => {
                return Err("the allocation is stopping".into())
            }
        };
        self.template_env = env;
        let (tx, rx) = mpsc::unbounded_channel();
        self.template_changes = Some(rx);
        self.template_watch = Some(tokio::spawn(async move {
            loop {
                let change = templates.next_change().await;
                if tx.send(change).is_err() {
                    return;
                }
            }
        }));
        Ok(())
    }

    /// What re-rendered templates ask of the running task: new environment for its next start,
    /// then scripts, signals, or a restart. A script that fails with `fail_on_error` kills
    /// the task (the returned flow).
    async fn apply_template_change(
        &mut self,
        h: &TaskHandle,
        change: TemplateChange,
    ) -> Option<Flow> {
        self.template_env = change.env;
        for script in &change.scripts {
            if let Err(err) = self.run_change_script(h, script).await {
                self.push_event(events::hook_failed(&format!(
                    "Template script failed: {err}"
                )));
                self.publish();
                if script.fail_on_error {
                    self.kill(h).await;
                    return Some(Flow::Stop);
                }
            }
        }
        for signal in &change.signals {
            if let Err(err) = self.send_signal(h, signal) {
                self.push_event(events::hook_failed(&format!(
                    "Template signal failed: {err}"
                )));
                self.publish();
            }
        }
        if change.restart {
            self.restart_in_place(h, "Template with change_mode restart re-rendered")
                .await;
        }
        None
    }

    /// Runs a `change_script` in the task's context, as `alloc exec` would, within its timeout.
    async fn run_change_script(
        &self,
        h: &TaskHandle,
        script: &api::ChangeScript,
    ) -> Result<(), String> {
        let cmd: Vec<String> = std::iter::once(script.command.clone())
            .chain(script.args.iter().cloned())
            .collect();
        let mut session = self.exec_session(h, &cmd, false).await?;
        let _ = session
            .input
            .send(crate::drivers::exec_session::SessionInput::Close)
            .await;
        let timeout = if script.timeout.is_zero() {
            std::time::Duration::from_secs(5)
        } else {
            script.timeout
        };
        let run = async {
            while session.output.recv().await.is_some() {}
            session.exit.await.unwrap_or(-1)
        };
        match tokio::time::timeout(timeout, run).await {
            Ok(0) => Ok(()),
            Ok(code) => Err(format!("{} exited with {code}", script.command)),
            Err(_) => Err(format!(
                "{} did not finish within {timeout:?}",
                script.command
            )),
        }
    }

    async fn start(&self) -> Result<TaskHandle, DriverError> {
        let driver = self.driver()?;
        let cfg = self.task_config()?;
        driver.start(&cfg).await
    }

    fn task_env(&self, alloc: &Allocation, task: &api::Task) -> BTreeMap<String, String> {
        let mut env = self.base_env(alloc, task);
        env.extend(self.template_env.clone());
        env
    }

    /// The task's environment without what its templates add (what the templates read).
    fn base_env(&self, alloc: &Allocation, task: &api::Task) -> BTreeMap<String, String> {
        let dir = &self.deps.alloc_dir;
        taskenv::build_env(
            alloc,
            task,
            &self.deps.node,
            &TaskDirs {
                alloc_dir: &dir.shared_dir(),
                task_dir: &dir.local_dir(&self.name),
                secrets_dir: &dir.secrets_dir(&self.name),
            },
        )
    }

    fn task_config(&self) -> Result<TaskConfig, DriverError> {
        let alloc = self.deps.alloc.borrow().clone();
        let task = self.task_spec().ok_or_else(|| {
            DriverError::Config(format!(
                "task {:?} is not in the allocation's job",
                self.name
            ))
        })?;
        let dir = &self.deps.alloc_dir;
        let shared = dir.shared_dir();
        let env = self.task_env(&alloc, &task);
        let config = task
            .config
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    taskenv::interpolate_value(v, &env, &self.deps.node),
                )
            })
            .collect();
        let res = alloc.allocated_resources.tasks.get(&self.name);
        Ok(TaskConfig {
            alloc_id: alloc.id.clone(),
            task_name: self.name.clone(),
            config,
            env,
            task_dir: dir.task_dir(&self.name),
            alloc_dir: shared,
            stdout_path: dir.fifo_path(&self.name, LogKind::Stdout),
            stderr_path: dir.fifo_path(&self.name, LogKind::Stderr),
            user: task.user.clone(),
            cpu_mhz: res.map(|r| r.cpu.cpu_shares).unwrap_or(task.resources.cpu),
            memory_mb: res
                .map(|r| r.memory.memory_mb)
                .unwrap_or(task.resources.memory_mb),
            volume_mounts: self.host_mounts(&alloc, &task)?,
        })
    }

    /// The task's `volume_mount`s, each resolved through its group's `volume` to a directory
    /// this node offers; read-only if the node, the request or the mount says so.
    fn host_mounts(
        &self,
        alloc: &api::Allocation,
        task: &api::Task,
    ) -> Result<Vec<crate::drivers::HostMount>, DriverError> {
        let group = alloc
            .job
            .as_deref()
            .and_then(|j| j.lookup_group(&alloc.task_group));
        let mut out = Vec::new();
        for m in &task.volume_mounts {
            let req = group
                .and_then(|g| g.volumes.get(&m.volume))
                .ok_or_else(|| {
                    DriverError::Config(format!(
                        "volume {:?} is not declared by the group",
                        m.volume
                    ))
                })?;
            let host = self.deps.host_volumes.get(&req.source).ok_or_else(|| {
                DriverError::Config(format!(
                    "host volume {:?} is not configured on this node",
                    req.source
                ))
            })?;
            let destination = api::mount_destination(&m.destination).ok_or_else(|| {
                DriverError::Config(format!("bad volume_mount destination {:?}", m.destination))
            })?;
            out.push(crate::drivers::HostMount {
                source: host.path.clone().into(),
                destination,
                read_only: host.read_only || req.read_only || m.read_only,
            });
        }
        Ok(out)
    }
}
