//! Putting a render in place: write a temporary file beside the destination and rename it over,
//! run the `check` with the new file in place and put the previous content back if it fails, then
//! run the `command`. Identical content writes nothing and runs nothing.

use crate::config::TemplateConfig;
use crate::drivers::task_exec::{self, ExecSpec};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// How a `check` or `command` ran.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CommandResult {
    /// Unix nanoseconds when it finished.
    pub time: i64,
    pub command: String,
    /// -1 when it could not run or timed out.
    pub exit_code: i32,
    pub output: String,
}

impl CommandResult {
    pub fn ok(&self) -> bool {
        self.exit_code == 0
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    /// The destination already held exactly this.
    Unchanged,
    /// The new content is in place (and passed the check, if any).
    Kept {
        check: Option<CommandResult>,
        command: Option<CommandResult>,
    },
    /// The check failed: the previous content is back and the command did not run.
    CheckFailed { check: CommandResult },
}

async fn run_shell(line: &str, dir: &Path, timeout: std::time::Duration) -> CommandResult {
    let ran = task_exec::run(ExecSpec {
        command: "/bin/sh".into(),
        args: vec!["-c".into(), line.to_string()],
        env: BTreeMap::new(),
        clear_env: false,
        cwd: dir.to_path_buf(),
        run_as: None,
        enter: None,
        timeout,
    })
    .await;
    let (exit_code, output) = match ran {
        Ok(o) => (o.exit_code, o.output),
        Err(e) => (-1, e.to_string()),
    };
    CommandResult {
        time: crate::client::events::now_nanos(),
        command: line.to_string(),
        exit_code,
        output,
    }
}

fn temp_path(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dest.with_file_name(format!(".{name}.nomad-render-{}", std::process::id()))
}

/// Writes `bytes` beside `dest` and renames it over, so readers see the old or the new file,
/// never half of one.
fn replace(dest: &Path, bytes: &[u8], perms: u32) -> std::io::Result<()> {
    let tmp = temp_path(dest);
    let written = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(perms)
            .open(&tmp)?;
        f.write_all(bytes)?;
        // The umask may have taken bits away.
        f.set_permissions(std::fs::Permissions::from_mode(perms))?;
        f.sync_all()?;
        std::fs::rename(&tmp, dest)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

fn read_current(dest: &Path) -> std::io::Result<Option<Vec<u8>>> {
    match std::fs::read(dest) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())))
}

/// Why a render could not be put in place; the template's status shows it.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("reading {}: {source}", dest.display())]
    Read {
        dest: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("writing {}: {source}", dest.display())]
    Write {
        dest: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The destination may now hold content its check rejected.
    #[error(
        "the check {check:?} failed and the previous {} could not be put back: {source}",
        dest.display()
    )]
    PutBack {
        check: String,
        dest: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Puts `content` at the template's destination as described above.
pub async fn apply(cfg: &TemplateConfig, content: String) -> Result<Applied, ApplyError> {
    let dest = cfg.destination.clone();
    let previous = {
        let d = dest.clone();
        blocking(move || read_current(&d))
            .await
            .map_err(|source| ApplyError::Read {
                dest: dest.clone(),
                source,
            })?
    };
    if previous.as_deref() == Some(content.as_bytes()) {
        return Ok(Applied::Unchanged);
    }
    let perms = cfg.perms;
    {
        let d = dest.clone();
        blocking(move || replace(&d, content.as_bytes(), perms))
            .await
            .map_err(|source| ApplyError::Write {
                dest: dest.clone(),
                source,
            })?;
    }
    let dir = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let check = match &cfg.check {
        Some(line) => Some(run_shell(line, &dir, cfg.command_timeout).await),
        None => None,
    };
    if let Some(c) = check.as_ref().filter(|c| !c.ok()) {
        let d = dest.clone();
        let put_back = blocking(move || match previous {
            Some(old) => replace(&d, &old, perms),
            None => std::fs::remove_file(&d),
        })
        .await;
        if let Err(source) = put_back {
            return Err(ApplyError::PutBack {
                check: c.command.clone(),
                dest,
                source,
            });
        }
        return Ok(Applied::CheckFailed { check: c.clone() });
    }
    let command = match &cfg.command {
        Some(line) => Some(run_shell(line, &dir, cfg.command_timeout).await),
        None => None,
    };
    Ok(Applied::Kept { check, command })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn cfg(dir: &Path, check: Option<&str>, command: Option<&str>) -> TemplateConfig {
        TemplateConfig {
            source: dir.join("t.j2"),
            destination: dir.join("out.conf"),
            check: check.map(str::to_string),
            command: command.map(str::to_string),
            perms: 0o640,
            wait_min: Duration::ZERO,
            wait_max: Duration::ZERO,
            command_timeout: Duration::from_secs(10),
        }
    }

    #[tokio::test]
    async fn writes_checks_and_runs_the_command_only_on_change() {
        let dir = tempfile::tempdir().unwrap();
        let c = cfg(
            dir.path(),
            Some("grep -q good out.conf"),
            Some("echo reloaded >> reloads"),
        );
        let first = apply(&c, "good 1\n".into()).await.unwrap();
        assert!(matches!(first, Applied::Kept { command: Some(ref r), .. } if r.ok()));
        let dest = dir.path().join("out.conf");
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "good 1\n");
        let mode = std::fs::metadata(&dest).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o640);
        assert_eq!(
            apply(&c, "good 1\n".into()).await.unwrap(),
            Applied::Unchanged
        );
        let failed = apply(&c, "bad\n".into()).await.unwrap();
        assert!(matches!(failed, Applied::CheckFailed { ref check } if check.exit_code == 1));
        assert_eq!(
            std::fs::read_to_string(&dest).unwrap(),
            "good 1\n",
            "put back"
        );
        let reloads = std::fs::read_to_string(dir.path().join("reloads")).unwrap();
        assert_eq!(reloads, "reloaded\n", "the command ran once");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains("nomad-render"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[tokio::test]
    async fn a_failed_first_check_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let c = cfg(dir.path(), Some("exit 3"), None);
        let r = apply(&c, "x".into()).await.unwrap();
        assert!(matches!(r, Applied::CheckFailed { ref check } if check.exit_code == 3));
        assert!(!dir.path().join("out.conf").exists());
    }
}
