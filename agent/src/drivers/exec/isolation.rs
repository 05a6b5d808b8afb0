//! The syscalls an isolated task's first process makes between `clone` and `execve`, behind one
//! trait so the order of the steps (see `child.rs`) can be unit-tested with a recording fake.
//!
//! [`NixSyscalls`] is the real implementation. It runs in a child cloned from the multi-threaded
//! agent, where another thread may have held the allocator's lock at clone time: every method
//! takes ready-made C strings and file descriptors and must never allocate.

use nix::errno::Errno;
use nix::mount::MsFlags;
use nix::unistd::{Gid, Uid};
use std::ffi::CStr;
use std::os::fd::RawFd;
use std::os::raw::c_char;

/// argv/envp as the kernel wants them: null-terminated arrays of pointers into C strings that
/// outlive the call.
#[derive(Debug, Clone, Copy)]
pub struct ExecArrays {
    pub argv: *const *const c_char,
    pub envp: *const *const c_char,
}

pub trait Syscalls {
    /// Writes all of `data` to `fd` (joining a cgroup is writing "0" to its `cgroup.procs`).
    fn write_all(&mut self, fd: RawFd, data: &[u8]) -> Result<(), Errno>;
    fn setsid(&mut self) -> Result<(), Errno>;
    fn sethostname(&mut self, name: &CStr) -> Result<(), Errno>;
    fn mount(
        &mut self,
        source: Option<&CStr>,
        target: &CStr,
        fstype: Option<&CStr>,
        flags: MsFlags,
        data: Option<&CStr>,
    ) -> Result<(), Errno>;
    fn mkdir(&mut self, path: &CStr, mode: u32) -> Result<(), Errno>;
    /// Creates an empty file to bind a device node onto.
    fn create_file(&mut self, path: &CStr) -> Result<(), Errno>;
    fn symlink(&mut self, target: &CStr, link: &CStr) -> Result<(), Errno>;
    fn chroot(&mut self, path: &CStr) -> Result<(), Errno>;
    fn chdir(&mut self, path: &CStr) -> Result<(), Errno>;
    fn open_read_only(&mut self, path: &CStr) -> Result<RawFd, Errno>;
    fn dup2(&mut self, from: RawFd, to: RawFd) -> Result<(), Errno>;
    /// Default dispositions and an empty mask: the agent ignores SIGPIPE and the task must not
    /// inherit that.
    fn reset_signals(&mut self) -> Result<(), Errno>;
    fn setgroups(&mut self, groups: &[Gid]) -> Result<(), Errno>;
    fn setgid(&mut self, gid: Gid) -> Result<(), Errno>;
    fn setuid(&mut self, uid: Uid) -> Result<(), Errno>;
    /// Returns only on failure.
    fn execve(&mut self, path: &CStr, arrays: ExecArrays) -> Errno;
}

/// The real thing, straight to the kernel.
pub struct NixSyscalls;

fn check(ret: libc::c_int) -> Result<(), Errno> {
    if ret < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

impl Syscalls for NixSyscalls {
    fn write_all(&mut self, fd: RawFd, mut data: &[u8]) -> Result<(), Errno> {
        while !data.is_empty() {
            // SAFETY: writes from a live slice.
            let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
            if n < 0 {
                let e = Errno::last();
                if e == Errno::EINTR {
                    continue;
                }
                return Err(e);
            }
            data = data.get(n as usize..).unwrap_or_default();
        }
        Ok(())
    }

    fn setsid(&mut self) -> Result<(), Errno> {
        nix::unistd::setsid().map(|_| ())
    }

    fn sethostname(&mut self, name: &CStr) -> Result<(), Errno> {
        // SAFETY: the pointer and length come from a live C string.
        check(unsafe { libc::sethostname(name.as_ptr(), name.to_bytes().len()) })
    }

    fn mount(
        &mut self,
        source: Option<&CStr>,
        target: &CStr,
        fstype: Option<&CStr>,
        flags: MsFlags,
        data: Option<&CStr>,
    ) -> Result<(), Errno> {
        nix::mount::mount(source, target, fstype, flags, data)
    }

    fn mkdir(&mut self, path: &CStr, mode: u32) -> Result<(), Errno> {
        // SAFETY: a live C string.
        match check(unsafe { libc::mkdir(path.as_ptr(), mode) }) {
            Err(Errno::EEXIST) => Ok(()),
            other => other,
        }
    }

    fn create_file(&mut self, path: &CStr) -> Result<(), Errno> {
        // SAFETY: a live C string; the descriptor is closed at once.
        let fd = unsafe {
            libc::open(
                path.as_ptr(),
                libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW,
                0o644,
            )
        };
        if fd < 0 {
            return Err(Errno::last());
        }
        // SAFETY: fd was just opened by us.
        unsafe { libc::close(fd) };
        Ok(())
    }

    fn symlink(&mut self, target: &CStr, link: &CStr) -> Result<(), Errno> {
        // SAFETY: live C strings.
        check(unsafe { libc::symlink(target.as_ptr(), link.as_ptr()) })
    }

    fn chroot(&mut self, path: &CStr) -> Result<(), Errno> {
        nix::unistd::chroot(path)
    }

    fn chdir(&mut self, path: &CStr) -> Result<(), Errno> {
        nix::unistd::chdir(path)
    }

    fn open_read_only(&mut self, path: &CStr) -> Result<RawFd, Errno> {
        // SAFETY: a live C string.
        let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        if fd < 0 {
            Err(Errno::last())
        } else {
            Ok(fd)
        }
    }

    fn dup2(&mut self, from: RawFd, to: RawFd) -> Result<(), Errno> {
        // SAFETY: plain descriptor numbers; dup2 clears close-on-exec on `to`.
        check(unsafe { libc::dup2(from, to) })
    }

    fn reset_signals(&mut self) -> Result<(), Errno> {
        for sig in 1..libc::SIGRTMAX() {
            if sig == libc::SIGKILL || sig == libc::SIGSTOP {
                continue;
            }
            // SAFETY: restoring the default disposition; some numbers are reserved by libc and
            // refuse, which is fine.
            unsafe { libc::signal(sig, libc::SIG_DFL) };
        }
        // SAFETY: an empty, initialised set.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            // pthread_sigmask returns the error number instead of setting errno.
            match libc::pthread_sigmask(libc::SIG_SETMASK, &set, std::ptr::null_mut()) {
                0 => Ok(()),
                e => Err(Errno::from_raw(e)),
            }
        }
    }

    fn setgroups(&mut self, groups: &[Gid]) -> Result<(), Errno> {
        nix::unistd::setgroups(groups)
    }

    fn setgid(&mut self, gid: Gid) -> Result<(), Errno> {
        nix::unistd::setgid(gid)
    }

    fn setuid(&mut self, uid: Uid) -> Result<(), Errno> {
        nix::unistd::setuid(uid)
    }

    fn execve(&mut self, path: &CStr, arrays: ExecArrays) -> Errno {
        // SAFETY: both arrays are null-terminated and point into C strings owned by the plan,
        // which lives until the exec replaces this process.
        unsafe { libc::execve(path.as_ptr(), arrays.argv, arrays.envp) };
        Errno::last()
    }
}
