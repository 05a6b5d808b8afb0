//! `GET /v1/client/allocation/:id/snapshot`: a finished allocation's `alloc/data` and tasks'
//! `local/` as a tar stream, for its replacement on another node (`ephemeral_disk { migrate }`).
//! Only the node that ran it answers, and only to the migrate token the servers made for that
//! allocation from this node's secret: no API token opens it, management included.

use super::{HttpError, HttpState};
use crate::client::MigrationRefused;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::io::{self, Write};
use tokio::sync::mpsc;

const CHUNK: usize = 64 * 1024;

pub async fn snapshot(
    State(st): State<HttpState>,
    Path(alloc_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let client = st.client.clone().ok_or_else(|| {
        HttpError::not_found("this agent runs no allocations: ask the node that ran it")
    })?;
    let token = super::acl_guard::token_of(&headers);
    let dir = client
        .migration_source(&alloc_id, &token)
        .map_err(|e| match e {
            MigrationRefused::BadToken => HttpError {
                status: StatusCode::FORBIDDEN,
                message: format!("Permission denied: {e}"),
            },
            MigrationRefused::Gone => HttpError::not_found(format!("allocation {alloc_id}: {e}")),
        })?;
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(8);
    tokio::task::spawn_blocking(move || {
        let mut out = io::BufWriter::with_capacity(CHUNK, ChannelWriter(tx.clone()));
        let packed = crate::client::alloc_snapshot::pack(&dir, &mut out).and_then(|()| out.flush());
        if let Err(e) = packed {
            tracing::warn!(alloc = %dir.root.display(), error = %e, "packing a snapshot failed");
            // The reader sees the stream break rather than a short archive that looks whole.
            let _ = tx.blocking_send(Err(e));
        }
    });
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
    Ok((
        [("content-type", "application/x-tar")],
        Body::from_stream(stream),
    )
        .into_response())
}

/// The blocking side of the response body.
struct ChannelWriter(mpsc::Sender<io::Result<Bytes>>);

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .blocking_send(Ok(Bytes::copy_from_slice(buf)))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the fetching node hung up"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
