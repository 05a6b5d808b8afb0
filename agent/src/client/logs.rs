//! Task logs: the agent copies each task's output FIFO into rotated files
//! `alloc/logs/<task>.<stdout|stderr>.<n>` (Nomad's naming), and reads them back as one stream for
//! `alloc logs`.
//!
//! Why FIFOs and not plain pipes: a pipe's read end dies with the agent, and the task would get
//! SIGPIPE on its next write. The task instead holds its FIFO open read-write, so there is always a
//! reader; while the agent is down the task's output waits in the pipe buffer (64 KiB on Linux; a
//! chattier task blocks on write until the agent is back), and a restarted agent reopens the FIFO
//! and carries on with the newest log file. Nothing is lost and the task keeps running.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Which stream, and where a read starts: the API's types, shared with `nomadctl`.
pub use api::client::{LogKind, LogOrigin};

/// The index `n` of `<task>.<kind>.<n>`.
fn file_index(name: &str, prefix: &str) -> Option<u64> {
    name.strip_prefix(prefix)?.parse().ok()
}

/// The log files of a task, oldest first.
pub fn log_files(dir: &Path, task: &str, kind: LogKind) -> io::Result<Vec<PathBuf>> {
    let prefix = format!("{task}.{}.", kind.as_str());
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if let Some(idx) = entry
            .file_name()
            .to_str()
            .and_then(|n| file_index(n, &prefix))
        {
            found.push((idx, entry.path()));
        }
    }
    found.sort();
    Ok(found.into_iter().map(|(_, p)| p).collect())
}

/// Appends to `<task>.<kind>.<n>`, moving to `n+1` when a file reaches `max_size` bytes and
/// deleting files so that at most `max_files` remain. A reopened writer continues the newest file.
pub struct RotatingWriter {
    dir: PathBuf,
    prefix: String,
    max_files: u64,
    max_size: u64,
    index: u64,
    size: u64,
    file: File,
}

impl RotatingWriter {
    pub fn open(
        dir: &Path,
        task: &str,
        kind: LogKind,
        max_files: u64,
        max_size: u64,
    ) -> io::Result<Self> {
        let prefix = format!("{task}.{}.", kind.as_str());
        let index = log_files(dir, task, kind)?
            .last()
            .and_then(|p| p.file_name()?.to_str().and_then(|n| file_index(n, &prefix)))
            .unwrap_or(0);
        let path = dir.join(format!("{prefix}{index}"));
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let size = file.metadata()?.len();
        Ok(RotatingWriter {
            dir: dir.to_path_buf(),
            prefix,
            max_files: max_files.max(1),
            max_size: max_size.max(1),
            index,
            size,
            file,
        })
    }

    pub fn write_all(&mut self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            if self.size >= self.max_size {
                self.rotate()?;
            }
            let room = (self.max_size - self.size) as usize;
            let n = room.min(buf.len());
            self.file.write_all(&buf[..n])?;
            self.size += n as u64;
            buf = &buf[n..];
        }
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.file.flush()?;
        self.index += 1;
        let path = self.dir.join(format!("{}{}", self.prefix, self.index));
        self.file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(path)?;
        self.size = 0;
        // Keep the newest max_files: indexes index-max_files+1 ..= index.
        if self.index >= self.max_files {
            let keep_from = self.index + 1 - self.max_files;
            for entry in std::fs::read_dir(&self.dir)? {
                let entry = entry?;
                let idx = entry
                    .file_name()
                    .to_str()
                    .and_then(|n| file_index(n, &self.prefix));
                if matches!(idx, Some(i) if i < keep_from) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        Ok(())
    }
}

/// Reads up to `max` bytes of the stream formed by `files` (oldest first) starting `offset` bytes
/// from `origin`. Returns the bytes and the offset from the stream's start where the next read
/// (with `LogOrigin::Start`) continues, which is how `-f` follows a task.
///
/// Offsets are positions in the files present at the time of the call: when rotation deletes the
/// oldest file between two reads, a follower's offset shifts by that file's size. The HTTP layer
/// can avoid that by following with `LogOrigin::End` distances computed from its own reads.
pub fn read_logs(
    files: &[PathBuf],
    origin: LogOrigin,
    offset: u64,
    max: usize,
) -> io::Result<(Vec<u8>, u64)> {
    // A file rotated away between listing and reading counts as empty.
    let sizes: Vec<u64> = files
        .iter()
        .map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0))
        .collect();
    let total: u64 = sizes.iter().sum();
    let start = match origin {
        LogOrigin::Start => offset.min(total),
        LogOrigin::End => total.saturating_sub(offset),
    };
    let mut out = Vec::with_capacity(max.min((total - start) as usize));
    let mut file_start = 0u64;
    for (path, &size) in files.iter().zip(&sizes) {
        if out.len() >= max {
            break;
        }
        let file_end = file_start + size;
        let pos = start + out.len() as u64;
        if pos < file_end {
            let within = pos - file_start;
            let want = ((size - within) as usize).min(max - out.len());
            match File::open(path) {
                Ok(mut f) => {
                    f.seek(SeekFrom::Start(within))?;
                    let got = f.take(want as u64).read_to_end(&mut out)?;
                    if got < want {
                        break; // truncated under us: stop at a consistent point
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                Err(e) => return Err(e),
            }
        }
        file_start = file_end;
    }
    let next = start + out.len() as u64;
    Ok((out, next))
}

/// Copies one FIFO into a [`RotatingWriter`] until told to stop.
pub struct LogCollector {
    stop: watch::Sender<bool>,
    join: JoinHandle<()>,
}

impl LogCollector {
    /// Opens the FIFO read-write (so it never reports end-of-file between task restarts) and
    /// starts copying.
    pub fn spawn(fifo: &Path, mut writer: RotatingWriter) -> io::Result<Self> {
        let rx = tokio::net::unix::pipe::OpenOptions::new()
            .read_write(true)
            .open_receiver(fifo)?;
        let (stop, mut stopped) = watch::channel(false);
        let name = fifo.display().to_string();
        let join = tokio::spawn(async move {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                tokio::select! {
                    r = rx.readable() => {
                        if let Err(e) = r {
                            tracing::warn!(fifo = %name, error = %e, "log pipe failed");
                            return;
                        }
                        if drain(&rx, &mut buf, &mut writer, &name) {
                            return;
                        }
                    }
                    _ = stopped.changed() => {
                        drain_final(&rx, &mut buf, &mut writer, &name);
                        return;
                    }
                }
            }
        });
        Ok(LogCollector { stop, join })
    }

    /// The task has ended for good: copy what is left in the pipe, then stop.
    pub async fn finish(self) {
        let _ = self.stop.send(true);
        let _ = self.join.await;
    }

    /// The agent is going away but the task is not: stop reading; unread output stays in the pipe
    /// for the next agent.
    pub fn detach(self) {
        self.join.abort();
    }
}

/// Copies everything readable now. Returns true when copying must end (write error).
fn drain(
    rx: &tokio::net::unix::pipe::Receiver,
    buf: &mut [u8],
    writer: &mut RotatingWriter,
    name: &str,
) -> bool {
    loop {
        match rx.try_read(buf) {
            Ok(0) => return false,
            Ok(n) => {
                if let Err(e) = writer.write_all(&buf[..n]) {
                    tracing::warn!(fifo = %name, error = %e, "cannot write task log");
                    return true;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                tracing::warn!(fifo = %name, error = %e, "log pipe failed");
                return true;
            }
        }
    }
}

/// Copies what is left in the pipe with plain non-blocking reads: tokio's `try_read` trusts its
/// cached readiness and may report WouldBlock for bytes it has not been woken for yet.
fn drain_final(
    rx: &tokio::net::unix::pipe::Receiver,
    buf: &mut [u8],
    writer: &mut RotatingWriter,
    name: &str,
) {
    loop {
        match nix::unistd::read(rx, buf) {
            Ok(0) => return,
            Ok(n) => {
                if let Err(e) = writer.write_all(&buf[..n]) {
                    tracing::warn!(fifo = %name, error = %e, "cannot write task log");
                    return;
                }
            }
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return, // EAGAIN: empty
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_and_keeps_max_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = RotatingWriter::open(dir.path(), "web", LogKind::Stdout, 3, 10).unwrap();
        for i in 0..10u8 {
            w.write_all(&[b'a' + i; 7]).unwrap(); // 70 bytes -> files 0..=6, keep 4..=6
        }
        let files = log_files(dir.path(), "web", LogKind::Stdout).unwrap();
        let names: Vec<_> = files
            .iter()
            .map(|p| p.file_name().unwrap().to_str().unwrap().to_string())
            .collect();
        assert_eq!(names, ["web.stdout.4", "web.stdout.5", "web.stdout.6"]);
        assert!(files
            .iter()
            .all(|f| std::fs::metadata(f).unwrap().len() == 10));
        // A reopened writer continues the newest file.
        drop(w);
        let mut w = RotatingWriter::open(dir.path(), "web", LogKind::Stdout, 3, 10).unwrap();
        w.write_all(b"zz").unwrap();
        let files = log_files(dir.path(), "web", LogKind::Stdout).unwrap();
        assert_eq!(files.last().unwrap().file_name().unwrap(), "web.stdout.7");
        assert!(log_files(dir.path(), "web", LogKind::Stderr)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn reads_rotated_files_as_one_stream() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = RotatingWriter::open(dir.path(), "t", LogKind::Stderr, 10, 4).unwrap();
        w.write_all(b"0123456789").unwrap(); // t.stderr.0 "0123", .1 "4567", .2 "89"
        let files = log_files(dir.path(), "t", LogKind::Stderr).unwrap();
        assert_eq!(files.len(), 3);
        assert_eq!(
            read_logs(&files, LogOrigin::Start, 0, 100).unwrap(),
            (b"0123456789".to_vec(), 10)
        );
        assert_eq!(
            read_logs(&files, LogOrigin::Start, 3, 4).unwrap(),
            (b"3456".to_vec(), 7)
        );
        assert_eq!(
            read_logs(&files, LogOrigin::End, 5, 100).unwrap(),
            (b"56789".to_vec(), 10)
        );
        assert_eq!(
            read_logs(&files, LogOrigin::End, 50, 2).unwrap(),
            (b"01".to_vec(), 2)
        );
        // Following: nothing new, then new bytes from the last offset.
        assert_eq!(
            read_logs(&files, LogOrigin::Start, 10, 100).unwrap(),
            (Vec::new(), 10)
        );
        w.write_all(b"ab").unwrap();
        let files = log_files(dir.path(), "t", LogKind::Stderr).unwrap();
        assert_eq!(
            read_logs(&files, LogOrigin::Start, 10, 100).unwrap(),
            (b"ab".to_vec(), 12)
        );
    }

    #[tokio::test]
    async fn collector_copies_fifo_into_logs() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join(".t.stdout.fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let w = RotatingWriter::open(dir.path(), "t", LogKind::Stdout, 2, 1024).unwrap();
        let c = LogCollector::spawn(&fifo, w).unwrap();
        let mut tx = OpenOptions::new().write(true).open(&fifo).unwrap();
        tx.write_all(b"hello\n").unwrap();
        drop(tx);
        c.finish().await;
        let files = log_files(dir.path(), "t", LogKind::Stdout).unwrap();
        assert_eq!(
            read_logs(&files, LogOrigin::Start, 0, 100).unwrap().0,
            b"hello\n"
        );
    }
}
