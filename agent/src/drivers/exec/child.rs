//! The steps of an isolated task's first process, from `clone` (already in its new mount, PID,
//! IPC and UTS namespaces) to `execve`. The order is the point of this file:
//!
//! 1. join the task's cgroups first, so everything after is accounted and limited;
//! 2. new session, hostname;
//! 3. make every mount private *before* any mount, so nothing propagates back to the host;
//! 4. bind the chroot_env paths (read-only, nosuid) and the shared alloc dir (read-write);
//! 5. a small tmpfs /dev with a few bound device nodes, then a fresh /proc for the new PID
//!    namespace (it must be mounted from inside it to show only the task's processes);
//! 6. chroot into the task dir, chdir;
//! 7. stdio: /dev/null (from inside the chroot) and the log FIFOs opened by the agent;
//! 8. drop privileges last: setgroups, setgid, setuid (in that order: after setuid the others
//!    are refused);
//! 9. execve each candidate path of the program in turn, like execvp.
//!
//! Nothing here may allocate: see `isolation.rs`.

use super::isolation::{ExecArrays, Syscalls};
use nix::errno::Errno;
use nix::mount::MsFlags;
use nix::unistd::{Gid, Uid};
use std::ffi::{CStr, CString};
use std::os::fd::RawFd;
use std::os::raw::c_char;

pub struct BindPlan {
    pub source: CString,
    pub target: CString,
    pub read_only: bool,
}

/// argv and envp, owned, with the pointer arrays `execve` wants. Moving this struct does not
/// move the strings' bytes, so the pointers stay valid.
pub struct ExecStrings {
    _argv: Vec<CString>,
    _envp: Vec<CString>,
    argv_ptrs: Vec<*const c_char>,
    envp_ptrs: Vec<*const c_char>,
}

impl ExecStrings {
    pub fn new(argv: Vec<CString>, envp: Vec<CString>) -> Self {
        let ptrs = |v: &[CString]| {
            v.iter()
                .map(|s| s.as_ptr())
                .chain(std::iter::once(std::ptr::null()))
                .collect::<Vec<_>>()
        };
        ExecStrings {
            argv_ptrs: ptrs(&argv),
            envp_ptrs: ptrs(&envp),
            _argv: argv,
            _envp: envp,
        }
    }

    pub fn arrays(&self) -> ExecArrays {
        ExecArrays {
            argv: self.argv_ptrs.as_ptr(),
            envp: self.envp_ptrs.as_ptr(),
        }
    }
}

/// Everything the child needs, prepared by the agent before `clone`.
pub struct ChildPlan {
    /// `cgroup.procs` of each of the task's cgroups, opened for writing.
    pub cgroup_procs: Vec<RawFd>,
    pub hostname: CString,
    pub binds: Vec<BindPlan>,
    /// `<task_dir>/dev`, where a tmpfs goes.
    pub dev_dir: CString,
    /// (host device, file inside the new /dev to bind it onto)
    pub dev_nodes: Vec<(CString, CString)>,
    /// (link target, link path) inside the new /dev.
    pub dev_links: Vec<(CString, CString)>,
    pub dev_shm: CString,
    pub proc_dir: CString,
    /// The task dir: the new root.
    pub root: CString,
    /// The working directory inside the chroot.
    pub work_dir: CString,
    pub stdout: RawFd,
    pub stderr: RawFd,
    pub uid: Uid,
    pub gid: Gid,
    pub groups: Vec<Gid>,
    /// Paths inside the chroot to try for the program, in order.
    pub candidates: Vec<CString>,
    pub exec: ExecStrings,
}

/// Which step failed; sent to the agent through the error pipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Step {
    JoinCgroup = 1,
    Setsid,
    Hostname,
    PrivateMounts,
    Bind,
    ReadOnly,
    DevTmpfs,
    DevNode,
    DevLink,
    DevShm,
    Proc,
    Chroot,
    Chdir,
    Stdio,
    Signals,
    Setgroups,
    Setgid,
    Setuid,
    Exec,
}

const STEPS: [Step; 19] = [
    Step::JoinCgroup,
    Step::Setsid,
    Step::Hostname,
    Step::PrivateMounts,
    Step::Bind,
    Step::ReadOnly,
    Step::DevTmpfs,
    Step::DevNode,
    Step::DevLink,
    Step::DevShm,
    Step::Proc,
    Step::Chroot,
    Step::Chdir,
    Step::Stdio,
    Step::Signals,
    Step::Setgroups,
    Step::Setgid,
    Step::Setuid,
    Step::Exec,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChildFailure {
    pub step: Step,
    /// Which bind, device or candidate, where the step has several.
    pub index: u32,
    pub errno: Errno,
}

impl ChildFailure {
    pub const ENCODED_LEN: usize = 12;

    pub fn encode(&self) -> [u8; Self::ENCODED_LEN] {
        let mut out = [0u8; Self::ENCODED_LEN];
        out[..4].copy_from_slice(&(self.step as u32).to_le_bytes());
        out[4..8].copy_from_slice(&self.index.to_le_bytes());
        out[8..].copy_from_slice(&(self.errno as i32).to_le_bytes());
        out
    }

    pub fn decode(bytes: &[u8; Self::ENCODED_LEN]) -> Option<Self> {
        let word = |i: usize| [bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]];
        let step = u32::from_le_bytes(word(0));
        let step = *STEPS.iter().find(|s| **s as u32 == step)?;
        Some(ChildFailure {
            step,
            index: u32::from_le_bytes(word(4)),
            errno: Errno::from_raw(i32::from_le_bytes(word(8))),
        })
    }

    /// A message for the task's events, naming the path involved.
    pub fn describe(&self, plan: &ChildPlan) -> String {
        let i = self.index as usize;
        let lossy = |c: &CStr| c.to_string_lossy().into_owned();
        let what = match self.step {
            Step::JoinCgroup => "join the task's cgroup".to_string(),
            Step::Setsid => "start a new session".to_string(),
            Step::Hostname => format!("set hostname {}", lossy(&plan.hostname)),
            Step::PrivateMounts => "make mounts private in the new mount namespace".to_string(),
            Step::Bind | Step::ReadOnly => match plan.binds.get(i) {
                Some(b) => format!(
                    "bind-mount {} onto {}{}",
                    lossy(&b.source),
                    lossy(&b.target),
                    if self.step == Step::ReadOnly {
                        " read-only"
                    } else {
                        ""
                    }
                ),
                None => "bind-mount".to_string(),
            },
            Step::DevTmpfs => format!("mount a tmpfs on {}", lossy(&plan.dev_dir)),
            Step::DevNode => match plan.dev_nodes.get(i) {
                Some((s, _)) => format!("bind device {}", lossy(s)),
                None => "bind a device".to_string(),
            },
            Step::DevLink => "create /dev links".to_string(),
            Step::DevShm => "mount /dev/shm".to_string(),
            Step::Proc => format!("mount proc on {}", lossy(&plan.proc_dir)),
            Step::Chroot => format!("chroot into {}", lossy(&plan.root)),
            Step::Chdir => format!(
                "change to working directory {} as user id {}",
                lossy(&plan.work_dir),
                plan.uid
            ),
            Step::Stdio => "connect stdin/stdout/stderr".to_string(),
            Step::Signals => "reset signal handling".to_string(),
            Step::Setgroups => "set supplementary groups".to_string(),
            Step::Setgid => format!("set group id {}", plan.gid),
            Step::Setuid => format!("set user id {}", plan.uid),
            Step::Exec => {
                let tried: Vec<String> = plan.candidates.iter().map(|c| lossy(c)).collect();
                let hint = if self.errno == Errno::EACCES {
                    " (a directory on the way, or the file itself, is closed to that user)"
                } else {
                    ""
                };
                format!(
                    "execute {} inside the task's chroot as user id {}{hint}",
                    tried.join(" or "),
                    plan.uid
                )
            }
        };
        format!("cannot {what}: {}", self.errno.desc())
    }
}

fn at(step: Step, index: usize) -> impl Fn(Errno) -> ChildFailure {
    move |errno| ChildFailure {
        step,
        index: index as u32,
        errno,
    }
}

/// Runs the steps; returns only if one failed (a successful exec never returns).
pub fn run_child<S: Syscalls>(sys: &mut S, plan: &ChildPlan) -> ChildFailure {
    match setup(sys, plan) {
        Ok(()) => exec_first_found(sys, plan),
        Err(f) => f,
    }
}

fn setup<S: Syscalls>(sys: &mut S, plan: &ChildPlan) -> Result<(), ChildFailure> {
    for (i, fd) in plan.cgroup_procs.iter().enumerate() {
        sys.write_all(*fd, b"0").map_err(at(Step::JoinCgroup, i))?;
    }
    sys.setsid().map_err(at(Step::Setsid, 0))?;
    sys.sethostname(&plan.hostname)
        .map_err(at(Step::Hostname, 0))?;
    sys.mount(
        None,
        c"/",
        None,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None,
    )
    .map_err(at(Step::PrivateMounts, 0))?;
    for (i, b) in plan.binds.iter().enumerate() {
        sys.mount(
            Some(&b.source),
            &b.target,
            None,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None,
        )
        .map_err(at(Step::Bind, i))?;
        if b.read_only {
            // A bind mount takes its read-only flag only from a remount of itself.
            let flags =
                MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_NOSUID;
            sys.mount(None, &b.target, None, flags, None)
                .map_err(at(Step::ReadOnly, i))?;
        }
    }
    mount_dev(sys, plan)?;
    sys.mount(
        Some(c"proc"),
        &plan.proc_dir,
        Some(c"proc"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None,
    )
    .map_err(at(Step::Proc, 0))?;
    sys.chroot(&plan.root).map_err(at(Step::Chroot, 0))?;
    sys.chdir(c"/").map_err(at(Step::Chroot, 0))?;
    sys.chdir(&plan.work_dir).map_err(at(Step::Chdir, 0))?;
    let null = sys
        .open_read_only(c"/dev/null")
        .map_err(at(Step::Stdio, 0))?;
    sys.dup2(null, 0).map_err(at(Step::Stdio, 0))?;
    sys.dup2(plan.stdout, 1).map_err(at(Step::Stdio, 1))?;
    sys.dup2(plan.stderr, 2).map_err(at(Step::Stdio, 2))?;
    sys.reset_signals().map_err(at(Step::Signals, 0))?;
    sys.setgroups(&plan.groups)
        .map_err(at(Step::Setgroups, 0))?;
    sys.setgid(plan.gid).map_err(at(Step::Setgid, 0))?;
    sys.setuid(plan.uid).map_err(at(Step::Setuid, 0))?;
    Ok(())
}

fn mount_dev<S: Syscalls>(sys: &mut S, plan: &ChildPlan) -> Result<(), ChildFailure> {
    sys.mount(
        Some(c"tmpfs"),
        &plan.dev_dir,
        Some(c"tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some(c"mode=755,size=64k"),
    )
    .map_err(at(Step::DevTmpfs, 0))?;
    for (i, (source, target)) in plan.dev_nodes.iter().enumerate() {
        sys.create_file(target).map_err(at(Step::DevNode, i))?;
        sys.mount(Some(source), target, None, MsFlags::MS_BIND, None)
            .map_err(at(Step::DevNode, i))?;
    }
    for (i, (target, link)) in plan.dev_links.iter().enumerate() {
        sys.symlink(target, link).map_err(at(Step::DevLink, i))?;
    }
    sys.mkdir(&plan.dev_shm, 0o1777)
        .map_err(at(Step::DevShm, 0))?;
    sys.mount(
        Some(c"shm"),
        &plan.dev_shm,
        Some(c"tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some(c"mode=1777,size=65536k"),
    )
    .map_err(at(Step::DevShm, 0))
}

/// Tries each candidate like execvp: a missing file or a non-directory component moves on, and
/// a permission problem is remembered in case nothing else is found.
fn exec_first_found<S: Syscalls>(sys: &mut S, plan: &ChildPlan) -> ChildFailure {
    let mut last = at(Step::Exec, plan.candidates.len())(Errno::ENOENT);
    let arrays = plan.exec.arrays();
    for (i, path) in plan.candidates.iter().enumerate() {
        let errno = sys.execve(path, arrays);
        match errno {
            Errno::ENOENT | Errno::ENOTDIR => {}
            Errno::EACCES => last = at(Step::Exec, i)(errno),
            _ => return at(Step::Exec, i)(errno),
        }
    }
    last
}

#[cfg(test)]
mod tests {
    //! The ordering rules, checked against a recording fake. The fake only records calls (and
    //! fails on request); it stands in for the kernel in these unit tests only. The real
    //! syscalls are exercised by the driver's tests.
    use super::*;

    #[derive(Default)]
    struct Recorder {
        calls: Vec<String>,
        fail_on: Option<(String, Errno)>,
    }

    impl Recorder {
        fn record(&mut self, call: String) -> Result<(), Errno> {
            let fail = match &self.fail_on {
                Some((prefix, e)) if call.starts_with(prefix.as_str()) => Err(*e),
                _ => Ok(()),
            };
            self.calls.push(call);
            fail
        }

        fn position(&self, prefix: &str) -> usize {
            self.calls
                .iter()
                .position(|c| c.starts_with(prefix))
                .unwrap_or_else(|| panic!("no call {prefix:?} in {:#?}", self.calls))
        }
    }

    fn s(c: &CStr) -> String {
        c.to_string_lossy().into_owned()
    }

    impl Syscalls for Recorder {
        fn write_all(&mut self, fd: RawFd, data: &[u8]) -> Result<(), Errno> {
            self.record(format!("write {fd} {}", String::from_utf8_lossy(data)))
        }
        fn setsid(&mut self) -> Result<(), Errno> {
            self.record("setsid".into())
        }
        fn sethostname(&mut self, name: &CStr) -> Result<(), Errno> {
            self.record(format!("sethostname {}", s(name)))
        }
        fn mount(
            &mut self,
            source: Option<&CStr>,
            target: &CStr,
            fstype: Option<&CStr>,
            flags: MsFlags,
            _data: Option<&CStr>,
        ) -> Result<(), Errno> {
            let kind = if flags.contains(MsFlags::MS_REMOUNT) {
                "remount-ro"
            } else if flags.contains(MsFlags::MS_BIND) {
                "bind"
            } else if flags.contains(MsFlags::MS_PRIVATE) {
                "private"
            } else {
                "mount"
            };
            let source = source.map(s).unwrap_or_default();
            let fstype = fstype.map(s).unwrap_or_default();
            self.record(format!("{kind} {source} {} {fstype}", s(target)))
        }
        fn mkdir(&mut self, path: &CStr, _mode: u32) -> Result<(), Errno> {
            self.record(format!("mkdir {}", s(path)))
        }
        fn create_file(&mut self, path: &CStr) -> Result<(), Errno> {
            self.record(format!("touch {}", s(path)))
        }
        fn symlink(&mut self, target: &CStr, link: &CStr) -> Result<(), Errno> {
            self.record(format!("symlink {} {}", s(target), s(link)))
        }
        fn chroot(&mut self, path: &CStr) -> Result<(), Errno> {
            self.record(format!("chroot {}", s(path)))
        }
        fn chdir(&mut self, path: &CStr) -> Result<(), Errno> {
            self.record(format!("chdir {}", s(path)))
        }
        fn open_read_only(&mut self, path: &CStr) -> Result<RawFd, Errno> {
            self.record(format!("open {}", s(path))).map(|_| 99)
        }
        fn dup2(&mut self, from: RawFd, to: RawFd) -> Result<(), Errno> {
            self.record(format!("dup2 {from} {to}"))
        }
        fn reset_signals(&mut self) -> Result<(), Errno> {
            self.record("signals".into())
        }
        fn setgroups(&mut self, groups: &[Gid]) -> Result<(), Errno> {
            self.record(format!("setgroups {}", groups.len()))
        }
        fn setgid(&mut self, gid: Gid) -> Result<(), Errno> {
            self.record(format!("setgid {gid}"))
        }
        fn setuid(&mut self, uid: Uid) -> Result<(), Errno> {
            self.record(format!("setuid {uid}"))
        }
        fn execve(&mut self, path: &CStr, _arrays: ExecArrays) -> Errno {
            let p = s(path);
            self.calls.push(format!("execve {p}"));
            if p.starts_with("/usr/local") {
                Errno::ENOENT
            } else {
                Errno::ENOEXEC
            }
        }
    }

    fn c(v: &str) -> CString {
        CString::new(v).unwrap()
    }

    fn plan() -> ChildPlan {
        ChildPlan {
            cgroup_procs: vec![7, 8],
            hostname: c("web"),
            binds: vec![
                BindPlan {
                    source: c("/usr"),
                    target: c("/t/usr"),
                    read_only: true,
                },
                BindPlan {
                    source: c("/a/alloc"),
                    target: c("/t/alloc"),
                    read_only: false,
                },
            ],
            dev_dir: c("/t/dev"),
            dev_nodes: vec![(c("/dev/null"), c("/t/dev/null"))],
            dev_links: vec![(c("/proc/self/fd"), c("/t/dev/fd"))],
            dev_shm: c("/t/dev/shm"),
            proc_dir: c("/t/proc"),
            root: c("/t"),
            work_dir: c("/"),
            stdout: 5,
            stderr: 6,
            uid: Uid::from_raw(65534),
            gid: Gid::from_raw(65534),
            groups: vec![Gid::from_raw(65534)],
            candidates: vec![c("/usr/local/bin/sh"), c("/usr/bin/sh")],
            exec: ExecStrings::new(vec![c("sh")], vec![c("PATH=/bin")]),
        }
    }

    #[test]
    fn steps_run_in_a_safe_order() {
        let mut r = Recorder::default();
        let p = plan();
        let failure = run_child(&mut r, &p);
        // The fake's exec "fails" with ENOEXEC on the second candidate.
        assert_eq!(failure.step, Step::Exec);
        assert_eq!(failure.index, 1);
        assert_eq!(r.calls[0], "write 7 0");
        assert_eq!(r.calls[1], "write 8 0");
        let private = r.position("private");
        assert!(private < r.position("bind /usr"));
        assert!(r.position("bind /usr") < r.position("remount-ro  /t/usr"));
        assert!(!r.calls.iter().any(|c| c == "remount-ro  /t/alloc "));
        assert!(r.position("mount tmpfs /t/dev") < r.position("touch /t/dev/null"));
        assert!(r.position("touch /t/dev/null") < r.position("bind /dev/null /t/dev/null"));
        let proc = r.position("mount proc /t/proc proc");
        let chroot = r.position("chroot /t");
        assert!(proc < chroot);
        assert!(chroot < r.position("open /dev/null"));
        assert!(r.position("dup2 5 1") < r.position("setgroups"));
        assert!(r.position("setgroups") < r.position("setgid 65534"));
        assert!(r.position("setgid 65534") < r.position("setuid 65534"));
        assert!(r.position("setuid") < r.position("execve /usr/local/bin/sh"));
        assert_eq!(r.calls.last().unwrap(), "execve /usr/bin/sh");
    }

    #[test]
    fn a_failing_step_stops_everything_after_it() {
        let mut r = Recorder {
            fail_on: Some(("private".into(), Errno::EPERM)),
            ..Default::default()
        };
        let p = plan();
        let failure = run_child(&mut r, &p);
        assert_eq!(failure.step, Step::PrivateMounts);
        assert_eq!(failure.errno, Errno::EPERM);
        assert!(!r.calls.iter().any(|c| c.starts_with("bind")));
        assert!(!r.calls.iter().any(|c| c.starts_with("setuid")));
        assert!(
            failure.describe(&p).contains("private"),
            "{}",
            failure.describe(&p)
        );

        let mut r = Recorder {
            fail_on: Some(("remount-ro".into(), Errno::EACCES)),
            ..Default::default()
        };
        let failure = run_child(&mut r, &p);
        assert_eq!((failure.step, failure.index), (Step::ReadOnly, 0));
        assert!(failure.describe(&p).contains("/usr onto /t/usr read-only"));
        assert!(!r.calls.iter().any(|c| c.starts_with("chroot")));
    }

    #[test]
    fn failures_survive_the_pipe() {
        let f = ChildFailure {
            step: Step::Setuid,
            index: 3,
            errno: Errno::EPERM,
        };
        assert_eq!(ChildFailure::decode(&f.encode()), Some(f));
        assert_eq!(ChildFailure::decode(&[0u8; 12]), None);
    }
}
