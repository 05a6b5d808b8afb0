//! Commands run inside a task's container (script checks), through the engine's exec API.

use super::super::task_exec::OUTPUT_LIMIT;
use super::super::{DriverError, ExecOutput};
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use bollard::Docker;
use futures::StreamExt;
use std::time::Duration;

/// Runs `command args` in container `id` as the container's user, and returns its exit code and
/// output. An exec still running at the timeout is abandoned and reported as timed out.
pub async fn run(
    docker: &Docker,
    id: &str,
    command: &str,
    args: &[String],
    timeout: Duration,
) -> Result<ExecOutput, DriverError> {
    let err = |what: &str, e: bollard::errors::Error| {
        DriverError::Other(format!("{what} in container {id}: {e}"))
    };
    let cmd: Vec<String> = std::iter::once(command.to_string())
        .chain(args.iter().cloned())
        .collect();
    let created = docker
        .create_exec(
            id,
            CreateExecOptions::<String> {
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                cmd: Some(cmd),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| err("cannot create an exec", e))?;
    let run = async {
        let mut output = Vec::new();
        let started = docker
            .start_exec(
                &created.id,
                Some(StartExecOptions {
                    detach: false,
                    tty: false,
                    output_capacity: None,
                }),
            )
            .await
            .map_err(|e| err("cannot start an exec", e))?;
        if let StartExecResults::Attached { output: mut s, .. } = started {
            while let Some(chunk) = s.next().await {
                let bytes = match chunk {
                    Ok(LogOutput::StdOut { message } | LogOutput::StdErr { message }) => message,
                    Ok(_) => continue,
                    Err(_) => break,
                };
                let room = OUTPUT_LIMIT.saturating_sub(output.len());
                output.extend_from_slice(&bytes[..bytes.len().min(room)]);
            }
        }
        let inspected = docker
            .inspect_exec(&created.id)
            .await
            .map_err(|e| err("cannot inspect an exec", e))?;
        Ok(ExecOutput {
            exit_code: inspected
                .exit_code
                .and_then(|c| i32::try_from(c).ok())
                .unwrap_or(-1),
            output: String::from_utf8_lossy(&output).into_owned(),
        })
    };
    tokio::time::timeout(timeout, run)
        .await
        .unwrap_or_else(|_| {
            Err(DriverError::Other(format!(
                "timed out after {} running {command:?} in container {id}",
                api::duration::format_duration(timeout)
            )))
        })
}

/// `alloc exec` in container `id`: an exec with stdin attached (and a terminal when `tty`),
/// pumped through an [`ExecSession`](crate::drivers::exec_session::ExecSession). The exit code
/// is the engine's, read once the output ends.
pub async fn session(
    docker: &Docker,
    id: &str,
    cmd: &[String],
    tty: bool,
) -> Result<crate::drivers::exec_session::ExecSession, DriverError> {
    use crate::drivers::exec_session::{session, OutputStream, SessionEnds, SessionInput};
    use tokio::io::AsyncWriteExt;
    let err = |what: &str, e: bollard::errors::Error| {
        DriverError::Other(format!("{what} in container {id}: {e}"))
    };
    let created = docker
        .create_exec(
            id,
            CreateExecOptions::<String> {
                attach_stdin: Some(true),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                tty: Some(tty),
                cmd: Some(cmd.to_vec()),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| err("cannot create an exec", e))?;
    let started = docker
        .start_exec(
            &created.id,
            Some(StartExecOptions {
                detach: false,
                tty,
                output_capacity: None,
            }),
        )
        .await
        .map_err(|e| err("cannot start an exec", e))?;
    let StartExecResults::Attached {
        output: mut stream,
        input: mut stdin_w,
    } = started
    else {
        return Err(DriverError::Other(format!(
            "the engine did not attach to the exec in container {id}"
        )));
    };
    let (caller, ends) = session();
    let SessionEnds {
        mut input,
        output,
        exit,
    } = ends;
    // One task, in the caller's order: a resize is done before the input sent after it.
    let (resizer, exec_id) = (docker.clone(), created.id.clone());
    tokio::spawn(async move {
        let mut open = true;
        while let Some(msg) = input.recv().await {
            match msg {
                SessionInput::Stdin(data) if open => {
                    if input_write(&mut stdin_w, &data).await.is_err() {
                        open = false;
                    }
                }
                SessionInput::Stdin(_) => {}
                // Half-closing the attach connection is how the engine learns of EOF.
                SessionInput::Close => {
                    let _ = stdin_w.shutdown().await;
                    open = false;
                }
                SessionInput::Resize(height, width) => {
                    let opts = bollard::query_parameters::ResizeExecOptions {
                        h: i32::from(height),
                        w: i32::from(width),
                    };
                    let _ = resizer.resize_exec(&exec_id, opts).await;
                }
            }
        }
    });
    let (inspector, exec_id) = (docker.clone(), created.id.clone());
    tokio::spawn(async move {
        while let Some(chunk) = stream.next().await {
            let sent = match chunk {
                Ok(LogOutput::StdOut { message } | LogOutput::Console { message }) => {
                    output.send((OutputStream::Stdout, message)).await
                }
                Ok(LogOutput::StdErr { message }) => {
                    output.send((OutputStream::Stderr, message)).await
                }
                Ok(_) => Ok(()),
                Err(_) => break,
            };
            if sent.is_err() {
                break;
            }
        }
        drop(output);
        let code = inspector
            .inspect_exec(&exec_id)
            .await
            .ok()
            .and_then(|i| i.exit_code)
            .and_then(|c| i32::try_from(c).ok())
            .unwrap_or(-1);
        let _ = exit.send(code);
    });
    Ok(caller)
}

async fn input_write(
    w: &mut std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>,
    data: &[u8],
) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    w.write_all(data).await?;
    w.flush().await
}
