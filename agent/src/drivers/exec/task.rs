//! One exec task's life on the agent's side: turning the prepared pieces into a [`ChildPlan`],
//! starting it, and watching it end (exit status, OOM kill, cgroup removal).
//!
//! Stopping needs care because the task is pid 1 of its PID namespace: the kernel drops signals
//! it has no handler for, even from the agent. So the stop signal goes to its process *group*
//! (its children die of it, and a task with a handler gets it too), and the SIGKILL after the
//! kill timeout is always delivered: killing a namespace's pid 1 makes the kernel kill everything
//! else in it. Whatever still sits in the cgroup after that is killed when the cgroup is removed.

use super::cgroup::TaskCgroup;
use super::child::{BindPlan, ChildPlan, ExecStrings};
use super::chroot::{ChrootLayout, DEV_LINKS};
use super::spawn::{spawn_isolated, wait_exit};
use crate::drivers::proc::watch_foreign;
use crate::drivers::{DriverError, ExitResult};
use nix::unistd::{Gid, Pid, Uid};
use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;
use tokio::sync::watch;

/// PATH inside the chroot when the task's environment sets none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// How long a finished task's cgroup may stay busy before its removal is given up.
const CGROUP_REMOVAL_PATIENCE: Duration = Duration::from_secs(10);

/// Everything prepared on the host for one start. Owns the descriptors the child inherits.
pub struct Launch {
    pub command: String,
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub hostname: String,
    pub layout: ChrootLayout,
    /// Names under /dev of the host devices to bind into the task's /dev.
    pub dev_nodes: Vec<String>,
    pub uid: Uid,
    pub gid: Gid,
    pub groups: Vec<Gid>,
    pub stdout: File,
    pub stderr: File,
    pub cgroup_procs: Vec<OwnedFd>,
}

fn cstring(what: &str, bytes: &[u8]) -> Result<CString, DriverError> {
    CString::new(bytes)
        .map_err(|_| DriverError::Config(format!("exec: {what} contains a NUL byte")))
}

fn cpath(p: &Path) -> Result<CString, DriverError> {
    cstring(&p.display().to_string(), p.as_os_str().as_bytes())
}

/// Where to look for the program inside the chroot, like execvp: a name with a slash is used as
/// it is (relative to the working directory, `/`), anything else is searched in PATH.
pub fn candidates(command: &str, path_var: &str) -> Vec<String> {
    if command.contains('/') {
        return vec![command.to_string()];
    }
    path_var
        .split(':')
        .filter(|d| !d.is_empty())
        .map(|d| format!("{}/{command}", d.trim_end_matches('/')))
        .collect()
}

/// The child's plan. Not `Send` (it holds raw pointers), so it is built on the thread that
/// clones.
pub fn build_plan(l: &Launch) -> Result<ChildPlan, DriverError> {
    let dev = &l.layout.dev;
    let path_var = l.env.get("PATH").map_or(DEFAULT_PATH, String::as_str);
    let mut argv = vec![cstring("command", l.command.as_bytes())?];
    for a in &l.args {
        argv.push(cstring("args", a.as_bytes())?);
    }
    let envp = l
        .env
        .iter()
        .map(|(k, v)| cstring(&format!("env {k}"), format!("{k}={v}").as_bytes()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ChildPlan {
        cgroup_procs: l.cgroup_procs.iter().map(|f| f.as_raw_fd()).collect(),
        hostname: cstring("hostname", l.hostname.as_bytes())?,
        binds: l
            .layout
            .binds
            .iter()
            .map(|b| {
                Ok(BindPlan {
                    source: cpath(&b.source)?,
                    target: cpath(&b.target)?,
                    read_only: b.read_only,
                })
            })
            .collect::<Result<_, DriverError>>()?,
        dev_dir: cpath(dev)?,
        dev_nodes: l
            .dev_nodes
            .iter()
            .map(|n| Ok((cpath(&Path::new("/dev").join(n))?, cpath(&dev.join(n))?)))
            .collect::<Result<_, DriverError>>()?,
        dev_links: DEV_LINKS
            .iter()
            .map(|(name, target)| {
                Ok((cstring(target, target.as_bytes())?, cpath(&dev.join(name))?))
            })
            .collect::<Result<_, DriverError>>()?,
        dev_shm: cpath(&dev.join("shm"))?,
        proc_dir: cpath(&l.layout.proc)?,
        root: cpath(&l.layout.root)?,
        work_dir: c"/".to_owned(),
        stdout: l.stdout.as_raw_fd(),
        stderr: l.stderr.as_raw_fd(),
        uid: l.uid,
        gid: l.gid,
        groups: l.groups.clone(),
        candidates: candidates(&l.command, path_var)
            .iter()
            .map(|c| cstring("command", c.as_bytes()))
            .collect::<Result<_, _>>()?,
        exec: ExecStrings::new(argv, envp),
    })
}

/// Starts the task and returns its pid once it has exec'd. Blocking (clone, then a read of the
/// child's report); the launch's descriptors are closed on return, the child has its own.
pub fn launch(l: Launch) -> Result<Pid, DriverError> {
    let plan = build_plan(&l)?;
    spawn_isolated(&plan).map_err(|e| DriverError::Start(format!("exec: {e}")))
}

/// Reads the OOM state and removes the cgroup of an ended task.
fn finish(mut exit: ExitResult, cgroup: &TaskCgroup) -> ExitResult {
    if cgroup.oom_killed() {
        exit.oom_killed = true;
        if exit.err.is_none() {
            exit.err = Some("the task was killed for exceeding its memory limit".into());
        }
    }
    if let Err(e) = cgroup.remove(CGROUP_REMOVAL_PATIENCE) {
        tracing::warn!("exec: cannot remove the task's cgroup: {e}");
    }
    exit
}

/// Watches our own child: a plain thread blocked in waitpid (a blocking-pool task would hold up
/// the runtime's shutdown for as long as the task runs).
pub fn watch_child(
    pid: Pid,
    cgroup: TaskCgroup,
) -> std::io::Result<watch::Receiver<Option<ExitResult>>> {
    let (tx, rx) = watch::channel(None);
    std::thread::Builder::new()
        .name(format!("exec-wait-{pid}"))
        .spawn(move || {
            let exit = finish(wait_exit(pid), &cgroup);
            let _ = tx.send(Some(exit));
        })?;
    Ok(rx)
}

/// Watches a task re-attached after an agent restart (no longer our child), then cleans up.
pub fn watch_recovered(
    pid: i32,
    start_time: u64,
    cgroup: Option<TaskCgroup>,
) -> watch::Receiver<Option<ExitResult>> {
    let mut foreign = watch_foreign(pid, start_time);
    let (tx, rx) = watch::channel(None);
    tokio::spawn(async move {
        let exit = foreign.wait_for(|e| e.is_some()).await.map(|v| v.clone());
        let exit = match exit {
            Ok(Some(e)) => e,
            _ => ExitResult::unknown("lost track of the re-attached task"),
        };
        let exit = match cgroup {
            Some(cg) => tokio::task::spawn_blocking(move || finish(exit, &cg))
                .await
                .unwrap_or_else(|e| ExitResult::unknown(&format!("cgroup cleanup failed: {e}"))),
            None => exit,
        };
        let _ = tx.send(Some(exit));
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drivers::exec::child::run_child;
    use crate::drivers::exec::chroot::Bind;
    use crate::drivers::exec::isolation::{ExecArrays, Syscalls};
    use nix::errno::Errno;
    use nix::mount::MsFlags;
    use std::ffi::CStr;
    use std::os::fd::RawFd;

    #[test]
    fn searches_path_like_execvp() {
        assert_eq!(candidates("/bin/sh", DEFAULT_PATH), vec!["/bin/sh"]);
        assert_eq!(candidates("local/run.sh", "/bin"), vec!["local/run.sh"]);
        assert_eq!(
            candidates("sh", "/usr/bin/::/bin/"),
            vec!["/usr/bin/sh", "/bin/sh"]
        );
    }

    /// Records the calls a plan makes; the kernel cannot be asked to chroot in a unit test.
    #[derive(Default)]
    struct Recorder(Vec<String>);

    fn s(c: &CStr) -> String {
        c.to_string_lossy().into_owned()
    }

    impl Syscalls for Recorder {
        fn write_all(&mut self, fd: RawFd, data: &[u8]) -> Result<(), Errno> {
            self.0
                .push(format!("write {fd} {}", String::from_utf8_lossy(data)));
            Ok(())
        }
        fn setsid(&mut self) -> Result<(), Errno> {
            Ok(())
        }
        fn sethostname(&mut self, name: &CStr) -> Result<(), Errno> {
            self.0.push(format!("hostname {}", s(name)));
            Ok(())
        }
        fn mount(
            &mut self,
            source: Option<&CStr>,
            target: &CStr,
            _fstype: Option<&CStr>,
            flags: MsFlags,
            _data: Option<&CStr>,
        ) -> Result<(), Errno> {
            let ro = if flags.contains(MsFlags::MS_RDONLY) {
                " ro"
            } else {
                ""
            };
            let src = source.map(s).unwrap_or_default();
            self.0.push(format!("mount {src} {}{ro}", s(target)));
            Ok(())
        }
        fn mkdir(&mut self, _path: &CStr, _mode: u32) -> Result<(), Errno> {
            Ok(())
        }
        fn create_file(&mut self, _path: &CStr) -> Result<(), Errno> {
            Ok(())
        }
        fn symlink(&mut self, target: &CStr, link: &CStr) -> Result<(), Errno> {
            self.0.push(format!("symlink {} {}", s(target), s(link)));
            Ok(())
        }
        fn chroot(&mut self, path: &CStr) -> Result<(), Errno> {
            self.0.push(format!("chroot {}", s(path)));
            Ok(())
        }
        fn chdir(&mut self, _path: &CStr) -> Result<(), Errno> {
            Ok(())
        }
        fn open_read_only(&mut self, _path: &CStr) -> Result<RawFd, Errno> {
            Ok(100)
        }
        fn dup2(&mut self, from: RawFd, to: RawFd) -> Result<(), Errno> {
            self.0.push(format!("dup2 {from} {to}"));
            Ok(())
        }
        fn reset_signals(&mut self) -> Result<(), Errno> {
            Ok(())
        }
        fn setgroups(&mut self, _groups: &[Gid]) -> Result<(), Errno> {
            Ok(())
        }
        fn setgid(&mut self, gid: Gid) -> Result<(), Errno> {
            self.0.push(format!("setgid {gid}"));
            Ok(())
        }
        fn setuid(&mut self, uid: Uid) -> Result<(), Errno> {
            self.0.push(format!("setuid {uid}"));
            Ok(())
        }
        fn execve(&mut self, path: &CStr, _arrays: ExecArrays) -> Errno {
            self.0.push(format!("execve {}", s(path)));
            Errno::ENOENT
        }
    }

    #[test]
    fn a_launch_becomes_the_expected_steps() {
        let dir = tempfile::tempdir().unwrap();
        let open = |n: &str| File::create(dir.path().join(n)).unwrap();
        let launch = Launch {
            command: "sleep".into(),
            args: vec!["1".into()],
            env: BTreeMap::from([("PATH".to_string(), "/usr/bin:/bin".to_string())]),
            hostname: "web".into(),
            layout: ChrootLayout {
                root: "/t".into(),
                binds: vec![Bind {
                    source: "/a/alloc".into(),
                    target: "/t/alloc".into(),
                    read_only: false,
                }],
                dev: "/t/dev".into(),
                proc: "/t/proc".into(),
            },
            dev_nodes: vec!["null".into()],
            uid: Uid::from_raw(65534),
            gid: Gid::from_raw(65534),
            groups: vec![],
            stdout: open("out"),
            stderr: open("err"),
            cgroup_procs: vec![OwnedFd::from(open("procs"))],
        };
        let plan = build_plan(&launch).unwrap();
        let mut r = Recorder::default();
        let failure = run_child(&mut r, &plan);
        assert_eq!(failure.errno, Errno::ENOENT);
        let procs = launch.cgroup_procs[0].as_raw_fd();
        let out = launch.stdout.as_raw_fd();
        let expected_in_order = [
            format!("write {procs} 0"),
            "hostname web".into(),
            "mount /a/alloc /t/alloc".into(),
            "mount /dev/null /t/dev/null".into(),
            "symlink /proc/self/fd /t/dev/fd".into(),
            "mount proc /t/proc".into(),
            "chroot /t".into(),
            format!("dup2 {out} 1"),
            "setgid 65534".into(),
            "setuid 65534".into(),
            "execve /usr/bin/sleep".into(),
            "execve /bin/sleep".into(),
        ];
        let mut at = 0;
        for want in &expected_in_order {
            let found = r.0[at..].iter().position(|c| c == want);
            at += found.unwrap_or_else(|| panic!("{want:?} missing or out of order in {:#?}", r.0));
        }
        assert!(!r.0.iter().any(|c| c.ends_with("/t/alloc ro")));
    }
}
