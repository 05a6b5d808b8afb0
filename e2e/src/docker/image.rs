//! The image the docker-based e2e tests run servers from: the agent binary and the shared
//! libraries it needs, imported as a local image (no registry is reachable), rebuilt only when
//! the binary changes.

use super::docker;
use crate::agent_bin;
use anyhow::{anyhow, bail, Context, Result};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::UNIX_EPOCH;

const IMAGE_REPO: &str = "local/nomad-agent-e2e";
const IMAGE_LABEL: &str = "nomad.e2e.image";
/// Bumped whenever the image's contents change shape, so an older image is not reused.
const IMAGE_LAYOUT: u32 = 2;

/// The local image holding the agent binary (`ENTRYPOINT ["/nomad-agent"]`). Built at most once
/// per process; an image already made from the same binary (same path, size and mtime) is reused.
pub fn agent_image() -> Result<String> {
    static IMAGE: OnceLock<Result<String, String>> = OnceLock::new();
    IMAGE
        .get_or_init(|| build_agent_image().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(|e| anyhow!(e))
}

fn build_agent_image() -> Result<String> {
    let bin = agent_bin();
    let meta = std::fs::metadata(&bin)
        .with_context(|| format!("{} (run `cargo build --bins` first)", bin.display()))?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .unwrap_or_default();
    let key = format!(
        "v{IMAGE_LAYOUT}-{:016x}-{:x}-{:x}",
        fnv1a(bin.display().to_string().as_bytes()),
        meta.len(),
        mtime.as_nanos()
    );
    let image = format!("{IMAGE_REPO}:{key}");
    let label_format = format!("{{{{index .Config.Labels \"{IMAGE_LABEL}\"}}}}");
    if docker(&["image", "inspect", "--format", &label_format, &image]).is_ok_and(|l| l == key) {
        return Ok(image);
    }
    let root = tempfile::tempdir().context("creating the image's staging dir")?;
    stage_rootfs(&bin, root.path())?;
    import_rootfs(root.path(), &image, &key)?;
    remove_older_images(&image);
    Ok(image)
}

/// A stable 64-bit hash for the image tag (std's hasher may change between Rust releases).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// Lays out the image's root: the binary, its shared libraries at the paths the dynamic loader
/// looks them up by, and the few files a process expects.
fn stage_rootfs(bin: &Path, root: &Path) -> Result<()> {
    let dest = root.join("nomad-agent");
    // A hard link saves copying a debug binary of a few hundred MB when both are on one disk.
    if std::fs::hard_link(bin, &dest).is_err() {
        std::fs::copy(bin, &dest).with_context(|| format!("copying {}", bin.display()))?;
    }
    for lib in shared_libraries(bin)? {
        let rel = lib.strip_prefix("/").unwrap_or(&lib);
        let dest = root.join(rel);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)?;
        }
        // Copying follows symlinks, so /lib64/ld-linux-x86-64.so.2 becomes the file itself.
        std::fs::copy(&lib, &dest).with_context(|| format!("copying {}", lib.display()))?;
    }
    for dir in ["tmp", "data", "etc", "bin"] {
        std::fs::create_dir_all(root.join(dir))?;
    }
    // A static busybox gives client containers something to run (`sleep`, `sh`) and the test a
    // way to look inside (`ps`). Without it the image still serves servers.
    let busybox = Path::new("/bin/busybox");
    if busybox.exists() {
        std::fs::copy(busybox, root.join("bin/busybox")).context("copying busybox")?;
        for applet in ["sh", "sleep", "ps", "cat", "true"] {
            std::os::unix::fs::symlink("busybox", root.join("bin").join(applet))?;
        }
    }
    std::fs::set_permissions(root.join("tmp"), std::fs::Permissions::from_mode(0o1777))?;
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/nonexistent\nnobody:x:65534:65534:nobody:/nonexistent:/nonexistent\n",
    )?;
    std::fs::write(root.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n")?;
    std::fs::write(
        root.join("etc/nsswitch.conf"),
        "passwd: files\ngroup: files\nhosts: files dns\n",
    )?;
    Ok(())
}

/// The absolute paths `ldd` resolves for `bin`, the dynamic loader included; none for a static
/// binary.
fn shared_libraries(bin: &Path) -> Result<Vec<PathBuf>> {
    let out = Command::new("ldd")
        .arg(bin)
        .stdin(Stdio::null())
        .output()
        .context("running ldd")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    if text.contains("not a dynamic executable") || err.contains("not a dynamic executable") {
        return Ok(Vec::new());
    }
    if !out.status.success() {
        bail!("ldd {} failed: {}", bin.display(), err.trim());
    }
    let mut libs = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.contains("not found") {
            bail!("{}: a shared library is missing: {line}", bin.display());
        }
        // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or "/lib64/ld-linux-x86-64.so.2
        // (0x...)"; the vDSO has no path and is provided by the kernel.
        let target = line.split_once("=>").map_or(line, |(_, r)| r.trim());
        if let Some(path) = target
            .split_whitespace()
            .next()
            .filter(|p| p.starts_with('/'))
        {
            libs.push(PathBuf::from(path));
        }
    }
    if libs.is_empty() {
        bail!("ldd named no libraries for {}:\n{text}", bin.display());
    }
    Ok(libs)
}

fn import_rootfs(root: &Path, image: &str, key: &str) -> Result<()> {
    let mut tar = Command::new("tar")
        .arg("-C")
        .arg(root)
        .args(["--numeric-owner", "--owner=0", "--group=0", "-cf", "-", "."])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running tar")?;
    let archive = tar.stdout.take().context("tar's stdout")?;
    let import = Command::new("docker")
        .args(["import", "--change", r#"ENTRYPOINT ["/nomad-agent"]"#])
        .args(["--change", &format!("LABEL {IMAGE_LABEL}={key}")])
        .args(["-", image])
        .stdin(archive)
        .output()
        .context("running docker import")?;
    let tar_out = tar.wait_with_output().context("waiting for tar")?;
    if !tar_out.status.success() {
        bail!(
            "tar of the image root failed: {}",
            String::from_utf8_lossy(&tar_out.stderr).trim()
        );
    }
    if !import.status.success() {
        bail!(
            "docker import {image} failed: {}",
            String::from_utf8_lossy(&import.stderr).trim()
        );
    }
    Ok(())
}

/// Removes images made from earlier builds of the binary; one still used by a container stays.
fn remove_older_images(current: &str) {
    let filter = format!("label={IMAGE_LABEL}");
    let Ok(list) = docker(&[
        "image",
        "ls",
        "--filter",
        &filter,
        "--format",
        "{{.Repository}}:{{.Tag}}",
    ]) else {
        return;
    };
    for image in list.lines().map(str::trim) {
        if image != current && image.starts_with(IMAGE_REPO) {
            let _ = docker(&["rmi", image]);
        }
    }
}
