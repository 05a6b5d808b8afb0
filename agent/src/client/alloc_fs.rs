//! An allocation's directory as the fs endpoints show it (`alloc fs`): list, stat and read,
//! confined to the directory. A path is relative to the allocation's root (`alloc/logs`,
//! `web/local/config.json`); `..`, and symlinks whose target lies outside the root, are
//! refused, and so is every task's `secrets` directory, as in Nomad.

use std::fs::{File, Metadata};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum FsError {
    #[error("path {0:?} leaves the allocation directory: paths may not use \"..\"")]
    Climbs(String),
    #[error("path {0:?} resolves outside the allocation directory (a symlink out of it)")]
    Escapes(String),
    #[error("reading a task's secrets directory is not allowed ({0:?})")]
    Secrets(String),
    #[error("no such file or directory: {0:?}")]
    NotFound(String),
    #[error("{path:?}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl FsError {
    fn io(path: &str, source: std::io::Error) -> FsError {
        if source.kind() == std::io::ErrorKind::NotFound {
            FsError::NotFound(path.to_string())
        } else {
            FsError::Io {
                path: path.to_string(),
                source,
            }
        }
    }

    /// Whether the caller asked for something that is not there (404) rather than something
    /// refused (403) or a failure.
    pub fn is_not_found(&self) -> bool {
        matches!(self, FsError::NotFound(_))
    }

    pub fn is_refused(&self) -> bool {
        matches!(
            self,
            FsError::Climbs(_) | FsError::Escapes(_) | FsError::Secrets(_)
        )
    }
}

pub use api::fs::AllocFileInfo;

/// The allocation directory `root`, as the fs endpoints see it.
pub struct AllocFs {
    root: PathBuf,
}

impl AllocFs {
    pub fn new(root: PathBuf) -> AllocFs {
        AllocFs { root }
    }

    /// The confined host path of `rel`. It must exist (so that symlinks can be followed and
    /// checked).
    pub fn resolve(&self, rel: &str) -> Result<PathBuf, FsError> {
        let trimmed = rel.trim_start_matches('/');
        let mut parts = Vec::new();
        for c in Path::new(trimmed).components() {
            match c {
                Component::Normal(p) => parts.push(p),
                Component::CurDir => {}
                _ => return Err(FsError::Climbs(rel.to_string())),
            }
        }
        // `<task>/secrets`: a task's second level named secrets.
        if parts.len() >= 2 && parts[1] == "secrets" && parts[0] != "alloc" {
            return Err(FsError::Secrets(rel.to_string()));
        }
        let joined = parts.iter().fold(self.root.clone(), |p, c| p.join(c));
        let root = self.root.canonicalize().map_err(|e| FsError::io("/", e))?;
        let real = joined.canonicalize().map_err(|e| FsError::io(rel, e))?;
        if !real.starts_with(&root) {
            return Err(FsError::Escapes(rel.to_string()));
        }
        // A symlink inside the root may still point into a task's secrets.
        if let Ok(inner) = real.strip_prefix(&root) {
            let names: Vec<_> = inner.components().collect();
            if names.len() >= 2
                && names[1].as_os_str() == "secrets"
                && names[0].as_os_str() != "alloc"
            {
                return Err(FsError::Secrets(rel.to_string()));
            }
        }
        Ok(real)
    }

    pub fn stat(&self, rel: &str) -> Result<AllocFileInfo, FsError> {
        let path = self.resolve(rel)?;
        let name = Path::new(rel.trim_end_matches('/'))
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "/".to_string());
        let meta = std::fs::metadata(&path).map_err(|e| FsError::io(rel, e))?;
        Ok(info(name, &meta, &path))
    }

    /// A directory's entries, directories first then by name, as `alloc fs` lists them.
    pub fn list(&self, rel: &str) -> Result<Vec<AllocFileInfo>, FsError> {
        let path = self.resolve(rel)?;
        let entries = std::fs::read_dir(&path).map_err(|e| FsError::io(rel, e))?;
        let mut out = Vec::new();
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            // The log FIFOs are the agent's plumbing, not the task's files.
            if name.starts_with('.') && name.ends_with(".fifo") {
                continue;
            }
            let Ok(meta) = e.path().symlink_metadata() else {
                continue;
            };
            out.push(info(name, &meta, &e.path()));
        }
        out.sort_by(|a, b| b.is_dir.cmp(&a.is_dir).then_with(|| a.name.cmp(&b.name)));
        Ok(out)
    }

    /// At most `limit` bytes of a file from `offset` (all of it with no limit).
    pub fn read_at(&self, rel: &str, offset: u64, limit: Option<u64>) -> Result<Vec<u8>, FsError> {
        let (mut file, _) = self.open(rel)?;
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| FsError::io(rel, e))?;
        let mut out = Vec::new();
        match limit {
            Some(n) => file.take(n).read_to_end(&mut out),
            None => file.read_to_end(&mut out),
        }
        .map_err(|e| FsError::io(rel, e))?;
        Ok(out)
    }

    /// The confined file, opened, with its size.
    pub fn open(&self, rel: &str) -> Result<(File, u64), FsError> {
        let path = self.resolve(rel)?;
        let file = File::open(&path).map_err(|e| FsError::io(rel, e))?;
        let meta = file.metadata().map_err(|e| FsError::io(rel, e))?;
        if meta.is_dir() {
            return Err(FsError::Io {
                path: rel.to_string(),
                source: std::io::Error::other("is a directory: use ls"),
            });
        }
        Ok((file, meta.len()))
    }
}

fn info(name: String, meta: &Metadata, path: &Path) -> AllocFileInfo {
    let mod_time = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| api::time::rfc3339_nanos(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)))
        .unwrap_or_default();
    AllocFileInfo {
        content_type: content_type(meta, path),
        name,
        is_dir: meta.is_dir(),
        size: meta.len(),
        file_mode: file_mode(meta),
        mod_time,
    }
}

fn file_mode(meta: &Metadata) -> String {
    let ft = meta.file_type();
    let kind = if ft.is_dir() {
        'd'
    } else if ft.is_symlink() {
        'L'
    } else if ft.is_file() {
        '-'
    } else {
        'p'
    };
    let mode = meta.permissions().mode();
    let mut s = String::with_capacity(10);
    s.push(kind);
    for shift in [6, 3, 0] {
        let bits = (mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    s
}

/// What Nomad's `ContentType` says: a guess from the name, else text or binary from the start.
fn content_type(meta: &Metadata, path: &Path) -> String {
    if meta.is_dir() {
        return String::new();
    }
    let by_ext = match path.extension().and_then(|e| e.to_str()) {
        Some("json") => Some("application/json"),
        Some("html") | Some("htm") => Some("text/html; charset=utf-8"),
        Some("yaml") | Some("yml") => Some("application/yaml"),
        Some("xml") => Some("text/xml; charset=utf-8"),
        _ => None,
    };
    if let Some(t) = by_ext {
        return t.to_string();
    }
    let mut head = [0u8; 512];
    let n = File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    if std::str::from_utf8(&head[..n]).is_ok() || n == 0 {
        "text/plain; charset=utf-8".to_string()
    } else {
        "application/octet-stream".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, AllocFs) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("a1");
        std::fs::create_dir_all(root.join("alloc/logs")).unwrap();
        std::fs::create_dir_all(root.join("web/local")).unwrap();
        std::fs::create_dir_all(root.join("web/secrets")).unwrap();
        std::fs::write(root.join("web/local/app.conf"), "port = 80\n").unwrap();
        std::fs::write(root.join("web/secrets/token"), "s3cret").unwrap();
        std::fs::write(dir.path().join("outside"), "host file").unwrap();
        std::os::unix::fs::symlink(dir.path().join("outside"), root.join("web/local/out")).unwrap();
        std::os::unix::fs::symlink("../secrets/token", root.join("web/local/tok")).unwrap();
        std::os::unix::fs::symlink("app.conf", root.join("web/local/inner")).unwrap();
        (dir, AllocFs::new(root))
    }

    #[test]
    fn reads_inside_and_refuses_every_way_out() {
        let (_d, fs) = setup();
        assert_eq!(
            fs.read_at("web/local/app.conf", 0, None).unwrap(),
            b"port = 80\n"
        );
        assert_eq!(
            fs.read_at("/web/local/app.conf", 7, Some(2)).unwrap(),
            b"80"
        );
        assert_eq!(
            fs.read_at("web/local/inner", 0, None).unwrap(),
            b"port = 80\n"
        );
        for bad in [
            "../outside",
            "web/../../outside",
            "../../etc/shadow",
            "/../etc/shadow",
        ] {
            assert!(matches!(fs.resolve(bad), Err(FsError::Climbs(_))), "{bad}");
        }
        assert!(matches!(
            fs.resolve("web/local/out"),
            Err(FsError::Escapes(_))
        ));
        assert!(matches!(
            fs.resolve("web/secrets/token"),
            Err(FsError::Secrets(_))
        ));
        assert!(matches!(
            fs.resolve("web/local/tok"),
            Err(FsError::Secrets(_))
        ));
        assert!(fs.resolve("web/local/missing").unwrap_err().is_not_found());
    }

    #[test]
    fn lists_directories_first_with_modes() {
        let (_d, fs) = setup();
        let root: Vec<String> = fs.list("/").unwrap().into_iter().map(|f| f.name).collect();
        assert_eq!(root, ["alloc", "web"]);
        let local = fs.list("web/local").unwrap();
        let conf = local.iter().find(|f| f.name == "app.conf").unwrap();
        assert!(!conf.is_dir);
        assert_eq!(conf.size, 10);
        assert!(conf.file_mode.starts_with('-'), "{}", conf.file_mode);
        assert_eq!(conf.content_type, "text/plain; charset=utf-8");
        let out = local.iter().find(|f| f.name == "out").unwrap();
        assert!(out.file_mode.starts_with('L'), "{}", out.file_mode);
        let st = fs.stat("web").unwrap();
        assert!(st.is_dir && st.file_mode.starts_with('d'));
        assert_eq!(st.name, "web");
    }
}
