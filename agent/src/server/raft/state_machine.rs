//! The replicated state machine: committed commands applied to the in-memory [`StateStore`],
//! snapshotted to a file (`snapshot_file`).
//!
//! The tables are persistent maps, so a snapshot starts as an O(1) clone; encoding it happens off
//! the raft task, on a thread of its own, straight to the file. Restart = the stored snapshot,
//! then openraft replays the committed log after it.

use super::snapshot_file::{SnapshotDir, SnapshotFile};
use super::types::{
    decode_err, io_err, Applied, LogId, Snapshot, SnapshotData, SnapshotMeta, StoredMembership,
    TypeConfig,
};
use crate::state::{StateStore, Tables, TablesImage};
use futures::{Stream, TryStreamExt};
use openraft::storage::{EntryResponder, RaftSnapshotBuilder, RaftStateMachine};
use openraft::{EntryPayload, OptionalSend};
use redb::{Database, ReadableDatabase, TableDefinition};
use serde::{Deserialize, Serialize};
use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::Arc;

/// Where earlier versions kept the snapshot: a redb table, in `snapshot.db` and before that in
/// the log's file.
const LEGACY_TABLE: TableDefinition<&str, &[u8]> = TableDefinition::new("raft_snapshot");
const LEGACY_KEY: &str = "current";
const LEGACY_DB: &str = "snapshot.db";

/// A snapshot as earlier versions stored it in redb: its meta and the encoded tables.
#[derive(Serialize, Deserialize)]
pub(super) struct StoredSnapshot {
    pub(super) meta: SnapshotMeta,
    #[serde(with = "serde_bytes")]
    pub(super) data: Vec<u8>,
}

pub struct StateMachine {
    state: Arc<StateStore>,
    snapshots: SnapshotDir,
    last_applied: Option<LogId>,
    membership: StoredMembership,
}

impl StateMachine {
    /// Restores the state from the snapshot in `dir`, if there is one. A snapshot that an
    /// earlier version left in redb (`snapshot.db`, or before that the log's file `log_db`) is
    /// first written out as a file, and removed from redb once the file is durable.
    pub fn open(dir: &Path, log_db: &Database, state: Arc<StateStore>) -> io::Result<StateMachine> {
        let snapshots = SnapshotDir::new(dir);
        snapshots.remove_leftovers()?;
        migrate_legacy(&snapshots, dir, log_db)?;
        let mut sm = StateMachine {
            state,
            snapshots,
            last_applied: None,
            membership: StoredMembership::default(),
        };
        if let Some(file) = sm.snapshots.current()? {
            let (meta, tables) = decode_file(&file)?;
            drop(sm.restore(&meta, tables));
        }
        Ok(sm)
    }

    /// Makes `tables` the state as of `meta`, handing back the tables they replace.
    fn restore(&mut self, meta: &SnapshotMeta, tables: Tables) -> Tables {
        self.last_applied = meta.last_log_id;
        self.membership = meta.last_membership.clone();
        self.state.restore(tables)
    }
}

/// Moves a snapshot kept in redb by an earlier version to the snapshot file.
fn migrate_legacy(snapshots: &SnapshotDir, dir: &Path, log_db: &Database) -> io::Result<()> {
    let old_db = dir.join(LEGACY_DB);
    if old_db.exists() {
        adopt_legacy(snapshots, &Database::open(&old_db).map_err(io_err)?)?;
        std::fs::remove_file(&old_db)?;
    }
    if adopt_legacy(snapshots, log_db)? {
        let txn = log_db.begin_write().map_err(io_err)?;
        txn.delete_table(LEGACY_TABLE).map_err(io_err)?;
        txn.commit().map_err(io_err)?;
    }
    Ok(())
}

/// Writes out the snapshot `db` holds, unless there is a snapshot file already (newer, as the
/// file came after redb); answers whether `db` held one.
fn adopt_legacy(snapshots: &SnapshotDir, db: &Database) -> io::Result<bool> {
    let Some(old) = read_legacy(db)? else {
        return Ok(false);
    };
    if snapshots.current()?.is_none() {
        snapshots.write(&old.meta, |w| w.write_all(&old.data))?;
    }
    Ok(true)
}

/// The snapshot an earlier version stored in `db`, if it has one.
pub(super) fn read_legacy(db: &Database) -> io::Result<Option<StoredSnapshot>> {
    let txn = db.begin_read().map_err(io_err)?;
    let t = match txn.open_table(LEGACY_TABLE) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(io_err(e)),
    };
    match t.get(LEGACY_KEY).map_err(io_err)? {
        Some(v) => Ok(Some(rmp_serde::from_slice(v.value()).map_err(decode_err)?)),
        None => Ok(None),
    }
}

/// Stores `snap` in `db` as earlier versions did, for the tests of upgrading from them.
#[cfg(test)]
pub(super) fn write_legacy(db: &Database, snap: &StoredSnapshot) -> io::Result<()> {
    let bytes = rmp_serde::to_vec_named(snap).map_err(io_err)?;
    let txn = db.begin_write().map_err(io_err)?;
    {
        let mut t = txn.open_table(LEGACY_TABLE).map_err(io_err)?;
        t.insert(LEGACY_KEY, bytes.as_slice()).map_err(io_err)?;
    }
    txn.commit().map_err(io_err)
}

/// Marks snapshot data compressed with LZ4 as one block, as an earlier version wrote it; data
/// with neither mark is plain MessagePack, as the first versions wrote it.
const LZ4_MAGIC: &[u8; 4] = b"NRZ4";
/// Marks snapshot data written as an LZ4 frame (a stream of blocks).
const LZ4_FRAME_MAGIC: &[u8; 4] = b"NRF4";

/// Writes the tables as snapshot data: MessagePack with field names (the api types skip empty
/// fields, so positional encoding cannot decode them), compressed with LZ4 as it is encoded. The
/// names repeat in every object and compress about tenfold. Nothing of it is held in memory:
/// the plain encoding is over a gigabyte at a million allocations.
fn encode_image_into(tables: &Tables, w: &mut dyn Write) -> io::Result<()> {
    w.write_all(LZ4_FRAME_MAGIC)?;
    let mut encoder = lz4_flex::frame::FrameEncoder::new(w);
    rmp_serde::encode::write_named(&mut encoder, &tables.to_image()).map_err(io_err)?;
    encoder.finish().map_err(io_err)?;
    Ok(())
}

/// Reads snapshot data in any of the encodings written so far.
fn decode_image(mut r: impl Read) -> io::Result<TablesImage> {
    let mut magic = [0u8; 4];
    let got = read_up_to(&mut r, &mut magic)?;
    if got == 4 && &magic == LZ4_FRAME_MAGIC {
        let decoder = lz4_flex::frame::FrameDecoder::new(r);
        return rmp_serde::from_read(decoder).map_err(decode_err);
    }
    let mut data = magic[..got].to_vec();
    r.read_to_end(&mut data)?;
    match data.strip_prefix(LZ4_MAGIC) {
        Some(compressed) => {
            let plain = lz4_flex::decompress_size_prepended(compressed).map_err(decode_err)?;
            rmp_serde::from_slice(&plain).map_err(decode_err)
        }
        None => rmp_serde::from_slice(&data).map_err(decode_err),
    }
}

/// Fills `buf` as far as the reader goes; answers how many bytes were read.
fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// The meta and tables of a snapshot file (blocking).
fn decode_file(file: &SnapshotFile) -> io::Result<(SnapshotMeta, Tables)> {
    let (meta, data) = file.read()?;
    Ok((meta, Tables::from_image(decode_image(data)?)))
}

/// Builds a snapshot from the tables as they were when it was created: openraft runs it in its
/// own task while later entries are applied, so it must not look at the live state.
pub struct SnapshotBuilder {
    tables: Tables,
    meta: SnapshotMeta,
    snapshots: SnapshotDir,
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
        // A snapshot asked for just before one from the leader was installed would encode the
        // very state that snapshot holds (seconds of CPU and a pinned copy of every table at a
        // million allocations): the installed one serves.
        if let Some(current) = self.snapshots.current()? {
            let (meta, _) = current.read()?;
            if meta.last_log_id >= self.meta.last_log_id {
                return Ok(Snapshot {
                    meta,
                    snapshot: current,
                });
            }
        }
        let tables = self.tables.clone();
        let meta = self.meta.clone();
        let snapshots = self.snapshots.clone();
        let (done, built) = tokio::sync::oneshot::channel();
        let started = std::time::Instant::now();
        std::thread::Builder::new()
            .name("raft-snapshot".into())
            .spawn(move || {
                // Encoding the whole state takes a while on a big cluster; requests waiting on
                // the same cores matter more than when the snapshot is done.
                lower_thread_priority();
                let file = snapshots.write(&meta, |w| encode_image_into(&tables, w));
                let _ = done.send(file.map(|f| (f, thread_cpu_ms())));
            })?;
        let (file, cpu_ms) = built
            .await
            .map_err(|_| io_err("the snapshot thread ended without a result"))??;
        tracing::info!(
            index = self.meta.last_log_id.map(|l| l.index()),
            bytes = file.len(),
            took_ms = started.elapsed().as_millis() as u64,
            cpu_ms,
            "raft: snapshot built"
        );
        Ok(Snapshot {
            meta: self.meta.clone(),
            snapshot: file,
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
            snapshots: self.snapshots.clone(),
        }
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: SnapshotData,
    ) -> Result<(), io::Error> {
        let started = std::time::Instant::now();
        let bytes = snapshot.len();
        // Decoding a large state takes seconds, and freeing the one it replaces nearly as long:
        // neither may hold the runtime's threads, which carry this server's heartbeats and rpc.
        let (tables, snapshot) = tokio::task::spawn_blocking(move || {
            decode_file(&snapshot).map(|(_, tables)| (tables, snapshot))
        })
        .await
        .map_err(io_err)??;
        let decoded_ms = started.elapsed().as_millis() as u64;
        let replaced = self.restore(meta, tables);
        let snapshots = self.snapshots.clone();
        let installed = meta.clone();
        tokio::task::spawn_blocking(move || {
            drop(replaced);
            snapshots.install(&installed, &snapshot)
        })
        .await
        .map_err(io_err)??;
        tracing::info!(
            index = meta.last_log_id.map(|l| l.index()),
            bytes,
            decoded_ms,
            took_ms = started.elapsed().as_millis() as u64,
            "raft: installed snapshot from the leader"
        );
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, io::Error> {
        let Some(file) = self.snapshots.current()? else {
            return Ok(None);
        };
        let (meta, _) = file.read()?;
        Ok(Some(Snapshot {
            meta,
            snapshot: file,
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
        let mut data = Vec::new();
        encode_image_into(&tables, &mut data).unwrap();
        let plain = rmp_serde::to_vec_named(&tables.to_image()).unwrap();
        assert!(data.starts_with(LZ4_FRAME_MAGIC));
        assert!(
            data.len() * 4 < plain.len(),
            "{} vs {}",
            data.len(),
            plain.len()
        );
        let back = Tables::from_image(decode_image(data.as_slice()).unwrap());
        assert_eq!(back.jobs().count(), 200);
        assert_eq!(back.index, tables.index);
    }

    #[test]
    fn plain_snapshot_data_from_earlier_versions_still_decodes() {
        // Scenario: data without the LZ4 mark is read as the plain MessagePack of before.
        let tables = tables_with_jobs(3);
        let plain = rmp_serde::to_vec_named(&tables.to_image()).unwrap();
        let back = Tables::from_image(decode_image(plain.as_slice()).unwrap());
        assert_eq!(back.jobs().count(), 3);
        assert!(decode_image(&b"NRZ4 not lz4"[..]).is_err());
        assert!(decode_image(&b"NRF4 not a frame"[..]).is_err());
    }

    #[test]
    fn block_compressed_snapshot_data_from_the_previous_version_still_decodes() {
        let tables = tables_with_jobs(3);
        let plain = rmp_serde::to_vec_named(&tables.to_image()).unwrap();
        let mut data = LZ4_MAGIC.to_vec();
        data.extend_from_slice(&lz4_flex::compress_prepend_size(&plain));
        let back = Tables::from_image(decode_image(data.as_slice()).unwrap());
        assert_eq!(back.jobs().count(), 3);
    }
}
