//! raw_exec: runs the task's `command` with `args`, unisolated, as the agent's user, in its own
//! session (so its process group can be signalled as a whole), in the task directory, with the
//! agent's environment plus the task's.

use super::{
    Driver, DriverError, DriverFuture, ExecOutput, ExitResult, TaskConfig, TaskHandle,
    TaskHandleState,
};
use api::DriverInfo;
use std::collections::BTreeMap;
use std::time::Duration;

pub struct RawExecDriver {
    enabled: bool,
}

impl RawExecDriver {
    pub fn new(enabled: bool) -> Self {
        RawExecDriver { enabled }
    }
}

impl RawExecDriver {
    async fn start_task(&self, cfg: &TaskConfig) -> Result<TaskHandle, DriverError> {
        if !self.enabled {
            return Err(DriverError::Disabled("raw_exec".into()));
        }
        link_host_volumes(cfg)?;
        let (command, args) = super::launch::command_and_args("raw_exec", cfg)?;
        super::launch::launch("raw_exec", &command, &args, cfg, None)
    }
}

/// raw_exec has no root of its own to mount into: a host volume appears as a link at its
/// destination inside the task directory. Nothing can stop an unisolated task from writing, so
/// a read-only mount is refused rather than pretended.
fn link_host_volumes(cfg: &TaskConfig) -> Result<(), DriverError> {
    for m in &cfg.volume_mounts {
        if m.read_only {
            return Err(DriverError::Config(format!(
                "raw_exec cannot mount host volume {} read-only (its tasks are not isolated): \
                 use exec, or read_only = false",
                m.source.display()
            )));
        }
        let link = cfg.task_dir.join(&m.destination);
        if let Some(parent) = link.parent() {
            std::fs::create_dir_all(parent).map_err(|e| {
                DriverError::Start(format!("raw_exec: creating {}: {e}", parent.display()))
            })?;
        }
        match std::fs::read_link(&link) {
            Ok(existing) if existing == m.source => continue,
            Ok(_) => std::fs::remove_file(&link).map_err(|e| {
                DriverError::Start(format!("raw_exec: replacing {}: {e}", link.display()))
            })?,
            Err(_) => {}
        }
        std::os::unix::fs::symlink(&m.source, &link).map_err(|e| {
            DriverError::Start(format!(
                "raw_exec: linking host volume {} at {}: {e}",
                m.source.display(),
                link.display()
            ))
        })?;
    }
    Ok(())
}

impl Driver for RawExecDriver {
    fn name(&self) -> &'static str {
        "raw_exec"
    }

    fn fingerprint(&self) -> DriverInfo {
        if self.enabled {
            super::healthy_driver(BTreeMap::from([(
                "driver.raw_exec".to_string(),
                "1".to_string(),
            )]))
        } else {
            super::undetected_driver("disabled")
        }
    }

    fn start<'a>(&'a self, cfg: &'a TaskConfig) -> DriverFuture<'a, TaskHandle> {
        Box::pin(self.start_task(cfg))
    }

    fn recover<'a>(&'a self, state: &'a TaskHandleState) -> DriverFuture<'a, TaskHandle> {
        Box::pin(async move { super::proc::recover_task(state) })
    }

    fn signal(&self, handle: &TaskHandle, signal: &str) -> Result<(), DriverError> {
        super::proc::signal_task(handle, signal)
    }

    fn stop<'a>(
        &'a self,
        handle: &'a TaskHandle,
        timeout: Duration,
        signal: &'a str,
    ) -> DriverFuture<'a, ExitResult> {
        Box::pin(super::proc::stop_task(handle, timeout, signal))
    }

    /// As the task runs: the agent's user, the task directory, the agent's environment plus the
    /// task's.
    fn exec<'a>(
        &'a self,
        _handle: &'a TaskHandle,
        cfg: &'a TaskConfig,
        command: &'a str,
        args: &'a [String],
        timeout: Duration,
    ) -> DriverFuture<'a, ExecOutput> {
        let spec = super::task_exec::ExecSpec::beside_task(cfg, command, args, timeout, None);
        Box::pin(super::task_exec::run(spec))
    }

    fn exec_session<'a>(
        &'a self,
        _handle: &'a TaskHandle,
        cfg: &'a TaskConfig,
        cmd: &'a [String],
        tty: bool,
    ) -> DriverFuture<'a, super::exec_session::ExecSession> {
        Box::pin(async move {
            let (command, args) = crate::drivers::exec_session::program_and_args(cmd)?;
            // No timeout: the session lasts as long as the operator keeps it.
            let spec =
                super::task_exec::ExecSpec::beside_task(cfg, command, args, Duration::MAX, None);
            super::exec_session::spawn(spec, tty)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::stat::Mode;

    fn cfg(dir: &std::path::Path, command: &str, args: &[&str]) -> TaskConfig {
        let out = dir.join("out.fifo");
        let err = dir.join("err.fifo");
        for p in [&out, &err] {
            nix::unistd::mkfifo(p, Mode::S_IRUSR | Mode::S_IWUSR).unwrap();
        }
        TaskConfig {
            task_name: "t".into(),
            config: BTreeMap::from([
                ("command".to_string(), serde_json::json!(command)),
                ("args".to_string(), serde_json::json!(args)),
            ]),
            task_dir: dir.to_path_buf(),
            stdout_path: out,
            stderr_path: err,
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn runs_and_reports_exit_code() {
        let dir = tempfile::tempdir().unwrap();
        let d = RawExecDriver::new(true);
        let h = d
            .start(&cfg(dir.path(), "/bin/sh", &["-c", "exit 3"]))
            .await
            .unwrap();
        let exit = h.wait().await;
        assert_eq!(exit.exit_code, Some(3));
        assert!(matches!(d.inspect(&h), super::super::TaskStatus::Exited(_)));
    }

    #[tokio::test]
    async fn missing_command_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let d = RawExecDriver::new(true);
        let err = d
            .start(&cfg(dir.path(), "/nonexistent/bin", &[]))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/bin"), "{err}");
        assert!(err.recoverable());
    }

    #[tokio::test]
    async fn disabled_driver_refuses() {
        let dir = tempfile::tempdir().unwrap();
        let d = RawExecDriver::new(false);
        assert!(!d.fingerprint().detected);
        let err = d
            .start(&cfg(dir.path(), "/bin/true", &[]))
            .await
            .unwrap_err();
        assert!(!err.recoverable());
    }

    #[tokio::test]
    async fn recover_and_stop_a_running_task() {
        let dir = tempfile::tempdir().unwrap();
        let d = RawExecDriver::new(true);
        let h = d
            .start(&cfg(dir.path(), "/bin/sleep", &["30"]))
            .await
            .unwrap();
        let again = d.recover(&h.state).await.unwrap();
        let exit = d
            .stop(&again, Duration::from_secs(5), "SIGTERM")
            .await
            .unwrap();
        assert!(
            exit.exit_code.is_none(),
            "a recovered task's exit code is unknown"
        );
        assert_eq!(h.wait().await.signal, Some(libc::SIGTERM));
        assert!(matches!(
            d.recover(&h.state).await,
            Err(DriverError::NotRunning)
        ));
    }
}
