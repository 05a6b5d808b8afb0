//! The on-disk layout of an allocation, as Nomad lays it out:
//!
//! ```text
//! <data_dir>/alloc/<alloc_id>/alloc/{data,logs,tmp}     shared by the group's tasks
//! <data_dir>/alloc/<alloc_id>/<task>/{local,secrets,tmp}
//! ```
//!
//! Log files are `alloc/logs/<task>.stdout.<n>`; the FIFOs the tasks write into are hidden files
//! beside them (`.<task>.stdout.fifo`).

use super::logs::LogKind;
use nix::sys::stat::Mode;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct AllocDir {
    pub root: PathBuf,
}

impl AllocDir {
    pub fn new(alloc_base: &Path, alloc_id: &str) -> Self {
        AllocDir {
            root: alloc_base.join(alloc_id),
        }
    }

    /// `<alloc>/alloc`: NOMAD_ALLOC_DIR.
    pub fn shared_dir(&self) -> PathBuf {
        self.root.join("alloc")
    }

    pub fn logs_dir(&self) -> PathBuf {
        self.shared_dir().join("logs")
    }

    pub fn task_dir(&self, task: &str) -> PathBuf {
        self.root.join(task)
    }

    /// NOMAD_TASK_DIR.
    pub fn local_dir(&self, task: &str) -> PathBuf {
        self.task_dir(task).join("local")
    }

    pub fn secrets_dir(&self, task: &str) -> PathBuf {
        self.task_dir(task).join("secrets")
    }

    pub fn fifo_path(&self, task: &str, kind: LogKind) -> PathBuf {
        self.logs_dir()
            .join(format!(".{task}.{}.fifo", kind.as_str()))
    }

    /// Creates the shared directories. Idempotent.
    pub fn build(&self) -> io::Result<()> {
        for d in ["data", "logs", "tmp"] {
            std::fs::create_dir_all(self.shared_dir().join(d))?;
        }
        // The group's tasks may run as different users (nobody under exec and java): the shared
        // data and tmp directories are writable by all, tmp sticky like /tmp, as Nomad does.
        for (d, mode) in [("data", 0o777), ("tmp", 0o1777)] {
            std::fs::set_permissions(
                self.shared_dir().join(d),
                std::fs::Permissions::from_mode(mode),
            )?;
        }
        Ok(())
    }

    /// Creates a task's directories and its output FIFOs. Idempotent, so a restored task can call it.
    pub fn build_task(&self, task: &str) -> io::Result<()> {
        if task.is_empty() || task.contains('/') || task == "alloc" || task.starts_with('.') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("task name {task:?} cannot be used as a directory name"),
            ));
        }
        self.build()?;
        for d in ["local", "secrets", "tmp"] {
            std::fs::create_dir_all(self.task_dir(task).join(d))?;
        }
        std::fs::set_permissions(
            self.secrets_dir(task),
            std::fs::Permissions::from_mode(0o700),
        )?;
        for kind in [LogKind::Stdout, LogKind::Stderr] {
            let p = self.fifo_path(task, kind);
            match nix::unistd::mkfifo(&p, Mode::S_IRUSR | Mode::S_IWUSR) {
                Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
                Err(e) => return Err(io::Error::other(format!("mkfifo {}: {e}", p.display()))),
            }
        }
        Ok(())
    }

    pub fn destroy(&self) -> io::Result<()> {
        match std::fs::remove_dir_all(&self.root) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// Whether `path` names something under `root` without climbing: only plain names after the
/// root, no `..` or `.`. Decided on the text alone; what a task asks to bind or copy from its own
/// directory passes, everything else on the host does not.
pub fn lexically_inside(path: &Path, root: &Path) -> bool {
    path.strip_prefix(root).is_ok_and(|rest| {
        rest.components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_nomad_layout() {
        let base = tempfile::tempdir().unwrap();
        let d = AllocDir::new(base.path(), "a1");
        d.build_task("web").unwrap();
        d.build_task("web").unwrap();
        for p in [
            "alloc/data",
            "alloc/logs",
            "alloc/tmp",
            "web/local",
            "web/secrets",
            "web/tmp",
        ] {
            assert!(base.path().join("a1").join(p).is_dir(), "{p}");
        }
        assert!(d.fifo_path("web", LogKind::Stderr).exists());
        assert!(d.build_task("../x").is_err());
        d.destroy().unwrap();
        assert!(!d.root.exists());
        d.destroy().unwrap();
    }
}
