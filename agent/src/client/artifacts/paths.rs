//! Path checks shared by destinations and archive entries: nothing an artifact names may lead the
//! agent to write outside the directory it was given, neither by `..` nor through a symlink.

use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

/// Resolves `.` and `..` without touching the disk. A leading `/` counts as the root of the
/// directory (as `filepath.Join(taskDir, dest)` treats it in Nomad). `None` when `..` climbs
/// above the root.
pub fn normalize_relative(p: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Prefix(_) | Component::RootDir | Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::Normal(part) => out.push(part),
        }
    }
    Some(out)
}

/// The path of an archive entry, relative to the unpack root. Any `..` refuses the entry, as tar
/// and unzip do: an archive has no honest reason to walk upwards.
pub fn entry_path(p: &Path) -> Option<PathBuf> {
    if p.components().any(|c| matches!(c, Component::ParentDir)) {
        return None;
    }
    normalize_relative(p)
}

/// Whether a symlink at `link` (relative to the root) pointing at `target` stays inside the root.
pub fn link_stays_inside(link: &Path, target: &Path) -> bool {
    if target.is_absolute() {
        return false;
    }
    let base = link.parent().unwrap_or(Path::new(""));
    normalize_relative(&base.join(target)).is_some()
}

/// Creates `root/rel` one directory at a time and returns its real path. A symlink on the way is
/// followed only when it resolves inside `root`, so a link left by an earlier artifact cannot carry
/// the writes elsewhere. `rel` must already be normalized.
pub fn create_dir_inside(root: &Path, rel: &Path) -> io::Result<PathBuf> {
    let root = root.canonicalize()?;
    let mut cur = root.clone();
    for c in rel.components() {
        let next = cur.join(c);
        match fs::symlink_metadata(&next) {
            Ok(m) if m.file_type().is_symlink() => {
                let real = next.canonicalize()?;
                if !real.starts_with(&root) || !real.is_dir() {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!(
                            "{} is a symlink leading out of {}",
                            next.display(),
                            root.display()
                        ),
                    ));
                }
                cur = real;
            }
            Ok(m) if m.is_dir() => cur = next,
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} exists and is not a directory", next.display()),
                ))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                match fs::create_dir(&next) {
                    Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
                    _ => {}
                }
                cur = next;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_and_refuses_climbing_out() {
        let n = |s: &str| normalize_relative(Path::new(s));
        assert_eq!(n("local/"), Some(PathBuf::from("local")));
        assert_eq!(n("/local/./a/../b"), Some(PathBuf::from("local/b")));
        assert_eq!(n("local/../.."), None);
        assert_eq!(n("../x"), None);
        assert_eq!(entry_path(Path::new("a/../b")), None);
        assert!(link_stays_inside(Path::new("a/l"), Path::new("../b")));
        assert!(!link_stays_inside(Path::new("a/l"), Path::new("../../b")));
        assert!(!link_stays_inside(Path::new("l"), Path::new("/etc")));
    }

    #[test]
    fn does_not_follow_symlinks_out() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("out")).unwrap();
        std::os::unix::fs::symlink("a", root.path().join("in")).unwrap();
        let err = create_dir_inside(root.path(), Path::new("out/x")).unwrap_err();
        assert!(err.to_string().contains("leading out of"), "{err}");
        assert!(!outside.path().join("x").exists());
        let made = create_dir_inside(root.path(), Path::new("a/b")).unwrap();
        assert_eq!(made, root.path().canonicalize().unwrap().join("a/b"));
        let via_link = create_dir_inside(root.path(), Path::new("in/c")).unwrap();
        assert!(via_link.ends_with("a/c") && via_link.is_dir());
    }
}
