//! Helpers for tests that need the Docker Engine (this crate's and the end-to-end tests): a
//! busybox image built locally (no registry is reachable), the check that fails a test when there
//! is no engine, and removal of the containers a test made. They drive the `docker` CLI so that
//! synchronous test code can use them.

use super::container::LABEL_ALLOC_ID;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A busybox tree imported as an image: `sh`, `httpd`, `echo`, `sleep`, `cat` ... in /bin, and
/// /www/index.html for `httpd -h /www`.
pub const BUSYBOX_IMAGE: &str = "local/busybox:e2e";
/// What /www/index.html of [`BUSYBOX_IMAGE`] holds.
pub const BUSYBOX_INDEX: &str = "hello from busybox\n";

const LOCK_FILE: &str = "nomad-rs-busybox-image.lock";

#[derive(Debug, thiserror::Error)]
pub enum TestImageError {
    #[error(
        "busybox is not installed: install a static busybox (apt-get install -y busybox-static)"
    )]
    NoBusybox,
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` failed: {stderr}")]
    Command { command: String, stderr: String },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> TestImageError {
    let what = what.into();
    move |source| TestImageError::Io { what, source }
}

fn run(cmd: &mut Command) -> Result<Output, TestImageError> {
    let shown = format!("{cmd:?}");
    let out = cmd.output().map_err(io(format!("run {shown}")))?;
    if !out.status.success() {
        return Err(TestImageError::Command {
            command: shown,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(out)
}

/// Why the engine does not answer.
#[derive(Debug, thiserror::Error)]
pub enum DockerUnusable {
    /// What `docker version` wrote to stderr.
    #[error("{0}")]
    EngineRefused(String),
    #[error("cannot run the docker CLI: {0}")]
    NoCli(#[source] std::io::Error),
}

/// Whether the engine answers, with the reason when it does not.
pub fn docker_usable() -> Result<(), DockerUnusable> {
    match Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
    {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(DockerUnusable::EngineRefused(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        )),
        Err(e) => Err(DockerUnusable::NoCli(e)),
    }
}

/// Panics, saying what to install, unless the engine answers: a test that needs Docker fails
/// without it, never skips.
pub fn require_docker_engine(test: &str) {
    if let Err(reason) = docker_usable() {
        panic!("{test} needs a running Docker engine (install docker.io and start it): {reason}");
    }
}

pub fn image_exists(image: &str) -> bool {
    Command::new("docker")
        .args(["image", "inspect", image])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn busybox_binary() -> Result<PathBuf, TestImageError> {
    ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or(TestImageError::NoBusybox)
}

/// Lays out the image's root: the busybox binary, a symlink per applet, and a few files.
fn build_root(root: &Path, busybox: &Path) -> Result<(), TestImageError> {
    let bin = root.join("bin");
    for d in [
        &bin,
        &root.join("www"),
        &root.join("etc"),
        &root.join("tmp"),
    ] {
        std::fs::create_dir_all(d).map_err(io(format!("create {}", d.display())))?;
    }
    std::fs::copy(busybox, bin.join("busybox")).map_err(io("copy busybox"))?;
    let list = run(Command::new(busybox).arg("--list"))?;
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        let applet = applet.trim();
        if applet.is_empty() || applet.contains('/') || applet == "busybox" {
            continue;
        }
        std::os::unix::fs::symlink("busybox", bin.join(applet))
            .map_err(io(format!("link applet {applet}")))?;
    }
    let files = [
        ("www/index.html", BUSYBOX_INDEX),
        (
            "etc/passwd",
            "root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
        ),
        ("etc/group", "root:x:0:\nnogroup:x:65534:\n"),
    ];
    for (path, text) in files {
        std::fs::write(root.join(path), text).map_err(io(format!("write {path}")))?;
    }
    Ok(())
}

/// Makes [`BUSYBOX_IMAGE`] present and returns its name. Safe to call from tests running in
/// parallel, in one process or many: builders take turns on a lock file and check again.
pub fn ensure_busybox_image() -> Result<String, TestImageError> {
    if image_exists(BUSYBOX_IMAGE) {
        return Ok(BUSYBOX_IMAGE.to_string());
    }
    let lock_path = std::env::temp_dir().join(LOCK_FILE);
    let lock_file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io(format!("open {}", lock_path.display())))?;
    let _lock = nix::fcntl::Flock::lock(lock_file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, errno)| io(format!("lock {}", lock_path.display()))(errno.into()))?;
    if image_exists(BUSYBOX_IMAGE) {
        return Ok(BUSYBOX_IMAGE.to_string());
    }
    let busybox = busybox_binary()?;
    let work = tempfile::tempdir().map_err(io("create a temp dir"))?;
    let root = work.path().join("root");
    build_root(&root, &busybox)?;
    let tarball = work.path().join("rootfs.tar");
    run(Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&tarball)
        .arg("."))?;
    run(Command::new("docker")
        .args([
            "import",
            "--change",
            "ENV PATH=/bin",
            "--change",
            "CMD [\"/bin/sh\"]",
        ])
        .arg(&tarball)
        .arg(BUSYBOX_IMAGE))?;
    Ok(BUSYBOX_IMAGE.to_string())
}

/// Removes every container of an allocation, running or not.
pub fn remove_alloc_containers(alloc_id: &str) {
    let filter = format!("label={LABEL_ALLOC_ID}={alloc_id}");
    let listed = Command::new("docker")
        .args(["ps", "-aq", "--filter", &filter])
        .output();
    let Ok(listed) = listed else { return };
    let ids: Vec<String> = String::from_utf8_lossy(&listed.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect();
    if !ids.is_empty() {
        let _ = Command::new("docker")
            .args(["rm", "-f", "-v"])
            .args(&ids)
            .output();
    }
}

/// Removes an allocation's containers when dropped, so a failing test leaves none behind.
pub struct AllocContainersGuard {
    pub alloc_id: String,
}

impl Drop for AllocContainersGuard {
    fn drop(&mut self) {
        remove_alloc_containers(&self.alloc_id);
    }
}
