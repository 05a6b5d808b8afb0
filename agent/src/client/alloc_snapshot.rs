//! An allocation's migratable data as a tar stream: `alloc/data/` and each task's `local/`, the
//! same directories a replacement on the same node takes over by renaming (prev_alloc.rs). The
//! old node packs them for `GET /v1/client/allocation/:id/snapshot`; the new node unpacks only
//! those directories, only for its own tasks, and only plain files and directories, so a
//! snapshot can place nothing elsewhere.

use super::allocdir::AllocDir;
use std::io::{self, Read, Write};
use std::path::{Component, Path};

/// The archive paths of the directories that migrate: `alloc/data` and `<task>/local` for each
/// task directory found in the allocation.
fn migrating_dirs(dir: &AllocDir) -> io::Result<Vec<(String, std::path::PathBuf)>> {
    let mut out = vec![("alloc/data".to_string(), dir.shared_dir().join("data"))];
    for entry in std::fs::read_dir(&dir.root)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if name == "alloc" || !entry.file_type()?.is_dir() {
            continue;
        }
        out.push((format!("{name}/local"), dir.local_dir(&name)));
    }
    out.retain(|(_, p)| p.is_dir());
    Ok(out)
}

/// Writes the snapshot of `dir` as a tar archive into `out`. Symbolic links are archived as
/// links, never followed: nothing outside the allocation is read.
pub fn pack(dir: &AllocDir, out: impl Write) -> io::Result<()> {
    let mut tar = tar::Builder::new(out);
    tar.follow_symlinks(false);
    for (name, path) in migrating_dirs(dir)? {
        tar.append_dir_all(&name, &path)?;
    }
    tar.into_inner()?.flush()
}

/// What an unpack did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Unpacked {
    pub files: usize,
    /// Entries left out: links, devices, and paths outside the migrating directories.
    pub skipped: usize,
}

/// Whether `path` lies in a directory that migrates for these tasks.
fn allowed(path: &Path, tasks: &[String]) -> bool {
    let mut parts = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(s) => parts.push(s.to_str().unwrap_or("\0")),
            // `..`, `/` or `.`: no path of ours has them.
            _ => return false,
        }
    }
    match parts.as_slice() {
        ["alloc", "data", ..] => true,
        [task, "local", ..] => tasks.iter().any(|t| t == task),
        _ => false,
    }
}

/// Unpacks a snapshot into `to`, whose directories for `tasks` it first makes. Ownership is
/// kept when this agent runs as root, so a task running as another user can still write its
/// files.
pub fn unpack(from: impl Read, to: &AllocDir, tasks: &[String]) -> io::Result<Unpacked> {
    to.build()?;
    for t in tasks {
        to.build_task(t)?;
    }
    let mut archive = tar::Archive::new(from);
    archive.set_preserve_permissions(true);
    archive.set_preserve_ownerships(nix::unistd::geteuid().is_root());
    archive.set_overwrite(true);
    let mut done = Unpacked::default();
    for entry in archive.entries()? {
        let mut entry = entry?;
        let kind = entry.header().entry_type();
        let path = entry.path()?.into_owned();
        if !(kind.is_file() || kind.is_dir()) || !allowed(&path, tasks) {
            done.skipped += 1;
            continue;
        }
        // unpack_in refuses `..` and absolute paths (returns false).
        if entry.unpack_in(&to.root)? {
            done.files += usize::from(kind.is_file());
        } else {
            done.skipped += 1;
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_and_local_dirs_travel_and_nothing_else_lands() {
        let base = tempfile::tempdir().unwrap();
        let (old, new) = (
            AllocDir::new(base.path(), "old"),
            AllocDir::new(base.path(), "new"),
        );
        old.build_task("web").unwrap();
        std::fs::create_dir_all(old.shared_dir().join("data/sub")).unwrap();
        std::fs::write(old.shared_dir().join("data/sub/db"), "rows").unwrap();
        std::fs::write(old.local_dir("web").join("cache"), "warm").unwrap();
        std::fs::write(old.secrets_dir("web").join("token"), "never").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", old.local_dir("web").join("link")).unwrap();
        let mut tar = Vec::new();
        pack(&old, &mut tar).unwrap();
        let got = unpack(&tar[..], &new, &["web".into()]).unwrap();
        assert_eq!(got.files, 2);
        assert_eq!(got.skipped, 1, "the link is left out");
        let read = |p: std::path::PathBuf| std::fs::read_to_string(p).unwrap();
        assert_eq!(read(new.shared_dir().join("data/sub/db")), "rows");
        assert_eq!(read(new.local_dir("web").join("cache")), "warm");
        assert!(!new.secrets_dir("web").join("token").exists());
        assert!(!new.local_dir("web").join("link").exists());
    }

    #[test]
    fn an_archive_cannot_write_outside_the_migrating_dirs() {
        let base = tempfile::tempdir().unwrap();
        let new = AllocDir::new(base.path(), "new");
        let mut tar = tar::Builder::new(Vec::new());
        let mut add = |path: &str, body: &[u8]| {
            let mut h = tar::Header::new_gnu();
            h.set_size(body.len() as u64);
            h.set_mode(0o644);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(0);
            h.set_entry_type(tar::EntryType::Regular);
            // set_path refuses `..`: write the name bytes directly, as a hostile archive would.
            h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
            h.set_cksum();
            tar.append(&h, body).unwrap();
        };
        add("alloc/data/../../escaped", b"x");
        add("alloc/logs/web.stdout.0", b"x");
        add("other/local/f", b"x");
        add("web/secrets/f", b"x");
        add("web/local/ok", b"fine");
        let bytes = tar.into_inner().unwrap();
        let got = unpack(&bytes[..], &new, &["web".into()]).unwrap();
        assert_eq!(
            got,
            Unpacked {
                files: 1,
                skipped: 4
            }
        );
        assert!(!base.path().join("escaped").exists());
        assert!(!new.root.join("other").exists());
        assert_eq!(
            std::fs::read_to_string(new.local_dir("web").join("ok")).unwrap(),
            "fine"
        );
    }

    #[test]
    fn only_own_task_dirs_are_allowed() {
        let tasks = ["web".to_string()];
        assert!(allowed(Path::new("alloc/data/x"), &tasks));
        assert!(allowed(Path::new("web/local"), &tasks));
        assert!(!allowed(Path::new("alloc/tmp/x"), &tasks));
        assert!(!allowed(Path::new("db/local/x"), &tasks));
        assert!(!allowed(Path::new("/alloc/data/x"), &tasks));
        assert!(!allowed(Path::new("alloc/data/../x"), &tasks));
        assert!(!allowed(Path::new("alloc/data/../../web/local/x"), &tasks));
    }
}
