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
