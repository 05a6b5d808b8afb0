//! The internal transport between clients and servers. The client only ever talks to a
//! [`ServerRpc`]; in `--dev` it is the in-process server, later a remote one over the rpc port.

pub mod alloc_sync;
pub mod message;
pub mod node_secret;
pub mod remote;
pub mod transport;
pub mod wire;

pub use alloc_sync::{AllocSync, KnownAllocs};
pub use message::*;
pub use remote::RemoteServers;
pub use transport::{RpcClient, RpcHandler};

use api::{AllocClientUpdate, Allocation, Node, ServiceRegistration};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

pub type RpcFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, RpcError>> + Send + 'a>>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum RpcError {
    #[error("no cluster leader")]
    NoLeader,
    #[error("node {0} is not registered")]
    UnknownNode(String),
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("server error: {0}")]
    Server(String),
    #[error("transport: {0}")]
    Transport(String),
    /// The connection could not be made: nothing was sent, so the call may go elsewhere.
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// The caller may not do this (a wrong node secret, another node's allocation).
    #[error("permission denied: {0}")]
    Forbidden(String),
}

/// A client's allocations as the servers have them: what changed (in full), what did not (ids).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeAllocs {
    /// New to the client, or changed since the index it knows.
    pub changed: Vec<Allocation>,
    /// Still at the index the client listed (only when it listed them).
    pub unchanged: Vec<String>,
    /// How many allocations the node has in all.
    pub total: usize,
    pub index: u64,
}

/// What a client asks of the servers.
pub trait ServerRpc: Send + Sync + 'static {
    /// Registers (or re-registers after a restart) the node with its fingerprint. The node's
    /// `status` is what the client wants ("ready"). Returns the heartbeat TTL.
    fn node_register(&self, node: Node) -> RpcFuture<'_, Duration>;

    /// Resets the node's heartbeat timer. Returns the next TTL.
    fn node_heartbeat(&self, node_id: &str) -> RpcFuture<'_, Duration>;

    /// Blocking query on the node's allocations, once they changed past `min_index` or `wait`
    /// elapsed. `known` says what the client has (see alloc_sync.rs): only the others come back
    /// in full (with their `job`). [`AllocSync`] keeps a client's side.
    fn node_allocations(
        &self,
        node_id: &str,
        min_index: u64,
        wait: Duration,
        known: KnownAllocs,
    ) -> RpcFuture<'_, NodeAllocs>;

    /// Reports client-side status and task states of allocations. Returns the commit index.
    fn update_allocs(&self, updates: Vec<AllocClientUpdate>) -> RpcFuture<'_, u64>;

    /// Writes service registrations and deletes others by id. Returns the commit index.
    fn service_update(
        &self,
        upsert: Vec<ServiceRegistration>,
        delete: Vec<String>,
    ) -> RpcFuture<'_, u64>;

    /// Makes the catalog hold exactly `registrations` for the node (reconciliation).
    fn service_sync(
        &self,
        node_id: &str,
        registrations: Vec<ServiceRegistration>,
    ) -> RpcFuture<'_, u64>;

    /// Blocking query: the whole catalog once it changed past `min_index`, or after `wait`.
    fn catalog(&self, min_index: u64, wait: Duration) -> RpcFuture<'_, Catalog>;
    /// Blocking query: the variables a task of one of this node's allocations may read, once
    /// they change past `min_index`, or after `wait`.
    fn task_variables(
        &self,
        _alloc_id: &str,
        _task: &str,
        _min_index: u64,
        _wait: Duration,
    ) -> RpcFuture<'_, TaskVariables> {
        Box::pin(async { Err(RpcError::Invalid("variables are not served here".into())) })
    }

    /// Where the allocation `alloc_id` (of this node) replaces ran, when that was another node
    /// and the group migrates its data; None when there is nothing to fetch.
    fn previous_allocation(&self, _alloc_id: &str) -> RpcFuture<'_, Option<PreviousAllocation>> {
        Box::pin(async { Ok(None) })
    }

    /// What an API token (its secret; empty for anonymous) may do. Refused with
    /// [`RpcError::Forbidden`] for an unknown token, and when the servers run without ACLs.
    fn resolve_token(&self, secret: &str) -> RpcFuture<'_, ResolvedToken>;

    /// The node this client is, with its secret, before any call: a transport to remote
    /// servers sends it with every call about the node. In-process servers need nothing.
    fn set_node_identity(&self, _node_id: &str, _secret: &str) {}

    /// The rpc addresses of the servers this client talks to (`/v1/agent/servers`).
    fn servers(&self) -> Vec<String>;

    /// Replaces them (`PUT /v1/agent/servers`). In-process servers cannot be replaced.
    fn set_servers(&self, _servers: Vec<String>) -> Result<(), RpcError> {
        Err(RpcError::Invalid(
            "this client runs in the server's process (-dev): its server cannot be changed".into(),
        ))
    }
}
