//! Nomad's `artifact` block: before a task first starts, fetch each artifact (HTTP, HTTPS or a
//! local file) into the task directory, verify its checksum, and unpack it when it is an archive.
//!
//! Everything lands in a staging directory inside the task directory first and is renamed into
//! place only once complete and verified, so the destination never holds half an artifact.
//! Modes follow go-getter: "any" unpacks archives (by extension, unless `archive = "false"`) and
//! saves other files under their own name in the destination directory; "file" writes the bytes to
//! the destination path as they are; "dir" requires an archive and unpacks it.

mod fetch;
mod paths;
mod source;
mod unpack;

#[cfg(test)]
mod runner_tests;
#[cfg(test)]
mod test_server;
#[cfg(test)]
mod tests;

use super::taskenv::{self, NodeInfo};
use api::Artifact;
use source::{Location, Source};
use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use unpack::Format;

pub const DEFAULT_DESTINATION: &str = "local/";
const STAGING_PREFIX: &str = ".artifact-";

/// Retries of transient HTTP failures within one fetch (the restart policy covers the rest).
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Tries in all, the first included.
    pub attempts: u32,
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 3,
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(4),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("invalid artifact source {src:?}: {reason}")]
    BadSource { src: String, reason: String },
    #[error("invalid artifact option {key} = {value:?}: {reason}")]
    BadOption {
        key: String,
        value: String,
        reason: String,
    },
    #[error("invalid artifact mode {0:?}: must be one of any, file, dir")]
    BadMode(String),
    #[error("artifact destination {dest:?} {reason}")]
    Destination { dest: String, reason: String },
    #[error("GET {url}: bad response code: {status}")]
    Status { url: String, status: u16 },
    /// The server could not be reached or the transfer broke off: worth another try.
    #[error("GET {url}: {msg}")]
    Unreachable { url: String, msg: String },
    #[error("GET {url}: {msg}")]
    Request { url: String, msg: String },
    #[error("checksum mismatch: expected {algo}:{expected}, got {algo}:{got}")]
    ChecksumMismatch {
        algo: &'static str,
        expected: String,
        got: String,
    },
    #[error("{what} {}: {err}", .path.display())]
    Io {
        what: String,
        path: PathBuf,
        #[source]
        err: io::Error,
    },
    #[error("cannot unpack {name}: {reason}")]
    Archive { name: String, reason: String },
    #[error("archive {name}: entry {entry:?} would land outside the destination directory")]
    EntryEscapes { name: String, entry: String },
    #[error("the artifact download was cancelled")]
    Cancelled,
    #[error("artifact download worker failed: {0}")]
    Worker(String),
    #[error("failed to download artifact {src:?}: {cause}")]
    Failed {
        src: String,
        cause: Box<ArtifactError>,
    },
}

impl ArtifactError {
    fn io(what: &str, path: &Path, err: io::Error) -> Self {
        ArtifactError::Io {
            what: what.to_string(),
            path: path.to_path_buf(),
            err,
        }
    }

    /// Whether trying again right away may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            ArtifactError::Unreachable { .. } => true,
            ArtifactError::Status { status, .. } => {
                *status >= 500 || *status == 408 || *status == 429
            }
            ArtifactError::Failed { cause, .. } => cause.is_transient(),
            _ => false,
        }
    }
}

/// Interpolates `${...}` in the source, destination and option values, as Nomad does.
pub fn interpolate(a: &Artifact, env: &BTreeMap<String, String>, node: &NodeInfo) -> Artifact {
    let i = |s: &str| taskenv::interpolate(s, env, node);
    Artifact {
        getter_source: i(&a.getter_source),
        relative_dest: i(&a.relative_dest),
        getter_options: a
            .getter_options
            .iter()
            .map(|(k, v)| (k.clone(), i(v)))
            .collect(),
        ..a.clone()
    }
}

/// Tells the blocking worker to give up when the fetching future is dropped (the task was killed
/// or the agent is stopping), so nothing is moved into place after that.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Fetches the artifacts one after the other into `task_dir`. Dropping the future cancels.
pub async fn fetch_all(
    task_dir: PathBuf,
    artifacts: Vec<Artifact>,
    retry: RetryPolicy,
    allow_local: bool,
) -> Result<(), ArtifactError> {
    let guard = CancelOnDrop(Arc::new(AtomicBool::new(false)));
    let cancel = guard.0.clone();
    let work = tokio::task::spawn_blocking(move || {
        remove_stale_staging(&task_dir);
        for a in &artifacts {
            fetch_one(&task_dir, a, &retry, &cancel, allow_local).map_err(|e| {
                ArtifactError::Failed {
                    src: a.getter_source.clone(),
                    cause: Box::new(e),
                }
            })?;
        }
        Ok(())
    });
    let result = work
        .await
        .map_err(|e| ArtifactError::Worker(e.to_string()))?;
    drop(guard);
    result
}

/// Staging directories an agent crash left behind.
fn remove_stale_staging(task_dir: &Path) {
    let Ok(entries) = fs::read_dir(task_dir) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().starts_with(STAGING_PREFIX) {
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Any,
    File,
    Dir,
}

impl Mode {
    fn parse(s: &str) -> Result<Mode, ArtifactError> {
        match s {
            "" | "any" => Ok(Mode::Any),
            "file" => Ok(Mode::File),
            "dir" => Ok(Mode::Dir),
            other => Err(ArtifactError::BadMode(other.to_string())),
        }
    }
}

/// Fetches one artifact. Blocking. A source on the client's own file system outside the task's
/// directory is refused unless `allow_local` (the client's `artifact.allow_local` option): a job
/// must not copy the host's files into its task.
pub fn fetch_one(
    task_dir: &Path,
    a: &Artifact,
    retry: &RetryPolicy,
    cancel: &AtomicBool,
    allow_local: bool,
) -> Result<(), ArtifactError> {
    let mode = Mode::parse(&a.getter_mode)?;
    let src = Source::parse(&a.getter_source, &a.getter_options, task_dir)?;
    if let Location::Local(path) = &src.location {
        if !allow_local && !super::allocdir::lexically_inside(path, task_dir) {
            return Err(ArtifactError::BadSource {
                src: a.getter_source.clone(),
                reason: "it is a file on the client itself, and fetching the client's own files \
                         is off; its operator can allow it with the client option \
                         \"artifact.allow_local\" = \"true\""
                    .into(),
            });
        }
    }
    let dest = Destination::parse(task_dir, &a.relative_dest)?;
    let format = match mode {
        Mode::File => None,
        Mode::Any | Mode::Dir => src.format()?,
    };
    let name = || {
        src.file_name
            .clone()
            .ok_or_else(|| ArtifactError::BadSource {
                src: a.getter_source.clone(),
                reason: "its path has no file name: use mode = \"file\" and a destination file"
                    .into(),
            })
    };
    if mode == Mode::Dir && format.is_none() {
        return Err(ArtifactError::Archive {
            name: name().unwrap_or_else(|_| a.getter_source.clone()),
            reason: "mode \"dir\" needs an archive (tar, tar.gz, tgz, zip)".into(),
        });
    }

    let staging = tempfile::Builder::new()
        .prefix(STAGING_PREFIX)
        .tempdir_in(task_dir)
        .map_err(|e| ArtifactError::io("cannot create a staging directory in", task_dir, e))?;
    let download = staging.path().join("download");
    let algo = src.checksum.as_ref().map(|c| c.algo);
    let digest = fetch::download(&src.location, &download, algo, retry, cancel)?;
    if let (Some(want), Some(got)) = (&src.checksum, digest) {
        if want.expected != got {
            return Err(ArtifactError::ChecksumMismatch {
                algo: want.algo.name(),
                expected: want.expected.clone(),
                got,
            });
        }
    }
    if cancel.load(Ordering::Relaxed) {
        return Err(ArtifactError::Cancelled);
    }

    let (from, to) = match (mode, format) {
        (Mode::File, _) => (download, dest.file(&name)?),
        (_, None) => (download, dest.dir()?.join(name()?)),
        (_, Some(Format::Gz)) if mode == Mode::Any => {
            let name = name()?;
            let plain = strip_suffix_ignore_case(&name, ".gz").to_string();
            let out = staging.path().join("file");
            unpack::gunzip(&download, &out, &name)?;
            (out, dest.dir()?.join(plain))
        }
        (_, Some(f)) => {
            let tree = staging.path().join("tree");
            let label = src
                .file_name
                .clone()
                .unwrap_or_else(|| a.getter_source.clone());
            unpack::unpack_dir(f, &download, &tree, &label, cancel)?;
            let dir = dest.dir()?;
            unpack::merge_into(&tree, &dir)
                .map_err(|e| ArtifactError::io("cannot move the unpacked files into", &dir, e))?;
            return Ok(());
        }
    };
    fs::rename(&from, &to).map_err(|e| ArtifactError::io("cannot move the artifact to", &to, e))
}

fn strip_suffix_ignore_case<'a>(s: &'a str, suffix: &str) -> &'a str {
    let cut = s.len().saturating_sub(suffix.len());
    match (s.get(cut..), s.get(..cut)) {
        (Some(end), Some(start)) if end.eq_ignore_ascii_case(suffix) && !start.is_empty() => start,
        _ => s,
    }
}

/// An artifact's `destination`, checked to stay inside the task directory.
struct Destination<'a> {
    task_dir: &'a Path,
    raw: String,
    rel: PathBuf,
}

impl<'a> Destination<'a> {
    fn parse(task_dir: &'a Path, dest: &str) -> Result<Self, ArtifactError> {
        let raw = if dest.trim().is_empty() {
            DEFAULT_DESTINATION
        } else {
            dest
        };
        // `${NOMAD_TASK_DIR}/x` interpolates to an absolute path inside the task directory;
        // any other absolute path counts from the task directory, as in Nomad.
        let p = Path::new(raw);
        let p = p.strip_prefix(task_dir).unwrap_or(p);
        let rel = paths::normalize_relative(p).ok_or_else(|| ArtifactError::Destination {
            dest: raw.to_string(),
            reason: "escapes the task directory".into(),
        })?;
        Ok(Destination {
            task_dir,
            raw: raw.to_string(),
            rel,
        })
    }

    fn create(&self, rel: &Path) -> Result<PathBuf, ArtifactError> {
        paths::create_dir_inside(self.task_dir, rel).map_err(|e| ArtifactError::Destination {
            dest: self.raw.clone(),
            reason: format!("cannot be created: {e}"),
        })
    }

    /// The destination as a directory, created.
    fn dir(&self) -> Result<PathBuf, ArtifactError> {
        self.create(&self.rel)
    }

    /// The file to write in mode "file": the destination itself, or the source's name inside it
    /// when the destination is a directory (ends in '/', or exists as one).
    fn file(
        &self,
        name: &dyn Fn() -> Result<String, ArtifactError>,
    ) -> Result<PathBuf, ArtifactError> {
        let is_dir = self.raw.ends_with('/')
            || self.rel.as_os_str().is_empty()
            || fs::symlink_metadata(self.task_dir.join(&self.rel)).is_ok_and(|m| m.is_dir());
        match (is_dir, self.rel.file_name()) {
            (false, Some(file)) => {
                let parent = self.create(self.rel.parent().unwrap_or(Path::new("")))?;
                Ok(parent.join(file))
            }
            _ => Ok(self.dir()?.join(name()?)),
        }
    }
}
