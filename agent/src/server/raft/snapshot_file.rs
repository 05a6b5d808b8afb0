//! Snapshots as files, as hashicorp/raft keeps them: `snapshot.bin` in the raft directory, the
//! meta in a small header and the encoded state after it.
//!
//! A snapshot of a million allocations is ~175 MB. Kept as a value in redb it had to be whole in
//! memory to be written (twice, with redb's dirty pages), whole again to be read for a follower,
//! and whole on the follower that received it; the redb file also grew by a snapshot's size
//! each time. As a file it is streamed: encoded straight to disk, sent and received in pieces,
//! decoded straight from disk. A file is written under another name, synced, and renamed into
//! place, so `snapshot.bin` is always a whole snapshot. An open file stays readable after a newer
//! snapshot replaces it, so a follower being sent one never sees it change.

use super::types::{decode_err, io_err, SnapshotMeta};
use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The first bytes of a snapshot file.
const MAGIC: &[u8; 4] = b"NRS1";
/// The current snapshot, in the raft directory.
const CURRENT: &str = "snapshot.bin";
/// A snapshot being built here.
const BUILDING: &str = "snapshot.bin.building";
/// Snapshots being received from a leader: `snapshot.bin.incoming-<n>`, one name per transfer,
/// so that a leader's retry never writes into the file an install is still decoding.
const INCOMING: &str = "snapshot.bin.incoming-";

/// A snapshot's data as openraft passes it around: an open snapshot file.
#[derive(Clone, Debug)]
pub struct SnapshotFile {
    file: Arc<File>,
    path: PathBuf,
    len: u64,
}

impl SnapshotFile {
    fn open(path: PathBuf) -> io::Result<SnapshotFile> {
        let file = File::open(&path)?;
        let len = file.metadata()?.len();
        Ok(SnapshotFile {
            file: Arc::new(file),
            path,
            len,
        })
    }

    /// The whole file's length: what is sent to a follower.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// `len` bytes at `offset` of the file (blocking).
    pub fn read_at(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let mut buf = vec![0; len];
        self.file.read_exact_at(&mut buf, offset)?;
        Ok(buf)
    }

    /// The meta in the header, and a reader of the encoded state after it (blocking).
    pub fn read(&self) -> io::Result<(SnapshotMeta, impl Read + '_)> {
        let from_start = ReadAt {
            file: &self.file,
            pos: 0,
        };
        let mut r = BufReader::with_capacity(1 << 20, from_start);
        let mut head = [0u8; 8];
        r.read_exact(&mut head)
            .map_err(|e| decode_err(format!("{}: header: {e}", self.path.display())))?;
        if &head[..4] != MAGIC {
            return Err(decode_err(format!(
                "{}: not a snapshot file",
                self.path.display()
            )));
        }
        let meta_len = u32::from_be_bytes([head[4], head[5], head[6], head[7]]) as usize;
        let mut meta = vec![0; meta_len];
        r.read_exact(&mut meta)?;
        let meta = rmp_serde::from_slice(&meta)
            .map_err(|e| decode_err(format!("{}: meta: {e}", self.path.display())))?;
        Ok((meta, r))
    }
}

/// Reads a file from its own position: the handle is shared (a snapshot may be sent to two
/// followers while it is read), and the file's own offset would be shared with it.
struct ReadAt<'a> {
    file: &'a File,
    pos: u64,
}

impl Read for ReadAt<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// Where a server keeps its snapshot.
#[derive(Clone)]
pub struct SnapshotDir {
    dir: PathBuf,
    /// Held while a snapshot becomes the current one: one built here and one received from a
    /// leader may finish together, and the newer must win.
    swap: Arc<Mutex<()>>,
    /// Numbers the transfers received.
    transfers: Arc<AtomicU64>,
}

impl SnapshotDir {
    pub fn new(dir: &Path) -> SnapshotDir {
        SnapshotDir {
            dir: dir.to_path_buf(),
            swap: Arc::default(),
            transfers: Arc::default(),
        }
    }

    /// Removes what a server stopped mid-way left: a snapshot half built or half received.
    /// Only at start, before anything builds or receives one.
    pub fn remove_leftovers(&self) -> io::Result<()> {
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name == BUILDING || name.starts_with(INCOMING) {
                std::fs::remove_file(entry.path())?;
            }
        }
        Ok(())
    }

    /// The current snapshot, if there is one.
    pub fn current(&self) -> io::Result<Option<SnapshotFile>> {
        match SnapshotFile::open(self.dir.join(CURRENT)) {
            Ok(f) => Ok(Some(f)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes a snapshot built here and makes it the current one, unless a newer one got there
    /// first (blocking). `data` writes the encoded state.
    pub fn write(
        &self,
        meta: &SnapshotMeta,
        data: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> io::Result<SnapshotFile> {
        let path = self.dir.join(BUILDING);
        write_file(&path, meta, data)?;
        let built = SnapshotFile::open(path)?;
        self.make_current(meta, &built)
    }

    /// A new file, and its path, for a snapshot a leader sends in pieces.
    pub fn incoming(&self) -> io::Result<(File, PathBuf)> {
        let path = self.next_incoming();
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&path)?;
        Ok((file, path))
    }

    fn next_incoming(&self) -> PathBuf {
        let n = self.transfers.fetch_add(1, Ordering::Relaxed);
        self.dir.join(format!("{INCOMING}{n}"))
    }

    /// The received snapshot, once all of it is written to `file` at `path` (blocking).
    pub fn received(&self, file: File, path: PathBuf) -> io::Result<SnapshotFile> {
        file.sync_all()?;
        drop(file);
        SnapshotFile::open(path)
    }

    /// A snapshot received whole, as earlier versions send it: the meta and the encoded state
    /// (blocking).
    pub fn received_whole(&self, meta: &SnapshotMeta, data: &[u8]) -> io::Result<SnapshotFile> {
        let path = self.next_incoming();
        write_file(&path, meta, |w| w.write_all(data))?;
        SnapshotFile::open(path)
    }

    /// Makes a received snapshot, once decoded, the current one (blocking).
    pub fn install(&self, meta: &SnapshotMeta, snapshot: &SnapshotFile) -> io::Result<()> {
        self.make_current(meta, snapshot).map(drop)
    }

    /// Renames `snapshot` into place, unless the current snapshot is as new or newer: then
    /// `snapshot` is removed, and the current one answered.
    fn make_current(
        &self,
        meta: &SnapshotMeta,
        snapshot: &SnapshotFile,
    ) -> io::Result<SnapshotFile> {
        let current = self.dir.join(CURRENT);
        if snapshot.path == current {
            return Ok(snapshot.clone());
        }
        let _swap = match self.swap.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(existing) = self.current()? {
            let (existing_meta, _) = existing.read()?;
            if existing_meta.last_log_id >= meta.last_log_id {
                std::fs::remove_file(&snapshot.path)?;
                return Ok(existing);
            }
        }
        std::fs::rename(&snapshot.path, &current)?;
        // A rename is durable once the directory is synced.
        File::open(&self.dir)?.sync_all()?;
        SnapshotFile::open(current)
    }
}

/// Writes a snapshot file at `path` and syncs it.
fn write_file(
    path: &Path,
    meta: &SnapshotMeta,
    data: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let mut w = BufWriter::with_capacity(1 << 20, File::create(path)?);
    let meta = rmp_serde::to_vec_named(meta).map_err(io_err)?;
    let meta_len = u32::try_from(meta.len()).map_err(io_err)?;
    w.write_all(MAGIC)?;
    w.write_all(&meta_len.to_be_bytes())?;
    w.write_all(&meta)?;
    data(&mut w)?;
    w.into_inner().map_err(|e| e.into_error())?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::raft::types::snapshot_meta_at as meta_at;

    #[test]
    fn a_written_snapshot_reads_back_and_a_received_one_replaces_it() {
        // Scenario: a snapshot written here reads back its meta and data; one received in
        // pieces, once installed, is the current one, and an open handle on the old one still
        // reads the old data.
        let tmp = tempfile::tempdir().unwrap();
        let dir = SnapshotDir::new(tmp.path());
        assert!(dir.current().unwrap().is_none());
        let meta = meta_at(2);
        let first = dir.write(&meta, |w| w.write_all(b"first")).unwrap();
        let (m, mut r) = first.read().unwrap();
        assert_eq!(m, meta);
        let mut data = String::new();
        r.read_to_string(&mut data).unwrap();
        assert_eq!(data, "first");

        let whole = first.read_at(0, first.len() as usize).unwrap();
        let (mut incoming, path) = dir.incoming().unwrap();
        let second: Vec<u8> = [&whole[..whole.len() - 5], b"later"].concat();
        incoming.write_all(&second[..10]).unwrap();
        incoming.write_all(&second[10..]).unwrap();
        let received = dir.received(incoming, path).unwrap();
        dir.install(&meta_at(3), &received).unwrap();
        let current = dir.current().unwrap().unwrap();
        let (_, mut r) = current.read().unwrap();
        let mut data = String::new();
        r.read_to_string(&mut data).unwrap();
        assert_eq!(data, "later");
        assert_eq!(first.read_at(first.len() - 5, 5).unwrap(), b"first");
    }

    #[test]
    fn an_older_snapshot_never_replaces_a_newer_one() {
        // Scenario: a snapshot built here at index 5 finishes after one received at index 9 was
        // installed; the current snapshot stays the one at 9.
        let tmp = tempfile::tempdir().unwrap();
        let dir = SnapshotDir::new(tmp.path());
        let newer = dir.received_whole(&meta_at(9), b"nine").unwrap();
        dir.install(&meta_at(9), &newer).unwrap();
        let kept = dir.write(&meta_at(5), |w| w.write_all(b"five")).unwrap();
        let (m, _) = kept.read().unwrap();
        assert_eq!(m, meta_at(9));
        let (m, _) = dir.current().unwrap().unwrap().read().unwrap();
        assert_eq!(m, meta_at(9));
        assert!(!tmp.path().join(BUILDING).exists());
    }

    #[test]
    fn leftovers_of_a_stopped_server_are_removed_and_the_snapshot_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = SnapshotDir::new(tmp.path());
        dir.write(&meta_at(2), |w| w.write_all(b"kept")).unwrap();
        std::fs::write(tmp.path().join(BUILDING), b"half").unwrap();
        let (_, half) = dir.incoming().unwrap();
        std::fs::write(tmp.path().join("raft.db"), b"not ours").unwrap();
        dir.remove_leftovers().unwrap();
        assert!(!half.exists() && !tmp.path().join(BUILDING).exists());
        assert!(tmp.path().join("raft.db").exists());
        assert!(dir.current().unwrap().is_some());
    }

    #[test]
    fn a_file_that_is_not_a_snapshot_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join(CURRENT), b"garbage!").unwrap();
        let dir = SnapshotDir::new(tmp.path());
        let err = dir.current().unwrap().unwrap().read().err().unwrap();
        assert!(err.to_string().contains("not a snapshot file"), "{err}");
    }
}
