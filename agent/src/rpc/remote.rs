//! The client agent's way to the servers over the rpc port: [`RemoteServers`] implements
//! [`ServerRpc`] against a list of server addresses. It sticks to one server while it answers and
//! moves on to the next when one cannot be reached, so a client follows the cluster through a
//! server's death; servers pass writes on to their leader themselves.

use super::{
    Catalog, ClientCall, ClientReply, KnownAllocs, NodeAllocs, NodeAuth, PreviousAllocation,
    ResolvedToken, RpcClient, RpcError, RpcFuture, RpcRequest, RpcResponse, ServerRpc,
    TaskVariables,
};
use api::{AllocClientUpdate, Node, ServiceRegistration};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

/// How long a plain call may take (a raft commit on the leader, perhaps passed on once).
const CALL_TIMEOUT: Duration = Duration::from_secs(35);
/// Added to a blocking query's own wait.
const QUERY_SLACK: Duration = Duration::from_secs(10);

pub struct RemoteServers {
    /// Replaced whole by `PUT /v1/agent/servers`; a call works on the list it started with.
    servers: RwLock<Arc<Vec<String>>>,
    rpc: RpcClient,
    /// Index into `servers` of the one in use.
    current: AtomicUsize,
    /// Node id -> secret, learned from the registrations sent through here; every later call
    /// about the node carries it.
    secrets: Mutex<BTreeMap<String, String>>,
}

/// "host" gets the default rpc port.
fn with_port(addr: &str) -> String {
    if addr
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        addr.to_string()
    } else {
        format!("{addr}:4647")
    }
}

impl RemoteServers {
    pub fn new(servers: &[String], rpc: RpcClient) -> Result<Self, RpcError> {
        Ok(RemoteServers {
            servers: RwLock::new(Arc::new(Self::checked(servers)?)),
            rpc,
            current: AtomicUsize::new(0),
            secrets: Mutex::default(),
        })
    }

    fn checked(servers: &[String]) -> Result<Vec<String>, RpcError> {
        if servers.is_empty() {
            return Err(RpcError::Invalid(
                "a client needs servers to talk to: set client { servers = [\"host:port\"] } or pass --servers".into(),
            ));
        }
        Ok(servers.iter().map(|s| with_port(s)).collect())
    }

    fn list(&self) -> Arc<Vec<String>> {
        self.servers
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The identity to send with `call`: its node's, or the only node registered through here
    /// for calls that name none.
    fn auth_for(&self, call: &ClientCall) -> Option<NodeAuth> {
        let secrets = self.secrets.lock().unwrap_or_else(PoisonError::into_inner);
        let named = match call {
            ClientCall::NodeHeartbeat { node_id }
            | ClientCall::NodeAllocations { node_id, .. }
            | ClientCall::ServiceSync { node_id, .. } => Some(node_id.as_str()),
            ClientCall::ServiceUpdate { upsert, .. } => upsert.first().map(|r| r.node_id.as_str()),
            ClientCall::NodeRegister(_)
            | ClientCall::Catalog { .. }
            | ClientCall::ResolveToken { .. }
            | ClientCall::UpdateAllocs(_)
            | ClientCall::TaskVariables { .. }
            | ClientCall::PreviousAllocation { .. } => None,
        };
        let (node_id, secret) = match named {
            Some(id) => secrets.get_key_value(id)?,
            None if secrets.len() == 1 => secrets.iter().next()?,
            None => return None,
        };
        Some(NodeAuth {
            node_id: node_id.clone(),
            secret: secret.clone(),
        })
    }

    /// The server in use now.
    pub fn current(&self) -> String {
        let servers = self.list();
        let i = self.current.load(Ordering::Relaxed) % servers.len();
        servers[i].clone()
    }

    /// Sends `call` to the current server, trying each of the others once when a server cannot
    /// be reached or has no leader.
    async fn call(&self, call: ClientCall, timeout: Duration) -> Result<ClientReply, RpcError> {
        let start = self.current.load(Ordering::Relaxed);
        let auth = self.auth_for(&call);
        let mut last = RpcError::NoLeader;
        let servers = self.list();
        for k in 0..servers.len() {
            let i = (start + k) % servers.len();
            let addr = &servers[i];
            let req = RpcRequest::Client {
                call: call.clone(),
                hops: 0,
                auth: auth.clone(),
            };
            let err = match self.rpc.call(addr, req, timeout).await {
                Ok(RpcResponse::Client(Ok(reply))) => {
                    self.current.store(i, Ordering::Relaxed);
                    return Ok(reply);
                }
                Ok(RpcResponse::Client(Err(e))) => e,
                Ok(RpcResponse::Error(e)) => RpcError::Server(e),
                Ok(other) => RpcError::Server(format!("unexpected reply: {other:?}")),
                Err(e) => e,
            };
            match err {
                // Another server may see a leader, or be up at all.
                RpcError::NoLeader | RpcError::Transport(_) | RpcError::Unreachable(_) => {
                    tracing::debug!(server = %addr, error = %err, "trying the next server");
                    last = err;
                }
                other => return Err(other),
            }
        }
        Err(last)
    }
}

fn unexpected(reply: ClientReply) -> RpcError {
    RpcError::Server(format!("unexpected reply: {reply:?}"))
}

impl ServerRpc for RemoteServers {
    fn servers(&self) -> Vec<String> {
        self.list().to_vec()
    }

    fn set_servers(&self, servers: Vec<String>) -> Result<(), RpcError> {
        let servers = Self::checked(&servers)?;
        *self.servers.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(servers);
        self.current.store(0, Ordering::Relaxed);
        Ok(())
    }

    fn set_node_identity(&self, node_id: &str, secret: &str) {
        self.secrets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(node_id.to_owned(), secret.to_owned());
    }

    fn node_register(&self, node: Node) -> RpcFuture<'_, Duration> {
        if !node.secret_id.is_empty() {
            self.set_node_identity(&node.id, &node.secret_id);
        }
        Box::pin(async move {
            match self
                .call(ClientCall::NodeRegister(Box::new(node)), CALL_TIMEOUT)
                .await?
            {
                ClientReply::Ttl(ms) => Ok(Duration::from_millis(ms)),
                other => Err(unexpected(other)),
            }
        })
    }

    fn node_heartbeat(&self, node_id: &str) -> RpcFuture<'_, Duration> {
        let call = ClientCall::NodeHeartbeat {
            node_id: node_id.to_string(),
        };
        Box::pin(async move {
            match self.call(call, CALL_TIMEOUT).await? {
                ClientReply::Ttl(ms) => Ok(Duration::from_millis(ms)),
                other => Err(unexpected(other)),
            }
        })
    }

    fn node_allocations(
        &self,
        node_id: &str,
        min_index: u64,
        wait: Duration,
        known: KnownAllocs,
    ) -> RpcFuture<'_, NodeAllocs> {
        let call = ClientCall::NodeAllocations {
            node_id: node_id.to_string(),
            min_index,
            wait_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            known,
        };
        Box::pin(async move {
            match self.call(call, wait + QUERY_SLACK).await? {
                ClientReply::Allocations {
                    mut allocs,
                    index,
                    unchanged,
                    total,
                    jobs,
                } => {
                    let jobs = api::alloc_jobs::JobIndex::new(&jobs);
                    for a in &mut allocs {
                        jobs.attach(a);
                    }
                    Ok(NodeAllocs {
                        changed: allocs,
                        unchanged,
                        total,
                        index,
                    })
                }
                other => Err(unexpected(other)),
            }
        })
    }

    fn update_allocs(&self, updates: Vec<AllocClientUpdate>) -> RpcFuture<'_, u64> {
        Box::pin(async move {
            match self
                .call(ClientCall::UpdateAllocs(updates), CALL_TIMEOUT)
                .await?
            {
                ClientReply::Index(i) => Ok(i),
                other => Err(unexpected(other)),
            }
        })
    }

    fn service_update(
        &self,
        upsert: Vec<ServiceRegistration>,
        delete: Vec<String>,
    ) -> RpcFuture<'_, u64> {
        self.index_call(ClientCall::ServiceUpdate { upsert, delete })
    }

    fn service_sync(
        &self,
        node_id: &str,
        registrations: Vec<ServiceRegistration>,
    ) -> RpcFuture<'_, u64> {
        self.index_call(ClientCall::ServiceSync {
            node_id: node_id.to_string(),
            registrations,
        })
    }

    fn catalog(&self, min_index: u64, wait: Duration) -> RpcFuture<'_, Catalog> {
        let call = ClientCall::Catalog {
            min_index,
            wait_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
        };
        Box::pin(async move {
            match self.call(call, wait + QUERY_SLACK).await? {
                ClientReply::Catalog(c) => Ok(*c),
                other => Err(unexpected(other)),
            }
        })
    }

    fn task_variables(
        &self,
        alloc_id: &str,
        task: &str,
        min_index: u64,
        wait: Duration,
    ) -> RpcFuture<'_, TaskVariables> {
        let call = ClientCall::TaskVariables {
            alloc_id: alloc_id.to_string(),
            task: task.to_string(),
            min_index,
            wait_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
        };
        Box::pin(async move {
            match self.call(call, wait + QUERY_SLACK).await? {
                ClientReply::Variables(v) => Ok(v),
                other => Err(unexpected(other)),
            }
        })
    }

    fn previous_allocation(&self, alloc_id: &str) -> RpcFuture<'_, Option<PreviousAllocation>> {
        let call = ClientCall::PreviousAllocation {
            alloc_id: alloc_id.to_string(),
        };
        Box::pin(async move {
            match self.call(call, CALL_TIMEOUT).await? {
                ClientReply::PreviousAllocation(p) => Ok(p),
                other => Err(unexpected(other)),
            }
        })
    }

    fn resolve_token(&self, secret: &str) -> RpcFuture<'_, ResolvedToken> {
        let call = ClientCall::ResolveToken {
            secret: secret.to_string(),
        };
        Box::pin(async move {
            match self.call(call, CALL_TIMEOUT).await? {
                ClientReply::Token(t) => Ok(*t),
                other => Err(unexpected(other)),
            }
        })
    }
}

impl RemoteServers {
    /// A write answered with its commit index.
    fn index_call(&self, call: ClientCall) -> RpcFuture<'_, u64> {
        Box::pin(async move {
            match self.call(call, CALL_TIMEOUT).await? {
                ClientReply::Index(i) => Ok(i),
                other => Err(unexpected(other)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpc::RpcHandler;
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::Arc;

    /// Answers every client call with index 7, as a server would with a commit index.
    struct Answers7;

    impl RpcHandler for Answers7 {
        fn handle(
            &self,
            _req: RpcRequest,
        ) -> Pin<Box<dyn Future<Output = RpcResponse> + Send + '_>> {
            Box::pin(async { RpcResponse::Client(Ok(ClientReply::Index(7))) })
        }
    }

    #[tokio::test]
    async fn a_dead_server_is_skipped_and_the_live_one_kept() {
        // Scenario: the first configured server is down (nothing listens on its port); the call
        // goes on to the second, which answers, and later calls start there.
        let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let dead_addr = dead.local_addr().unwrap().to_string();
        drop(dead);
        let live = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let live_addr = live.local_addr().unwrap().to_string();
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let serving = tokio::spawn(crate::rpc::transport::serve(
            live,
            Arc::new(Answers7),
            stopped,
        ));

        let remote = RemoteServers::new(&[dead_addr, live_addr.clone()], RpcClient::new()).unwrap();
        assert_eq!(remote.update_allocs(Vec::new()).await, Ok(7));
        assert_eq!(remote.current(), live_addr);
        stop.send_replace(true);
        let _ = serving.await;
    }

    #[test]
    fn a_bare_host_gets_the_default_rpc_port() {
        assert_eq!(with_port("10.0.0.1"), "10.0.0.1:4647");
        assert_eq!(with_port("10.0.0.1:9000"), "10.0.0.1:9000");
        assert_eq!(with_port("server.example"), "server.example:4647");
        assert!(RemoteServers::new(&[], RpcClient::new()).is_err());
    }
}
