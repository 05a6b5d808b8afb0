//! What a server answers on its rpc port: raft traffic from peers, discovery while forming a
//! cluster, join requests, and public API requests relayed by other servers.

use super::Server;
use crate::rpc::{HttpRequest, HttpResponse, RpcError, RpcHandler, RpcRequest, RpcResponse};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// Runs a public API request that another server relayed here (the HTTP router implements it).
pub trait HttpRelay: Send + Sync + 'static {
    fn handle(&self, req: HttpRequest) -> Pin<Box<dyn Future<Output = HttpResponse> + Send + '_>>;
}

pub(super) struct ServerRpcHandler {
    server: Arc<Server>,
}

impl ServerRpcHandler {
    pub(super) fn new(server: Arc<Server>) -> Self {
        ServerRpcHandler { server }
    }
}

impl RpcHandler for ServerRpcHandler {
    fn handle(&self, req: RpcRequest) -> Pin<Box<dyn Future<Output = RpcResponse> + Send + '_>> {
        Box::pin(async move {
            let s = &self.server;
            match req {
                RpcRequest::Ping => RpcResponse::Pong,
                RpcRequest::Raft { kind, payload } => RpcResponse::Raft(
                    s.raft
                        .serve_rpc(kind, &payload)
                        .await
                        .map_err(|e| e.to_string()),
                ),
                RpcRequest::Hello(info) => {
                    s.remember(info);
                    RpcResponse::Hello(Box::new(s.hello_reply()))
                }
                RpcRequest::Join(info) => {
                    RpcResponse::Join(s.handle_join(info).await.map_err(|e| e.to_string()))
                }
                RpcRequest::Client { call, hops, auth } => {
                    RpcResponse::Client(s.serve_client(call, hops, auth).await)
                }
                RpcRequest::KeyringGet { key_id } => RpcResponse::Key(
                    s.keyring
                        .get(&key_id)
                        .map(|k| k.to_vec())
                        .map_err(|e| e.to_string()),
                ),
                RpcRequest::Http(req) => match s.http_relay.get() {
                    Some(relay) => RpcResponse::Http(relay.handle(req).await),
                    None => {
                        RpcResponse::Error("this server does not serve the HTTP API yet".into())
                    }
                },
            }
        })
    }
}

/// How long a relay keeps trying while the leader it knew cannot be reached (it may have died and
/// an election be under way).
const RELAY_RETRY_FOR: Duration = Duration::from_secs(5);
const RELAY_RETRY_PAUSE: Duration = Duration::from_millis(100);

impl Server {
    /// Sends a public API request to the leader over the rpc port and returns its answer.
    /// `timeout` covers the leader's whole handling (a blocking query included). When the
    /// leader refuses the connection (it died; nothing was sent) the request waits for the next
    /// leader for a bounded time; a request that may have reached the leader is never resent.
    pub async fn relay_to_leader(
        &self,
        req: HttpRequest,
        timeout: Duration,
    ) -> Result<HttpResponse, super::ServerError> {
        let deadline = tokio::time::Instant::now() + RELAY_RETRY_FOR;
        loop {
            let leader = self
                .leader()
                .ok_or(super::ServerError::Raft(super::raft::RaftError::NoLeader))?;
            let reply = self
                .rpc
                .call(&leader.rpc_addr, RpcRequest::Http(req.clone()), timeout)
                .await;
            return match reply {
                Ok(RpcResponse::Http(resp)) => Ok(resp),
                Ok(RpcResponse::Error(e)) => Err(super::ServerError::Unavailable(format!(
                    "the leader ({}) could not handle the request: {e}",
                    leader.name
                ))),
                Ok(other) => Err(super::ServerError::Unavailable(format!(
                    "unexpected reply from the leader: {other:?}"
                ))),
                Err(RpcError::Unreachable(_)) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(RELAY_RETRY_PAUSE).await;
                    continue;
                }
                Err(e) => Err(super::ServerError::Unavailable(format!(
                    "forwarding to the leader {} at {}: {e}",
                    leader.name, leader.rpc_addr
                ))),
            };
        }
    }
}
