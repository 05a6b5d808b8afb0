//! The accepting side: one reader loop per connection, one task per request, one writer.

use super::{response_size_hint, RpcHandler};
use crate::rpc::message::{RpcRequest, RpcResponse};
use crate::rpc::wire::{self, FrameKind, FrameReader, Protocol, WireError};
use bytes::Bytes;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::{self, JoinSet};

/// A dialer that sends nothing at all is not one of ours; don't keep its socket forever.
const PROTOCOL_BYTE_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after a failed accept (out of file descriptors ...) so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Accepts connections until `shutdown` turns true (or its sender is dropped); each request is
/// handled in its own task so a slow one (a blocking query, a snapshot) never holds up the others
/// on the same connection. On shutdown the open connections are closed, in-flight requests
/// abandoned.
pub async fn serve(
    listener: TcpListener,
    handler: Arc<dyn RpcHandler>,
    mut shutdown: watch::Receiver<bool>,
) {
    // A dropped sender also ends the wait: nobody could stop us any more.
    let stop = async move {
        let _ = shutdown.wait_for(|stop| *stop).await;
    };
    tokio::pin!(stop);
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    connections.spawn(serve_connection(stream, peer, handler.clone()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "rpc accept failed");
                    tokio::select! {
                        _ = &mut stop => break,
                        _ = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                    }
                }
            },
            Some(ended) = connections.join_next(), if !connections.is_empty() => {
                if let Err(e) = ended {
                    tracing::error!(error = %e, "rpc connection task failed");
                }
            }
        }
    }
    drop(listener);
    // Dropping a connection task drops its socket and the JoinSet of its requests.
    connections.shutdown().await;
}

async fn serve_connection(mut stream: TcpStream, peer: SocketAddr, handler: Arc<dyn RpcHandler>) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(%peer, error = %e, "rpc: cannot set TCP_NODELAY");
    }
    let first = match tokio::time::timeout(PROTOCOL_BYTE_TIMEOUT, stream.read_u8()).await {
        Ok(Ok(byte)) => byte,
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "rpc connection closed before its protocol byte");
            return;
        }
        Err(_) => {
            tracing::warn!(%peer, "rpc connection sent no protocol byte, closing");
            return;
        }
    };
    match Protocol::from_byte(first) {
        Some(Protocol::Rpc) => {}
        Some(Protocol::Tls) => {
            // TLS: wrap `stream` with a rustls acceptor here and run `serve_frames` over
            // `tokio::io::split` of the TLS stream.
            tracing::warn!(%peer, "rpc connection asked for TLS, which is not configured; closing");
            return;
        }
        None => {
            tracing::warn!(%peer, byte = first, "unknown rpc protocol byte, closing");
            return;
        }
    }
    let (reader, writer) = stream.into_split();
    if let Err(e) = serve_frames(reader, writer, handler).await {
        tracing::warn!(%peer, error = %e, "rpc connection closed");
    }
}

/// Serves requests until the peer closes, the stream breaks or the peer breaks the protocol.
async fn serve_frames<R, W>(
    reader: R,
    writer: W,
    handler: Arc<dyn RpcHandler>,
) -> Result<(), WireError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (responses, queued) = mpsc::unbounded_channel();
    tokio::select! {
        read = read_requests(FrameReader::new(reader), responses, handler) => read,
        written = wire::write_frames(writer, queued) => Ok(written?),
    }
}

async fn read_requests<R: AsyncRead + Unpin>(
    mut frames: FrameReader<R>,
    responses: mpsc::UnboundedSender<Vec<u8>>,
    handler: Arc<dyn RpcHandler>,
) -> Result<(), WireError> {
    // Dropped with this future: closing the connection abandons its requests.
    let mut running = JoinSet::new();
    // A panicking task reports only its task id; this finds the request it owed an answer.
    let mut request_of: HashMap<task::Id, u64> = HashMap::new();
    loop {
        tokio::select! {
            frame = frames.next_frame() => {
                let Some(frame) = frame? else { return Ok(()) };
                if frame.kind != FrameKind::Request {
                    return Err(WireError::UnexpectedKind(frame.kind));
                }
                let task = running.spawn(handle_request(
                    handler.clone(),
                    frame.id,
                    frame.body,
                    responses.clone(),
                ));
                request_of.insert(task.id(), frame.id);
            }
            Some(ended) = running.join_next_with_id() => match ended {
                Ok((task, ())) => {
                    request_of.remove(&task);
                }
                Err(failed) => {
                    if let Some(id) = request_of.remove(&failed.id()) {
                        tracing::error!(request = id, error = %failed, "rpc handler failed");
                        let answer = RpcResponse::Error(format!("handler failed: {failed}"));
                        send_response(&responses, id, &answer);
                    }
                }
            }
        }
    }
}

async fn handle_request(
    handler: Arc<dyn RpcHandler>,
    id: u64,
    body: Bytes,
    responses: mpsc::UnboundedSender<Vec<u8>>,
) {
    // Decoded here rather than in the reader loop so a large request doesn't stall the rest.
    let answer = match wire::decode::<RpcRequest>(&body) {
        Ok(request) => {
            drop(body);
            handler.handle(request).await
        }
        // A well-framed body we cannot read is likely a newer peer's request: refuse it, keep
        // the connection.
        Err(e) => RpcResponse::Error(format!("undecodable request: {e}")),
    };
    send_response(&responses, id, &answer);
}

fn send_response(responses: &mpsc::UnboundedSender<Vec<u8>>, id: u64, answer: &RpcResponse) {
    let frame =
        match wire::encode_frame(id, FrameKind::Response, answer, response_size_hint(answer)) {
            Ok(frame) => frame,
            Err(e) => {
                tracing::error!(request = id, error = %e, "cannot encode rpc response");
                let refusal = RpcResponse::Error(format!("response not sendable: {e}"));
                match wire::encode_frame(id, FrameKind::Response, &refusal, 0) {
                    Ok(frame) => frame,
                    Err(_) => return,
                }
            }
        };
    // Fails only when the connection is gone, and then nobody is left to tell.
    let _ = responses.send(frame);
}
