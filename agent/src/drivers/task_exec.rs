//! Running a short command in a task's environment, for script checks: as the task's user, in
//! its directory with its environment, and for exec inside its mount namespace and chroot. The
//! output is captured (the first [`OUTPUT_LIMIT`] bytes) and a command that outlives its timeout
//! is killed with its whole process group.

use super::launch::RunAs;
use super::{DriverError, ExecOutput};
use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Consul keeps the first 4 KB of a check's output; so do we.
pub const OUTPUT_LIMIT: usize = 4096;

/// Where and how the command runs.
pub struct ExecSpec {
    pub command: String,
    pub args: Vec<String>,
    /// Added to the agent's environment, or the whole environment when `clear_env`.
    pub env: BTreeMap<String, String>,
    pub clear_env: bool,
    /// The working directory (inside the chroot when `enter` is set).
    pub cwd: PathBuf,
    pub run_as: Option<RunAs>,
    /// A process of the task whose mount namespace and root directory to enter first.
    pub enter: Option<i32>,
    pub timeout: Duration,
}

impl ExecSpec {
    /// A command run like an unisolated task: in its directory, with the agent's environment
    /// plus the task's, as `run_as` (the agent's user when None).
    pub fn beside_task(
        cfg: &super::TaskConfig,
        command: &str,
        args: &[String],
        timeout: Duration,
        run_as: Option<RunAs>,
    ) -> ExecSpec {
        ExecSpec {
            command: command.to_string(),
            args: args.to_vec(),
            env: cfg.env.clone(),
            clear_env: false,
            cwd: cfg.task_dir.clone(),
            run_as,
            enter: None,
            timeout,
        }
    }
}

/// Reads up to the limit, then drains the rest so the command never blocks on a full pipe.
async fn read_capped(mut r: impl AsyncRead + Unpin) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => return out,
            Ok(n) => {
                let room = OUTPUT_LIMIT.saturating_sub(out.len());
                out.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
}

/// The task's mount namespace and root, opened before the fork: the child only switches to them.
pub(super) struct Entry {
    mnt: OwnedFd,
    root: OwnedFd,
}

fn open_entry(pid: i32) -> Result<Entry, DriverError> {
    use nix::fcntl::{open, OFlag};
    use nix::sys::stat::Mode;
    let o = |path: String, flags: OFlag| {
        open(path.as_str(), flags | OFlag::O_CLOEXEC, Mode::empty()).map_err(|e| {
            DriverError::Other(format!(
                "cannot enter the task (pid {pid}): opening {path}: {e}"
            ))
        })
    };
    Ok(Entry {
        mnt: o(format!("/proc/{pid}/ns/mnt"), OFlag::O_RDONLY)?,
        root: o(
            format!("/proc/{pid}/root"),
            OFlag::O_RDONLY | OFlag::O_DIRECTORY,
        )?,
    })
}

/// The command of `spec`, set up to run as the task would: its environment, directory and user,
/// inside its mount namespace and root when `spec.enter` names a task process, in a session of
/// its own. With `tty`, the session's controlling terminal is the command's stdin (a pty's
/// slave). The returned entry must be kept until the command has been spawned.
pub(super) fn command_for(
    spec: &ExecSpec,
    tty: bool,
) -> Result<(tokio::process::Command, Option<Entry>), DriverError> {
    let mut cmd = tokio::process::Command::new(&spec.command);
    cmd.args(&spec.args);
    if spec.clear_env {
        cmd.env_clear();
    }
    cmd.envs(&spec.env);
    let entry = spec.enter.map(open_entry).transpose()?;
    match (&entry, &spec.run_as) {
        (None, run_as) => {
            cmd.current_dir(&spec.cwd);
            if let Some(u) = run_as {
                cmd.uid(u.uid.as_raw()).gid(u.gid.as_raw());
            }
            // SAFETY: setsid is async-signal-safe and allocates nothing.
            unsafe {
                cmd.pre_exec(|| nix::unistd::setsid().map(|_| ()).map_err(Into::into));
            }
        }
        (Some(e), run_as) => {
            // std drops privileges before pre_exec runs, and entering needs them: the user is
            // changed here, after the chroot.
            let (mnt, root) = (e.mnt.as_raw_fd(), e.root.as_raw_fd());
            let ids = run_as.as_ref().map(|u| (u.uid, u.gid, u.groups.clone()));
            let cwd = std::ffi::CString::new(spec.cwd.as_os_str().as_encoded_bytes())
                .map_err(|_| DriverError::Other("the working directory holds a NUL".into()))?;
            // SAFETY: only async-signal-safe syscalls on memory prepared before the fork.
            unsafe {
                cmd.pre_exec(move || enter_task(mnt, root, &cwd, ids.as_ref()));
            }
        }
    }
    if tty {
        // SAFETY: one ioctl on the child's own stdin, after setsid made it a session leader.
        unsafe {
            cmd.pre_exec(|| {
                if libc::ioctl(0, libc::TIOCSCTTY, 0) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    Ok((cmd, entry))
}

/// Runs the command and returns its exit code and output (stdout, then stderr).
pub async fn run(spec: ExecSpec) -> Result<ExecOutput, DriverError> {
    let (mut cmd, entry) = command_for(&spec, false)?;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .map_err(|e| DriverError::Other(format!("cannot run {:?}: {e}", spec.command)))?;
    drop(entry);
    let pid = child.id().map(|p| p as i32);
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let outputs = async {
        let out = async {
            match stdout {
                Some(s) => read_capped(s).await,
                None => Vec::new(),
            }
        };
        let err = async {
            match stderr {
                Some(s) => read_capped(s).await,
                None => Vec::new(),
            }
        };
        tokio::join!(out, err)
    };
    let waited = tokio::time::timeout(spec.timeout, async {
        let (out, err) = outputs.await;
        (child.wait().await, out, err)
    })
    .await;
    match waited {
        Ok((status, mut out, err)) => {
            let status = status
                .map_err(|e| DriverError::Other(format!("waiting for {:?}: {e}", spec.command)))?;
            out.extend_from_slice(&err);
            out.truncate(OUTPUT_LIMIT);
            Ok(ExecOutput {
                exit_code: status
                    .code()
                    .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)),
                output: String::from_utf8_lossy(&out).into_owned(),
            })
        }
        Err(_) => {
            if let Some(pid) = pid {
                let _ = super::proc::signal_group(pid, nix::sys::signal::Signal::SIGKILL);
            }
            Err(DriverError::Other(format!(
                "timed out after {} running {:?}",
                api::duration::format_duration(spec.timeout),
                spec.command
            )))
        }
    }
}

/// In the child: a session of its own, the task's mount namespace and root, then its user.
fn enter_task(
    mnt: i32,
    root: i32,
    cwd: &std::ffi::CStr,
    ids: Option<&(nix::unistd::Uid, nix::unistd::Gid, Vec<nix::unistd::Gid>)>,
) -> std::io::Result<()> {
    use std::os::fd::BorrowedFd;
    nix::unistd::setsid()?;
    // SAFETY: both fds stay open in the parent until the child has been spawned.
    let (mnt, root) = unsafe { (BorrowedFd::borrow_raw(mnt), BorrowedFd::borrow_raw(root)) };
    nix::sched::setns(mnt, nix::sched::CloneFlags::CLONE_NEWNS)?;
    nix::unistd::fchdir(root)?;
    nix::unistd::chroot(".")?;
    nix::unistd::chdir(cwd)?;
    if let Some((uid, gid, groups)) = ids {
        nix::unistd::setgroups(groups)?;
        nix::unistd::setgid(*gid)?;
        nix::unistd::setuid(*uid)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(command: &str, args: &[&str]) -> ExecSpec {
        ExecSpec {
            command: command.into(),
            args: args.iter().map(|s| s.to_string()).collect(),
            env: BTreeMap::from([("GREETING".to_string(), "hi".to_string())]),
            clear_env: false,
            cwd: std::env::temp_dir(),
            run_as: None,
            enter: None,
            timeout: Duration::from_secs(10),
        }
    }

    #[tokio::test]
    async fn captures_exit_code_and_output() {
        let out = run(spec(
            "/bin/sh",
            &["-c", "echo $GREETING; echo oops >&2; exit 2"],
        ))
        .await
        .unwrap();
        assert_eq!(out.exit_code, 2);
        assert_eq!(out.output, "hi\noops\n");
    }

    #[tokio::test]
    async fn output_is_capped_and_long_commands_are_killed() {
        let out = run(spec("/bin/sh", &["-c", "yes | head -c 100000"]))
            .await
            .unwrap();
        assert_eq!((out.exit_code, out.output.len()), (0, OUTPUT_LIMIT));
        let mut s = spec("/bin/sh", &["-c", "sleep 30"]);
        s.timeout = Duration::from_millis(200);
        let err = run(s).await.unwrap_err().to_string();
        assert!(err.contains("timed out after 200ms"), "{err}");
        let missing = run(spec("/nonexistent/check", &[])).await.unwrap_err();
        assert!(missing.to_string().contains("cannot run"), "{missing}");
    }
}
