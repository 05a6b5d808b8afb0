//! The raft log in redb, with group commit.
//!
//! `append` writes its entries in a transaction with `Durability::None`: they are readable at once
//! but not yet on disk. It then hands openraft's flush callback to one flusher thread, which makes
//! everything written so far durable with a single `Immediate` commit and fires the callbacks it
//! collected, in the order the appends happened. Under load many appends share one fsync.
//!
//! The newest entries also stay in memory ([`LogTail`]): replication and the state machine read
//! what was just appended, and find it there without a read transaction or a decode.
//!
//! The vote is written `Immediate` before `save_vote` returns: a server must never forget whom it
//! voted for. Truncation and purging need no fsync of their own: a lost truncation is redone when
//! the leader resends, and purged entries are below the snapshot, which is durable.
//!
//! A purge after a snapshot can cover thousands of entries. Deleting them in one transaction would
//! hold redb's single writer, and so this server's appends, for tens of milliseconds (long enough
//! for the leader to give up on it). So `purge` only records the new start of the log; the flusher
//! deletes the entries below it in chunks, between and with its commits.

use super::log_tail::LogTail;
use super::types::{decode_err, io_err, Entry, LogId, TypeConfig, Vote};
use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::OptionalSend;
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("raft_log");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("raft_meta");
const VOTE: &str = "vote";
const COMMITTED: &str = "committed";
const LAST_PURGED: &str = "last_purged";

/// Under load, a flush waits until this long after the previous one, so that more appends share
/// its fsync (-6% server CPU per registration under 32 writers, and no worse latency). A write
/// arriving after a quiet spell is flushed at once.
const MIN_FLUSH_INTERVAL: Duration = Duration::from_micros(700);

/// Entries the flusher deletes per transaction while a purge is pending.
const PURGE_CHUNK: u64 = 256;
/// Pause between two purge chunks with nothing else to do: redb's writer lock is not fair, and a
/// flusher that takes it again at once would keep the appends waiting for the whole purge.
const PURGE_PAUSE: Duration = Duration::from_millis(2);

/// How stale the stored commit index may be. It only lets a restart apply committed entries
/// before hearing from a leader; a stale one means those few wait for the leader instead.
const COMMITTED_HINT_EVERY: Duration = Duration::from_millis(100);

#[derive(Clone)]
pub struct LogStore {
    db: Arc<Database>,
    tail: Arc<Mutex<LogTail>>,
    /// The stored vote, read on every replication batch: kept here rather than read from redb.
    vote: Arc<Mutex<Option<Vote>>>,
    /// The newest commit index this process saved, which the db may hold only later.
    committed: Arc<Mutex<Option<Option<LogId>>>>,
    flusher: mpsc::Sender<Flush>,
}

/// Work for the flusher thread.
enum Flush {
    /// Make every append so far durable, then fire this callback.
    Appended(IOFlushed<TypeConfig>),
    /// The newest commit index, a hint written with a later flush rather than in a transaction
    /// of its own.
    Committed(Option<LogId>),
    /// Delete the stored entries up to and including this index (their purge is recorded).
    Purge(u64),
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn get_meta<T: serde::de::DeserializeOwned>(db: &Database, key: &str) -> io::Result<Option<T>> {
    let txn = db.begin_read().map_err(io_err)?;
    let t = txn.open_table(META).map_err(io_err)?;
    match t.get(key).map_err(io_err)? {
        Some(v) => Ok(Some(rmp_serde::from_slice(v.value()).map_err(decode_err)?)),
        None => Ok(None),
    }
}

impl LogStore {
    /// Opens the log tables in `db` and starts the flusher thread, which ends when the last clone
    /// of the store is dropped.
    pub fn open(db: Arc<Database>) -> io::Result<LogStore> {
        let txn = db.begin_write().map_err(io_err)?;
        txn.open_table(LOG).map_err(io_err)?;
        txn.open_table(META).map_err(io_err)?;
        txn.commit().map_err(io_err)?;
        let vote: Option<Vote> = get_meta(&db, VOTE)?;
        let last_purged: Option<LogId> = get_meta(&db, LAST_PURGED)?;
        let last_stored = {
            let txn = db.begin_read().map_err(io_err)?;
            let t = txn.open_table(LOG).map_err(io_err)?;
            let last = t.last().map_err(io_err)?;
            last.map(|(k, _)| k.value())
        };
        let tail = Arc::new(Mutex::new(LogTail::open(last_stored, last_purged)));
        let (tx, rx) = mpsc::channel();
        let flush_db = db.clone();
        std::thread::Builder::new()
            .name("raft-log-flush".into())
            .spawn(move || flusher(flush_db, rx))?;
        Ok(LogStore {
            db,
            tail,
            vote: Arc::new(Mutex::new(vote)),
            committed: Arc::default(),
            flusher: tx,
        })
    }

    fn queue(&self, msg: Flush) -> io::Result<()> {
        self.flusher
            .send(msg)
            .map_err(|_| io_err("the raft log flusher has stopped"))
    }

    /// Whether this server ever voted or logged anything, i.e. belongs to a cluster.
    pub fn has_state(&self) -> io::Result<bool> {
        if lock(&self.vote).is_some() {
            return Ok(true);
        }
        {
            let tail = lock(&self.tail);
            if !tail.is_empty() || tail.last_purged().is_some() {
                return Ok(true);
            }
        }
        let txn = self.db.begin_read().map_err(io_err)?;
        let t = txn.open_table(LOG).map_err(io_err)?;
        let first = t.first().map_err(io_err)?;
        Ok(first.is_some())
    }

    /// Index of the oldest entry redb still holds.
    #[cfg(test)]
    pub(super) fn first_stored_index(&self) -> io::Result<Option<u64>> {
        let txn = self.db.begin_read().map_err(io_err)?;
        let t = txn.open_table(LOG).map_err(io_err)?;
        let first = t.first().map_err(io_err)?;
        Ok(first.map(|(k, _)| k.value()))
    }

    /// Entries `[from, to)` from redb.
    fn read_db(&self, from: u64, to: u64) -> io::Result<Vec<Entry>> {
        let txn = self.db.begin_read().map_err(io_err)?;
        let t = txn.open_table(LOG).map_err(io_err)?;
        let mut out = Vec::new();
        for item in t.range(from..to).map_err(io_err)? {
            let (_, v) = item.map_err(io_err)?;
            out.push(rmp_serde::from_slice::<Entry>(v.value()).map_err(decode_err)?);
        }
        Ok(out)
    }
}

/// Makes batches of `Durability::None` appends durable with one `Immediate` commit each. The
/// commit hint is written at most every [`COMMITTED_HINT_EVERY`], with a flush if one is due: on
/// its own it would cost a transaction per commit.
fn flusher(db: Arc<Database>, rx: mpsc::Receiver<Flush>) {
    let mut hint: Option<Option<LogId>> = None;
    let mut hint_written_at = Instant::now();
    let mut last_flush = Instant::now();
    // Entries up to this index are to be deleted; some may still be stored.
    let mut purge_upto: Option<u64> = None;
    loop {
        let mut closing = false;
        let first = match (hint, purge_upto) {
            (None, None) => match rx.recv() {
                Ok(msg) => Some(msg),
                Err(_) => return,
            },
            _ => {
                // A pending purge goes on after a pause; a hint waits until it is due.
                let wait = if purge_upto.is_some() {
                    PURGE_PAUSE
                } else {
                    COMMITTED_HINT_EVERY.saturating_sub(hint_written_at.elapsed())
                };
                match rx.recv_timeout(wait) {
                    Ok(msg) => Some(msg),
                    Err(mpsc::RecvTimeoutError::Timeout) => None,
                    Err(mpsc::RecvTimeoutError::Disconnected) => {
                        closing = true;
                        None
                    }
                }
            }
        };
        if matches!(first, Some(Flush::Appended(_))) {
            let since = last_flush.elapsed();
            if since < MIN_FLUSH_INTERVAL {
                std::thread::sleep(MIN_FLUSH_INTERVAL - since);
            }
        }
        let mut callbacks = Vec::new();
        for msg in first.into_iter().chain(rx.try_iter()) {
            match msg {
                Flush::Appended(cb) => callbacks.push(cb),
                Flush::Committed(c) => hint = Some(c),
                Flush::Purge(upto) => purge_upto = purge_upto.max(Some(upto)),
            }
        }
        let hint_due =
            hint.is_some() && (closing || hint_written_at.elapsed() >= COMMITTED_HINT_EVERY);
        if callbacks.is_empty() && !hint_due && purge_upto.is_none() {
            continue;
        }
        let write_hint = if hint_due { hint.take() } else { None };
        if write_hint.is_some() {
            hint_written_at = Instant::now();
        }
        let res = (|| -> io::Result<()> {
            let mut txn = db.begin_write().map_err(io_err)?;
            let durability = if callbacks.is_empty() {
                Durability::None
            } else {
                Durability::Immediate
            };
            txn.set_durability(durability).map_err(io_err)?;
            if let Some(c) = write_hint {
                let bytes = rmp_serde::to_vec_named(&c).map_err(io_err)?;
                let mut t = txn.open_table(META).map_err(io_err)?;
                t.insert(COMMITTED, bytes.as_slice()).map_err(io_err)?;
            }
            if let Some(upto) = purge_upto {
                let mut t = txn.open_table(LOG).map_err(io_err)?;
                let first = t.first().map_err(io_err)?.map(|(k, _)| k.value());
                match first {
                    Some(first) if first <= upto => {
                        let end = upto.min(first.saturating_add(PURGE_CHUNK - 1));
                        t.retain_in(first..=end, |_, _| false).map_err(io_err)?;
                        if end == upto {
                            purge_upto = None;
                        }
                    }
                    _ => purge_upto = None,
                }
            }
            txn.commit().map_err(io_err)
        })();
        if res.is_err() {
            // Retried with the next purge; the entries are unreachable below the recorded start.
            purge_upto = None;
        }
        if !callbacks.is_empty() {
            last_flush = Instant::now();
        }
        for cb in callbacks {
            let r = match &res {
                Ok(()) => Ok(()),
                Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
            };
            cb.io_completed(r);
        }
        if closing {
            return;
        }
    }
}

/// Runs `f` on the log table in a `Durability::None` transaction.
fn write_log(
    db: &Database,
    f: impl FnOnce(&mut redb::Table<'_, u64, &'static [u8]>) -> io::Result<()>,
) -> io::Result<()> {
    let mut txn = db.begin_write().map_err(io_err)?;
    txn.set_durability(Durability::None).map_err(io_err)?;
    {
        let mut t = txn.open_table(LOG).map_err(io_err)?;
        f(&mut t)?;
    }
    txn.commit().map_err(io_err)
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        let from = match range.start_bound() {
            Bound::Included(x) => *x,
            Bound::Excluded(x) => x.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let to = match range.end_bound() {
            Bound::Included(x) => x.saturating_add(1),
            Bound::Excluded(x) => *x,
            Bound::Unbounded => u64::MAX,
        };
        let plan = lock(&self.tail).plan_read(from, to);
        if plan.from_db.is_empty() {
            return Ok(plan.from_tail);
        }
        let mut out = self.read_db(plan.from_db.start, plan.from_db.end)?;
        out.extend(plan.from_tail);
        Ok(out)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        Ok(*lock(&self.vote))
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        let (last, below, last_purged) = {
            let tail = lock(&self.tail);
            (tail.last(), tail.start(), tail.last_purged())
        };
        let last = match last {
            Some(l) => Some(l),
            // Nothing in memory: the newest entry is the last one redb holds below the tail.
            None => {
                let txn = self.db.begin_read().map_err(io_err)?;
                let t = txn.open_table(LOG).map_err(io_err)?;
                let mut range = t.range(..below).map_err(io_err)?;
                match range.next_back() {
                    Some(item) => {
                        let (_, v) = item.map_err(io_err)?;
                        Some(
                            rmp_serde::from_slice::<Entry>(v.value())
                                .map_err(decode_err)?
                                .log_id(),
                        )
                    }
                    None => None,
                }
            }
        };
        let last = match (last, last_purged) {
            (Some(l), Some(p)) if l.index() <= p.index() => Some(p),
            (l, p) => l.or(p),
        };
        Ok(LogState {
            last_log_id: last,
            last_purged_log_id: last_purged,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), io::Error> {
        let db = self.db.clone();
        let vote = *vote;
        tokio::task::spawn_blocking(move || -> io::Result<()> {
            let bytes = rmp_serde::to_vec_named(&vote).map_err(io_err)?;
            let mut txn = db.begin_write().map_err(io_err)?;
            txn.set_durability(Durability::Immediate).map_err(io_err)?;
            {
                let mut t = txn.open_table(META).map_err(io_err)?;
                t.insert(VOTE, bytes.as_slice()).map_err(io_err)?;
            }
            txn.commit().map_err(io_err)
        })
        .await
        .map_err(io_err)??;
        *lock(&self.vote) = Some(vote);
        Ok(())
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), io::Error> {
        // A hint that lets a restart re-apply committed entries at once; it need not be durable,
        // so it rides along with the next flush instead of costing a transaction of its own.
        *lock(&self.committed) = Some(committed);
        self.queue(Flush::Committed(committed))
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, io::Error> {
        if let Some(c) = *lock(&self.committed) {
            return Ok(c);
        }
        Ok(get_meta::<Option<LogId>>(&self.db, COMMITTED)?.flatten())
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
        let entries: Vec<Entry> = entries.into_iter().collect();
        write_log(&self.db, |t| {
            let mut buf = Vec::new();
            for e in &entries {
                buf.clear();
                rmp_serde::encode::write_named(&mut buf, e).map_err(io_err)?;
                t.insert(e.index(), buf.as_slice()).map_err(io_err)?;
            }
            Ok(())
        })?;
        lock(&self.tail).append(&entries).map_err(io_err)?;
        self.queue(Flush::Appended(callback))
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> Result<(), io::Error> {
        let from = last_log_id.map(|l| l.index() + 1).unwrap_or(0);
        write_log(&self.db, |t| {
            t.retain_in(from.., |_, _| false).map_err(io_err)
        })?;
        lock(&self.tail).truncate(from);
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), io::Error> {
        // The new start is recorded before any entry goes: a restart never finds entries missing
        // below a start it does not know about. The deletion itself is the flusher's.
        let bytes = rmp_serde::to_vec_named(&log_id).map_err(io_err)?;
        let mut txn = self.db.begin_write().map_err(io_err)?;
        txn.set_durability(Durability::None).map_err(io_err)?;
        {
            let mut meta = txn.open_table(META).map_err(io_err)?;
            meta.insert(LAST_PURGED, bytes.as_slice()).map_err(io_err)?;
        }
        txn.commit().map_err(io_err)?;
        lock(&self.tail).purge(log_id);
        // Once per snapshot: operators (and the catch-up test) see which entries a lagging
        // follower can no longer be sent.
        tracing::info!(upto = log_id.index(), "raft: log purged");
        self.queue(Flush::Purge(log_id.index()))
    }
}
