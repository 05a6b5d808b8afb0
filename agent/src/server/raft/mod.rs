//! Agreement on the order of state changes, with openraft. Everything outside this folder proposes
//! [`Command`]s through [`Raft::apply`], reads the cluster's shape from [`RaftView`], and never
//! names openraft types.
//!
//! - `log_store`: the raft log in redb with group commit; `log_tail`: its newest entries in memory.
//! - `state_machine`: committed commands applied to the in-memory state, snapshotted to a file
//!   (`snapshot_file`).
//! - `network`: raft messages over the agent's rpc port.
//! - `payload`: a command as it travels in the log, encoded once by its proposer.
//! - `snapshot_timer`: when each server snapshots and compacts its log.
//! - `types`: openraft's generic parameters bound to ours.

mod log_store;
mod log_tail;
mod network;
mod payload;
mod snapshot_file;
mod snapshot_timer;
mod state_machine;
mod types;

use crate::rpc::{RaftKind, RpcClient, ServerInfo};
use crate::state::{ApplyResult, Command, StateStore};
use log_store::LogStore;
use network::{LastContact, Network, SnapshotInbox};
use openraft::async_runtime::watch::WatchReceiver;
use openraft::{ChangeMembers, Config, ReadPolicy, ServerState, SnapshotPolicy};
use payload::LogPayload;
use state_machine::StateMachine;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use types::OpenRaft;

/// The raft db's page cache.
const RAFT_DB_CACHE_BYTES: usize = 16 << 20;

/// How long a write may wait for its commit before the caller is told it did not happen in time.
/// Without a quorum no write can commit; the caller gets an error, never a false success.
const APPLY_TIMEOUT: Duration = Duration::from_secs(8);

#[derive(Debug, Clone, thiserror::Error)]
pub enum RaftError {
    #[error("no cluster leader")]
    NoLeader,
    /// This server is not the leader; `leader` is the one it knows, if any.
    #[error("not the leader{}", .leader.as_ref().map(|l| format!(" (the leader is {} at {})", l.name, l.rpc_addr)).unwrap_or_default())]
    NotLeader { leader: Option<Box<ServerInfo>> },
    #[error("timed out after {0:?} waiting for the cluster to commit (is a quorum of servers reachable?)")]
    Timeout(Duration),
    #[error("raft storage: {0}")]
    Storage(String),
    #[error("{0}")]
    Membership(String),
    #[error("raft is shutting down")]
    Shutdown,
}

/// Settings of the raft node.
#[derive(Debug, Clone)]
pub struct RaftOptions {
    /// Holds `raft.db` (the log) and `snapshot.bin`.
    pub dir: PathBuf,
    pub me: ServerInfo,
    /// Log entries between snapshots (Nomad's `raft_snapshot_threshold`).
    pub snapshot_threshold: u64,
    /// Entries kept after a snapshot so slow followers catch up from the log (`raft_trailing_logs`).
    pub trailing_logs: u64,
    /// How often to check whether a snapshot is due, stretched by up to as much again at random
    /// (`raft_snapshot_interval`).
    pub snapshot_interval: Duration,
}

/// One server of the raft configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub info: ServerInfo,
    pub voter: bool,
}

/// How long a server may go without hearing from its leader (or, leading, from a quorum) and
/// still call itself healthy: many heartbeats (50 ms) and election timeouts (at most 700 ms), so
/// that a busy machine does not flap.
pub const HEALTHY_CONTACT: Duration = Duration::from_secs(5);

/// Why this server does not count itself part of a working cluster, as `/v1/agent/health` shows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServerHealthError {
    #[error(
        "leader without a quorum: no majority of the {voters} servers answered for {} s",
        .silent_for.as_secs()
    )]
    QuorumSilent { voters: usize, silent_for: Duration },
    #[error("leader without a quorum: no majority of the {voters} servers answered yet")]
    NoQuorumYet { voters: usize },
    #[error("No cluster leader")]
    NoLeader,
    #[error("no contact with the leader for {} s", .silent_for.as_secs())]
    LeaderSilent { silent_for: Duration },
    #[error("no contact with the leader yet")]
    NoLeaderContactYet,
}

/// What this server knows of the cluster right now, refreshed from raft's metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RaftView {
    pub is_leader: bool,
    pub leader: Option<ServerInfo>,
    pub term: u64,
    pub peers: Vec<Peer>,
    /// Index of the log entry holding the current configuration.
    pub config_index: u64,
}

pub struct Raft {
    raft: OpenRaft,
    me: ServerInfo,
    view: watch::Receiver<RaftView>,
    last_contact: LastContact,
    snapshot_inbox: SnapshotInbox,
    log: LogStore,
}

impl Raft {
    /// Opens (or creates) the log and snapshot under `opts.dir`, restores the state, and starts
    /// the raft node. It takes part in elections once it is bootstrapped or added by a leader.
    pub async fn open(
        opts: RaftOptions,
        state: Arc<StateStore>,
        rpc: RpcClient,
    ) -> Result<Raft, RaftError> {
        std::fs::create_dir_all(&opts.dir)
            .map_err(|e| RaftError::Storage(format!("{}: {e}", opts.dir.display())))?;
        let path = opts.dir.join("raft.db");
        // redb caches pages it read or wrote up to this size (1 GiB by default, which a busy
        // log would fill). The state lives in memory anyway; the cache only serves log reads
        // for followers that lag a little.
        let db = redb::Builder::new()
            .set_cache_size(RAFT_DB_CACHE_BYTES)
            .create(&path)
            .map_err(|e| RaftError::Storage(format!("{}: {e}", path.display())))?;
        let db = Arc::new(db);
        let log = LogStore::open(db.clone()).map_err(|e| RaftError::Storage(e.to_string()))?;
        let sm = StateMachine::open(&opts.dir, &db, state)
            .map_err(|e| RaftError::Storage(e.to_string()))?;
        let config = Config {
            cluster_name: "nomad-rs".into(),
            // A follower stands for election 400-700 ms after the leader's last heartbeat, and
            // grants votes once the leader's lease (the max timeout) ran out: a dead leader is
            // replaced in about a second, while 8 missed heartbeats in a row on a loaded machine
            // are needed before a healthy one is deposed.
            heartbeat_interval: 50,
            election_timeout_min: 400,
            election_timeout_max: 700,
            // Snapshots are triggered by `snapshot_timer`.
            snapshot_policy: SnapshotPolicy::Never,
            max_in_snapshot_log_to_keep: opts.trailing_logs,
            // Purge in steps of a quarter snapshot: batches of at most 256 keep deletes cheap,
            // and a small threshold still compacts at its first snapshots.
            purge_batch_size: (opts.snapshot_threshold / 4).clamp(1, 256),
            // A snapshot of a large cluster state takes a while to send and install.
            install_snapshot_timeout: 30_000,
            // Replicate what the leader appended without waiting for its own fsync: the two
            // overlap, and a write commits as soon as a quorum (which may exclude the leader)
            // has it on disk. Worth 7-10% of registrations/s under 32 writers here.
            broadcast_submitted_on_append: Some(true),
            ..Default::default()
        }
        .validate()
        .map_err(|e| RaftError::Storage(format!("raft config: {e}")))?;
        let raft = OpenRaft::new(
            opts.me.id,
            Arc::new(config),
            Network {
                control: rpc.separate_lane(),
                rpc,
            },
            log.clone(),
            sm,
        )
        .await
        .map_err(|e| RaftError::Storage(e.to_string()))?;
        let (view_tx, view) = watch::channel(RaftView::default());
        tokio::spawn(watch_metrics(raft.clone(), opts.me.id, view_tx));
        tokio::spawn(snapshot_timer::run(
            raft.clone(),
            opts.snapshot_threshold,
            opts.snapshot_interval,
        ));
        Ok(Raft {
            raft,
            me: opts.me,
            view,
            last_contact: LastContact::default(),
            snapshot_inbox: SnapshotInbox::new(snapshot_file::SnapshotDir::new(&opts.dir)),
            log,
        })
    }

    pub fn me(&self) -> &ServerInfo {
        &self.me
    }

    /// Proposes a command; returns once it is committed and applied here, with its index. Only
    /// the leader accepts proposals.
    pub async fn apply(&self, cmd: Command) -> Result<(u64, ApplyResult), RaftError> {
        let payload = LogPayload::encode(cmd)
            .map_err(|e| RaftError::Storage(format!("encoding a command: {e}")))?;
        let write = self.raft.client_write(payload);
        match tokio::time::timeout(APPLY_TIMEOUT, write).await {
            Err(_) => Err(RaftError::Timeout(APPLY_TIMEOUT)),
            Ok(Ok(resp)) => Ok((resp.data.index, resp.data.result)),
            Ok(Err(e)) => Err(self.map_write_err(e.to_string(), e.forward_to_leader().is_some())),
        }
    }

    /// Proposes commands as consecutive log entries in one go: the later ones replicate while
    /// the earlier ones apply, where [`Raft::apply`] in a loop waits out each commit in turn.
    /// Returns once all are applied here, with the last one's index; an entry commits only
    /// after every one before it, so on an error the ones after it may or may not have.
    pub async fn apply_many(&self, cmds: Vec<Command>) -> Result<u64, RaftError> {
        use futures::StreamExt;
        let payloads = cmds
            .into_iter()
            .map(LogPayload::encode)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| RaftError::Storage(format!("encoding a command: {e}")))?;
        let n = payloads.len();
        let mut results = self
            .raft
            .client_write_many(payloads)
            .await
            .map_err(|e| self.map_write_err(e.to_string(), false))?;
        let mut index = 0;
        for _ in 0..n {
            match tokio::time::timeout(APPLY_TIMEOUT, results.next()).await {
                Err(_) => return Err(RaftError::Timeout(APPLY_TIMEOUT)),
                Ok(None) => return Err(RaftError::Shutdown),
                Ok(Some(Err(fatal))) => return Err(self.map_write_err(fatal.to_string(), false)),
                Ok(Some(Ok(Err(e)))) => {
                    let forward =
                        matches!(e, openraft::errors::ClientWriteError::ForwardToLeader(_));
                    return Err(self.map_write_err(e.to_string(), forward));
                }
                Ok(Some(Ok(Ok(written)))) => index = written.response.index,
            }
        }
        Ok(index)
    }

    fn map_write_err(&self, msg: String, forward: bool) -> RaftError {
        if forward {
            let leader = self.view.borrow().leader.clone();
            return match leader {
                Some(l) => RaftError::NotLeader {
                    leader: Some(Box::new(l)),
                },
                None => RaftError::NoLeader,
            };
        }
        if msg.contains("shut") {
            RaftError::Shutdown
        } else {
            RaftError::Membership(msg)
        }
    }

    /// Waits until this server, as leader, has confirmed with a quorum that it still leads and has
    /// applied everything committed so far: a read after this is linearizable.
    pub async fn read_barrier(&self) -> Result<(), RaftError> {
        let barrier = self.raft.ensure_linearizable(ReadPolicy::ReadIndex);
        match tokio::time::timeout(APPLY_TIMEOUT, barrier).await {
            Err(_) => Err(RaftError::Timeout(APPLY_TIMEOUT)),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(self.map_write_err(e.to_string(), e.forward_to_leader().is_some())),
        }
    }

    pub fn view(&self) -> RaftView {
        self.view.borrow().clone()
    }

    /// Changes of [`RaftView`], for whoever must follow leadership.
    pub fn subscribe(&self) -> watch::Receiver<RaftView> {
        self.view.clone()
    }

    pub fn is_leader(&self) -> bool {
        self.view.borrow().is_leader
    }

    /// The leader's rpc address, "host:port".
    pub fn leader_addr(&self) -> Option<String> {
        self.view
            .borrow()
            .leader
            .as_ref()
            .map(|l| l.rpc_addr.clone())
    }

    /// The voters' rpc addresses.
    pub fn peers(&self) -> Vec<String> {
        self.view
            .borrow()
            .peers
            .iter()
            .filter(|p| p.voter)
            .map(|p| p.info.rpc_addr.clone())
            .collect()
    }

    /// Whether this server takes part in a working cluster, for `/v1/agent/health`: a follower
    /// has a leader it heard from within [`HEALTHY_CONTACT`]; a leader heard from a quorum
    /// within it. The error says what is wrong.
    pub fn health(&self) -> Result<(), ServerHealthError> {
        let view = self.view();
        if view.is_leader {
            let voters = view.peers.iter().filter(|p| p.voter).count();
            if voters <= 1 {
                return Ok(());
            }
            let acked = self.raft.data_metrics().borrow_watched().last_quorum_acked;
            return match acked.map(|at| openraft::Instant::elapsed(&*at)) {
                Some(d) if d <= HEALTHY_CONTACT => Ok(()),
                Some(silent_for) => Err(ServerHealthError::QuorumSilent { voters, silent_for }),
                None => Err(ServerHealthError::NoQuorumYet { voters }),
            };
        }
        if view.leader.is_none() {
            return Err(ServerHealthError::NoLeader);
        }
        match self.last_contact.elapsed() {
            Some(d) if d <= HEALTHY_CONTACT => Ok(()),
            Some(silent_for) => Err(ServerHealthError::LeaderSilent { silent_for }),
            None => Err(ServerHealthError::NoLeaderContactYet),
        }
    }

    /// Time since the last message from a leader; zero on the leader itself.
    pub fn last_contact(&self) -> Option<Duration> {
        if self.is_leader() {
            return Some(Duration::ZERO);
        }
        self.last_contact.elapsed()
    }

    /// Whether this server has ever voted or logged: then it belongs to a cluster and must never
    /// bootstrap another.
    pub fn has_state(&self) -> bool {
        self.log.has_state().unwrap_or(true)
    }

    /// Forms a new cluster of `servers` (this one among them). Called once, by one server.
    pub async fn bootstrap(&self, servers: &[ServerInfo]) -> Result<(), RaftError> {
        let members: BTreeMap<u64, ServerInfo> =
            servers.iter().map(|s| (s.id, s.clone())).collect();
        self.raft
            .initialize(members)
            .await
            .map_err(|e| RaftError::Membership(format!("bootstrapping the cluster: {e}")))
    }

    /// On the leader: adds `info` as a voter (first as a learner that catches up), or updates its
    /// address if it is already a member.
    pub async fn add_voter(&self, info: ServerInfo) -> Result<(), RaftError> {
        let existing = self
            .view
            .borrow()
            .peers
            .iter()
            .find(|p| p.info.id == info.id)
            .cloned();
        match existing {
            Some(p) if p.voter && p.info == info => return Ok(()),
            Some(p) if p.info != info => {
                let mut nodes = BTreeMap::new();
                nodes.insert(info.id, info.clone());
                self.change(ChangeMembers::SetNodes(nodes)).await?;
            }
            Some(_) => {}
            None => {
                self.raft
                    .add_learner(info.id, info.clone(), true)
                    .await
                    .map_err(|e| {
                        self.map_write_err(e.to_string(), e.forward_to_leader().is_some())
                    })?;
            }
        }
        self.change(ChangeMembers::AddVoterIds(BTreeSet::from([info.id])))
            .await
    }

    /// On the leader: removes a server from the configuration (a dead server being retired).
    pub async fn remove_server(&self, id: u64) -> Result<(), RaftError> {
        self.change(ChangeMembers::RemoveVoters(BTreeSet::from([id])))
            .await?;
        self.change(ChangeMembers::RemoveNodes(BTreeSet::from([id])))
            .await
    }

    async fn change(&self, change: ChangeMembers<u64, ServerInfo>) -> Result<(), RaftError> {
        let fut = self.raft.change_membership(change, false);
        match tokio::time::timeout(APPLY_TIMEOUT * 2, fut).await {
            Err(_) => Err(RaftError::Timeout(APPLY_TIMEOUT * 2)),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(self.map_write_err(e.to_string(), e.forward_to_leader().is_some())),
        }
    }

    /// Serves a raft message from a peer (the rpc port's raft traffic).
    pub async fn serve_rpc(
        &self,
        kind: RaftKind,
        payload: &[u8],
    ) -> Result<Vec<u8>, network::RaftCodecError> {
        network::serve(
            &self.raft,
            &self.last_contact,
            &self.snapshot_inbox,
            kind,
            payload,
        )
        .await
    }

    pub async fn shutdown(&self) {
        if let Err(e) = self.raft.shutdown().await {
            tracing::warn!(%e, "raft shutdown");
        }
    }
}

/// Turns openraft's metrics into our [`RaftView`]; only real changes wake subscribers. It follows
/// the server metrics (role, leader, membership), which change rarely, not the full metrics,
/// which change with every commit.
async fn watch_metrics(raft: OpenRaft, me: u64, tx: watch::Sender<RaftView>) {
    let mut rx = raft.server_metrics();
    loop {
        let view = {
            let m = rx.borrow_watched();
            let membership = m.membership_config.membership();
            let voters: BTreeSet<u64> = membership.voter_ids().collect();
            let peers: Vec<Peer> = membership
                .nodes()
                .map(|(id, info)| Peer {
                    info: info.clone(),
                    voter: voters.contains(id),
                })
                .collect();
            let leader = m
                .current_leader
                .and_then(|id| membership.get_node(&id).cloned());
            RaftView {
                is_leader: m.state == ServerState::Leader && m.current_leader == Some(me),
                leader,
                term: m.vote.leader_id().term,
                peers,
                config_index: m
                    .membership_config
                    .log_id()
                    .as_ref()
                    .map(|l| l.index())
                    .unwrap_or(0),
            }
        };
        tx.send_if_modified(|old| {
            if *old == view {
                false
            } else {
                *old = view;
                true
            }
        });
        if rx.changed().await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests;
