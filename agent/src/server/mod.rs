//! The server: raft (log + state machine), leader duties (eval broker, scheduler workers, plan
//! applier, blocked evaluations, heartbeat timers) and the endpoints clients and the HTTP API call.

mod blocked_evals;
mod endpoints;
mod eval_broker;
mod heartbeat;
mod leader;
mod local_rpc;
mod plan_applier;
pub mod raft;
mod worker;

pub use endpoints::ServerError;
pub use heartbeat::HeartbeatConfig;
pub use local_rpc::LocalRpc;

use crate::state::StateStore;
use blocked_evals::BlockedEvals;
use eval_broker::EvalBroker;
use heartbeat::HeartbeatTimers;
use raft::Raft;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where the raft log and snapshots live.
    pub data_dir: PathBuf,
    pub name: String,
    pub region: String,
    pub datacenter: String,
    /// "host:port" of this server's rpc listener, as peers and clients reach it.
    pub rpc_addr: String,
    /// Scheduler workers; 0 = one per core.
    pub num_workers: usize,
    pub heartbeat: HeartbeatConfig,
}

pub struct Server {
    pub cfg: ServerConfig,
    pub state: Arc<StateStore>,
    raft: Raft,
    broker: EvalBroker,
    blocked: BlockedEvals,
    heartbeats: HeartbeatTimers,
    plan_lock: tokio::sync::Mutex<()>,
    shutdown: watch::Sender<bool>,
}

impl Server {
    /// Opens the state from disk and starts the leader duties and scheduler workers.
    pub async fn start(cfg: ServerConfig) -> Result<Arc<Server>, ServerError> {
        let state = Arc::new(StateStore::default());
        let raft = Raft::open(
            &cfg.data_dir.join("raft"),
            state.clone(),
            cfg.rpc_addr.clone(),
        )
        .map_err(ServerError::Raft)?;
        let (shutdown, _) = watch::channel(false);
        let server = Arc::new(Server {
            heartbeats: HeartbeatTimers::new(cfg.heartbeat.clone()),
            cfg,
            state,
            raft,
            broker: EvalBroker::default(),
            blocked: BlockedEvals::default(),
            plan_lock: tokio::sync::Mutex::new(()),
            shutdown,
        });
        // A single-voter log is always the leader.
        if server.raft.is_leader() {
            server.clone().establish_leadership();
        }
        Ok(server)
    }

    pub fn is_leader(&self) -> bool {
        self.raft.is_leader()
    }

    pub fn leader_addr(&self) -> Option<String> {
        self.raft.leader_addr()
    }

    pub fn peers(&self) -> Vec<String> {
        self.raft.peers()
    }

    /// Stops the leader duties and workers. The log is durable at every acknowledged write.
    pub fn shutdown(&self) {
        self.shutdown.send_replace(true);
        self.broker.set_enabled(false);
        self.blocked.set_enabled(false);
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

/// Unix nanoseconds now.
pub fn now_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
