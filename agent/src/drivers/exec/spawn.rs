//! Starting the task's first process in new namespaces, and waiting for it.
//!
//! Why `clone` and not `Command::pre_exec` + `unshare`: a new PID namespace only applies to the
//! *children* of the process that unshares it, so `unshare(CLONE_NEWPID)` in a pre_exec hook
//! would leave the task itself outside, and a second fork there would make the task a grandchild
//! the agent cannot wait for. `clone(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS)`
//! makes one child that is at once pid 1 of the new namespace and the agent's own child, so the
//! agent gets its exit status with a plain `waitpid`. The task itself is that pid 1 (as with
//! Nomad's executor): when it ends, the kernel kills everything else in the namespace, so no
//! process outlives its task. The cost of having no separate init: the task must reap its own
//! orphans, and signals it has no handler for are not delivered to it (see `task.rs` for how
//! stop copes with that).
//!
//! The child reports a failed step through a close-on-exec pipe: end-of-file means the exec
//! happened.

use super::child::{run_child, ChildFailure, ChildPlan};
use super::isolation::{NixSyscalls, Syscalls};
use crate::drivers::ExitResult;
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use std::os::fd::{AsRawFd, OwnedFd};

/// The child's stack; it only runs the steps of `child.rs` before exec.
const CHILD_STACK_BYTES: usize = 256 * 1024;

fn namespaces() -> CloneFlags {
    CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWUTS
}

#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("cannot create the error pipe: {0}")]
    Pipe(Errno),
    #[error("cannot create the task's namespaces (clone): {0}")]
    Clone(Errno),
    #[error("{0}")]
    Child(String),
}

/// Clones the task's first process and waits until it has exec'd or failed. Blocking.
pub fn spawn_isolated(plan: &ChildPlan) -> Result<Pid, SpawnError> {
    let (read_end, write_end) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(SpawnError::Pipe)?;
    let err_fd = write_end.as_raw_fd();
    let mut stack = vec![0u8; CHILD_STACK_BYTES];
    let child = Box::new(move || -> isize {
        let failure = run_child(&mut NixSyscalls, plan);
        let _ = NixSyscalls.write_all(err_fd, &failure.encode());
        // SAFETY: leaves the cloned process without running the agent's exit handlers.
        unsafe { libc::_exit(127) }
    });
    // SAFETY: the child gets a copy of our memory and, until exec, only makes the
    // allocation-free syscalls of `run_child` (see isolation.rs).
    let pid = unsafe { nix::sched::clone(child, &mut stack, namespaces(), Some(libc::SIGCHLD)) }
        .map_err(SpawnError::Clone)?;
    drop(write_end);
    match read_failure(read_end) {
        None => Ok(pid),
        Some(message) => {
            let _ = reap(pid);
            Err(SpawnError::Child(message(plan)))
        }
    }
}

type Describe = Box<dyn FnOnce(&ChildPlan) -> String>;

/// None when the pipe closed empty, i.e. the exec succeeded.
fn read_failure(fd: OwnedFd) -> Option<Describe> {
    let mut buf = [0u8; ChildFailure::ENCODED_LEN];
    let mut got = 0;
    while got < buf.len() {
        match nix::unistd::read(&fd, &mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(Errno::EINTR) => continue,
            Err(e) => {
                return Some(Box::new(move |_| {
                    format!("reading the task's start report: {e}")
                }))
            }
        }
    }
    match got {
        0 => None,
        ChildFailure::ENCODED_LEN => match ChildFailure::decode(&buf) {
            Some(f) => Some(Box::new(move |plan| f.describe(plan))),
            None => Some(Box::new(|_| {
                "the task's setup failed at an unknown step".into()
            })),
        },
        _ => Some(Box::new(|_| {
            "the task's setup failed (truncated report)".into()
        })),
    }
}

fn reap(pid: Pid) -> Result<WaitStatus, Errno> {
    loop {
        match waitpid(pid, None) {
            Err(Errno::EINTR) => continue,
            other => return other,
        }
    }
}

/// Blocks until our child `pid` ends and says how.
pub fn wait_exit(pid: Pid) -> ExitResult {
    match reap(pid) {
        Ok(WaitStatus::Exited(_, code)) => ExitResult {
            exit_code: Some(code),
            ..Default::default()
        },
        Ok(WaitStatus::Signaled(_, sig, _)) => ExitResult {
            exit_code: Some(-1),
            signal: Some(sig as i32),
            ..Default::default()
        },
        Ok(other) => ExitResult::unknown(&format!("unexpected wait status {other:?}")),
        Err(e) => ExitResult::unknown(&format!("waiting for the task failed: {e}")),
    }
}

/// Why this process may not create the namespaces exec needs.
#[derive(Debug, thiserror::Error)]
pub enum NamespaceProbeError {
    #[error("cannot create mount/pid/ipc/uts namespaces: {0}")]
    Clone(Errno),
    /// How waiting for the probe child ended instead of a clean exit.
    #[error("namespace probe ended unexpectedly: {0:?}")]
    UnexpectedEnd(Result<WaitStatus, Errno>),
}

/// Whether this process may create the namespaces exec needs: clones a child into them that exits
/// at once.
pub fn probe_namespaces() -> Result<(), NamespaceProbeError> {
    let mut stack = vec![0u8; 16 * 1024];
    let child = Box::new(|| -> isize {
        // SAFETY: exits the probe child at once.
        unsafe { libc::_exit(0) }
    });
    // SAFETY: the child only calls _exit.
    let pid = unsafe { nix::sched::clone(child, &mut stack, namespaces(), Some(libc::SIGCHLD)) }
        .map_err(NamespaceProbeError::Clone)?;
    match reap(pid) {
        Ok(WaitStatus::Exited(_, 0)) => Ok(()),
        other => Err(NamespaceProbeError::UnexpectedEnd(other)),
    }
}
