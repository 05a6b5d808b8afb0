//! Interactive commands in a task's context (`alloc exec`): what a driver hands back, and the
//! process-based implementation shared by raw_exec, exec and java. A session carries stdin in,
//! stdout and stderr out (one stream when a terminal is asked for), terminal resizes, and the
//! exit code at the end.

use super::task_exec::{command_for, ExecSpec};
use super::DriverError;
use bytes::Bytes;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

/// Which stream a chunk of output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputStream {
    Stdout,
    Stderr,
}

/// What the caller sends, in the order it sent it: a resize sent before some input takes effect
/// before that input is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionInput {
    Stdin(Bytes),
    /// The end of stdin.
    Close,
    /// A new terminal size (height, width); ignored without a terminal.
    Resize(u16, u16),
}

/// The caller's side of a running command. Output ends (the receiver yields None) before the exit
/// code arrives.
pub struct ExecSession {
    pub input: mpsc::Sender<SessionInput>,
    pub output: mpsc::Receiver<(OutputStream, Bytes)>,
    pub exit: oneshot::Receiver<i32>,
}

/// The driver's side of a session: what it reads from and writes to.
pub struct SessionEnds {
    pub input: mpsc::Receiver<SessionInput>,
    pub output: mpsc::Sender<(OutputStream, Bytes)>,
    pub exit: oneshot::Sender<i32>,
}

/// A new session's two sides.
pub fn session() -> (ExecSession, SessionEnds) {
    let (in_tx, in_rx) = mpsc::channel(16);
    let (out_tx, out_rx) = mpsc::channel(16);
    let (exit_tx, exit_rx) = oneshot::channel();
    (
        ExecSession {
            input: in_tx,
            output: out_rx,
            exit: exit_rx,
        },
        SessionEnds {
            input: in_rx,
            output: out_tx,
            exit: exit_tx,
        },
    )
}

fn exit_code(status: std::io::Result<std::process::ExitStatus>) -> i32 {
    match status {
        Ok(s) => s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0)),
        Err(_) => -1,
    }
}

/// The program and its arguments of a session's command.
pub fn program_and_args(cmd: &[String]) -> Result<(&String, &[String]), DriverError> {
    cmd.split_first()
        .ok_or_else(|| DriverError::Other("no command to run".into()))
}

/// Starts `spec` as a process (entering the task when `spec.enter` says so), with a terminal
/// or with pipes.
pub fn spawn(spec: ExecSpec, tty: bool) -> Result<ExecSession, DriverError> {
    if tty {
        spawn_tty(spec)
    } else {
        spawn_piped(spec)
    }
}

fn spawn_piped(spec: ExecSpec) -> Result<ExecSession, DriverError> {
    let (mut cmd, entry) = command_for(&spec, false)?;
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .map_err(|e| DriverError::Other(format!("cannot run {:?}: {e}", spec.command)))?;
    drop(entry);
    let (session, ends) = session();
    let SessionEnds {
        mut input,
        output,
        exit,
    } = ends;
    let mut child_in = child.stdin.take();
    tokio::spawn(async move {
        while let Some(msg) = input.recv().await {
            // Dropping the pipe is how the command sees the end of its input.
            let done = match (msg, child_in.as_mut()) {
                (SessionInput::Stdin(data), Some(w)) => w.write_all(&data).await.is_err(),
                (SessionInput::Close, _) => true,
                _ => false,
            };
            if done {
                child_in = None;
            }
        }
    });
    let pump = |r: Option<Box<dyn tokio::io::AsyncRead + Send + Unpin>>, which| {
        let output = output.clone();
        async move {
            let Some(mut r) = r else { return };
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                match r.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if output
                            .send((which, Bytes::copy_from_slice(&buf[..n])))
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                }
            }
        }
    };
    let out = child
        .stdout
        .take()
        .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>);
    let err = child
        .stderr
        .take()
        .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>);
    let (out_done, err_done) = (
        pump(out, OutputStream::Stdout),
        pump(err, OutputStream::Stderr),
    );
    drop(output);
    tokio::spawn(async move {
        tokio::join!(out_done, err_done);
        let _ = exit.send(exit_code(child.wait().await));
    });
    Ok(session)
}

/// Sets the terminal size of `fd` (the pty's master).
fn set_size(fd: i32, height: u16, width: u16) {
    let ws = libc::winsize {
        ws_row: height,
        ws_col: width,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize from a valid pointer; a bad fd only fails the call.
    unsafe {
        libc::ioctl(fd, libc::TIOCSWINSZ, &ws);
    }
}

fn spawn_tty(spec: ExecSpec) -> Result<ExecSession, DriverError> {
    let pty = nix::pty::openpty(None, None)
        .map_err(|e| DriverError::Other(format!("cannot open a terminal: {e}")))?;
    let (master, slave): (OwnedFd, OwnedFd) = (pty.master, pty.slave);
    set_size(master.as_raw_fd(), 24, 80);
    let dup = |fd: &OwnedFd| {
        fd.try_clone()
            .map_err(|e| DriverError::Other(format!("cannot share the terminal: {e}")))
    };
    let (mut cmd, entry) = command_for(&spec, true)?;
    cmd.stdin(Stdio::from(dup(&slave)?))
        .stdout(Stdio::from(dup(&slave)?))
        .stderr(Stdio::from(dup(&slave)?))
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .map_err(|e| DriverError::Other(format!("cannot run {:?}: {e}", spec.command)))?;
    drop(entry);
    drop(slave);
    let (session, ends) = session();
    let SessionEnds {
        mut input,
        output,
        exit,
    } = ends;
    // Its own copy of the master, so a resize never lands on a descriptor closed and reused.
    let sizer = dup(&master)?;
    let mut writer = std::fs::File::from(dup(&master)?);
    let mut reader = std::fs::File::from(master);
    // The master is read and written on blocking threads: reads end with EIO once the command
    // and every process holding the terminal are gone.
    let (in_tx, in_rx) = std::sync::mpsc::channel::<Bytes>();
    std::thread::spawn(move || {
        while let Ok(data) = in_rx.recv() {
            if writer.write_all(&data).is_err() {
                return;
            }
        }
    });
    tokio::spawn(async move {
        while let Some(msg) = input.recv().await {
            match msg {
                SessionInput::Stdin(data) => {
                    let _ = in_tx.send(data);
                }
                // A terminal has no separate end of input: ^D is what a shell reads as one.
                SessionInput::Close => {
                    let _ = in_tx.send(Bytes::from_static(b"\x04"));
                }
                SessionInput::Resize(h, w) => set_size(sizer.as_raw_fd(), h, w),
            }
        }
    });
    let out = output.clone();
    let read_done = tokio::task::spawn_blocking(move || {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match reader.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    let chunk = Bytes::copy_from_slice(&buf[..n]);
                    if out.blocking_send((OutputStream::Stdout, chunk)).is_err() {
                        return;
                    }
                }
            }
        }
    });
    drop(output);
    tokio::spawn(async move {
        let code = exit_code(child.wait().await);
        let _ = read_done.await;
        let _ = exit.send(code);
    });
    Ok(session)
}
