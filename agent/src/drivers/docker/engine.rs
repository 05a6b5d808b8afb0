//! The connection to the Docker Engine: where it is (DOCKER_HOST, else the local socket), the API
//! version both sides speak, and running one engine call from synchronous code.

use bollard::errors::Error as BollardError;
use bollard::Docker;
use std::future::Future;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cannot reach the docker engine: {0}")]
    Unreachable(#[source] BollardError),
    #[error("the docker engine did not answer within {0:?}")]
    Timeout(Duration),
    #[error("cannot run a docker engine call: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("{0}")]
    Call(#[source] BollardError),
}

/// Connects to `endpoint` (`unix:///path` or `tcp://host:port`; DOCKER_HOST, else the local
/// socket, when None) and settles on an API version. The engine may be older than bollard's
/// default version: without negotiation every call to such an engine is refused.
pub async fn connect(endpoint: Option<&str>) -> Result<Docker, EngineError> {
    let docker = match endpoint {
        Some(host) => Docker::connect_with_host(host),
        None => Docker::connect_with_defaults(),
    }
    .map_err(EngineError::Unreachable)?;
    docker
        .negotiate_version()
        .await
        .map_err(EngineError::Unreachable)
}

/// Whether an engine error is an HTTP answer with `status`.
pub fn has_status(e: &BollardError, status: u16) -> bool {
    matches!(e, BollardError::DockerResponseServerError { status_code, .. } if *status_code == status)
}

/// Runs one engine call from synchronous code (the `Driver` trait's `fingerprint` and `signal`).
///
/// The call gets its own thread, runtime and connection: blocking inside the caller's runtime
/// would deadlock a current-thread runtime, and a connection pool must not outlive the runtime
/// that drives it.
pub fn block_on_engine<T, F, Fut>(
    endpoint: Option<&str>,
    timeout: Duration,
    call: F,
) -> Result<T, EngineError>
where
    T: Send,
    F: FnOnce(Docker) -> Fut + Send,
    Fut: Future<Output = Result<T, BollardError>>,
{
    std::thread::scope(|scope| {
        let worker = scope.spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(EngineError::Runtime)?;
            rt.block_on(async move {
                let run = async move {
                    let docker = connect(endpoint).await?;
                    call(docker).await.map_err(EngineError::Call)
                };
                tokio::time::timeout(timeout, run)
                    .await
                    .map_err(|_| EngineError::Timeout(timeout))?
            })
        });
        worker.join().unwrap_or_else(|_| {
            Err(EngineError::Runtime(std::io::Error::other(
                "the docker engine call panicked",
            )))
        })
    })
}
