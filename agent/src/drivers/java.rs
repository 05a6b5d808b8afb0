//! java: runs `java [jvm_options] -jar <jar_path> [args]` or `java [jvm_options] -cp <class_path>
//! <class> [args]` with exec's isolation (namespaces, a chroot of the task directory with the
//! client's `chroot_env` and the JDK bound in, cgroup limits), as the task's `user`, `nobody` by
//! default. Because the chroot is entered as root, the task runs even when the data dir sits
//! under a directory `nobody` cannot enter. When the task sets no `-Xmx`, three quarters of its
//! memory become the heap limit, so the JVM fails with an OutOfMemoryError of its own before the
//! cgroup's limit kills it.

use super::exec::ExecDriver;
use super::launch::resolve_user;
use super::{
    Driver, DriverError, DriverFuture, DriverSettings, ExitResult, TaskConfig, TaskHandle,
    TaskHandleState,
};
use api::DriverInfo;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use std::time::SystemTime;

const DRIVER: &str = "java";
const DEFAULT_USER: &str = "nobody";

pub struct JavaDriver {
    /// The `java` launcher: $JAVA_HOME/bin/java when set, else `java` from PATH.
    java: String,
    allow_root: bool,
    /// exec's isolation, with the client's `chroot_env`.
    isolation: ExecDriver,
    /// `java -version` is slow (a JVM start): asked again only when the launcher's real path
    /// or modification time changed (a JDK installed or upgraded after the agent started).
    version: Mutex<Option<(LauncherKey, Result<JavaVersion, JavaError>)>>,
}

/// Why the JDK cannot be used. Clone, because the answer of `java -version` is cached, failures
/// included; the I/O errors are shared for that.
#[derive(Debug, Clone, thiserror::Error)]
enum JavaError {
    #[error("{launcher:?} is not on the agent's PATH")]
    NotOnPath { launcher: String },
    #[error("{}: {source}", path.display())]
    Resolve {
        path: PathBuf,
        #[source]
        source: Arc<std::io::Error>,
    },
    #[error("cannot run {}: {source}", java.display())]
    Run {
        java: PathBuf,
        #[source]
        source: Arc<std::io::Error>,
    },
    #[error("{} -version failed: {status}", java.display())]
    VersionFailed {
        java: PathBuf,
        status: std::process::ExitStatus,
    },
    #[error("unexpected `java -version`: {output}")]
    UnexpectedVersion { output: String },
}

/// What `java -version` says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JavaVersion {
    pub version: String,
    pub runtime: String,
    pub vm: String,
}

/// The launcher a cached `java -version` answer belongs to: its real path and mtime.
type LauncherKey = (PathBuf, Option<SystemTime>);

/// Runs `<java> -version` (a JVM start, so slow) and parses what it prints.
fn run_version(java: &Path) -> Result<JavaVersion, JavaError> {
    let out = std::process::Command::new(java)
        .arg("-version")
        .output()
        .map_err(|e| JavaError::Run {
            java: java.to_path_buf(),
            source: Arc::new(e),
        })?;
    if !out.status.success() {
        return Err(JavaError::VersionFailed {
            java: java.to_path_buf(),
            status: out.status,
        });
    }
    // The JVM prints its version on stderr.
    let text = String::from_utf8_lossy(&out.stderr);
    parse_version(&text).ok_or_else(|| JavaError::UnexpectedVersion {
        output: text.to_string(),
    })
}

/// Parses `java -version`'s stderr: `openjdk version "17.0.15" 2025-04-15`, then the runtime and
/// the VM lines.
pub fn parse_version(text: &str) -> Option<JavaVersion> {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next()?;
    let version = first.split('"').nth(1)?.to_string();
    Some(JavaVersion {
        version,
        runtime: lines.next().unwrap_or_default().to_string(),
        vm: lines.next().unwrap_or_default().to_string(),
    })
}

/// The task's config block, checked.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JavaTaskConfig {
    pub jar_path: Option<String>,
    pub class: Option<String>,
    pub class_path: Option<String>,
    pub jvm_options: Vec<String>,
    pub args: Vec<String>,
}

fn string(cfg: &BTreeMap<String, Value>, key: &str) -> Result<Option<String>, DriverError> {
    match cfg.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
        Some(_) => Err(DriverError::Config(format!(
            "java: {key:?} must be a non-empty string"
        ))),
    }
}

fn strings(cfg: &BTreeMap<String, Value>, key: &str) -> Result<Vec<String>, DriverError> {
    match cfg.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => Ok(items
            .iter()
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect()),
        Some(_) => Err(DriverError::Config(format!(
            "java: {key:?} must be a list of strings"
        ))),
    }
}

impl JavaTaskConfig {
    pub fn parse(cfg: &BTreeMap<String, Value>) -> Result<Self, DriverError> {
        const KNOWN: [&str; 5] = ["jar_path", "class", "class_path", "jvm_options", "args"];
        if let Some(k) = cfg.keys().find(|k| !KNOWN.contains(&k.as_str())) {
            return Err(DriverError::Config(format!(
                "java: unknown option {k:?}; the java driver takes {}",
                KNOWN.join(", ")
            )));
        }
        let c = JavaTaskConfig {
            jar_path: string(cfg, "jar_path")?,
            class: string(cfg, "class")?,
            class_path: string(cfg, "class_path")?,
            jvm_options: strings(cfg, "jvm_options")?,
            args: strings(cfg, "args")?,
        };
        if c.jar_path.is_none() && c.class.is_none() {
            return Err(DriverError::Config(
                "java: set \"jar_path\" (a jar with a Main-Class) or \"class\" (with \"class_path\")"
                    .into(),
            ));
        }
        Ok(c)
    }

    /// The launcher's arguments, with a heap limit of 3/4 of `memory_mb` added when the task
    /// set none: the rest is the JVM's own (metaspace, code cache, threads), inside the cgroup.
    pub fn java_args(&self, memory_mb: i64) -> Vec<String> {
        let mut out = self.jvm_options.clone();
        if memory_mb > 0 && !out.iter().any(|o| o.starts_with("-Xmx")) {
            out.push(format!("-Xmx{}m", (memory_mb * 3 / 4).max(1)));
        }
        if let Some(cp) = &self.class_path {
            out.extend(["-cp".to_string(), cp.clone()]);
        }
        match (&self.class, &self.jar_path) {
            (Some(class), Some(jar)) if self.class_path.is_none() => {
                // A class out of the jar: the jar is the class path.
                out.extend(["-cp".to_string(), jar.clone(), class.clone()]);
            }
            (Some(class), _) => out.push(class.clone()),
            (None, Some(jar)) => out.extend(["-jar".to_string(), jar.clone()]),
            (None, None) => {}
        }
        out.extend(self.args.iter().cloned());
        out
    }
}

impl JavaDriver {
    pub fn new(settings: &DriverSettings) -> Self {
        let java = std::env::var("JAVA_HOME")
            .ok()
            .filter(|h| !h.is_empty())
            .map(|h| format!("{h}/bin/java"))
            .unwrap_or_else(|| "java".to_string());
        JavaDriver {
            java,
            allow_root: settings.allow_root,
            isolation: ExecDriver::new(settings),
            version: Mutex::new(None),
        }
    }

    /// The launcher's real path on the host (symlinks resolved: /usr/bin/java is usually a
    /// link through /etc/alternatives into the JDK).
    fn java_path(&self) -> Result<PathBuf, JavaError> {
        let found = if self.java.contains('/') {
            PathBuf::from(&self.java)
        } else {
            std::env::var_os("PATH")
                .iter()
                .flat_map(std::env::split_paths)
                .map(|dir| dir.join(&self.java))
                .find(|p| p.is_file())
                .ok_or_else(|| JavaError::NotOnPath {
                    launcher: self.java.clone(),
                })?
        };
        found.canonicalize().map_err(|e| JavaError::Resolve {
            source: Arc::new(e),
            path: found,
        })
    }

    /// The isolation for this JDK: its home is bound into the chroot unless `chroot_env`
    /// already holds it. Returns the isolation and the launcher's path inside the chroot.
    fn isolation_for(&self, java: &Path) -> (ExecDriver, String) {
        let iso = self.isolation.clone();
        if let Some(inside) = iso.inside_chroot(java) {
            return (iso, inside.display().to_string());
        }
        // <home>/bin/java: bind <home> at the same path.
        let home = java
            .parent()
            .and_then(Path::parent)
            .unwrap_or(Path::new("/"))
            .display()
            .to_string();
        let iso = iso.with_chroot_paths(vec![(home.clone(), home)]);
        (iso, java.display().to_string())
    }

    fn version(&self) -> Result<JavaVersion, JavaError> {
        // No launcher is cheap to find out, and never cached: one may appear.
        let path = self.java_path()?;
        let key: LauncherKey = (
            path.clone(),
            std::fs::metadata(&path).and_then(|m| m.modified()).ok(),
        );
        let mut cache = self.version.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((k, v)) = cache.as_ref() {
            if *k == key {
                return v.clone();
            }
        }
        let v = run_version(&path);
        *cache = Some((key, v.clone()));
        v
    }

    async fn start_task(&self, cfg: &TaskConfig) -> Result<TaskHandle, DriverError> {
        let jc = JavaTaskConfig::parse(&cfg.config)?;
        if let Err(e) = self.version() {
            return Err(DriverError::Start(format!("java is not usable here: {e}")));
        }
        // Refused before anything is laid out, with the setting that allows it.
        resolve_user(DRIVER, &cfg.user, DEFAULT_USER, self.allow_root)?;
        let java = self
            .java_path()
            .map_err(|e| DriverError::Start(format!("java: {e}")))?;
        let (isolation, inside) = self.isolation_for(&java);
        isolation
            .start_isolated(DRIVER, cfg, inside, jc.java_args(cfg.memory_mb))
            .await
    }
}

impl Driver for JavaDriver {
    fn name(&self) -> &'static str {
        DRIVER
    }

    fn fingerprint(&self) -> DriverInfo {
        if let Err(e) = ExecDriver::isolation_available() {
            return super::undetected_driver(format!("java tasks run isolated as exec's: {e}"));
        }
        match self.version() {
            Ok(v) => super::healthy_driver(BTreeMap::from([
                ("driver.java".to_string(), "1".to_string()),
                ("driver.java.version".to_string(), v.version),
                ("driver.java.runtime".to_string(), v.runtime),
                ("driver.java.vm".to_string(), v.vm),
            ])),
            Err(e) => super::undetected_driver(e.to_string()),
        }
    }

    fn start<'a>(&'a self, cfg: &'a TaskConfig) -> DriverFuture<'a, TaskHandle> {
        Box::pin(self.start_task(cfg))
    }

    /// The task's cgroup and namespaces are exec's: so are recovery, signals and stops.
    fn recover<'a>(&'a self, state: &'a TaskHandleState) -> DriverFuture<'a, TaskHandle> {
        self.isolation.recover(state)
    }

    fn signal(&self, handle: &TaskHandle, signal: &str) -> Result<(), DriverError> {
        self.isolation.signal(handle, signal)
    }

    fn stop<'a>(
        &'a self,
        handle: &'a TaskHandle,
        timeout: Duration,
        signal: &'a str,
    ) -> DriverFuture<'a, ExitResult> {
        self.isolation.stop(handle, timeout, signal)
    }

    /// Inside the task's namespaces and chroot, as its user.
    fn exec<'a>(
        &'a self,
        handle: &'a TaskHandle,
        cfg: &'a TaskConfig,
        command: &'a str,
        args: &'a [String],
        timeout: Duration,
    ) -> DriverFuture<'a, super::ExecOutput> {
        self.isolation.exec(handle, cfg, command, args, timeout)
    }

    fn exec_session<'a>(
        &'a self,
        handle: &'a TaskHandle,
        cfg: &'a TaskConfig,
        cmd: &'a [String],
        tty: bool,
    ) -> DriverFuture<'a, super::exec_session::ExecSession> {
        self.isolation.exec_session(handle, cfg, cmd, tty)
    }
}

#[cfg(test)]
mod tests;
