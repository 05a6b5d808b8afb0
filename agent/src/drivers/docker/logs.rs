//! Copies a container's output from the engine's logs API into the task's FIFOs, where the
//! client's log collectors pick it up, as for every other driver. The agent does this itself:
//! there is no helper process per task.

use super::container::{inspect, is_running};
use super::engine::has_status;
use crate::drivers::DriverError;
use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptions;
use bollard::Docker;
use futures::StreamExt;
use std::path::Path;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::unix::pipe;
use tokio::task::JoinHandle;

/// The task's two FIFOs, opened for writing.
pub struct Fifos {
    stdout: pipe::Sender,
    stderr: pipe::Sender,
}

/// Opens a FIFO read-write: the open then never waits for a reader, and a write never fails
/// because the client's collector is momentarily gone.
fn open_fifo(path: &Path) -> Result<pipe::Sender, DriverError> {
    pipe::OpenOptions::new()
        .read_write(true)
        .open_sender(path)
        .map_err(|e| DriverError::Start(format!("open log pipe {}: {e}", path.display())))
}

impl Fifos {
    pub fn open(stdout: &Path, stderr: &Path) -> Result<Self, DriverError> {
        Ok(Fifos {
            stdout: open_fifo(stdout)?,
            stderr: open_fifo(stderr)?,
        })
    }
}

pub fn unix_now() -> i32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i32::try_from(d.as_secs()).unwrap_or(i32::MAX))
        .unwrap_or(0)
}

enum StreamEnd {
    /// The engine closed the stream: the container stopped, or the connection broke.
    Closed,
    /// The container is gone or a FIFO cannot be written: nothing more can be copied.
    Finished,
}

/// Copies until the stream ends; `since` moves up to just before the newest output copied.
async fn copy_stream(docker: &Docker, id: &str, since: &mut i32, fifos: &mut Fifos) -> StreamEnd {
    let options = LogsOptions {
        follow: true,
        stdout: true,
        stderr: true,
        since: *since,
        ..Default::default()
    };
    let mut stream = docker.logs(id, Some(options));
    while let Some(item) = stream.next().await {
        let (fifo, bytes) = match item {
            Ok(LogOutput::StdOut { message } | LogOutput::Console { message }) => {
                (&mut fifos.stdout, message)
            }
            Ok(LogOutput::StdErr { message }) => (&mut fifos.stderr, message),
            Ok(LogOutput::StdIn { .. }) => continue,
            Err(e) if has_status(&e, 404) => return StreamEnd::Finished,
            Err(e) => {
                tracing::debug!(container = %id, error = %e, "container log stream broke");
                return StreamEnd::Closed;
            }
        };
        // One second of slack: a line written just before this one may still be in flight.
        *since = unix_now().saturating_sub(1);
        if let Err(e) = fifo.write_all(&bytes).await {
            tracing::warn!(container = %id, error = %e, "cannot write container output to its log pipe");
            return StreamEnd::Finished;
        }
    }
    StreamEnd::Closed
}

/// Streams the output of container `id` written at or after `since` (unix seconds; 0 for all of
/// it) until the container has stopped and its output is drained.
///
/// A stream that breaks while the container still runs is reopened from the second of the last
/// output copied: lines of that second may be copied twice, but none is lost.
pub fn spawn(docker: Docker, id: String, since: i32, mut fifos: Fifos) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut since = since;
        let mut backoff = Duration::from_millis(100);
        loop {
            if let StreamEnd::Finished = copy_stream(&docker, &id, &mut since, &mut fifos).await {
                return;
            }
            match inspect(&docker, &id).await {
                Ok(Some(info)) if is_running(info.state.as_ref()) => {}
                Ok(_) => return,
                Err(e) => {
                    tracing::debug!(container = %id, error = %e, "cannot inspect container");
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    })
}
