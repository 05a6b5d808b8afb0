//! exec: runs the task's `command` with `args` isolated, as Nomad's exec driver does: in new
//! mount, PID, IPC and UTS namespaces, chrooted into its task dir (which holds bind mounts of the
//! client's `chroot_env` host paths and of the shared alloc dir at `/alloc`), limited by its
//! cgroups' memory and cpu settings, and as `nobody` unless the task names a user.
//!
//! The pieces: `chroot.rs` lays out the mount points, `cgroup.rs` makes the cgroups,
//! `child.rs` is the step plan of the first process (behind the `isolation.rs` syscall trait),
//! `spawn.rs` clones it, `task.rs` watches it end.

mod cgroup;
mod child;
mod chroot;
mod isolation;
mod spawn;
mod task;
#[cfg(test)]
mod tests;

use super::launch;
use super::proc::{is_alive, proc_start_time, signal_group};
use super::{
    Driver, DriverError, DriverFuture, DriverSettings, ExitResult, TaskConfig, TaskHandle,
    TaskHandleState,
};
use api::DriverInfo;
use cgroup::TaskCgroup;
use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::time::Duration;

const NAME: &str = "exec";
/// `driver_state` key of the task's cgroup directories.
const CGROUP_STATE: &str = "cgroup";

/// What this host lacks to run isolated tasks.
#[derive(Debug, thiserror::Error)]
pub enum IsolationUnavailable {
    #[error("isolated tasks need Linux and an agent running as root")]
    NotRoot,
    #[error(transparent)]
    Namespaces(#[from] spawn::NamespaceProbeError),
    #[error(transparent)]
    Cgroups(#[from] cgroup::CgroupError),
}

#[derive(Clone)]
pub struct ExecDriver {
    chroot_env: Vec<(String, String)>,
    allow_root: bool,
}

impl ExecDriver {
    pub fn new(settings: &DriverSettings) -> Self {
        ExecDriver {
            chroot_env: settings
                .chroot_env
                .clone()
                .unwrap_or_else(chroot::default_chroot_env),
            allow_root: settings.allow_root,
        }
    }
}

fn hostname(task: &str) -> String {
    let h: String = task
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(63)
        .collect();
    let h = h.trim_matches('-');
    if h.is_empty() {
        "task".into()
    } else {
        h.into()
    }
}

fn setup_err(driver: &str, e: chroot::ChrootError) -> DriverError {
    match e {
        chroot::ChrootError::BadTarget(_) | chroot::ChrootError::Reserved(_) => {
            DriverError::Config(format!("{driver}: {e}"))
        }
        other => DriverError::Start(format!("{driver}: preparing the chroot: {other}")),
    }
}

/// The task's environment as it sees it from inside its chroot, with a PATH.
fn env_inside(cfg: &TaskConfig) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = cfg
        .env
        .iter()
        .map(|(k, v)| {
            let inside = chroot::to_chroot_path(v, &cfg.task_dir, &cfg.alloc_dir);
            (k.clone(), inside)
        })
        .collect();
    env.entry("PATH".into())
        .or_insert_with(|| task::DEFAULT_PATH.into());
    env
}

impl ExecDriver {
    /// The same isolation with more host paths in the chroot (java's JDK, say).
    pub(crate) fn with_chroot_paths(mut self, extra: Vec<(String, String)>) -> Self {
        self.chroot_env.extend(extra);
        self
    }

    /// Where a host path appears inside the chroot, if the chroot maps it.
    pub(crate) fn inside_chroot(&self, host: &Path) -> Option<std::path::PathBuf> {
        self.chroot_env.iter().find_map(|(from, to)| {
            let rest = host.strip_prefix(from).ok()?;
            Some(Path::new(to).join(rest))
        })
    }

    /// Whether this host can isolate tasks: root, namespaces and cgroup v2.
    pub(crate) fn isolation_available() -> Result<(), IsolationUnavailable> {
        if !cfg!(target_os = "linux") || !nix::unistd::geteuid().is_root() {
            return Err(IsolationUnavailable::NotRoot);
        }
        spawn::probe_namespaces()?;
        cgroup::detect()?;
        Ok(())
    }

    async fn start_task(&self, cfg: &TaskConfig) -> Result<TaskHandle, DriverError> {
        let (command, args) = launch::command_and_args(NAME, cfg)?;
        self.start_isolated(NAME, cfg, command, args).await
    }

    /// Starts `command` with `args` (host paths inside the task's directories are turned into
    /// the paths the task sees) isolated as described at the top of this file. `driver` names
    /// the driver in errors and in the task's handle.
    pub(crate) async fn start_isolated(
        &self,
        driver: &'static str,
        cfg: &TaskConfig,
        command: String,
        args: Vec<String>,
    ) -> Result<TaskHandle, DriverError> {
        let user = launch::resolve_user(driver, &cfg.user, "nobody", self.allow_root)?;
        let setup_err = |e| setup_err(driver, e);
        chroot::validate(&self.chroot_env).map_err(setup_err)?;
        let hierarchy =
            cgroup::detect().map_err(|e| DriverError::Start(format!("{driver}: {e}")))?;
        let mut layout =
            chroot::prepare(&cfg.task_dir, &cfg.alloc_dir, &self.chroot_env).map_err(setup_err)?;
        chroot::add_host_volumes(&mut layout, &cfg.volume_mounts).map_err(setup_err)?;
        launch::chown_task_dirs(cfg, &user)?;
        let stdout = launch::open_fifo(&cfg.stdout_path)?;
        let stderr = launch::open_fifo(&cfg.stderr_path)?;
        let inside = |s: &str| chroot::to_chroot_path(s, &cfg.task_dir, &cfg.alloc_dir);
        let env = env_inside(cfg);
        let name = cgroup::cgroup_name(&cfg.alloc_id, &cfg.task_name);
        let cg = TaskCgroup::create(&hierarchy, &name, cfg.memory_mb, cfg.cpu_mhz)
            .map_err(|e| DriverError::Start(format!("{driver}: {e}")))?;
        let procs: Result<Vec<OwnedFd>, _> = cg.open_procs();
        let launch = procs.map(|cgroup_procs| task::Launch {
            command: inside(&command),
            args: args.iter().map(|a| inside(a)).collect(),
            env,
            hostname: hostname(&cfg.task_name),
            dev_nodes: chroot::DEV_NODES
                .iter()
                .filter(|n| Path::new("/dev").join(n).exists())
                .map(|n| n.to_string())
                .collect(),
            layout,
            uid: user.uid,
            gid: user.gid,
            groups: user.groups,
            stdout,
            stderr,
            cgroup_procs,
        });
        let started = match launch {
            Ok(l) => tokio::task::spawn_blocking(move || task::launch(l))
                .await
                .unwrap_or_else(|e| Err(DriverError::Start(format!("{driver}: {e}")))),
            Err(e) => Err(DriverError::Start(format!("{driver}: {e}"))),
        };
        let pid = match started {
            Ok(pid) => pid,
            Err(e) => {
                let _ = cg.remove(Duration::from_secs(5));
                return Err(e);
            }
        };
        let start_time = proc_start_time(pid.as_raw()).unwrap_or(0);
        let state = TaskHandleState {
            driver: driver.into(),
            pid: pid.as_raw(),
            start_time,
            driver_state: BTreeMap::from([(CGROUP_STATE.to_string(), cg.to_state())]),
        };
        let exit = task::watch_child(pid, cg.clone()).map_err(|e| {
            let _ = signal_group(pid.as_raw(), nix::sys::signal::Signal::SIGKILL);
            DriverError::Start(format!(
                "{driver}: cannot start a thread to watch the task: {e}"
            ))
        })?;
        Ok(TaskHandle::new(state, exit))
    }
}

impl Driver for ExecDriver {
    fn name(&self) -> &'static str {
        NAME
    }

    fn fingerprint(&self) -> DriverInfo {
        match Self::isolation_available() {
            Ok(()) => super::healthy_driver(BTreeMap::from([(
                "driver.exec".to_string(),
                "1".to_string(),
            )])),
            Err(e) => super::undetected_driver(e.to_string()),
        }
    }

    fn start<'a>(&'a self, cfg: &'a TaskConfig) -> DriverFuture<'a, TaskHandle> {
        Box::pin(self.start_task(cfg))
    }

    fn recover<'a>(&'a self, state: &'a TaskHandleState) -> DriverFuture<'a, TaskHandle> {
        Box::pin(async move {
            let cg = state
                .driver_state
                .get(CGROUP_STATE)
                .and_then(|s| TaskCgroup::from_state(s));
            if state.pid <= 1 || !is_alive(state.pid, state.start_time) {
                if let Some(cg) = cg {
                    let _ = tokio::task::spawn_blocking(move || cg.remove(Duration::from_secs(5)))
                        .await;
                }
                return Err(DriverError::NotRunning);
            }
            let exit = task::watch_recovered(state.pid, state.start_time, cg);
            Ok(TaskHandle::new(state.clone(), exit))
        })
    }

    fn signal(&self, handle: &TaskHandle, signal: &str) -> Result<(), DriverError> {
        crate::drivers::proc::signal_task(handle, signal)
    }

    fn stop<'a>(
        &'a self,
        handle: &'a TaskHandle,
        timeout: Duration,
        signal: &'a str,
    ) -> DriverFuture<'a, ExitResult> {
        // The final SIGKILL of stop_group reaches pid 1 of the namespace, which takes every
        // other process of the task with it (see task.rs).
        Box::pin(crate::drivers::proc::stop_task(handle, timeout, signal))
    }

    /// Inside the task's mount namespace and chroot, as its user, with its environment as the
    /// task sees it.
    fn exec<'a>(
        &'a self,
        handle: &'a TaskHandle,
        cfg: &'a TaskConfig,
        command: &'a str,
        args: &'a [String],
        timeout: Duration,
    ) -> DriverFuture<'a, crate::drivers::ExecOutput> {
        Box::pin(async move {
            let spec = self.inside_task(handle, cfg, command, args, timeout)?;
            crate::drivers::task_exec::run(spec).await
        })
    }

    fn exec_session<'a>(
        &'a self,
        handle: &'a TaskHandle,
        cfg: &'a TaskConfig,
        cmd: &'a [String],
        tty: bool,
    ) -> DriverFuture<'a, crate::drivers::exec_session::ExecSession> {
        Box::pin(async move {
            let (command, args) = crate::drivers::exec_session::program_and_args(cmd)?;
            // No timeout: the session lasts as long as the operator keeps it.
            let spec = self.inside_task(handle, cfg, command, args, Duration::MAX)?;
            crate::drivers::exec_session::spawn(spec, tty)
        })
    }
}

impl ExecDriver {
    /// `command args` as the task runs: in its mount namespace and chroot (paths under the task
    /// directory mapped inside it), as its user, with the environment it sees.
    fn inside_task(
        &self,
        handle: &TaskHandle,
        cfg: &TaskConfig,
        command: &str,
        args: &[String],
        timeout: Duration,
    ) -> Result<crate::drivers::task_exec::ExecSpec, DriverError> {
        let user = launch::resolve_user(NAME, &cfg.user, "nobody", self.allow_root)?;
        let inside = |s: &str| chroot::to_chroot_path(s, &cfg.task_dir, &cfg.alloc_dir);
        Ok(crate::drivers::task_exec::ExecSpec {
            command: inside(command),
            args: args.iter().map(|a| inside(a)).collect(),
            env: env_inside(cfg),
            clear_env: true,
            cwd: "/".into(),
            run_as: Some(user),
            enter: Some(handle.state.pid),
            timeout,
        })
    }
}
