//! The replicated state machine: committed commands applied to the in-memory [`StateStore`],
//! snapshotted to redb.
//!
//! The tables are persistent maps, so a snapshot starts as an O(1) clone; encoding it happens off
//! the raft task. Restart = the stored snapshot, then openraft replays the committed log after it.
//!
//! Snapshots live in a redb file of their own (`snapshot.db`), not in the log's: redb has one
//! writer per file, and writing a snapshot of tens of MB on a low-priority thread would hold the
//! log's appends behind it (followers then miss the leader's replication deadline and the whole
//! cluster stalls for the length of the write).

use super::types::{
    decode_err, io_err, Applied, LogId, Snapshot, SnapshotData, SnapshotMeta, StoredMembership,
    TypeConfig,
};
use crate::state::{StateStore, Tables, TablesImage};
use futures::{Stream, TryStreamExt};
use openraft::storage::{EntryResponder, RaftSnapshotBuilder, RaftStateMachine};
use openraft::{EntryPayload, OptionalSend};
use redb::{Database, Durability, ReadableDatabase, TableDefinition};
use serde::{Deserialize, Serialize};
use std::io::{self, Cursor};
use std::sync::Arc;

const SNAPSHOT: TableDefinition<&str, &[u8]> = TableDefinition::new("raft_snapshot");
/// The snapshot's meta, MessagePack.
const META: &str = "meta";
/// The snapshot's data as it is sent to followers, stored as is: encoding it inside another
/// value would copy hundreds of MB at a million allocations.
const DATA: &str = "data";
/// Where earlier versions kept meta and data together, as one MessagePack value.
const LEGACY: &str = "current";

/// A snapshot as stored: its meta and the encoded tables.
#[derive(Serialize, Deserialize)]
pub(super) struct StoredSnapshot {
    meta: SnapshotMeta,
    #[serde(with = "serde_bytes")]
    data: Vec<u8>,
}

pub struct StateMachine {
    state: Arc<StateStore>,
    db: Arc<Database>,
    last_applied: Option<LogId>,
    membership: StoredMembership,
}

impl StateMachine {
    /// Opens the snapshot table in `db` and restores the state from the stored snapshot, if any.
    /// `log_db` is the raft log's file, where earlier versions kept the snapshot: one found only
    /// there is moved over, so an upgraded server keeps the state its purged log no longer holds.
    pub fn open(
        db: Arc<Database>,
        log_db: &Database,
        state: Arc<StateStore>,
    ) -> io::Result<StateMachine> {
        let txn = db.begin_write().map_err(io_err)?;
        txn.open_table(SNAPSHOT).map_err(io_err)?;
        txn.commit().map_err(io_err)?;
        let mut sm = StateMachine {
            state,
            db,
            last_applied: None,
            membership: StoredMembership::default(),
        };
        let mut stored = read_snapshot(&sm.db)?;
        if stored.is_none() {
            stored = read_snapshot(log_db)?;
            if let Some(snap) = &stored {
                StateMachine::write_snapshot(&sm.db, snap)?;
                // Moved, and durable in its new place: the log's file need not keep a copy.
                let txn = log_db.begin_write().map_err(io_err)?;
                txn.delete_table(SNAPSHOT).map_err(io_err)?;
                txn.commit().map_err(io_err)?;
            }
        }
        if let Some(snap) = stored {
            let tables = Tables::from_image(decode_image(&snap.data)?);
            drop(sm.restore(&snap.meta, tables));
        }
        Ok(sm)
    }

    pub(super) fn write_snapshot(db: &Database, snap: &StoredSnapshot) -> io::Result<()> {
        let meta = rmp_serde::to_vec_named(&snap.meta).map_err(io_err)?;
        let mut txn = db.begin_write().map_err(io_err)?;
        txn.set_durability(Durability::Immediate).map_err(io_err)?;
        {
            let mut t = txn.open_table(SNAPSHOT).map_err(io_err)?;
            t.insert(META, meta.as_slice()).map_err(io_err)?;
            t.insert(DATA, snap.data.as_slice()).map_err(io_err)?;
            t.remove(LEGACY).map_err(io_err)?;
        }
        txn.commit().map_err(io_err)
    }

    /// Writes `snap` as earlier versions did, for the tests of upgrading from them.
    #[cfg(test)]
    pub(super) fn write_legacy_snapshot(db: &Database, snap: &StoredSnapshot) -> io::Result<()> {
        let bytes = rmp_serde::to_vec_named(snap).map_err(io_err)?;
        let txn = db.begin_write().map_err(io_err)?;
        {
            let mut t = txn.open_table(SNAPSHOT).map_err(io_err)?;
            t.insert(LEGACY, bytes.as_slice()).map_err(io_err)?;
        }
        txn.commit().map_err(io_err)
    }

    /// Makes `tables` the state as of `meta`, handing back the tables they replace.
    fn restore(&mut self, meta: &SnapshotMeta, tables: Tables) -> Tables {
        self.last_applied = meta.last_log_id;
        self.membership = meta.last_membership.clone();
        self.state.restore(tables)
    }
}

/// Marks snapshot data compressed with LZ4 as one block, as an earlier version wrote it; data
/// with neither mark is plain MessagePack, as the first versions wrote it.
const LZ4_MAGIC: &[u8; 4] = b"NRZ4";
/// Marks snapshot data written as an LZ4 frame (a stream of blocks).
const LZ4_FRAME_MAGIC: &[u8; 4] = b"NRF4";

/// The tables as snapshot data: MessagePack with field names (the api types skip empty fields, so
/// positional encoding cannot decode them), compressed with LZ4 as it is encoded. The names
/// repeat in every object and compress about tenfold, and a snapshot written is a snapshot that
/// other writes to the same disk (the log's fsyncs) wait behind. Streaming through the frame
/// encoder means the plain encoding (over a gigabyte at a million allocations) is never held in
/// memory whole.
fn encode_image(tables: &Tables) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    out.extend_from_slice(LZ4_FRAME_MAGIC);
    let mut encoder = lz4_flex::frame::FrameEncoder::new(out);
    rmp_serde::encode::write_named(&mut encoder, &tables.to_image()).map_err(io_err)?;
    encoder.finish().map_err(io_err)
}

fn decode_image(data: &[u8]) -> io::Result<TablesImage> {
    if let Some(frame) = data.strip_prefix(LZ4_FRAME_MAGIC) {
        let decoder = lz4_flex::frame::FrameDecoder::new(frame);
        return rmp_serde::from_read(decoder).map_err(decode_err);
    }
    match data.strip_prefix(LZ4_MAGIC) {
        Some(compressed) => {
            let plain = lz4_flex::decompress_size_prepended(compressed).map_err(decode_err)?;
            rmp_serde::from_slice(&plain).map_err(decode_err)
        }
        None => rmp_serde::from_slice(data).map_err(decode_err),
    }
}

/// The snapshot stored in `db`, if it has one (a file without the table has none).
pub(super) fn read_snapshot(db: &Database) -> io::Result<Option<StoredSnapshot>> {
    let txn = db.begin_read().map_err(io_err)?;
    let t = match txn.open_table(SNAPSHOT) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(io_err(e)),
    };
    if let Some(data) = t.get(DATA).map_err(io_err)? {
        let meta = t
            .get(META)
            .map_err(io_err)?
            .ok_or_else(|| decode_err("a stored snapshot's data without its meta"))?;
        return Ok(Some(StoredSnapshot {
            meta: rmp_serde::from_slice(meta.value()).map_err(decode_err)?,
            data: data.value().to_vec(),
        }));
    }
    match t.get(LEGACY).map_err(io_err)? {
        Some(v) => Ok(Some(rmp_serde::from_slice(v.value()).map_err(decode_err)?)),
        None => Ok(None),
    }
}

/// Builds a snapshot from the tables as they were when it was created: openraft runs it in its
/// own task while later entries are applied, so it must not look at the live state.
pub struct SnapshotBuilder {
    tables: Tables,
    meta: SnapshotMeta,
    db: Arc<Database>,
}

/// Nice value of the thread that builds snapshots.
const SNAPSHOT_NICE: libc::c_int = 10;

/// Gives the calling thread a lower CPU priority (on Linux the nice value is per thread). Best
/// effort: a failure only means the snapshot competes at normal priority.
fn lower_thread_priority() {
    let tid = nix::unistd::gettid().as_raw();
    // SAFETY: setpriority only reads its integer arguments; `tid` is this thread's own id.
    let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, SNAPSHOT_NICE) };
    if rc != 0 {
        tracing::debug!(err = %io::Error::last_os_error(), "lowering the snapshot thread's priority");
    }
}

/// CPU time the calling thread has used, in ms (0 if the clock cannot be read): a snapshot's
/// wall time on a busy server says more about the other threads than about the snapshot.
fn thread_cpu_ms() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes only into `ts`, which lives for the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0;
    }
    (ts.tv_sec as u64) * 1000 + (ts.tv_nsec as u64) / 1_000_000
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    type SnapshotData = SnapshotData;

    async fn build_snapshot(&mut self) -> Result<Snapshot, io::Error> {
        let tables = self.tables.clone();
        let meta = self.meta.clone();
        let db = self.db.clone();
        let (done, built) = tokio::sync::oneshot::channel();
        let started = std::time::Instant::now();
        std::thread::Builder::new()
            .name("raft-snapshot".into())
            .spawn(move || {
                // Encoding the whole state takes a while on a big cluster; requests waiting on
                // the same cores matter more than when the snapshot is done.
                lower_thread_priority();
                let build = || -> io::Result<(StoredSnapshot, u64)> {
                    let data = encode_image(&tables)?;
                    let encode_cpu_ms = thread_cpu_ms();
                    let stored = StoredSnapshot { meta, data };
                    StateMachine::write_snapshot(&db, &stored)?;
                    Ok((stored, encode_cpu_ms))
                };
                let _ = done.send(build());
            })?;
        let (stored, encode_cpu_ms) = built
            .await
            .map_err(|_| io_err("the snapshot thread ended without a result"))??;
        tracing::info!(
            index = stored.meta.last_log_id.map(|l| l.index()),
            bytes = stored.data.len(),
            took_ms = started.elapsed().as_millis() as u64,
            encode_cpu_ms,
            "raft: snapshot built"
        );
        Ok(Snapshot {
            meta: stored.meta,
            snapshot: Cursor::new(stored.data),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotData = SnapshotData;
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), io::Error> {
        Ok((self.last_applied, self.membership.clone()))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: Stream<Item = Result<EntryResponder<TypeConfig>, io::Error>> + Unpin + OptionalSend,
    {
        while let Some((entry, responder)) = entries.try_next().await? {
            let index = entry.log_id.index();
            self.last_applied = Some(entry.log_id);
            let result = match entry.payload {
                EntryPayload::Normal(payload) => {
                    // A committed entry that does not decode cannot be skipped: stopping is
                    // the only way to not diverge from the other servers.
                    let cmd = payload
                        .command()
                        .map_err(|e| decode_err(format!("log entry {index} ({payload}): {e}")))?;
                    let result = self.state.apply(index, &cmd);
                    // Entries proposed together arrive together: give the rest of this thread's
                    // work (raft heartbeats among it) a turn between them.
                    tokio::task::yield_now().await;
                    result
                }
                EntryPayload::Membership(m) => {
                    self.membership = StoredMembership::new(Some(entry.log_id), m);
                    Default::default()
                }
                EntryPayload::Blank => Default::default(),
            };
            if let Some(r) = responder {
                r.send(Applied { index, result });
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder {
            tables: self.state.snapshot(),
            meta: SnapshotMeta {
                last_log_id: self.last_applied,
                last_membership: self.membership.clone(),
            },
            db: self.db.clone(),
        }
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: SnapshotData,
    ) -> Result<(), io::Error> {
        let data = snapshot.into_inner();
        let started = std::time::Instant::now();
        // Decoding a large state takes seconds, and freeing the one it replaces nearly as long:
        // neither may hold the runtime's threads, which carry this server's heartbeats and rpc.
        let (tables, data) = tokio::task::spawn_blocking(move || {
            decode_image(&data).map(|img| (Tables::from_image(img), data))
        })
        .await
        .map_err(io_err)??;
        let decoded_ms = started.elapsed().as_millis() as u64;
        let replaced = self.restore(meta, tables);
        let stored = StoredSnapshot {
            meta: meta.clone(),
            data,
        };
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            drop(replaced);
            StateMachine::write_snapshot(&db, &stored)
        })
        .await
        .map_err(io_err)??;
        tracing::info!(
            index = meta.last_log_id.map(|l| l.index()),
            decoded_ms,
            took_ms = started.elapsed().as_millis() as u64,
            "raft: installed snapshot from the leader"
        );
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, io::Error> {
        Ok(read_snapshot(&self.db)?.map(|s| Snapshot {
            meta: s.meta,
            snapshot: Cursor::new(s.data),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Command;

    fn tables_with_jobs(n: usize) -> Tables {
        let state = StateStore::default();
        for i in 0..n {
            let mut job = api::Job {
                id: format!("job-{i}"),
                name: format!("job-{i}"),
                ..Default::default()
            };
            job.canonicalize();
            let cmd = Command::JobRegister {
                job: Box::new(job),
                eval: None,
                now: 0,
            };
            state.apply(i as u64 + 1, &cmd);
        }
        state.snapshot()
    }

    #[test]
    fn snapshot_data_is_compressed_and_decodes_back() {
        // Scenario: 200 jobs encode to LZ4-marked data well under the plain encoding's size,
        // and decode to the same jobs.
        let tables = tables_with_jobs(200);
        let data = encode_image(&tables).unwrap();
        let plain = rmp_serde::to_vec_named(&tables.to_image()).unwrap();
        assert!(data.starts_with(LZ4_FRAME_MAGIC));
        assert!(
            data.len() * 4 < plain.len(),
            "{} vs {}",
            data.len(),
            plain.len()
        );
        let back = Tables::from_image(decode_image(&data).unwrap());
        assert_eq!(back.jobs().count(), 200);
        assert_eq!(back.index, tables.index);
    }

    #[test]
    fn plain_snapshot_data_from_earlier_versions_still_decodes() {
        // Scenario: data without the LZ4 mark is read as the plain MessagePack of before.
        let tables = tables_with_jobs(3);
        let plain = rmp_serde::to_vec_named(&tables.to_image()).unwrap();
        let back = Tables::from_image(decode_image(&plain).unwrap());
        assert_eq!(back.jobs().count(), 3);
        assert!(decode_image(b"NRZ4 not lz4").is_err());
        assert!(decode_image(b"NRF4 not a frame").is_err());
    }

    #[test]
    fn block_compressed_snapshot_data_from_the_previous_version_still_decodes() {
        let tables = tables_with_jobs(3);
        let plain = rmp_serde::to_vec_named(&tables.to_image()).unwrap();
        let mut data = LZ4_MAGIC.to_vec();
        data.extend_from_slice(&lz4_flex::compress_prepend_size(&plain));
        let back = Tables::from_image(decode_image(&data).unwrap());
        assert_eq!(back.jobs().count(), 3);
    }
}
