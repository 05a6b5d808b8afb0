//! Starting a plain host process for a task, shared by raw_exec and java: in its own session (so
//! the process group can be signalled as a whole), in the task directory, with the task's
//! environment and output FIFOs, optionally as another user.

use super::proc::proc_start_time;
use super::{DriverError, ExitResult, TaskConfig, TaskHandle, TaskHandleState};
use nix::unistd::{Gid, Uid};
use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use tokio::sync::watch;

/// Who the task runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAs {
    pub uid: Uid,
    pub gid: Gid,
    /// The user's supplementary groups from the host's group database.
    pub groups: Vec<Gid>,
}

/// `command` and `args` from the task's config block (raw_exec, exec).
pub fn command_and_args(
    driver: &str,
    cfg: &TaskConfig,
) -> Result<(String, Vec<String>), DriverError> {
    let err = |m: &str| DriverError::Config(format!("{driver}: {m}"));
    let command = match cfg.config.get("command") {
        Some(serde_json::Value::String(s)) if !s.is_empty() => s.clone(),
        Some(_) => return Err(err("\"command\" must be a non-empty string")),
        None => return Err(err("missing \"command\" in the task's config block")),
    };
    let args = match cfg.config.get("args") {
        None | Some(serde_json::Value::Null) => Vec::new(),
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        Some(_) => return Err(err("\"args\" must be a list of strings")),
    };
    Ok((command, args))
}

/// Resolves a task's `user`: `default` when empty; root only when `allow_root`.
pub fn resolve_user(
    driver: &str,
    user: &str,
    default: &str,
    allow_root: bool,
) -> Result<RunAs, DriverError> {
    let name = if user.is_empty() { default } else { user };
    let found = nix::unistd::User::from_name(name)
        .map_err(|e| DriverError::Config(format!("{driver}: looking up user {name:?}: {e}")))?
        .ok_or_else(|| {
            DriverError::Config(format!(
                "{driver}: user {name:?} does not exist on this client"
            ))
        })?;
    if found.uid.is_root() && !allow_root {
        return Err(DriverError::Config(format!(
            "{driver}: running tasks as root is refused on this client; set another `user`, or \
             allow it in the client config with options {{ \"user.allow_root\" = \"true\" }}"
        )));
    }
    let groups = std::ffi::CString::new(name)
        .ok()
        .and_then(|c| nix::unistd::getgrouplist(&c, found.gid).ok())
        .unwrap_or_else(|| vec![found.gid]);
    Ok(RunAs {
        uid: found.uid,
        gid: found.gid,
        groups,
    })
}

/// Gives the task's own directories to the user it runs as, as Nomad does, so a task running as
/// `nobody` can write its `local/` and `tmp/` and read its `secrets/`.
pub fn chown_task_dirs(cfg: &TaskConfig, run_as: &RunAs) -> Result<(), DriverError> {
    // The task dir itself stays root's: under exec it is the chroot's root.
    let dirs = [
        cfg.task_dir.join("local"),
        cfg.task_dir.join("tmp"),
        cfg.task_dir.join("secrets"),
    ];
    for d in dirs.iter().filter(|d| d.is_dir()) {
        nix::unistd::chown(d.as_path(), Some(run_as.uid), Some(run_as.gid)).map_err(|e| {
            DriverError::Start(format!("giving {} to uid {}: {e}", d.display(), run_as.uid))
        })?;
    }
    Ok(())
}

/// Opens a FIFO read-write for the task. Read-write matters: the task itself then counts as a
/// reader, so its writes never fail with EPIPE/SIGPIPE while the agent is down (they block once the
/// pipe buffer is full, and resume when a restarted agent drains the FIFO again).
pub fn open_fifo(path: &std::path::Path) -> Result<std::fs::File, DriverError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| DriverError::Start(format!("open log pipe {}: {e}", path.display())))
}

fn exit_result(status: std::io::Result<std::process::ExitStatus>) -> ExitResult {
    match status {
        Ok(st) => ExitResult {
            exit_code: st.code().or(st.signal().map(|_| -1)),
            signal: st.signal(),
            oom_killed: false,
            err: None,
        },
        Err(e) => ExitResult::unknown(&format!("waiting for the task failed: {e}")),
    }
}

/// Starts `program args` for the task and watches it.
pub fn launch(
    driver: &'static str,
    program: &str,
    args: &[String],
    cfg: &TaskConfig,
    run_as: Option<RunAs>,
) -> Result<TaskHandle, DriverError> {
    let stdout = open_fifo(&cfg.stdout_path)?;
    let stderr = open_fifo(&cfg.stderr_path)?;
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .current_dir(&cfg.task_dir)
        .envs(&cfg.env)
        .stdin(Stdio::null())
        .stdout(Stdio::from(stdout))
        .stderr(Stdio::from(stderr))
        .kill_on_drop(false);
    if let Some(u) = run_as {
        // std sets the group before the user, and drops the agent's supplementary groups when it
        // changes the uid from root, so none of root's groups leak into the task.
        cmd.uid(u.uid.as_raw()).gid(u.gid.as_raw());
    }
    // SAFETY: setsid is async-signal-safe; the closure allocates nothing.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid()
                .map(|_| ())
                .map_err(std::io::Error::from)
        });
    }
    let mut child = cmd.spawn().map_err(|e| {
        DriverError::Start(format!(
            "cannot run command {program:?}: {e}; check that it exists and is executable (relative paths are resolved from the task directory)"
        ))
    })?;
    let pid = child
        .id()
        .ok_or_else(|| DriverError::Start("the task exited before its pid was known".into()))?
        as i32;
    let start_time = proc_start_time(pid).unwrap_or(0);
    let (tx, rx) = watch::channel(None);
    tokio::spawn(async move {
        let status = child.wait().await;
        let _ = tx.send(Some(exit_result(status)));
    });
    Ok(TaskHandle::new(
        TaskHandleState {
            driver: driver.into(),
            pid,
            start_time,
            driver_state: BTreeMap::new(),
        },
        rx,
    ))
}
