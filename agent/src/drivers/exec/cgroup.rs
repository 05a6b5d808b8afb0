//! The task's cgroups: where they live, its memory and cpu limits, whether it was OOM-killed, and
//! their removal once it has ended.
//!
//! Both layouts are handled because hosts still differ: the unified hierarchy (v2, one directory
//! per task, `memory.max` and `cpu.weight`) when it is mounted with the memory controller, else
//! the legacy one (v1, a directory per controller, `memory.limit_in_bytes` and `cpu.shares`).
//! A hybrid host (v1 controllers plus an empty cgroup2 at `/sys/fs/cgroup/unified`) counts as v1,
//! since that is where its controllers are. Task cgroups go under a `nomad-rs` parent so that a
//! leftover one is easy to recognise.
//!
//! The agent creates the directories and sets the limits; the task's first process joins them
//! itself before exec (`child.rs`), so no instant of the task runs outside its limits.

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The parent of every task cgroup, in each hierarchy.
pub const PARENT: &str = "nomad-rs";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hierarchy {
    /// The unified hierarchy's mount point.
    V2(PathBuf),
    /// Mount points of the v1 memory and cpu controllers.
    V1 {
        memory: PathBuf,
        cpu: Option<PathBuf>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("no usable cgroups: mount cgroup v2 with the memory controller enabled, or the cgroup v1 memory controller")]
    Unavailable,
    #[error("cgroup {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> CgroupError + '_ {
    move |source| CgroupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Finds the cgroup hierarchy of this host from /proc/self/mountinfo.
pub fn detect() -> Result<Hierarchy, CgroupError> {
    let text = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(io_err(Path::new("/proc/self/mountinfo")))?;
    parse_mountinfo(&text, |p| {
        std::fs::read_to_string(p.join("cgroup.controllers")).unwrap_or_default()
    })
    .ok_or(CgroupError::Unavailable)
}

/// Undoes the octal escapes (`\040` for a space) of mountinfo paths.
fn unescape(field: &str) -> PathBuf {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b.get(i + 1..i + 4).and_then(|d| {
            std::str::from_utf8(d)
                .ok()
                .and_then(|s| u8::from_str_radix(s, 8).ok())
        });
        match (b[i], octal) {
            (b'\\', Some(v)) => {
                out.push(v);
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    PathBuf::from(std::ffi::OsString::from(
        String::from_utf8_lossy(&out).into_owned(),
    ))
}

/// `controllers_of` reads a cgroup2 mount's `cgroup.controllers`.
pub fn parse_mountinfo(text: &str, controllers_of: impl Fn(&Path) -> String) -> Option<Hierarchy> {
    let mut v1_memory = None;
    let mut v1_cpu = None;
    for line in text.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let fields: Vec<&str> = left.split(' ').collect();
        let (Some(root), Some(mount)) = (fields.get(3), fields.get(4)) else {
            continue;
        };
        // A mount of a sub-cgroup (inside a container) would put our paths elsewhere.
        if *root != "/" {
            continue;
        }
        let mount = unescape(mount);
        let mut right = right.split(' ');
        let fstype = right.next().unwrap_or_default();
        let options = right.nth(1).unwrap_or_default();
        match fstype {
            "cgroup2" => {
                let controllers = controllers_of(&mount);
                if controllers.split_whitespace().any(|c| c == "memory") {
                    return Some(Hierarchy::V2(mount));
                }
            }
            "cgroup" => {
                let has = |name: &str| options.split(',').any(|o| o == name);
                if has("memory") {
                    v1_memory.get_or_insert(mount.clone());
                }
                if has("cpu") {
                    v1_cpu.get_or_insert(mount);
                }
            }
            _ => {}
        }
    }
    v1_memory.map(|memory| Hierarchy::V1 {
        memory,
        cpu: v1_cpu,
    })
}

/// Nomad's conversion of cpu shares (MHz) to a v2 weight.
pub fn cpu_weight(mhz: i64) -> u64 {
    let shares = mhz.clamp(2, 262_144) as u64;
    (1 + ((shares - 2) * 9999) / 262_142).clamp(1, 10_000)
}

fn write(path: &Path, value: &str) -> Result<(), CgroupError> {
    std::fs::write(path, value).map_err(io_err(path))
}

fn make_dir(path: &Path) -> Result<(), CgroupError> {
    match std::fs::create_dir(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(io_err(path)(e)),
    }
}

/// Turns a task's name into one path component.
pub fn cgroup_name(alloc_id: &str, task: &str) -> String {
    format!("{alloc_id}.{task}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// One task's cgroup directories: the unified one (v2), or memory then cpu (v1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskCgroup {
    pub v2: bool,
    pub dirs: Vec<PathBuf>,
}

impl TaskCgroup {
    /// Creates the directories and sets the limits (`memory_mb` <= 0: no memory limit).
    pub fn create(
        h: &Hierarchy,
        name: &str,
        memory_mb: i64,
        cpu_mhz: i64,
    ) -> Result<Self, CgroupError> {
        let cg = match h {
            Hierarchy::V2(root) => TaskCgroup {
                v2: true,
                dirs: vec![root.join(PARENT).join(name)],
            },
            Hierarchy::V1 { memory, cpu } => TaskCgroup {
                v2: false,
                dirs: std::iter::once(memory)
                    .chain(cpu)
                    .map(|m| m.join(PARENT).join(name))
                    .collect(),
            },
        };
        if let Err(e) = cg.set_up(h, memory_mb, cpu_mhz) {
            let _ = cg.remove(Duration::from_secs(1));
            return Err(e);
        }
        Ok(cg)
    }

    fn set_up(&self, h: &Hierarchy, memory_mb: i64, cpu_mhz: i64) -> Result<(), CgroupError> {
        let bytes = (memory_mb > 0).then_some((memory_mb as u64) << 20);
        if let Hierarchy::V2(root) = h {
            let parent = root.join(PARENT);
            // Controllers must be enabled on every level above the task; cpu is optional.
            write(&root.join("cgroup.subtree_control"), "+memory")?;
            let _ = write(&root.join("cgroup.subtree_control"), "+cpu");
            make_dir(&parent)?;
            write(&parent.join("cgroup.subtree_control"), "+memory")?;
            let cpu = write(&parent.join("cgroup.subtree_control"), "+cpu").is_ok();
            let dir = &self.dirs[0];
            make_dir(dir)?;
            if let Some(b) = bytes {
                write(&dir.join("memory.max"), &b.to_string())?;
                // Without this the limit would only push the task into swap.
                let _ = write(&dir.join("memory.swap.max"), "0");
            }
            if cpu && cpu_mhz > 0 {
                write(&dir.join("cpu.weight"), &cpu_weight(cpu_mhz).to_string())?;
            }
            return Ok(());
        }
        for (i, dir) in self.dirs.iter().enumerate() {
            if let Some(parent) = dir.parent() {
                make_dir(parent)?;
            }
            make_dir(dir)?;
            if i == 0 {
                if let Some(b) = bytes {
                    write(&dir.join("memory.limit_in_bytes"), &b.to_string())?;
                    // Only present with swap accounting; must not be below the memory limit.
                    let memsw = dir.join("memory.memsw.limit_in_bytes");
                    if memsw.exists() {
                        write(&memsw, &b.to_string())?;
                    }
                }
            } else if cpu_mhz > 0 {
                write(&dir.join("cpu.shares"), &cpu_mhz.max(2).to_string())?;
            }
        }
        Ok(())
    }

    /// `cgroup.procs` of each directory, opened for the task's first process to join.
    pub fn open_procs(&self) -> Result<Vec<OwnedFd>, CgroupError> {
        self.dirs
            .iter()
            .map(|d| {
                let p = d.join("cgroup.procs");
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&p)
                    .map(OwnedFd::from)
                    .map_err(io_err(&p))
            })
            .collect()
    }

    /// Whether the kernel's OOM killer killed a process of this cgroup.
    pub fn oom_killed(&self) -> bool {
        let file = if self.v2 {
            "memory.events"
        } else {
            "memory.oom_control"
        };
        let text = std::fs::read_to_string(self.dirs[0].join(file)).unwrap_or_default();
        text.lines().any(|l| {
            let mut parts = l.split_whitespace();
            parts.next() == Some("oom_kill")
                && parts
                    .next()
                    .and_then(|n| n.parse::<u64>().ok())
                    .unwrap_or(0)
                    > 0
        })
    }

    /// Kills whatever is left in the cgroup.
    pub fn kill_all(&self) {
        let dir = &self.dirs[0];
        if self.v2 && write(&dir.join("cgroup.kill"), "1").is_ok() {
            return;
        }
        let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
        for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
            if pid > 1 {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
    }

    /// Removes the directories, killing leftovers while they are busy, until `patience` is up.
    pub fn remove(&self, patience: Duration) -> Result<(), CgroupError> {
        let deadline = Instant::now() + patience;
        let mut delay = Duration::from_millis(5);
        for dir in &self.dirs {
            loop {
                match std::fs::remove_dir(dir) {
                    Ok(()) => break,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                    // Busy: processes are still exiting, or something escaped the namespace.
                    Err(e) if Instant::now() < deadline => {
                        tracing::debug!("cgroup {} not removable yet: {e}", dir.display());
                        self.kill_all();
                        std::thread::sleep(delay);
                        delay = (delay * 2).min(Duration::from_millis(200));
                    }
                    Err(e) => return Err(io_err(dir)(e)),
                }
            }
        }
        Ok(())
    }

    /// Saved in the task handle, to clean up after a task re-attached by a restarted agent.
    pub fn to_state(&self) -> String {
        let mut s = String::from(if self.v2 { "v2" } else { "v1" });
        for d in &self.dirs {
            s.push('\n');
            s.push_str(&d.to_string_lossy());
        }
        s
    }

    /// Accepts only directories under a `nomad-rs` parent, so a damaged state file cannot make
    /// the agent remove some other cgroup.
    pub fn from_state(s: &str) -> Option<Self> {
        let mut lines = s.lines();
        let v2 = match lines.next()? {
            "v2" => true,
            "v1" => false,
            _ => return None,
        };
        let dirs: Vec<PathBuf> = lines.map(PathBuf::from).collect();
        let ok = !dirs.is_empty()
            && dirs.iter().all(|d| {
                d.is_absolute()
                    && d.parent().and_then(Path::file_name) == Some(PARENT.as_ref())
                    && !d.components().any(|c| c == std::path::Component::ParentDir)
            });
        ok.then_some(TaskCgroup { v2, dirs })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
25 30 0:22 / /sys/fs/cgroup rw,relatime shared:9 - tmpfs tmpfs rw,mode=755
26 25 0:23 / /sys/fs/cgroup/unified rw,relatime shared:10 - cgroup2 cgroup2 rw
27 25 0:24 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:11 - cgroup cgroup rw,cpu,cpuacct
28 25 0:25 / /sys/fs/cgroup/memory rw,relatime shared:12 - cgroup cgroup rw,memory
29 25 0:26 / /sys/fs/cgroup/cpuset rw,relatime shared:13 - cgroup cgroup rw,cpuset
";

    #[test]
    fn finds_v1_controllers_on_a_hybrid_host() {
        let h = parse_mountinfo(HYBRID, |_| String::new()).unwrap();
        assert_eq!(
            h,
            Hierarchy::V1 {
                memory: "/sys/fs/cgroup/memory".into(),
                cpu: Some("/sys/fs/cgroup/cpu,cpuacct".into()),
            }
        );
    }

    #[test]
    fn prefers_a_unified_hierarchy_with_memory() {
        let text = "30 25 0:27 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n";
        let h = parse_mountinfo(text, |_| "cpuset cpu io memory pids".into()).unwrap();
        assert_eq!(h, Hierarchy::V2("/sys/fs/cgroup".into()));
        assert_eq!(parse_mountinfo(text, |_| "pids".into()), None);
        let escaped = "30 25 0:27 / /mnt/cg\\040v2 rw - cgroup2 cgroup2 rw\n";
        let h = parse_mountinfo(escaped, |_| "memory".into()).unwrap();
        assert_eq!(h, Hierarchy::V2("/mnt/cg v2".into()));
    }

    #[test]
    fn converts_cpu_and_names() {
        assert_eq!(cpu_weight(2), 1);
        assert_eq!(cpu_weight(1024), 39);
        assert_eq!(cpu_weight(1_000_000), 10_000);
        assert_eq!(cgroup_name("a1", "web/x y"), "a1.web_x_y");
    }

    #[test]
    fn state_round_trips_and_rejects_foreign_paths() {
        let cg = TaskCgroup {
            v2: false,
            dirs: vec![
                "/sys/fs/cgroup/memory/nomad-rs/a.t".into(),
                "/sys/fs/cgroup/cpu/nomad-rs/a.t".into(),
            ],
        };
        assert_eq!(TaskCgroup::from_state(&cg.to_state()), Some(cg));
        assert_eq!(
            TaskCgroup::from_state("v2\n/sys/fs/cgroup/system.slice"),
            None
        );
        assert_eq!(TaskCgroup::from_state("v2\n/x/nomad-rs/../../y"), None);
        assert_eq!(TaskCgroup::from_state("v3\n/x/nomad-rs/a"), None);
    }
}
