//! The raft log in redb, with group commit.
//!
//! `append` writes its entries in a transaction with `Durability::None`: they are readable at once
//! but not yet on disk. It then hands openraft's flush callback to one flusher thread, which makes
//! everything written so far durable with a single `Immediate` commit and fires the callbacks it
//! collected, in the order the appends happened. Under load many appends share one fsync.
//!
//! The vote is written `Immediate` before `save_vote` returns: a server must never forget whom it
//! voted for. Truncation and purging need no fsync of their own: a lost truncation is redone when
//! the leader resends, and purged entries are below the snapshot, which is durable.

use super::types::{decode_err, io_err, Entry, LogId, TypeConfig, Vote};
use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::OptionalSend;
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::sync::mpsc;
use std::sync::Arc;

const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("raft_log");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("raft_meta");
const VOTE: &str = "vote";
const COMMITTED: &str = "committed";
const LAST_PURGED: &str = "last_purged";

#[derive(Clone)]
pub struct LogStore {
    db: Arc<Database>,
    flusher: mpsc::Sender<Flush>,
}

/// Work for the flusher thread.
enum Flush {
    /// Make every append so far durable, then fire this callback.
    Appended(IOFlushed<TypeConfig>),
    /// The newest commit index, a hint written with the next flush rather than in a transaction
    /// of its own.
    Committed(Option<LogId>),
}

impl LogStore {
    /// Opens the log tables in `db` and starts the flusher thread, which ends when the last clone
    /// of the store is dropped.
    pub fn open(db: Arc<Database>) -> io::Result<LogStore> {
        let txn = db.begin_write().map_err(io_err)?;
        txn.open_table(LOG).map_err(io_err)?;
        txn.open_table(META).map_err(io_err)?;
        txn.commit().map_err(io_err)?;
        let (tx, rx) = mpsc::channel();
        let flush_db = db.clone();
        std::thread::Builder::new()
            .name("raft-log-flush".into())
            .spawn(move || flusher(flush_db, rx))?;
        Ok(LogStore { db, flusher: tx })
    }

    fn get_meta<T: serde::de::DeserializeOwned>(&self, key: &str) -> io::Result<Option<T>> {
        let txn = self.db.begin_read().map_err(io_err)?;
        let t = txn.open_table(META).map_err(io_err)?;
        match t.get(key).map_err(io_err)? {
            Some(v) => Ok(Some(rmp_serde::from_slice(v.value()).map_err(decode_err)?)),
            None => Ok(None),
        }
    }

    fn put_meta<T: serde::Serialize>(
        &self,
        key: &str,
        value: &T,
        durability: Durability,
    ) -> io::Result<()> {
        let bytes = rmp_serde::to_vec_named(value).map_err(io_err)?;
        let mut txn = self.db.begin_write().map_err(io_err)?;
        txn.set_durability(durability).map_err(io_err)?;
        {
            let mut t = txn.open_table(META).map_err(io_err)?;
            t.insert(key, bytes.as_slice()).map_err(io_err)?;
        }
        txn.commit().map_err(io_err)
    }

    /// Whether this server ever voted or logged anything, i.e. belongs to a cluster.
    pub fn has_state(&self) -> io::Result<bool> {
        if self.get_meta::<Vote>(VOTE)?.is_some() {
            return Ok(true);
        }
        let txn = self.db.begin_read().map_err(io_err)?;
        let t = txn.open_table(LOG).map_err(io_err)?;
        let first = t.first().map_err(io_err)?;
        Ok(first.is_some())
    }
}

/// Makes batches of `Durability::None` appends durable with one `Immediate` commit each, and
/// writes the newest commit hint in the same transaction.
fn flusher(db: Arc<Database>, rx: mpsc::Receiver<Flush>) {
    while let Ok(first) = rx.recv() {
        let mut callbacks = Vec::new();
        let mut committed = None;
        for msg in std::iter::once(first).chain(rx.try_iter()) {
            match msg {
                Flush::Appended(cb) => callbacks.push(cb),
                Flush::Committed(c) => committed = Some(c),
            }
        }
        let res = (|| -> io::Result<()> {
            let mut txn = db.begin_write().map_err(io_err)?;
            let durability = if callbacks.is_empty() {
                Durability::None
            } else {
                Durability::Immediate
            };
            txn.set_durability(durability).map_err(io_err)?;
            if let Some(c) = committed {
                let bytes = rmp_serde::to_vec_named(&c).map_err(io_err)?;
                let mut t = txn.open_table(META).map_err(io_err)?;
                t.insert(COMMITTED, bytes.as_slice()).map_err(io_err)?;
            }
            txn.commit().map_err(io_err)
        })();
        for cb in callbacks {
            let r = match &res {
                Ok(()) => Ok(()),
                Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
            };
            cb.io_completed(r);
        }
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        let start = match range.start_bound() {
            Bound::Included(x) => *x,
            Bound::Excluded(x) => x.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let txn = self.db.begin_read().map_err(io_err)?;
        let t = txn.open_table(LOG).map_err(io_err)?;
        let mut out = Vec::new();
        for item in t.range(start..).map_err(io_err)? {
            let (k, v) = item.map_err(io_err)?;
            if !range.contains(&k.value()) {
                break;
            }
            out.push(rmp_serde::from_slice::<Entry>(v.value()).map_err(decode_err)?);
        }
        Ok(out)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        self.get_meta(VOTE)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        let last_purged: Option<LogId> = self.get_meta(LAST_PURGED)?;
        let last = {
            let txn = self.db.begin_read().map_err(io_err)?;
            let t = txn.open_table(LOG).map_err(io_err)?;
            let last = t.last().map_err(io_err)?;
            match last {
                Some((_, v)) => Some(
                    rmp_serde::from_slice::<Entry>(v.value())
                        .map_err(decode_err)?
                        .log_id(),
                ),
                None => None,
            }
        };
        Ok(LogState {
            last_log_id: last.or(last_purged),
            last_purged_log_id: last_purged,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), io::Error> {
        let store = self.clone();
        let vote = *vote;
        tokio::task::spawn_blocking(move || store.put_meta(VOTE, &vote, Durability::Immediate))
            .await
            .map_err(io_err)?
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), io::Error> {
        // A hint that lets a restart re-apply committed entries at once; it need not be durable,
        // so it rides along with the next flush instead of costing a transaction of its own.
        self.flusher
            .send(Flush::Committed(committed))
            .map_err(|_| io_err("the raft log flusher has stopped"))
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, io::Error> {
        Ok(self.get_meta::<Option<LogId>>(COMMITTED)?.flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: IOFlushed<TypeConfig>,
    ) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut txn = self.db.begin_write().map_err(io_err)?;
        txn.set_durability(Durability::None).map_err(io_err)?;
        {
            let mut t = txn.open_table(LOG).map_err(io_err)?;
            for e in entries {
                let bytes = rmp_serde::to_vec_named(&e).map_err(io_err)?;
                t.insert(e.index(), bytes.as_slice()).map_err(io_err)?;
            }
        }
        txn.commit().map_err(io_err)?;
        self.flusher
            .send(Flush::Appended(callback))
            .map_err(|_| io_err("the raft log flusher has stopped"))
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> Result<(), io::Error> {
        let from = last_log_id.map(|l| l.index() + 1).unwrap_or(0);
        let mut txn = self.db.begin_write().map_err(io_err)?;
        txn.set_durability(Durability::None).map_err(io_err)?;
        {
            let mut t = txn.open_table(LOG).map_err(io_err)?;
            t.retain_in(from.., |_, _| false).map_err(io_err)?;
        }
        txn.commit().map_err(io_err)
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), io::Error> {
        let bytes = rmp_serde::to_vec_named(&log_id).map_err(io_err)?;
        let mut txn = self.db.begin_write().map_err(io_err)?;
        txn.set_durability(Durability::None).map_err(io_err)?;
        {
            let mut meta = txn.open_table(META).map_err(io_err)?;
            meta.insert(LAST_PURGED, bytes.as_slice()).map_err(io_err)?;
            let mut t = txn.open_table(LOG).map_err(io_err)?;
            t.retain_in(..=log_id.index(), |_, _| false)
                .map_err(io_err)?;
        }
        txn.commit().map_err(io_err)
    }
}
