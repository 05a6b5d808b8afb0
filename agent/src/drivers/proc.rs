//! Process helpers shared by the process-based drivers: identity via /proc, signals to process
//! groups, watching a process that is not our child, and the stop sequence.

use super::{DriverError, ExitResult, TaskHandle, TaskHandleState};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use std::str::FromStr;
use std::time::Duration;
use tokio::sync::watch;

/// State letter and start time (clock ticks after boot) of a process, from /proc/<pid>/stat.
pub fn proc_stat(pid: i32) -> Option<(char, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may itself contain spaces or ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    // Field 3 is fields[0], so field 22 is fields[19].
    let start = fields.get(19)?.parse().ok()?;
    Some((state, start))
}

/// The start time of a live process.
pub fn proc_start_time(pid: i32) -> Option<u64> {
    proc_stat(pid).map(|(_, s)| s)
}

/// Whether `pid` still is the process that started at `start_time` and has not exited (a zombie
/// counts as exited).
pub fn is_alive(pid: i32, start_time: u64) -> bool {
    match proc_stat(pid) {
        Some((state, start)) => start == start_time && state != 'Z' && state != 'X',
        None => false,
    }
}

/// Why a signal could not be named or delivered to a task's process group.
#[derive(Debug, thiserror::Error)]
pub enum SignalError {
    #[error("unknown signal {name:?} (use a name such as SIGTERM)")]
    Unknown { name: String },
    /// Group 0 is our own and 1 is init's: signalling either would hit far more than the task.
    #[error("refusing to signal process group {pgid}")]
    RefusedGroup { pgid: i32 },
    #[error("signal {signal} to process group {pgid}: {errno}")]
    Send {
        signal: Signal,
        pgid: i32,
        errno: nix::errno::Errno,
    },
    #[error("process {pgid} survived SIGKILL for 30s")]
    SurvivedKill { pgid: i32 },
}

/// Parses "SIGINT", "INT" or "sigint". Empty means SIGINT, Nomad's default kill signal.
pub fn parse_signal(name: &str) -> Result<Signal, SignalError> {
    let up = name.trim().to_ascii_uppercase();
    if up.is_empty() {
        return Ok(Signal::SIGINT);
    }
    let full = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    Signal::from_str(&full).map_err(|_| SignalError::Unknown {
        name: name.to_string(),
    })
}

/// Signals a whole process group; a group that is already gone is not an error.
pub fn signal_group(pgid: i32, sig: Signal) -> Result<(), SignalError> {
    if pgid <= 1 {
        return Err(SignalError::RefusedGroup { pgid });
    }
    match killpg(Pid::from_raw(pgid), sig) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
        Err(errno) => Err(SignalError::Send {
            signal: sig,
            pgid,
            errno,
        }),
    }
}

/// Watches a process that is not our child (re-attached after an agent restart): polls /proc with a
/// backoff up to one second. Its exit code cannot be known.
pub fn watch_foreign(pid: i32, start_time: u64) -> watch::Receiver<Option<ExitResult>> {
    let (tx, rx) = watch::channel(None);
    tokio::spawn(async move {
        let mut delay = Duration::from_millis(20);
        while is_alive(pid, start_time) {
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = tx.closed() => return,
            }
            delay = (delay * 2).min(Duration::from_secs(1));
        }
        let _ = tx.send(Some(ExitResult::unknown(
            "exit code unknown: the task was re-attached after an agent restart",
        )));
    });
    rx
}

/// Nomad's stop sequence for a task running as process group `pgid`: `signal`, wait `timeout`,
/// SIGKILL. Whatever is left in the group after the main process ended is killed too, so a stopped
/// task leaves nothing behind.
pub async fn stop_group(
    handle: &TaskHandle,
    pgid: i32,
    timeout: Duration,
    signal: &str,
) -> Result<ExitResult, SignalError> {
    if let Some(exit) = handle.exited() {
        let _ = signal_group(pgid, Signal::SIGKILL);
        return Ok(exit);
    }
    let sig = parse_signal(signal)?;
    signal_group(pgid, sig)?;
    let exit = match tokio::time::timeout(timeout, handle.wait()).await {
        Ok(exit) => exit,
        Err(_) => {
            signal_group(pgid, Signal::SIGKILL)?;
            match tokio::time::timeout(Duration::from_secs(30), handle.wait()).await {
                Ok(exit) => exit,
                Err(_) => return Err(SignalError::SurvivedKill { pgid }),
            }
        }
    };
    let _ = signal_group(pgid, Signal::SIGKILL);
    Ok(exit)
}

/// `Driver::signal` of the process drivers: the signal goes to the task's whole process group.
pub fn signal_task(handle: &TaskHandle, signal: &str) -> Result<(), DriverError> {
    let sig = parse_signal(signal).map_err(|e| DriverError::Other(e.to_string()))?;
    signal_group(handle.state.pid, sig).map_err(|e| DriverError::Other(e.to_string()))
}

/// `Driver::stop` of the process drivers: Nomad's stop sequence on the task's process group.
pub async fn stop_task(
    handle: &TaskHandle,
    timeout: Duration,
    signal: &str,
) -> Result<ExitResult, DriverError> {
    stop_group(handle, handle.state.pid, timeout, signal)
        .await
        .map_err(|e| DriverError::Other(e.to_string()))
}

/// `Driver::recover` of the process drivers: re-attach to the process that started at the
/// recorded time, watching it from /proc (it is no longer our child).
pub fn recover_task(state: &TaskHandleState) -> Result<TaskHandle, DriverError> {
    if state.pid <= 1 || !is_alive(state.pid, state.start_time) {
        return Err(DriverError::NotRunning);
    }
    Ok(TaskHandle::new(
        state.clone(),
        watch_foreign(state.pid, state.start_time),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_stat() {
        let me = std::process::id() as i32;
        let (state, start) = proc_stat(me).unwrap();
        assert!(state == 'R' || state == 'S');
        assert!(is_alive(me, start));
        assert!(!is_alive(me, start + 1));
    }

    #[test]
    fn parses_signals() {
        assert_eq!(parse_signal("").unwrap(), Signal::SIGINT);
        assert_eq!(parse_signal("sigterm").unwrap(), Signal::SIGTERM);
        assert_eq!(parse_signal("HUP").unwrap(), Signal::SIGHUP);
        assert!(parse_signal("SIGNOPE").is_err());
        assert!(signal_group(1, Signal::SIGTERM).is_err());
    }
}
