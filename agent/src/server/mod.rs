//! The server: raft (log + state machine), leader duties (eval broker, scheduler workers, plan
//! applier, blocked evaluations, heartbeat timers) and the endpoints clients and the HTTP API call.

mod acl;
mod blocked_evals;
mod client_rpc;
mod deployment_watcher;
mod deployments;
mod dispatch;
mod endpoints;
mod eval_broker;
mod gc;
mod heartbeat;
mod job_admin;
mod join;
mod leader;
mod local_rpc;
mod migrate;
mod namespaces;
mod node_identity;
mod node_pools;
mod periodic;
mod plan;
pub use plan::dry_run as plan_dry_run;
mod alloc_updates;
mod plan_applier;
pub mod raft;
mod rpc_handler;
mod services;
pub mod variables;
mod worker;

pub use acl::ANONYMOUS_POLICY;
pub use endpoints::ServerError;
pub use gc::GcConfig;
pub use heartbeat::HeartbeatConfig;
pub use local_rpc::LocalRpc;
pub use rpc_handler::HttpRelay;

use crate::rpc::{RpcClient, ServerInfo};
use crate::state::StateStore;
use blocked_evals::BlockedEvals;
use eval_broker::EvalBroker;
use heartbeat::HeartbeatTimers;
use raft::{Raft, RaftOptions};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::watch;

#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where the raft log and snapshots live.
    pub data_dir: PathBuf,
    /// Who this server is; `id` is filled in from the data dir at start.
    pub info: ServerInfo,
    /// Servers to form or join a cluster with: their rpc addresses, "host:port".
    pub retry_join: Vec<String>,
    /// Raft log entries between snapshots.
    pub raft_snapshot_threshold: u64,
    /// Raft log entries kept after a snapshot.
    pub raft_trailing_logs: u64,
    /// How often to check whether a snapshot is due.
    pub raft_snapshot_interval: std::time::Duration,
    /// Scheduler workers; 0 = four per core.
    pub num_workers: usize,
    pub heartbeat: HeartbeatConfig,
    /// `acl { enabled = true }`: the ACL endpoints answer and tokens resolve.
    pub acl_enabled: bool,
    /// Garbage collection: how often, and how old things must be.
    pub gc: GcConfig,
    /// The largest count a task group may have (`job_max_group_count`).
    pub job_max_group_count: u32,
}

/// The default of `server { job_max_group_count }`.
pub const DEFAULT_JOB_MAX_GROUP_COUNT: u32 = 100_000;

pub struct Server {
    pub cfg: ServerConfig,
    pub state: Arc<StateStore>,
    raft: Raft,
    rpc: RpcClient,
    broker: EvalBroker,
    blocked: BlockedEvals,
    heartbeats: HeartbeatTimers,
    /// Held by whoever applies the next batch of queued plans.
    plan_lock: tokio::sync::Mutex<()>,
    plan_queue: plan_applier::PlanQueue,
    /// Clients' allocation reports waiting to be committed together.
    alloc_updates: alloc_updates::AllocUpdateQueue,
    /// Servers that said hello while the cluster forms, by raft id.
    discovered: Mutex<BTreeMap<u64, ServerInfo>>,
    /// Addresses given to `/v1/agent/join` at run time, tried with `retry_join`'s.
    joined: Mutex<Vec<String>>,
    /// Runs public API requests that other servers relay to this one.
    http_relay: OnceLock<Arc<dyn HttpRelay>>,
    /// The keys that seal variables (on this server's disk, never in the log).
    keyring: variables::Keyring,
    /// Held while the cluster's first key is made.
    keyring_lock: tokio::sync::Mutex<()>,
    /// Leader only: variable locks' TTLs and delays.
    var_locks: variables::LockTimers,
    shutdown: watch::Sender<bool>,
}

impl Server {
    /// Opens the state from disk, starts raft, and starts following leadership: leader duties run
    /// while this server leads. Forming or joining a cluster runs in the background.
    pub async fn start(mut cfg: ServerConfig, rpc: RpcClient) -> Result<Arc<Server>, ServerError> {
        cfg.info.id = join::server_id(&cfg.data_dir).map_err(ServerError::Raft)?;
        let state = Arc::new(StateStore::default());
        let raft = Raft::open(
            RaftOptions {
                dir: cfg.data_dir.join("raft"),
                me: cfg.info.clone(),
                snapshot_threshold: cfg.raft_snapshot_threshold,
                trailing_logs: cfg.raft_trailing_logs,
                snapshot_interval: cfg.raft_snapshot_interval,
            },
            state.clone(),
            rpc.clone(),
        )
        .await
        .map_err(ServerError::Raft)?;
        let (shutdown, _) = watch::channel(false);
        let cfg_keystore = cfg.data_dir.join("keystore");
        let server = Arc::new(Server {
            heartbeats: HeartbeatTimers::new(cfg.heartbeat.clone()),
            cfg,
            state,
            raft,
            rpc,
            broker: EvalBroker::default(),
            blocked: BlockedEvals::default(),
            plan_lock: tokio::sync::Mutex::new(()),
            plan_queue: Default::default(),
            alloc_updates: Default::default(),
            discovered: Mutex::new(BTreeMap::new()),
            joined: Mutex::new(Vec::new()),
            http_relay: OnceLock::new(),
            keyring: variables::Keyring::new(cfg_keystore),
            keyring_lock: tokio::sync::Mutex::new(()),
            var_locks: Default::default(),
            shutdown,
        });
        tokio::spawn(server.clone().leadership_loop());
        tokio::spawn(server.clone().keyring_replication_loop());
        tokio::spawn(server.clone().join_loop());
        Ok(server)
    }

    pub fn is_leader(&self) -> bool {
        self.raft.is_leader()
    }

    /// (raft term, peers including this server), for `/v1/agent/self`.
    pub fn raft_term_and_peers(&self) -> (u64, usize) {
        let view = self.raft.view();
        (view.term, view.peers.len())
    }

    pub fn leader_addr(&self) -> Option<String> {
        self.raft.leader_addr()
    }

    /// The leader this server follows (itself when it leads).
    pub fn leader(&self) -> Option<ServerInfo> {
        self.raft.view().leader
    }

    pub fn peers(&self) -> Vec<String> {
        self.raft.peers()
    }

    /// The raft configuration: every server, whether it votes, and the config's log index.
    pub fn raft_configuration(&self) -> (Vec<raft::Peer>, u64) {
        let v = self.raft.view();
        (v.peers, v.config_index)
    }

    /// `/v1/agent/health`'s server part: a leader, and recent contact with it or a quorum.
    pub fn health(&self) -> Result<(), raft::ServerHealthError> {
        self.raft.health()
    }

    /// Time since this server last heard from the leader; zero on the leader.
    pub fn last_contact(&self) -> Option<std::time::Duration> {
        self.raft.last_contact()
    }

    /// Waits until a read of the local state is linearizable (leader only).
    pub async fn read_barrier(&self) -> Result<(), ServerError> {
        self.raft.read_barrier().await.map_err(ServerError::Raft)
    }

    /// Waits up to `timeout` for any leader to be known.
    pub async fn wait_for_leader(&self, timeout: std::time::Duration) -> Option<ServerInfo> {
        let mut rx = self.raft.subscribe();
        let wait = async {
            rx.wait_for(|v| v.leader.is_some())
                .await
                .ok()
                .and_then(|v| v.leader.clone())
        };
        tokio::time::timeout(timeout, wait).await.ok().flatten()
    }

    /// Every server of the raft configuration with whether it answers on its rpc port now.
    /// Probes run concurrently, each bounded by `timeout`; this server counts as alive.
    pub async fn members(&self, timeout: std::time::Duration) -> Vec<(raft::Peer, bool)> {
        let (mut peers, _) = self.raft_configuration();
        if !peers.iter().any(|p| p.info.id == self.cfg.info.id) {
            // Not (yet) in a configuration: still show this server.
            peers.push(raft::Peer {
                info: self.cfg.info.clone(),
                voter: false,
            });
        }
        let probes = peers.into_iter().map(|p| async move {
            let alive = p.info.id == self.cfg.info.id
                || matches!(
                    self.rpc
                        .call(&p.info.rpc_addr, crate::rpc::RpcRequest::Ping, timeout)
                        .await,
                    Ok(crate::rpc::RpcResponse::Pong)
                );
            (p, alive)
        });
        futures::future::join_all(probes).await
    }

    /// Retires a server from the raft configuration (leader only).
    pub async fn remove_peer(&self, id: u64) -> Result<(), ServerError> {
        self.raft.remove_server(id).await.map_err(ServerError::Raft)
    }

    /// Installs what runs relayed public API requests (the HTTP router).
    pub fn set_http_relay(&self, relay: Arc<dyn HttpRelay>) {
        let _ = self.http_relay.set(relay);
    }

    /// The handler of this server's rpc port.
    pub fn rpc_handler(self: &Arc<Self>) -> Arc<dyn crate::rpc::RpcHandler> {
        Arc::new(rpc_handler::ServerRpcHandler::new(self.clone()))
    }

    /// Stops the leader duties and raft. The log is durable at every acknowledged write.
    /// Commits `cmd`; a command the state machine refused (`ApplyResult::error`) is bad input.
    pub(crate) async fn apply_or_refuse(
        &self,
        cmd: crate::state::Command,
    ) -> Result<u64, ServerError> {
        let (index, res) = self.raft.apply(cmd).await.map_err(ServerError::Raft)?;
        match res.error {
            Some(why) => Err(ServerError::Invalid(why)),
            None => Ok(index),
        }
    }

    pub async fn shutdown(&self) {
        self.shutdown.send_replace(true);
        self.revoke_leadership();
        self.raft.shutdown().await;
    }

    fn shutdown_rx(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Queue depths for metrics: (ready, waiting, delayed, in flight, blocked).
    pub fn broker_stats(&self) -> (usize, usize, usize, usize, usize) {
        let (r, w, d, i) = self.broker.stats();
        (r, w, d, i, self.blocked.len())
    }
}

pub use api::time::now_nanos;

pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
