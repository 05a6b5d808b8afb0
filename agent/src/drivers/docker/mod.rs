//! docker: runs each task as a container of the local Docker Engine, through bollard. The agent
//! itself copies the container's output into the task's FIFOs; containers are named
//! `<task>-<alloc_id>`, labelled with their allocation and task, and removed once their exit has
//! been read.

pub mod config;
pub mod container;
pub mod engine;
mod exec;
mod exit;
mod fingerprint;
pub mod host_access;
pub mod image;
mod logs;
pub mod testing;
#[cfg(test)]
mod tests;

use super::{
    Driver, DriverError, DriverFuture, ExitResult, TaskConfig, TaskHandle, TaskHandleState,
};
use api::DriverInfo;
use bollard::query_parameters::KillContainerOptions;
use bollard::Docker;
use config::DockerTaskConfig;
use engine::has_status;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::{watch, OnceCell};

/// Keys of [`TaskHandleState::driver_state`].
pub const STATE_CONTAINER_ID: &str = "container_id";
pub const STATE_CONTAINER_NAME: &str = "container_name";
/// The FIFOs, so a recovered task's output goes where the client reads it.
pub const STATE_STDOUT_PATH: &str = "stdout_path";
pub const STATE_STDERR_PATH: &str = "stderr_path";

/// How long a container may take to die after SIGKILL before stop gives up.
const KILL_GRACE: Duration = Duration::from_secs(30);
/// Bounds the synchronous `signal` call.
const SIGNAL_TIMEOUT: Duration = Duration::from_secs(10);

pub struct DockerDriver {
    /// Where the engine listens; None: DOCKER_HOST, else the local socket.
    endpoint: Option<String>,
    /// Connected on first use; an engine that was down is tried again on the next call.
    engine: OnceCell<Docker>,
    /// What tasks may take from the host (host paths, privilege, capabilities): nothing
    /// beyond Docker's defaults unless the client's plugin config allows it.
    host_access: host_access::HostAccess,
}

impl Default for DockerDriver {
    fn default() -> Self {
        Self::new()
    }
}

/// The signal's name as the engine takes it. Docker stops containers with SIGTERM, so an empty
/// kill_signal means SIGTERM here (raw_exec's default is Nomad's SIGINT).
fn signal_name(signal: &str) -> Result<String, DriverError> {
    if signal.trim().is_empty() {
        return Ok("SIGTERM".into());
    }
    super::proc::parse_signal(signal)
        .map(|s| s.as_str().to_string())
        .map_err(|e| DriverError::Other(e.to_string()))
}

fn container_id(state: &TaskHandleState) -> Result<String, DriverError> {
    state
        .driver_state
        .get(STATE_CONTAINER_ID)
        .cloned()
        .ok_or_else(|| DriverError::Other("the task handle has no container id".into()))
}

/// Sends a signal; a container that is gone or already stopped is not an error.
async fn kill(docker: &Docker, id: &str, signal: &str) -> Result<(), DriverError> {
    let options = KillContainerOptions {
        signal: signal.to_string(),
    };
    match docker.kill_container(id, Some(options)).await {
        Ok(()) => Ok(()),
        Err(e) if has_status(&e, 404) || has_status(&e, 409) => Ok(()),
        Err(e) => Err(DriverError::Other(format!(
            "cannot send {signal} to container {id}: {e}"
        ))),
    }
}

/// The container's address on its own network (the first one with an address), for services
/// with `address_mode = "driver"`.
fn container_ip(info: &bollard::models::ContainerInspectResponse) -> Option<String> {
    info.network_settings
        .as_ref()?
        .networks
        .as_ref()?
        .values()
        .filter_map(|n| n.ip_address.clone())
        .find(|ip| !ip.is_empty())
}

fn main_pid(info: &bollard::models::ContainerInspectResponse) -> i32 {
    info.state
        .as_ref()
        .and_then(|s| s.pid)
        .and_then(|p| i32::try_from(p).ok())
        .unwrap_or(0)
}

impl DockerDriver {
    /// The engine of DOCKER_HOST, else the local socket.
    pub fn new() -> Self {
        DockerDriver {
            endpoint: None,
            engine: OnceCell::new(),
            host_access: host_access::HostAccess::default(),
        }
    }

    /// What the client's `plugin "docker" { config { ... } }` lets tasks take from the host.
    pub fn with_host_access(mut self, access: host_access::HostAccess) -> Self {
        self.host_access = access;
        self
    }

    /// The engine at `endpoint` (`unix:///var/run/docker.sock`, `tcp://127.0.0.1:2375`).
    pub fn with_endpoint(endpoint: &str) -> Self {
        DockerDriver {
            endpoint: Some(endpoint.to_string()),
            engine: OnceCell::new(),
            host_access: host_access::HostAccess::default(),
        }
    }

    async fn docker(&self) -> Result<Docker, engine::EngineError> {
        self.engine
            .get_or_try_init(|| engine::connect(self.endpoint.as_deref()))
            .await
            .cloned()
    }

    async fn start_task(&self, tc: &TaskConfig) -> Result<TaskHandle, DriverError> {
        let dc = DockerTaskConfig::parse(&tc.config, &tc.task_dir)
            .map_err(|e| DriverError::Config(e.to_string()))?;
        self.host_access
            .check(&dc, &tc.task_dir)
            .map_err(|e| DriverError::Config(e.to_string()))?;
        let body = container::create_body(tc, &dc)?;
        let docker = self
            .docker()
            .await
            .map_err(|e| DriverError::Start(e.to_string()))?;
        image::ensure_image(&docker, &dc, &tc.task_dir).await?;
        let fifos = logs::Fifos::open(&tc.stdout_path, &tc.stderr_path)?;
        let name = container::container_name(&tc.task_name, &tc.alloc_id);
        let id = container::create(&docker, &name, body).await?;
        if let Err(e) = docker.start_container(&id, None).await {
            if let Err(re) = container::remove(&docker, &id).await {
                tracing::warn!(container = %name, error = %re, "cannot remove container that failed to start");
            }
            return Err(DriverError::Start(format!(
                "cannot start container {name} of image {:?}: {e}",
                dc.image
            )));
        }
        // The pid is informational (the engine owns the process): a failed inspect leaves it 0.
        let (pid, ip) = match container::inspect(&docker, &id).await {
            Ok(Some(info)) => (main_pid(&info), container_ip(&info)),
            _ => (0, None),
        };
        let output = logs::spawn(docker.clone(), id.clone(), 0, fifos);
        let exit = exit::spawn(docker, id.clone(), output);
        let mut driver_state = BTreeMap::from([
            (STATE_CONTAINER_ID.to_string(), id),
            (STATE_CONTAINER_NAME.to_string(), name),
            (
                STATE_STDOUT_PATH.to_string(),
                tc.stdout_path.display().to_string(),
            ),
            (
                STATE_STDERR_PATH.to_string(),
                tc.stderr_path.display().to_string(),
            ),
        ]);
        if let Some(ip) = ip {
            driver_state.insert(super::STATE_TASK_IP.to_string(), ip);
        }
        Ok(TaskHandle::new(
            TaskHandleState {
                driver: "docker".into(),
                pid,
                start_time: 0,
                driver_state,
            },
            exit,
        ))
    }

    async fn recover_task(&self, state: &TaskHandleState) -> Result<TaskHandle, DriverError> {
        let id = container_id(state).map_err(|_| DriverError::NotRunning)?;
        let docker = self
            .docker()
            .await
            .map_err(|e| DriverError::Other(e.to_string()))?;
        let info = match container::inspect(&docker, &id).await {
            Ok(Some(info)) => info,
            Ok(None) => return Err(DriverError::NotRunning),
            Err(e) => {
                return Err(DriverError::Other(format!(
                    "cannot inspect container {id}: {e}"
                )))
            }
        };
        if !container::is_running(info.state.as_ref()) {
            // It stopped while the agent was down; its exit code is still there to read.
            let exit = container::exit_result(&info.state.unwrap_or_default());
            if let Err(e) = container::remove(&docker, &id).await {
                tracing::warn!(container = %id, error = %e, "cannot remove stopped container");
            }
            let (_, rx) = watch::channel(Some(exit));
            return Ok(TaskHandle::new(state.clone(), rx));
        }
        let path = |key: &str| {
            state.driver_state.get(key).cloned().ok_or_else(|| {
                DriverError::Other(format!("the task handle has no {key} to copy output to"))
            })
        };
        let fifos = logs::Fifos::open(
            path(STATE_STDOUT_PATH)?.as_ref(),
            path(STATE_STDERR_PATH)?.as_ref(),
        )?;
        // Output from before the restart was copied by the previous agent.
        let output = logs::spawn(docker.clone(), id.clone(), logs::unix_now(), fifos);
        let exit = exit::spawn(docker, id, output);
        let mut recovered = state.clone();
        recovered.pid = main_pid(&info);
        if let Some(ip) = container_ip(&info) {
            recovered
                .driver_state
                .insert(super::STATE_TASK_IP.to_string(), ip);
        }
        Ok(TaskHandle::new(recovered, exit))
    }

    async fn stop_task(
        &self,
        handle: &TaskHandle,
        timeout: Duration,
        signal: &str,
    ) -> Result<ExitResult, DriverError> {
        if let Some(exit) = handle.exited() {
            return Ok(exit);
        }
        let signal = signal_name(signal)?;
        let id = container_id(&handle.state)?;
        let docker = self
            .docker()
            .await
            .map_err(|e| DriverError::Other(e.to_string()))?;
        kill(&docker, &id, &signal).await?;
        if let Ok(exit) = tokio::time::timeout(timeout, handle.wait()).await {
            return Ok(exit);
        }
        kill(&docker, &id, "SIGKILL").await?;
        tokio::time::timeout(KILL_GRACE, handle.wait())
            .await
            .map_err(|_| {
                DriverError::Other(format!(
                    "container {id} still runs {KILL_GRACE:?} after SIGKILL"
                ))
            })
    }
}

impl Driver for DockerDriver {
    fn name(&self) -> &'static str {
        "docker"
    }

    fn fingerprint(&self) -> DriverInfo {
        fingerprint::fingerprint(self.endpoint.as_deref())
    }

    fn start<'a>(&'a self, cfg: &'a TaskConfig) -> DriverFuture<'a, TaskHandle> {
        Box::pin(self.start_task(cfg))
    }

    fn recover<'a>(&'a self, state: &'a TaskHandleState) -> DriverFuture<'a, TaskHandle> {
        Box::pin(self.recover_task(state))
    }

    fn signal(&self, handle: &TaskHandle, signal: &str) -> Result<(), DriverError> {
        let signal = signal_name(signal)?;
        let id = container_id(&handle.state)?;
        if handle.exited().is_some() {
            return Ok(());
        }
        let endpoint = self.endpoint.as_deref();
        let sent = engine::block_on_engine(endpoint, SIGNAL_TIMEOUT, |docker| async move {
            let options = KillContainerOptions {
                signal: signal.clone(),
            };
            match docker.kill_container(&id, Some(options)).await {
                Err(e) if has_status(&e, 404) || has_status(&e, 409) => Ok(()),
                other => other,
            }
        });
        sent.map_err(|e| DriverError::Other(format!("cannot signal the container: {e}")))
    }

    fn stop<'a>(
        &'a self,
        handle: &'a TaskHandle,
        timeout: Duration,
        signal: &'a str,
    ) -> DriverFuture<'a, ExitResult> {
        Box::pin(self.stop_task(handle, timeout, signal))
    }

    fn exec<'a>(
        &'a self,
        handle: &'a TaskHandle,
        _cfg: &'a TaskConfig,
        command: &'a str,
        args: &'a [String],
        timeout: Duration,
    ) -> DriverFuture<'a, super::ExecOutput> {
        Box::pin(async move {
            let id = container_id(&handle.state)?;
            let docker = self
                .docker()
                .await
                .map_err(|e| DriverError::Other(e.to_string()))?;
            exec::run(&docker, &id, command, args, timeout).await
        })
    }

    fn exec_session<'a>(
        &'a self,
        handle: &'a TaskHandle,
        _cfg: &'a TaskConfig,
        cmd: &'a [String],
        tty: bool,
    ) -> DriverFuture<'a, super::exec_session::ExecSession> {
        Box::pin(async move {
            let id = container_id(&handle.state)?;
            let docker = self
                .docker()
                .await
                .map_err(|e| DriverError::Other(e.to_string()))?;
            exec::session(&docker, &id, cmd, tty).await
        })
    }
}
