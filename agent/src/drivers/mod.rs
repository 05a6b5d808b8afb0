//! Task drivers: one [`Driver`] trait that raw_exec, exec, docker and java implement. Drivers know
//! nothing of the client: they get a [`TaskConfig`] and hand back a [`TaskHandle`].
//!
//! Output: the client creates two named FIFOs per task (as Nomad does) and passes their paths in
//! [`TaskConfig::stdout_path`] / [`TaskConfig::stderr_path`]; a driver makes the task write there and
//! the client copies them into rotated log files.

pub mod docker;
pub mod exec;
pub mod exec_session;
pub mod java;
pub mod launch;
pub mod proc;
pub mod raw_exec;
pub mod task_exec;

use api::DriverInfo;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

pub type DriverFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, DriverError>> + Send + 'a>>;

#[derive(Debug, Clone, thiserror::Error)]
pub enum DriverError {
    #[error("driver {0:?} is disabled on this client: enable it in the client configuration")]
    Disabled(String),
    /// The task's `config` block is wrong; restarting will not help.
    #[error("invalid task config: {0}")]
    Config(String),
    #[error("failed to start task: {0}")]
    Start(String),
    /// `recover` found no live process for the stored handle.
    #[error("task is no longer running")]
    NotRunning,
    #[error("{0}")]
    Other(String),
}

impl DriverError {
    /// Whether retrying (per the restart policy) can possibly help.
    pub fn recoverable(&self) -> bool {
        !matches!(self, DriverError::Config(_) | DriverError::Disabled(_))
    }
}

/// Everything a driver needs to start one task. Strings are already interpolated.
#[derive(Debug, Clone, Default)]
pub struct TaskConfig {
    pub alloc_id: String,
    pub task_name: String,
    /// The task's `config` block.
    pub config: BTreeMap<String, serde_json::Value>,
    pub env: BTreeMap<String, String>,
    /// `<alloc>/<task>`: the working directory of unisolated drivers.
    pub task_dir: PathBuf,
    /// `<alloc>/alloc`, shared by the group's tasks.
    pub alloc_dir: PathBuf,
    /// FIFOs the task's stdout and stderr must go to.
    pub stdout_path: PathBuf,
    pub stderr_path: PathBuf,
    pub user: String,
    pub cpu_mhz: i64,
    pub memory_mb: i64,
    /// Host volumes to mount, resolved by the client from the group's `volume` blocks and the
    /// node's `host_volume`s.
    pub volume_mounts: Vec<HostMount>,
}

/// A host directory to show at `destination` (relative to the task's root) in the task.
#[derive(Debug, Clone, PartialEq)]
pub struct HostMount {
    pub source: PathBuf,
    pub destination: PathBuf,
    pub read_only: bool,
}

/// Key of [`TaskHandleState::driver_state`]: the task's address on a network of the driver's own
/// (docker's container IP), advertised by services with `address_mode = "driver"`.
pub const STATE_TASK_IP: &str = "task_ip";

/// What the client stores to find a task again after an agent restart.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskHandleState {
    pub driver: String,
    /// The task's main process, also its process group id (it runs in its own session).
    pub pid: i32,
    /// Field 22 of /proc/<pid>/stat: guards against the pid being reused by another process.
    pub start_time: u64,
    /// Driver-specific extras (a container id, say).
    #[serde(default)]
    pub driver_state: BTreeMap<String, String>,
}

/// How a task ended.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExitResult {
    /// None when unknown: the task was not our child (re-attached after an agent restart).
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub oom_killed: bool,
    pub err: Option<String>,
}

impl ExitResult {
    pub fn successful(&self) -> bool {
        self.exit_code == Some(0) && self.signal.is_none() && self.err.is_none()
    }

    /// An exit we could not observe: counted as a plain termination, not as a failure.
    pub fn unknown(reason: &str) -> Self {
        ExitResult {
            exit_code: None,
            signal: None,
            oom_killed: false,
            err: Some(reason.to_string()),
        }
    }
}

/// A started (or recovered) task. Cheap to clone; every clone sees the same exit.
#[derive(Debug, Clone)]
pub struct TaskHandle {
    pub state: TaskHandleState,
    exit: watch::Receiver<Option<ExitResult>>,
}

impl TaskHandle {
    /// `exit` must receive `Some` exactly once, when the task has ended.
    pub fn new(state: TaskHandleState, exit: watch::Receiver<Option<ExitResult>>) -> Self {
        TaskHandle { state, exit }
    }

    /// Waits for the task to end. If the driver's watcher vanished, the exit is unknown.
    pub async fn wait(&self) -> ExitResult {
        let mut rx = self.exit.clone();
        let exit = rx.wait_for(|e| e.is_some()).await.map(|v| v.clone());
        match exit {
            Ok(v) => v.unwrap_or_default(),
            Err(_) => ExitResult::unknown("the driver stopped watching the task"),
        }
    }

    /// The exit, if the task has already ended.
    pub fn exited(&self) -> Option<ExitResult> {
        self.exit.borrow().clone()
    }
}

/// What a command run in a task's environment (a script check) did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExecOutput {
    pub exit_code: i32,
    /// Its stdout then stderr, at most [`task_exec::OUTPUT_LIMIT`] bytes.
    pub output: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TaskStatus {
    Running,
    Exited(ExitResult),
}

/// One way of running tasks. Implementations are shared by every task runner of the client.
pub trait Driver: Send + Sync + 'static {
    fn name(&self) -> &'static str;

    /// Whether the driver can run tasks here, reported in the node's `Drivers` map.
    fn fingerprint(&self) -> DriverInfo;

    fn start<'a>(&'a self, cfg: &'a TaskConfig) -> DriverFuture<'a, TaskHandle>;

    /// Re-attaches to a task started before an agent restart. [`DriverError::NotRunning`] when it
    /// is gone.
    fn recover<'a>(&'a self, state: &'a TaskHandleState) -> DriverFuture<'a, TaskHandle>;

    /// Sends a signal ("SIGHUP", "SIGUSR1" ...) to the task.
    fn signal(&self, handle: &TaskHandle, signal: &str) -> Result<(), DriverError>;

    /// Sends `signal` (SIGINT when empty), waits up to `timeout`, then force-kills. Returns how
    /// the task ended.
    fn stop<'a>(
        &'a self,
        handle: &'a TaskHandle,
        timeout: Duration,
        signal: &'a str,
    ) -> DriverFuture<'a, ExitResult>;

    /// Runs `command args` inside the running task's environment (its container; its chroot and
    /// user; or its user, directory and environment), killing it after `timeout`. For script
    /// checks.
    fn exec<'a>(
        &'a self,
        handle: &'a TaskHandle,
        cfg: &'a TaskConfig,
        command: &'a str,
        args: &'a [String],
        timeout: Duration,
    ) -> DriverFuture<'a, ExecOutput>;

    /// Starts `cmd` (program and arguments) interactively in the running task's context, with a
    /// terminal when `tty` (`alloc exec`).
    fn exec_session<'a>(
        &'a self,
        handle: &'a TaskHandle,
        cfg: &'a TaskConfig,
        cmd: &'a [String],
        tty: bool,
    ) -> DriverFuture<'a, exec_session::ExecSession>;

    fn inspect(&self, handle: &TaskHandle) -> TaskStatus {
        match handle.exited() {
            Some(e) => TaskStatus::Exited(e),
            None => TaskStatus::Running,
        }
    }
}

/// The fingerprint of a driver that can run tasks here, with its node attributes.
pub fn healthy_driver(attributes: BTreeMap<String, String>) -> DriverInfo {
    DriverInfo {
        attributes,
        detected: true,
        healthy: true,
        health_description: "Healthy".into(),
        update_time: api::time::now_nanos(),
    }
}

/// The fingerprint of a driver that cannot run tasks here, and why.
pub fn undetected_driver(reason: impl Into<String>) -> DriverInfo {
    DriverInfo {
        attributes: BTreeMap::new(),
        detected: false,
        healthy: false,
        health_description: reason.into(),
        update_time: api::time::now_nanos(),
    }
}

/// The drivers of one client, by name.
pub type Drivers = BTreeMap<String, Arc<dyn Driver>>;

/// What the client configuration says about its drivers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DriverSettings {
    /// raw_exec runs tasks unisolated, as the agent's user: off unless enabled.
    pub raw_exec_enabled: bool,
    /// exec's chroot: host path -> path inside the chroot (`chroot_env`); None = the default list.
    pub chroot_env: Option<Vec<(String, String)>>,
    /// Whether exec and java may run a task as root (`user = "root"`); refused by default.
    pub allow_root: bool,
    /// Nomad's `driver.allowlist` client option: when set, only these drivers exist on the node.
    pub allowlist: Option<Vec<String>>,
    /// Nomad's `driver.denylist` client option: these drivers do not exist on the node.
    pub denylist: Vec<String>,
    /// The docker plugin's `volumes { enabled = true }`, `allow_privileged` and `allow_caps`.
    pub docker: docker::host_access::HostAccess,
    /// The client option `artifact.allow_local` (our extension): artifacts may be copied from the
    /// client's own file system. Off by default, so a job cannot read the host's files.
    pub local_artifacts: bool,
}

/// The names of the drivers this build has, for checking allow and deny lists.
pub const BUILTIN_DRIVER_NAMES: &[&str] = &["docker", "exec", "java", "raw_exec"];

/// The drivers this build knows, configured from the client's settings.
pub fn builtin_drivers(settings: &DriverSettings) -> Drivers {
    let mut m: Drivers = BTreeMap::new();
    let raw: Arc<dyn Driver> = Arc::new(raw_exec::RawExecDriver::new(settings.raw_exec_enabled));
    let docker: Arc<dyn Driver> =
        Arc::new(docker::DockerDriver::new().with_host_access(settings.docker.clone()));
    let java: Arc<dyn Driver> = Arc::new(java::JavaDriver::new(settings));
    let exec: Arc<dyn Driver> = Arc::new(exec::ExecDriver::new(settings));
    for d in [raw, docker, java, exec] {
        let name = d.name();
        let allowed = settings
            .allowlist
            .as_ref()
            .is_none_or(|l| l.iter().any(|a| a == name));
        if allowed && !settings.denylist.iter().any(|x| x == name) {
            m.insert(name.to_string(), d);
        }
    }
    m
}
