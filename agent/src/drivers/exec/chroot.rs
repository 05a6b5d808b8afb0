//! The task's chroot: the task dir itself becomes `/`, holding its own `local`, `secrets` and
//! `tmp`, plus mount points for the host paths of `chroot_env` (Nomad's client option), the
//! shared `alloc` dir, `dev` and `proc`.
//!
//! Only the mount *points* are made here, on the host, by the agent; the mounts themselves are
//! made by the task's first process inside its own mount namespace (`child.rs`), so they vanish
//! with it and nothing has to be unmounted or copied. A symlink on the host (`/bin -> usr/bin` on
//! merged-/usr systems) is recreated as the same symlink instead of being mounted.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

/// Nomad's default `chroot_env`.
pub const DEFAULT_CHROOT_ENV: &[&str] = &[
    "/bin",
    "/etc",
    "/lib",
    "/lib32",
    "/lib64",
    "/run/resolvconf",
    "/sbin",
    "/usr",
];

pub fn default_chroot_env() -> Vec<(String, String)> {
    DEFAULT_CHROOT_ENV
        .iter()
        .map(|p| (p.to_string(), p.to_string()))
        .collect()
}

/// Names at the top of the chroot that the driver itself fills.
const RESERVED: &[&str] = &["alloc", "local", "secrets", "tmp", "dev", "proc"];

/// Host devices bound into the task's /dev.
pub const DEV_NODES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];

/// Symlinks of the task's /dev (name, target).
pub const DEV_LINKS: &[(&str, &str)] = &[
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
];

#[derive(Debug, thiserror::Error)]
pub enum ChrootError {
    #[error("chroot_env: {0:?} must be an absolute path inside the chroot without \"..\", and not \"/\"")]
    BadTarget(String),
    #[error("chroot_env: {0:?} is managed by the driver and cannot be mapped from the host")]
    Reserved(String),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{0} is a symlink inside the task dir; refusing to build the chroot through it")]
    Symlink(PathBuf),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ChrootError + '_ {
    move |source| ChrootError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Bind {
    pub source: PathBuf,
    pub target: PathBuf,
    pub read_only: bool,
}

/// What the child mounts, all paths on the host side of the chroot.
#[derive(Debug, Clone, PartialEq)]
pub struct ChrootLayout {
    pub root: PathBuf,
    pub binds: Vec<Bind>,
    pub dev: PathBuf,
    pub proc: PathBuf,
}

/// The relative path under the chroot of an absolute in-chroot path, checked.
fn inside(target: &str) -> Result<PathBuf, ChrootError> {
    let p = Path::new(target);
    let mut rel = PathBuf::new();
    for c in p.components() {
        match c {
            Component::RootDir => {}
            Component::Normal(n) => rel.push(n),
            Component::CurDir => {}
            _ => return Err(ChrootError::BadTarget(target.to_string())),
        }
    }
    if !p.is_absolute() || rel.as_os_str().is_empty() {
        return Err(ChrootError::BadTarget(target.to_string()));
    }
    let first = rel.components().next().map(|c| c.as_os_str().to_owned());
    if first.is_some_and(|f| RESERVED.iter().any(|r| f == *r)) {
        return Err(ChrootError::Reserved(target.to_string()));
    }
    Ok(rel)
}

/// Checks the `chroot_env` entries without touching the disk.
pub fn validate(entries: &[(String, String)]) -> Result<(), ChrootError> {
    for (host, target) in entries {
        if !Path::new(host).is_absolute() {
            return Err(ChrootError::BadTarget(host.clone()));
        }
        inside(target)?;
    }
    Ok(())
}

/// Creates `root/rel` and its parents as directories, refusing to pass through a symlink (which
/// could point anywhere on the host).
fn ensure_dir(root: &Path, rel: &Path) -> Result<PathBuf, ChrootError> {
    let mut p = root.to_path_buf();
    for c in rel.components() {
        p.push(c);
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => return Err(ChrootError::Symlink(p)),
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(ChrootError::Io {
                    path: p,
                    source: io::Error::other("exists and is not a directory"),
                })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                std::fs::create_dir(&p).map_err(io_err(&p))?;
            }
            Err(e) => return Err(ChrootError::Io { path: p, source: e }),
        }
    }
    Ok(p)
}

fn parent_and_name(rel: &Path) -> (PathBuf, PathBuf) {
    let parent = rel.parent().map(Path::to_path_buf).unwrap_or_default();
    let name = rel.file_name().map(PathBuf::from).unwrap_or_default();
    (parent, name)
}

/// Prepares the mount points for one `chroot_env` entry; returns the bind to make, if any.
fn prepare_entry(root: &Path, host: &Path, rel: &Path) -> Result<Option<Bind>, ChrootError> {
    let meta = match std::fs::symlink_metadata(host) {
        Ok(m) => m,
        // Nomad's default list names paths (/lib32, /run/resolvconf) that many hosts lack.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(host)(e)),
    };
    let (parent, name) = parent_and_name(rel);
    let dir = ensure_dir(root, &parent)?;
    let target = dir.join(name);
    if meta.file_type().is_symlink() {
        let link = std::fs::read_link(host).map_err(io_err(host))?;
        match std::fs::symlink_metadata(&target) {
            Ok(m) if m.file_type().is_symlink() => {}
            Ok(_) => {
                return Err(ChrootError::Io {
                    path: target,
                    source: io::Error::other("exists and is not the symlink the host has"),
                })
            }
            Err(_) => std::os::unix::fs::symlink(&link, &target).map_err(io_err(&target))?,
        }
        return Ok(None);
    }
    if meta.is_dir() {
        ensure_dir(root, rel)?;
    } else {
        match std::fs::symlink_metadata(&target) {
            Ok(m) if m.file_type().is_symlink() => return Err(ChrootError::Symlink(target)),
            Ok(_) => {}
            Err(_) => {
                std::fs::File::create(&target).map_err(io_err(&target))?;
            }
        }
    }
    Ok(Some(Bind {
        source: host.to_path_buf(),
        target,
        read_only: true,
    }))
}

/// Makes the mount points under `task_dir` and says what to mount where. Idempotent: a
/// restarted task prepares the same dir again.
pub fn prepare(
    task_dir: &Path,
    alloc_dir: &Path,
    entries: &[(String, String)],
) -> Result<ChrootLayout, ChrootError> {
    validate(entries)?;
    // The task dir is `/` for an unprivileged user: it must be able to look inside.
    let perms = std::fs::Permissions::from_mode(0o755);
    std::fs::set_permissions(task_dir, perms).map_err(io_err(task_dir))?;
    let mut sorted: Vec<(PathBuf, &String)> = Vec::new();
    for (host, target) in entries {
        sorted.push((inside(target)?, host));
    }
    // Parents before children, so a nested entry is mounted on top of its parent's mount.
    sorted.sort();
    let mut binds = Vec::new();
    for (rel, host) in &sorted {
        if let Some(b) = prepare_entry(task_dir, Path::new(host), rel)? {
            binds.push(b);
        }
    }
    let alloc = ensure_dir(task_dir, Path::new("alloc"))?;
    binds.push(Bind {
        source: alloc_dir.to_path_buf(),
        target: alloc,
        read_only: false,
    });
    Ok(ChrootLayout {
        root: task_dir.to_path_buf(),
        binds,
        dev: ensure_dir(task_dir, Path::new("dev"))?,
        proc: ensure_dir(task_dir, Path::new("proc"))?,
    })
}

/// Adds the task's host volumes to the layout: a mount point inside the task's root for each,
/// mounted after everything else so nothing covers it.
pub fn add_host_volumes(
    layout: &mut ChrootLayout,
    mounts: &[crate::drivers::HostMount],
) -> Result<(), ChrootError> {
    for m in mounts {
        let target = ensure_dir(&layout.root, &m.destination)?;
        layout.binds.push(Bind {
            source: m.source.clone(),
            target,
            read_only: m.read_only,
        });
    }
    Ok(())
}

/// Rewrites host paths of the task's dirs (as interpolated into its config and environment) to
/// where the task sees them inside the chroot: the task dir is `/`, the alloc dir `/alloc`.
pub fn to_chroot_path(s: &str, task_dir: &Path, alloc_dir: &Path) -> String {
    let mut out = s.to_string();
    for (host, inner) in [(alloc_dir, "/alloc"), (task_dir, "")] {
        let host = host.to_string_lossy();
        let host = host.trim_end_matches('/');
        if host.is_empty() {
            continue;
        }
        out = out.replace(&format!("{host}/"), &format!("{inner}/"));
        if let Some(stripped) = out.strip_suffix(host) {
            out = format!("{stripped}{}", if inner.is_empty() { "/" } else { inner });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_host_paths_into_the_chroot() {
        let t = Path::new("/data/alloc/a1/web");
        let a = Path::new("/data/alloc/a1/alloc");
        assert_eq!(
            to_chroot_path("/data/alloc/a1/web/local/x.jar", t, a),
            "/local/x.jar"
        );
        assert_eq!(to_chroot_path("/data/alloc/a1/web", t, a), "/");
        assert_eq!(
            to_chroot_path("--data=/data/alloc/a1/alloc/data", t, a),
            "--data=/alloc/data"
        );
        assert_eq!(to_chroot_path("/data/alloc/a1/alloc", t, a), "/alloc");
        assert_eq!(to_chroot_path("local/app.jar", t, a), "local/app.jar");
    }

    #[test]
    fn validates_targets() {
        let ok = vec![("/usr".to_string(), "/usr".to_string())];
        assert!(validate(&ok).is_ok());
        for bad in ["/", "usr", "/usr/../etc", "/local", "/proc/x", "/alloc"] {
            let e = vec![("/usr".to_string(), bad.to_string())];
            assert!(validate(&e).is_err(), "{bad}");
        }
        assert!(validate(&[("usr".to_string(), "/usr".to_string())]).is_err());
    }

    #[test]
    fn prepares_mount_points_and_symlinks() {
        let host = tempfile::tempdir().unwrap();
        let task = tempfile::tempdir().unwrap();
        let alloc = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(host.path().join("usr/bin")).unwrap();
        std::os::unix::fs::symlink("usr/bin", host.path().join("bin")).unwrap();
        std::fs::write(host.path().join("resolv.conf"), "x").unwrap();
        let h = |p: &str| host.path().join(p).to_string_lossy().into_owned();
        let entries = vec![
            (h("usr"), "/usr".to_string()),
            (h("bin"), "/bin".to_string()),
            (h("resolv.conf"), "/etc/resolv.conf".to_string()),
            (h("missing"), "/lib32".to_string()),
        ];
        for _ in 0..2 {
            let layout = prepare(task.path(), alloc.path(), &entries).unwrap();
            let targets: Vec<_> = layout.binds.iter().map(|b| b.target.clone()).collect();
            assert_eq!(
                targets,
                vec![
                    task.path().join("etc/resolv.conf"),
                    task.path().join("usr"),
                    task.path().join("alloc"),
                ]
            );
            assert!(!layout.binds.last().unwrap().read_only);
            assert!(layout.dev.is_dir() && layout.proc.is_dir());
        }
        assert_eq!(
            std::fs::read_link(task.path().join("bin")).unwrap(),
            Path::new("usr/bin")
        );
        assert!(task.path().join("etc/resolv.conf").is_file());
        assert!(!task.path().join("lib32").exists());
    }

    #[test]
    fn refuses_to_build_through_a_symlink() {
        let task = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), task.path().join("etc")).unwrap();
        let host_file = task.path().join("hostname");
        std::fs::write(&host_file, "h").unwrap();
        let entries = vec![(
            host_file.to_string_lossy().into_owned(),
            "/etc/hostname".to_string(),
        )];
        let err = prepare(task.path(), elsewhere.path(), &entries).unwrap_err();
        assert!(matches!(err, ChrootError::Symlink(_)), "{err}");
        assert!(!elsewhere.path().join("hostname").exists());
    }
}
