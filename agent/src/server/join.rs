//! Forming and joining a cluster.
//!
//! Every server says hello to the `retry_join` addresses until it belongs to a cluster with a
//! leader. What it learns decides what it does:
//! - a peer knows a leader: ask that leader to add this server as a voter (a late or replaced
//!   server; a member that restarted is already in the configuration and the leader says so);
//! - no peer has any raft state, and `bootstrap_expect` servers (this one included) answered:
//!   the one with the lowest id among them bootstraps the cluster with exactly those servers.
//!   Choosing one deterministic bootstrapper means the servers can never form two clusters;
//! - this server already has raft state: it never bootstraps again. It waits for the leader to
//!   reach it, or asks to be re-added if it was removed.

use super::raft::RaftError;
use super::Server;
use crate::rpc::{HelloReply, RpcError, RpcRequest, RpcResponse, ServerInfo};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const HELLO_TIMEOUT: Duration = Duration::from_secs(1);
const RETRY_EVERY: Duration = Duration::from_millis(500);
/// Once in a cluster, how often the server checks it is still a member.
const MEMBER_CHECK_EVERY: Duration = Duration::from_secs(5);

/// Why this server could not form, join or add to a cluster this time; the join loop retries.
#[derive(Debug, thiserror::Error)]
pub(super) enum JoinError {
    #[error(transparent)]
    Raft(#[from] RaftError),
    #[error(transparent)]
    Rpc(#[from] RpcError),
    /// The leader's (or the relaying follower's) own message.
    #[error("{0}")]
    Refused(String),
    #[error("unexpected reply to join: {0:?}")]
    UnexpectedReply(Box<RpcResponse>),
}

/// This server's raft id: random on first start, then kept in the data dir for good.
pub(super) fn server_id(data_dir: &Path) -> Result<u64, RaftError> {
    let path = data_dir.join("server-id");
    match std::fs::read_to_string(&path) {
        Ok(s) => s
            .trim()
            .parse::<u64>()
            .map_err(|e| RaftError::Storage(format!("{}: not a server id ({e})", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(data_dir)
                .map_err(|e| RaftError::Storage(format!("{}: {e}", data_dir.display())))?;
            // Never 0: openraft's test suite and humans both read 0 as "unset".
            let id = rand::random::<u64>().max(1);
            let tmp = data_dir.join("server-id.tmp");
            std::fs::write(&tmp, id.to_string())
                .and_then(|_| std::fs::rename(&tmp, &path))
                .map_err(|e| RaftError::Storage(format!("{}: {e}", path.display())))?;
            Ok(id)
        }
        Err(e) => Err(RaftError::Storage(format!("{}: {e}", path.display()))),
    }
}

impl Server {
    /// What this server tells a peer that says hello.
    pub(super) fn hello_reply(&self) -> HelloReply {
        let view = self.raft.view();
        let mut known: Vec<ServerInfo> = view.peers.iter().map(|p| p.info.clone()).collect();
        for s in self.discovered_servers() {
            if !known.iter().any(|k| k.id == s.id) {
                known.push(s);
            }
        }
        HelloReply {
            server: self.cfg.info.clone(),
            has_state: self.raft.has_state(),
            leader: view.leader,
            known,
        }
    }

    pub(super) fn remember(&self, info: ServerInfo) {
        if info.id == self.cfg.info.id {
            return;
        }
        if let Ok(mut d) = self.discovered.lock() {
            d.insert(info.id, info);
        }
    }

    fn discovered_servers(&self) -> Vec<ServerInfo> {
        self.discovered
            .lock()
            .map(|d| d.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Whether this server is a voter of a configuration that has a leader.
    fn settled(&self) -> bool {
        let v = self.raft.view();
        v.leader.is_some()
            && v.peers
                .iter()
                .any(|p| p.voter && p.info.id == self.cfg.info.id)
    }

    pub(super) async fn join_loop(self: Arc<Self>) {
        let mut shutdown = self.shutdown_rx();
        loop {
            let wait = if self.settled() {
                MEMBER_CHECK_EVERY
            } else {
                if let Err(e) = self.try_join().await {
                    tracing::debug!(%e, "joining the cluster");
                }
                RETRY_EVERY
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    async fn try_join(&self) -> Result<(), JoinError> {
        let me = self.cfg.info.clone();
        let expect = me.bootstrap_expect as usize;
        // A lone server (dev mode, bootstrap_expect = 1) forms its cluster at once.
        if expect == 1 && !self.raft.has_state() {
            tracing::info!("bootstrapping a single-server cluster");
            return Ok(self.raft.bootstrap(std::slice::from_ref(&me)).await?);
        }
        let replies = self.hello_all(&me).await;
        let leader = replies
            .iter()
            .find_map(|r| r.leader.clone())
            .or_else(|| self.raft.view().leader);
        if let Some(leader) = leader {
            if leader.id == me.id {
                return Ok(());
            }
            return self.ask_to_join(&leader, &me).await;
        }
        if self.raft.has_state() || expect == 0 {
            return Ok(());
        }
        if replies.iter().any(|r| r.has_state) {
            // A cluster exists but is electing: join its leader once there is one.
            return Ok(());
        }
        let mut candidates: Vec<ServerInfo> = replies.into_iter().map(|r| r.server).collect();
        candidates.push(me.clone());
        candidates.sort_by_key(|s| s.id);
        candidates.dedup_by_key(|s| s.id);
        if candidates.len() < expect {
            tracing::info!(
                found = candidates.len(),
                expect,
                "waiting for enough servers to bootstrap"
            );
            return Ok(());
        }
        candidates.truncate(expect);
        if candidates.first().map(|s| s.id) != Some(me.id) {
            // Another server bootstraps; this one is contacted by the new leader.
            return Ok(());
        }
        let names: Vec<&str> = candidates.iter().map(|s| s.name.as_str()).collect();
        tracing::info!(servers = ?names, "bootstrapping the cluster");
        Ok(self.raft.bootstrap(&candidates).await?)
    }

    /// `/v1/agent/join`: says hello to each address now, and keeps those that answer among
    /// the addresses the join loop tries, so this server joins their cluster as it would one
    /// named in `retry_join`. Returns how many answered, and why the others did not.
    pub async fn join(&self, addrs: &[String]) -> (usize, Vec<String>) {
        let me = self.cfg.info.clone();
        let mut joined = 0;
        let mut errors = Vec::new();
        for addr in addrs {
            if *addr == me.rpc_addr {
                joined += 1;
                continue;
            }
            let req = RpcRequest::Hello(me.clone());
            match self.rpc.call(addr, req, HELLO_TIMEOUT).await {
                Ok(RpcResponse::Hello(reply)) => {
                    self.remember(reply.server.clone());
                    let mut list = self.joined.lock().unwrap_or_else(|e| e.into_inner());
                    if !list.contains(addr) && !self.cfg.retry_join.contains(addr) {
                        list.push(addr.clone());
                    }
                    joined += 1;
                }
                Ok(RpcResponse::Error(e)) => errors.push(format!("{addr}: {e}")),
                Ok(other) => errors.push(format!("{addr}: unexpected reply {other:?}")),
                Err(e) => errors.push(format!("{addr}: {e}")),
            }
        }
        (joined, errors)
    }

    /// Says hello to every `retry_join` (and `/v1/agent/join`) address but this server's own;
    /// keeps who answered.
    async fn hello_all(&self, me: &ServerInfo) -> Vec<HelloReply> {
        let mut addrs = self.cfg.retry_join.clone();
        addrs.extend(
            self.joined
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .cloned(),
        );
        let calls = addrs.iter().filter(|a| **a != me.rpc_addr).map(|addr| {
            let req = RpcRequest::Hello(me.clone());
            async move { (addr, self.rpc.call(addr, req, HELLO_TIMEOUT).await) }
        });
        let mut out = Vec::new();
        for (addr, r) in futures::future::join_all(calls).await {
            match r {
                Ok(RpcResponse::Hello(reply)) if reply.server.id != me.id => {
                    self.remember(reply.server.clone());
                    out.push(*reply);
                }
                // A refusal is a configuration to fix (a client certificate on a server), not
                // a peer that is still starting: say so where the operator looks.
                Ok(RpcResponse::Error(e)) => {
                    tracing::warn!(peer = %addr, error = %e, "server discovery refused")
                }
                _ => {}
            }
        }
        out
    }

    async fn ask_to_join(&self, leader: &ServerInfo, me: &ServerInfo) -> Result<(), JoinError> {
        let resp = self
            .rpc
            .call(
                &leader.rpc_addr,
                RpcRequest::Join(me.clone()),
                Duration::from_secs(30),
            )
            .await?;
        match resp {
            RpcResponse::Join(Ok(())) => Ok(()),
            RpcResponse::Join(Err(e)) | RpcResponse::Error(e) => Err(JoinError::Refused(e)),
            other => Err(JoinError::UnexpectedReply(Box::new(other))),
        }
    }

    /// A server asks to be added (rpc `Join`). The leader adds it; a follower passes the request
    /// on to the leader it knows.
    pub(super) async fn handle_join(&self, info: ServerInfo) -> Result<(), JoinError> {
        if self.is_leader() {
            tracing::info!(name = %info.name, addr = %info.rpc_addr, "adding server to the cluster");
            return Ok(self.raft.add_voter(info).await?);
        }
        match self.leader() {
            Some(l) if l.id != self.cfg.info.id => self.ask_to_join(&l, &info).await,
            _ => Err(RaftError::NoLeader.into()),
        }
    }
}
