//! Client agents' calls arriving on the rpc port. Any server answers: a node's allocations are
//! read from this server's own state (a blocking query may be a little stale, as in Nomad, and
//! spreads the clients' watches over every server); registrations, heartbeats and task states
//! change the cluster state or the leader's heartbeat timers, so a follower passes them on to the
//! leader.

use super::local_rpc::to_rpc;
use super::node_identity::{authenticate, check_ownership, Identity};
use super::{Server, ServerError};
use crate::rpc::{ClientCall, ClientReply, NodeAuth, RpcError, RpcRequest, RpcResponse};
use std::time::Duration;

/// A call may pass through this many servers; more means leadership is moving under it.
const MAX_HOPS: u8 = 2;
/// How long the leader has for a passed-on call (a raft commit, bounded by its own timeout).
const FORWARD_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest blocking query a client may ask for.
const MAX_WAIT: Duration = Duration::from_secs(300);

impl Server {
    pub(super) async fn serve_client(
        &self,
        call: ClientCall,
        hops: u8,
        auth: Option<NodeAuth>,
    ) -> Result<ClientReply, RpcError> {
        // Read in place, not from a snapshot: a snapshot alive while raft applies makes the
        // write copy every map node it touches.
        let identity = self.state.read(|t| authenticate(t, &call, auth.as_ref()));
        match identity {
            Identity::Proven => {}
            Identity::NotHereYet if !self.is_leader() => {
                return self.forward_client(call, hops, auth).await
            }
            Identity::NotHereYet => {
                let node = auth.map(|a| a.node_id).unwrap_or_default();
                return Err(RpcError::UnknownNode(node));
            }
            Identity::Denied(why) => {
                tracing::warn!(node = ?auth, %why, "client call refused");
                return Err(RpcError::Forbidden(why));
            }
        }
        if let ClientCall::NodeAllocations {
            node_id,
            min_index,
            wait_ms,
            known,
        } = &call
        {
            let wait = Duration::from_millis(*wait_ms).min(MAX_WAIT);
            let got = self
                .node_allocations(node_id, *min_index, wait, known)
                .await
                .map_err(to_rpc)?;
            let mut allocs = got.changed;
            let jobs = api::alloc_jobs::detach_jobs(allocs.iter_mut());
            return Ok(ClientReply::Allocations {
                allocs,
                index: got.index,
                unchanged: got.unchanged,
                total: got.total,
                jobs,
            });
        }
        if let ClientCall::Catalog { min_index, wait_ms } = &call {
            let wait = Duration::from_millis(*wait_ms).min(MAX_WAIT);
            let catalog = self.catalog(*min_index, wait).await;
            return Ok(ClientReply::Catalog(Box::new(catalog)));
        }
        if let ClientCall::ResolveToken { secret } = &call {
            // A token made a moment ago may not have reached this follower: the leader knows.
            return match self.resolve_token(secret) {
                Err(ServerError::Forbidden(_)) if !self.is_leader() => {
                    self.forward_client(call, hops, auth).await
                }
                other => other
                    .map(|t| ClientReply::Token(Box::new(t)))
                    .map_err(to_rpc),
            };
        }
        if !self.is_leader() {
            return self.forward_client(call, hops, auth).await;
        }
        if let Err(e) = self
            .state
            .read(|t| check_ownership(t, &call, auth.as_ref()))
        {
            tracing::warn!(node = ?auth, error = %e, "client call refused");
            return Err(to_rpc(e));
        }
        match call {
            ClientCall::NodeRegister(node) => self
                .node_register(*node)
                .await
                .map(|ttl| ClientReply::Ttl(millis(ttl))),
            ClientCall::NodeHeartbeat { node_id } => self
                .node_heartbeat(&node_id)
                .await
                .map(|ttl| ClientReply::Ttl(millis(ttl))),
            ClientCall::UpdateAllocs(updates) => {
                self.update_allocs(updates).await.map(ClientReply::Index)
            }
            ClientCall::ServiceUpdate { upsert, delete } => self
                .service_update(upsert, delete)
                .await
                .map(ClientReply::Index),
            ClientCall::ServiceSync {
                node_id,
                registrations,
            } => self
                .service_sync(&node_id, registrations)
                .await
                .map(ClientReply::Index),
            ClientCall::TaskVariables {
                alloc_id,
                task,
                min_index,
                wait_ms,
            } => {
                let wait = Duration::from_millis(wait_ms).min(MAX_WAIT);
                let node = auth.as_ref().map(|a| a.node_id.as_str());
                self.task_variables(
                    &alloc_id,
                    &task,
                    Some(node.unwrap_or_default()),
                    min_index,
                    wait,
                )
                .await
                .map(ClientReply::Variables)
            }
            ClientCall::PreviousAllocation { alloc_id } => {
                let node = auth.as_ref().map(|a| a.node_id.as_str());
                self.previous_allocation(&alloc_id, Some(node.unwrap_or_default()))
                    .map(ClientReply::PreviousAllocation)
            }
            ClientCall::NodeAllocations { .. }
            | ClientCall::Catalog { .. }
            | ClientCall::ResolveToken { .. } => {
                unreachable!("answered above")
            }
        }
        .map_err(to_rpc)
    }

    async fn forward_client(
        &self,
        call: ClientCall,
        hops: u8,
        auth: Option<NodeAuth>,
    ) -> Result<ClientReply, RpcError> {
        if hops >= MAX_HOPS {
            return Err(RpcError::NoLeader);
        }
        let leader = self
            .wait_for_leader(Duration::from_secs(5))
            .await
            .ok_or(RpcError::NoLeader)?;
        let req = RpcRequest::Client {
            call,
            hops: hops + 1,
            auth,
        };
        match self.rpc.call(&leader.rpc_addr, req, FORWARD_TIMEOUT).await {
            Ok(RpcResponse::Client(reply)) => reply,
            Ok(RpcResponse::Error(e)) => Err(RpcError::Server(e)),
            Ok(other) => Err(RpcError::Server(format!(
                "unexpected reply from the leader: {other:?}"
            ))),
            Err(e) => Err(RpcError::Transport(format!(
                "passing the call on to the leader {} at {}: {e}",
                leader.name, leader.rpc_addr
            ))),
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
