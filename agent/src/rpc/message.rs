//! What travels on the rpc port. One request enum and one response enum, MessagePack-encoded by
//! the transport. Raft's own messages ride as opaque bytes that only `server::raft` encodes and
//! decodes, so nothing here names the consensus library.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Which raft protocol message a [`RpcRequest::Raft`] payload holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RaftKind {
    AppendEntries,
    Vote,
    PreVote,
    /// A whole snapshot in one message, as earlier versions send it (still accepted).
    FullSnapshot,
    TransferLeader,
    /// One piece of a snapshot (see `server::raft::network`).
    SnapshotChunk,
}

/// Who a server is, as its peers and `server members` see it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerInfo {
    /// The raft node id, stable across restarts (kept in the data dir).
    pub id: u64,
    pub name: String,
    /// "host:port" of the rpc listener, as peers reach it.
    pub rpc_addr: String,
    /// "host:port" of the public HTTP API.
    pub http_addr: String,
    pub datacenter: String,
    pub region: String,
    /// The agent's version, for `server members`' Build column.
    pub build: String,
    /// The `bootstrap_expect` this server was started with.
    pub bootstrap_expect: u32,
}

/// The answer to [`RpcRequest::Hello`]: what a server knows of the cluster.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HelloReply {
    pub server: ServerInfo,
    /// Whether this server has raft state (a vote or log), i.e. belongs to a cluster already.
    pub has_state: bool,
    /// The leader it follows, if it knows one.
    pub leader: Option<ServerInfo>,
    /// Every server it knows: raft members, plus servers that said hello while forming.
    pub known: Vec<ServerInfo>,
}

/// A node's id with the secret it registered with.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NodeAuth {
    pub node_id: String,
    pub secret: String,
}

impl std::fmt::Debug for NodeAuth {
    /// Logs show which node, never its secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeAuth")
            .field("node_id", &self.node_id)
            .finish_non_exhaustive()
    }
}

/// What a client agent asks of the servers (the calls of [`super::ServerRpc`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ClientCall {
    NodeRegister(Box<api::Node>),
    NodeHeartbeat {
        node_id: String,
    },
    /// A blocking query: answered once the node's allocations change past `min_index`, or after
    /// `wait_ms`.
    NodeAllocations {
        node_id: String,
        min_index: u64,
        wait_ms: u64,
        /// What the client has already (see alloc_sync.rs).
        #[serde(default)]
        known: super::KnownAllocs,
    },
    UpdateAllocs(Vec<api::AllocClientUpdate>),
    /// Service registrations to write and ids to delete.
    ServiceUpdate {
        upsert: Vec<api::ServiceRegistration>,
        delete: Vec<String>,
    },
    /// Every registration the node has now: the servers add, rewrite and drop to match.
    ServiceSync {
        node_id: String,
        registrations: Vec<api::ServiceRegistration>,
    },
    /// A blocking query on the whole catalog (for an agent's template renderer).
    Catalog {
        min_index: u64,
        wait_ms: u64,
    },
    /// What an API token may do, for a client agent's own endpoints. An empty secret asks for
    /// the anonymous policy. Knowing the secret is the proof, as on the HTTP API.
    ResolveToken {
        secret: String,
    },
    /// A blocking query for the variables a task's templates may read (its workload identity's
    /// `nomad/jobs/<job>[/<group>[/<task>]]`), once they change past `min_index`.
    TaskVariables {
        alloc_id: String,
        task: String,
        min_index: u64,
        wait_ms: u64,
    },
    /// Where the allocation this one replaces ran, for `ephemeral_disk { migrate }`.
    PreviousAllocation {
        alloc_id: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ClientReply {
    /// The heartbeat TTL, in milliseconds.
    Ttl(u64),
    Allocations {
        /// New or changed allocations, in full but for their job (see `jobs`).
        allocs: Vec<api::Allocation>,
        index: u64,
        /// Ids of the allocations still at the index the client listed.
        #[serde(default)]
        unchanged: Vec<String>,
        /// How many allocations the node has in all.
        #[serde(default)]
        total: usize,
        /// Each job version the allocations run, once (`api::alloc_jobs`).
        #[serde(default)]
        jobs: Vec<std::sync::Arc<api::Job>>,
    },
    Index(u64),
    Catalog(Box<Catalog>),
    Token(Box<ResolvedToken>),
    Variables(TaskVariables),
    PreviousAllocation(Option<PreviousAllocation>),
}

/// The allocation a replacement takes its data from, on another node: where to ask for it,
/// whether it has ended (its data is complete only then), and the token that node accepts
/// for it (see `node_secret`).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct PreviousAllocation {
    pub alloc_id: String,
    pub node_id: String,
    pub node_name: String,
    /// The node's HTTP API, host:port.
    pub http_addr: String,
    /// The allocation's client status is terminal (complete, failed or lost).
    pub terminal: bool,
    pub migrate_token: String,
}

impl std::fmt::Debug for PreviousAllocation {
    // The token opens the allocation's data: never in a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreviousAllocation")
            .field("alloc_id", &self.alloc_id)
            .field("node_name", &self.node_name)
            .field("http_addr", &self.http_addr)
            .field("terminal", &self.terminal)
            .finish_non_exhaustive()
    }
}

/// The variables a task may read, with their items, and the index to wait past next.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskVariables {
    pub vars: Vec<api::variable::Variable>,
    pub index: u64,
}

impl std::fmt::Debug for TaskVariables {
    /// Paths only: items are secrets, and replies end up in error messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskVariables")
            .field(
                "paths",
                &self.vars.iter().map(|v| &v.path).collect::<Vec<_>>(),
            )
            .field("index", &self.index)
            .finish()
    }
}

/// An API token as a server resolved it: who it is and the parsed policies it holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ResolvedToken {
    /// Empty for the anonymous token.
    pub accessor_id: String,
    pub management: bool,
    pub policies: Vec<api::acl::Policy>,
}

impl ResolvedToken {
    pub fn acl(&self) -> api::acl::Acl {
        if self.management {
            api::acl::Acl::management()
        } else {
            api::acl::Acl::from_policies(&self.policies)
        }
    }
}

/// The service catalog and the nodes, as a template renderer sees them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    pub services: Vec<api::ServiceRegistration>,
    pub nodes: Vec<CatalogNode>,
    /// Pass back as the next query's `min_index`.
    pub index: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CatalogNode {
    pub id: String,
    pub name: String,
    pub address: String,
    pub datacenter: String,
    pub node_class: String,
    pub status: String,
    pub meta: BTreeMap<String, String>,
}

/// A public API request relayed to the leader over the rpc port.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HttpRequest {
    pub method: String,
    /// Path and query, e.g. "/v1/jobs?prefix=web".
    pub uri: String,
    pub headers: BTreeMap<String, String>,
    #[serde(with = "serde_bytes")]
    pub body: Vec<u8>,
    /// How many servers relayed it so far; bounds forwarding loops during elections.
    pub hops: u8,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    #[serde(with = "serde_bytes")]
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum RpcRequest {
    /// Liveness probe.
    Ping,
    Raft {
        kind: RaftKind,
        #[serde(with = "serde_bytes")]
        payload: Vec<u8>,
    },
    /// Discovery while forming or joining a cluster.
    Hello(ServerInfo),
    /// Asks the leader to add this server to the raft configuration as a voter.
    Join(ServerInfo),
    Http(HttpRequest),
    /// A client agent's call; `hops` counts servers that passed it on towards the leader.
    /// `auth` proves which node is calling (all calls but a registration and a catalog read
    /// need it).
    Client {
        call: ClientCall,
        hops: u8,
        #[serde(default)]
        auth: Option<NodeAuth>,
    },
    /// A keyring key this server lacks (servers only: a client certificate is refused it).
    KeyringGet {
        key_id: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum RpcResponse {
    Pong,
    /// The encoded raft reply, or why the raft node refused.
    Raft(#[serde(with = "raft_reply")] Result<Vec<u8>, String>),
    Hello(Box<HelloReply>),
    Join(Result<(), String>),
    Http(HttpResponse),
    Client(Result<ClientReply, super::RpcError>),
    /// A keyring key's bytes, or why it cannot be given.
    Key(#[serde(with = "raft_reply")] Result<Vec<u8>, String>),
    /// The request could not be handled at all (unknown to this server, shutting down ...).
    Error(String),
}

/// Raft replies and keys: bytes as one msgpack binary, not an array of small integers.
mod raft_reply {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use serde_bytes::{ByteBuf, Bytes};

    pub fn serialize<S: Serializer>(r: &Result<Vec<u8>, String>, s: S) -> Result<S::Ok, S::Error> {
        r.as_ref()
            .map(|b| Bytes::new(b))
            .map_err(String::as_str)
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Result<Vec<u8>, String>, D::Error> {
        Ok(Result::<ByteBuf, String>::deserialize(d)?.map(ByteBuf::into_vec))
    }
}
