//! Agreement on the order of state changes. Everything outside this folder proposes
//! [`Command`]s through [`Raft::apply`] and never names the consensus library.
//!
//! Today this is a single-voter log: the one server is always the leader, entries become committed
//! when they are durable in redb. A writer task batches concurrent proposals into one fsync
//! (group commit), then applies them to the state machine in order and answers each proposer.
//! Replicated consensus across servers replaces the writer without changing this interface.

mod log_store;
#[cfg(test)]
mod tests;

pub use log_store::LogStoreError;

use crate::state::{ApplyResult, Command, StateStore, Tables};
use log_store::LogStore;
use std::path::Path;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Entries kept in the log before the state is snapshotted and the log truncated.
const SNAPSHOT_THRESHOLD: u64 = 8192;
/// Most proposals committed in one batch.
const MAX_BATCH: usize = 1024;

#[derive(Debug, Clone, thiserror::Error)]
pub enum RaftError {
    #[error("no cluster leader")]
    NoLeader,
    #[error("{0}")]
    Storage(String),
    #[error("encoding a command: {0}")]
    Encode(String),
    #[error("raft is shutting down")]
    Shutdown,
}

type Proposal = (
    Command,
    oneshot::Sender<Result<(u64, ApplyResult), RaftError>>,
);

pub struct Raft {
    tx: mpsc::Sender<Proposal>,
    self_addr: String,
}

impl Raft {
    /// Opens (or creates) the log under `dir`, restores the state from snapshot + log replay, and
    /// starts the writer.
    pub fn open(dir: &Path, state: Arc<StateStore>, self_addr: String) -> Result<Raft, RaftError> {
        Self::open_with(dir, state, self_addr, SNAPSHOT_THRESHOLD)
    }

    /// As [`Raft::open`], snapshotting every `snapshot_threshold` entries.
    pub fn open_with(
        dir: &Path,
        state: Arc<StateStore>,
        self_addr: String,
        snapshot_threshold: u64,
    ) -> Result<Raft, RaftError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| RaftError::Storage(format!("{}: {e}", dir.display())))?;
        let store =
            LogStore::open(&dir.join("raft.db")).map_err(|e| RaftError::Storage(e.to_string()))?;
        let rec = store
            .recover()
            .map_err(|e| RaftError::Storage(e.to_string()))?;
        let mut tables = rec.snapshot.map(Tables::from_image).unwrap_or_default();
        let replayed = rec.entries.len();
        for (index, cmd) in &rec.entries {
            tables.apply(*index, cmd);
        }
        let last_index = tables.index;
        let snapshot_index = last_index - replayed as u64;
        state.restore(tables);
        tracing::info!(last_index, replayed, "raft: state restored");
        let (tx, rx) = mpsc::channel(4096);
        tokio::spawn(writer(
            store,
            state,
            rx,
            last_index,
            snapshot_index,
            snapshot_threshold.max(1),
        ));
        Ok(Raft { tx, self_addr })
    }

    /// Proposes a command; returns once it is committed and applied, with its index.
    pub async fn apply(&self, cmd: Command) -> Result<(u64, ApplyResult), RaftError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send((cmd, tx))
            .await
            .map_err(|_| RaftError::Shutdown)?;
        rx.await.map_err(|_| RaftError::Shutdown)?
    }

    pub fn is_leader(&self) -> bool {
        true
    }

    /// The leader's rpc address, "host:port".
    pub fn leader_addr(&self) -> Option<String> {
        Some(self.self_addr.clone())
    }

    pub fn peers(&self) -> Vec<String> {
        vec![self.self_addr.clone()]
    }
}

async fn writer(
    store: LogStore,
    state: Arc<StateStore>,
    mut rx: mpsc::Receiver<Proposal>,
    mut last_index: u64,
    mut snapshot_index: u64,
    snapshot_threshold: u64,
) {
    let store = Arc::new(store);
    let mut batch: Vec<Proposal> = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let mut encoded = Vec::with_capacity(batch.len());
        let mut ok = Vec::with_capacity(batch.len());
        for (cmd, reply) in batch.drain(..) {
            match rmp_serde::to_vec_named(&cmd) {
                Ok(bytes) => {
                    last_index += 1;
                    encoded.push((last_index, bytes));
                    ok.push((last_index, cmd, reply));
                }
                Err(e) => {
                    let _ = reply.send(Err(RaftError::Encode(e.to_string())));
                }
            }
        }
        if encoded.is_empty() {
            continue;
        }
        let st = store.clone();
        let res = tokio::task::spawn_blocking(move || st.append(&encoded)).await;
        let err = match res {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(e) => Some(e.to_string()),
        };
        if let Some(err) = err {
            tracing::error!(%err, "raft: log append failed");
            last_index -= ok.len() as u64;
            for (_, _, reply) in ok {
                let _ = reply.send(Err(RaftError::Storage(err.clone())));
            }
            continue;
        }
        for (index, cmd, reply) in ok {
            let res = state.apply(index, &cmd);
            let _ = reply.send(Ok((index, res)));
        }
        if last_index - snapshot_index >= snapshot_threshold {
            let image = state.snapshot().to_image();
            let st = store.clone();
            match tokio::task::spawn_blocking(move || st.install_snapshot(&image)).await {
                Ok(Ok(())) => snapshot_index = last_index,
                Ok(Err(e)) => tracing::warn!(%e, "raft: snapshot failed"),
                Err(e) => tracing::warn!(%e, "raft: snapshot task failed"),
            }
        }
    }
}
