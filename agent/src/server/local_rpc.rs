//! The in-process transport of `--dev`: a client in the same process calls the server directly
//! through the same [`ServerRpc`] trait a remote client uses.

use super::{Server, ServerError};
use crate::rpc::{Catalog, KnownAllocs, NodeAllocs, ResolvedToken, RpcError, RpcFuture, ServerRpc};
use api::{AllocClientUpdate, Node, ServiceRegistration};
use std::sync::Arc;
use std::time::Duration;

pub struct LocalRpc(pub Arc<Server>);

pub(super) fn to_rpc(e: ServerError) -> RpcError {
    match e {
        ServerError::UnknownNode(id) => RpcError::UnknownNode(id),
        ServerError::NotFound(m) | ServerError::Invalid(m) | ServerError::Conflict(m) => {
            RpcError::Invalid(m)
        }
        ServerError::Raft(e) => RpcError::Server(e.to_string()),
        ServerError::Unavailable(m) => RpcError::Server(m),
        ServerError::Forbidden(m) => RpcError::Forbidden(m),
    }
}

impl ServerRpc for LocalRpc {
    fn servers(&self) -> Vec<String> {
        vec![self.0.cfg.info.rpc_addr.clone()]
    }

    fn node_register(&self, node: Node) -> RpcFuture<'_, Duration> {
        Box::pin(async move { self.0.node_register(node).await.map_err(to_rpc) })
    }

    fn node_heartbeat(&self, node_id: &str) -> RpcFuture<'_, Duration> {
        let node_id = node_id.to_string();
        Box::pin(async move { self.0.node_heartbeat(&node_id).await.map_err(to_rpc) })
    }

    fn node_allocations(
        &self,
        node_id: &str,
        min_index: u64,
        wait: Duration,
        known: KnownAllocs,
    ) -> RpcFuture<'_, NodeAllocs> {
        let node_id = node_id.to_string();
        Box::pin(async move {
            self.0
                .node_allocations(&node_id, min_index, wait, &known)
                .await
                .map_err(to_rpc)
        })
    }

    fn update_allocs(&self, updates: Vec<AllocClientUpdate>) -> RpcFuture<'_, u64> {
        Box::pin(async move { self.0.update_allocs(updates).await.map_err(to_rpc) })
    }

    fn service_update(
        &self,
        upsert: Vec<ServiceRegistration>,
        delete: Vec<String>,
    ) -> RpcFuture<'_, u64> {
        Box::pin(async move { self.0.service_update(upsert, delete).await.map_err(to_rpc) })
    }

    fn service_sync(
        &self,
        node_id: &str,
        registrations: Vec<ServiceRegistration>,
    ) -> RpcFuture<'_, u64> {
        let node_id = node_id.to_string();
        Box::pin(async move {
            self.0
                .service_sync(&node_id, registrations)
                .await
                .map_err(to_rpc)
        })
    }

    fn catalog(&self, min_index: u64, wait: Duration) -> RpcFuture<'_, Catalog> {
        Box::pin(async move { Ok(self.0.catalog(min_index, wait).await) })
    }

    fn task_variables(
        &self,
        alloc_id: &str,
        task: &str,
        min_index: u64,
        wait: Duration,
    ) -> RpcFuture<'_, crate::rpc::TaskVariables> {
        let (alloc_id, task) = (alloc_id.to_string(), task.to_string());
        Box::pin(async move {
            self.0
                .task_variables(&alloc_id, &task, None, min_index, wait)
                .await
                .map_err(to_rpc)
        })
    }

    fn previous_allocation(
        &self,
        alloc_id: &str,
    ) -> RpcFuture<'_, Option<crate::rpc::PreviousAllocation>> {
        let alloc_id = alloc_id.to_string();
        Box::pin(async move { self.0.previous_allocation(&alloc_id, None).map_err(to_rpc) })
    }

    fn resolve_token(&self, secret: &str) -> RpcFuture<'_, ResolvedToken> {
        let secret = secret.to_string();
        Box::pin(async move { self.0.resolve_token(&secret).map_err(to_rpc) })
    }
}
