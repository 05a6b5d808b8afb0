//! Watching a container until it stops: read how it ended, let its output drain into the FIFOs,
//! remove it, and only then report the exit, so whoever waits on the task finds its output
//! complete and its container gone.

use super::container::{exit_result, inspect, is_running, remove};
use crate::drivers::ExitResult;
use bollard::errors::Error as BollardError;
use bollard::models::ContainerWaitResponse;
use bollard::Docker;
use futures::StreamExt;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long the output of a stopped container may take to reach the FIFOs.
const LOG_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The exit of a container someone else removed: only what the wait call said is left.
fn exit_of_removed(waited: Option<Result<ContainerWaitResponse, BollardError>>) -> ExitResult {
    let code = match waited {
        Some(Ok(r)) => Some(r.status_code),
        Some(Err(BollardError::DockerContainerWaitError { code, .. })) => Some(code),
        _ => None,
    };
    match code.and_then(|c| i32::try_from(c).ok()) {
        Some(c) => ExitResult {
            exit_code: Some(c),
            ..Default::default()
        },
        None => ExitResult::unknown("the container was removed by someone other than the agent"),
    }
}

/// Waits until the container is not running and reads its exit from the engine. The wait call
/// can end early (engine restart, broken connection): the container's state decides.
async fn wait_stopped(docker: &Docker, id: &str) -> ExitResult {
    let mut backoff = Duration::from_millis(100);
    loop {
        let waited = docker.wait_container(id, None).next().await;
        match inspect(docker, id).await {
            Ok(Some(info)) if !is_running(info.state.as_ref()) => {
                return exit_result(&info.state.unwrap_or_default());
            }
            Ok(Some(_)) => {}
            Ok(None) => return exit_of_removed(waited),
            Err(e) => tracing::debug!(container = %id, error = %e, "cannot inspect container"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// Watches container `id`, whose output `logs` is copying. When every receiver is dropped (the
/// client detached from the task) watching stops and the container is left running.
pub fn spawn(
    docker: Docker,
    id: String,
    logs: JoinHandle<()>,
) -> watch::Receiver<Option<ExitResult>> {
    let (tx, rx) = watch::channel(None);
    tokio::spawn(async move {
        let exit = tokio::select! {
            exit = wait_stopped(&docker, &id) => exit,
            _ = tx.closed() => {
                logs.abort();
                return;
            }
        };
        let drain = logs.abort_handle();
        if tokio::time::timeout(LOG_DRAIN_TIMEOUT, logs).await.is_err() {
            drain.abort();
            tracing::warn!(container = %id, "output of the stopped container did not drain in time");
        }
        if let Err(e) = remove(&docker, &id).await {
            tracing::warn!(container = %id, error = %e, "cannot remove stopped container");
        }
        let _ = tx.send(Some(exit));
    });
    rx
}
