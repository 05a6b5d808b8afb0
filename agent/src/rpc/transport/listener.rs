//! The accepting side: one reader loop per connection, one task per request, one writer.

use super::{lock, response_size_hint, RpcHandler};
use crate::rpc::message::{RpcRequest, RpcResponse};
use crate::rpc::wire::{self, FrameKind, FrameReader, Protocol, WireError};
use crate::tls::{PeerRole, Tls};
use bytes::Bytes;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::{self, JoinSet};

/// A dialer that sends nothing at all is not one of ours; don't keep its socket forever.
const PROTOCOL_BYTE_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after a failed accept (out of file descriptors ...) so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// A TLS handshake that has not finished by then is a stalled or hostile peer.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest frame a client agent may send: its calls carry a node, task states or service
/// registrations, never a snapshot. Only servers (and plaintext peers, which cannot be told
/// apart) may send frames up to [`wire::MAX_FRAME`].
pub const CLIENT_MAX_FRAME: usize = 16 << 20;

/// Who may connect to the rpc port, and how often from one address.
#[derive(Clone, Default)]
pub struct ListenOptions {
    /// Mutual TLS required when set and its `rpc` is on.
    pub tls: Option<Arc<Tls>>,
    /// Open connections allowed from one IP address; 0 for no limit.
    pub max_conns_per_client: u32,
}

/// Open connections per peer address, for `rpc_max_conns_per_client`.
#[derive(Default)]
pub struct ConnCounts(Mutex<HashMap<IpAddr, u32>>);

impl ConnCounts {
    /// Counts one more connection from `ip`, or refuses it past `max` (0: no limit).
    pub fn admit(self: &Arc<Self>, ip: IpAddr, max: u32) -> Option<ConnSlot> {
        let mut counts = lock(&self.0);
        let open = counts.entry(ip).or_default();
        if max > 0 && *open >= max {
            return None;
        }
        *open += 1;
        Some(ConnSlot {
            counts: self.clone(),
            ip,
        })
    }
}

/// One admitted connection; dropping it gives the slot back.
pub struct ConnSlot {
    counts: Arc<ConnCounts>,
    ip: IpAddr,
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        let mut counts = lock(&self.counts.0);
        if let Some(open) = counts.get_mut(&self.ip) {
            *open = open.saturating_sub(1);
            if *open == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

/// Accepts connections until `shutdown` turns true (or its sender is dropped); each request is
/// handled in its own task so a slow one (a blocking query, a snapshot) never holds up the others
/// on the same connection. On shutdown the open connections are closed, in-flight requests
/// abandoned.
pub async fn serve(
    listener: TcpListener,
    handler: Arc<dyn RpcHandler>,
    shutdown: watch::Receiver<bool>,
) {
    serve_with(listener, handler, shutdown, ListenOptions::default()).await
}

/// [`serve`] with TLS and per-client connection limits.
pub async fn serve_with(
    listener: TcpListener,
    handler: Arc<dyn RpcHandler>,
    mut shutdown: watch::Receiver<bool>,
    options: ListenOptions,
) {
    let counts = Arc::new(ConnCounts::default());
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
                    let Some(slot) = counts.admit(peer.ip(), options.max_conns_per_client) else {
                        tracing::warn!(
                            %peer,
                            limit = options.max_conns_per_client,
                            "rpc connection refused: too many open from this address \
                             (limits.rpc_max_conns_per_client)"
                        );
                        continue;
                    };
                    connections.spawn(serve_connection(
                        stream,
                        peer,
                        handler.clone(),
                        options.tls.clone().filter(|t| t.rpc()),
                        slot,
                    ));
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

async fn serve_connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    handler: Arc<dyn RpcHandler>,
    tls: Option<Arc<Tls>>,
    _slot: ConnSlot,
) {
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
    let outcome = match (Protocol::from_byte(first), tls) {
        (Some(Protocol::Rpc), None) => {
            let (reader, writer) = stream.into_split();
            serve_frames(reader, writer, handler, PeerRole::Trusted).await
        }
        (Some(Protocol::Tls), Some(tls)) => {
            let accepted =
                tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.rpc_acceptor().accept(stream)).await;
            let stream = match accepted {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => {
                    tracing::warn!(%peer, error = %e, "rpc TLS handshake failed, closing");
                    return;
                }
                Err(_) => {
                    tracing::warn!(%peer, "rpc TLS handshake timed out, closing");
                    return;
                }
            };
            let role = tls.peer_role(
                stream
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|certs| certs.first()),
            );
            tracing::debug!(%peer, ?role, "rpc TLS connection");
            let (reader, writer) = tokio::io::split(stream);
            serve_frames(reader, writer, handler, role).await
        }
        (Some(Protocol::Rpc), Some(_)) => {
            tracing::warn!(
                %peer,
                "plaintext rpc connection refused: this agent requires mutual TLS (tls.rpc)"
            );
            return;
        }
        (Some(Protocol::Tls), None) => {
            tracing::warn!(%peer, "rpc connection asked for TLS, which is not configured; closing");
            return;
        }
        (None, _) => {
            tracing::warn!(%peer, byte = first, "unknown rpc protocol byte, closing");
            return;
        }
    };
    match outcome {
        Ok(()) => {}
        // A TLS peer that died (or was killed) ends without close_notify: an ordinary end.
        Err(WireError::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            tracing::debug!(%peer, error = %e, "rpc connection ended")
        }
        Err(e) => tracing::warn!(%peer, error = %e, "rpc connection closed"),
    }
}

/// A request the peer's certificate does not allow, and the certificate a server needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("permission denied: {who} cannot send {what} (servers need server.<region>.nomad)")]
struct PermissionDenied {
    /// The kind of certificate the peer showed.
    who: &'static str,
    /// The kind of request it sent.
    what: &'static str,
}

/// Whether a peer in `role` may make `req`; the refusal says why.
fn permits(role: PeerRole, req: &RpcRequest) -> Result<(), PermissionDenied> {
    let allowed = matches!(
        (role, req),
        (PeerRole::Trusted | PeerRole::Server, _)
            | (_, RpcRequest::Ping)
            | (PeerRole::Client, RpcRequest::Client { .. })
    );
    if allowed {
        return Ok(());
    }
    let what = match req {
        RpcRequest::Raft { .. } => "raft traffic",
        RpcRequest::Join(_) => "a join",
        RpcRequest::Hello(_) => "server discovery",
        RpcRequest::Http(_) => "a relayed API request",
        RpcRequest::KeyringGet { .. } => "a keyring key",
        RpcRequest::Client { .. } => "a client call",
        RpcRequest::Ping => "a ping",
    };
    let who = match role {
        PeerRole::Client => "a client certificate",
        _ => "a certificate that is neither a server's nor a client's",
    };
    Err(PermissionDenied { who, what })
}

/// Serves requests until the peer closes, the stream breaks or the peer breaks the protocol.
async fn serve_frames<R, W>(
    reader: R,
    writer: W,
    handler: Arc<dyn RpcHandler>,
    role: PeerRole,
) -> Result<(), WireError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let limit = match role {
        PeerRole::Trusted | PeerRole::Server => wire::MAX_FRAME,
        PeerRole::Client | PeerRole::Other => CLIENT_MAX_FRAME,
    };
    let frames = FrameReader::with_limit(reader, limit);
    let (responses, queued) = mpsc::unbounded_channel();
    tokio::select! {
        read = read_requests(frames, responses, handler, role) => read,
        written = wire::write_frames(writer, queued) => Ok(written?),
    }
}

async fn read_requests<R: AsyncRead + Unpin>(
    mut frames: FrameReader<R>,
    responses: mpsc::UnboundedSender<Vec<u8>>,
    handler: Arc<dyn RpcHandler>,
    role: PeerRole,
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
                    role,
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
    role: PeerRole,
) {
    // Decoded here rather than in the reader loop so a large request doesn't stall the rest.
    let answer = match wire::decode::<RpcRequest>(&body) {
        Ok(request) => {
            drop(body);
            match permits(role, &request) {
                Ok(()) => handler.handle(request).await,
                Err(refusal) => {
                    tracing::warn!(request = id, %refusal, "rpc request refused");
                    RpcResponse::Error(refusal.to_string())
                }
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpc::message::{HttpRequest, RaftKind, ServerInfo};

    #[test]
    fn a_client_certificate_gets_client_calls_and_pings_only() {
        let raft = RpcRequest::Raft {
            kind: RaftKind::AppendEntries,
            payload: Vec::new(),
        };
        let join = RpcRequest::Join(ServerInfo::default());
        let hello = RpcRequest::Hello(ServerInfo::default());
        let relay = RpcRequest::Http(HttpRequest::default());
        let key = RpcRequest::KeyringGet { key_id: "k".into() };
        for req in [&raft, &join, &hello, &relay, &key] {
            let refusal = permits(PeerRole::Client, req).unwrap_err().to_string();
            assert!(refusal.starts_with("permission denied"), "{refusal}");
            assert!(permits(PeerRole::Other, req).is_err());
            assert!(permits(PeerRole::Server, req).is_ok());
            assert!(permits(PeerRole::Trusted, req).is_ok());
        }
        assert!(permits(PeerRole::Client, &RpcRequest::Ping).is_ok());
        assert!(permits(PeerRole::Other, &RpcRequest::Ping).is_ok());
    }

    #[test]
    fn connections_past_the_limit_are_refused_until_one_closes() {
        let counts = Arc::new(ConnCounts::default());
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        let first = counts.admit(ip, 2).unwrap();
        let _second = counts.admit(ip, 2).unwrap();
        assert!(counts.admit(ip, 2).is_none());
        assert!(counts.admit(other, 2).is_some(), "the limit is per address");
        drop(first);
        assert!(counts.admit(ip, 2).is_some());
        assert!(counts.admit(ip, 0).is_some(), "0 means no limit");
    }
}
