//! The driver against the real kernel: namespaces, chroot and cgroups, as root. Where the host
//! cannot provide them the tests fail and say what is missing.

use super::*;
use crate::drivers::TaskStatus;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use std::io::Read;
use std::path::PathBuf;
use std::time::Instant;

/// The driver; panics with what is missing when this host cannot run exec tasks.
fn usable() -> ExecDriver {
    let why = if !nix::unistd::geteuid().is_root() {
        Some("not running as root".to_string())
    } else if let Err(e) = spawn::probe_namespaces() {
        Some(e.to_string())
    } else if let Err(e) = cgroup::detect() {
        Some(e.to_string())
    } else {
        None
    };
    match why {
        None => ExecDriver::new(&DriverSettings::default()),
        Some(why) => panic!(
            "the exec driver's tests need root on Linux with namespaces and cgroup v2: {why}"
        ),
    }
}

/// An alloc laid out as the client does it, with the reading ends of the output FIFOs held open
/// (a FIFO's data is gone once nobody has it open).
struct Alloc {
    _root: tempfile::TempDir,
    cfg: TaskConfig,
    stdout: std::fs::File,
}

fn alloc(command: &str, args: &[&str]) -> Alloc {
    let root = tempfile::tempdir().unwrap();
    let alloc_dir = root.path().join("alloc");
    let task_dir = root.path().join("web");
    for d in ["alloc/logs", "web/local", "web/secrets", "web/tmp"] {
        std::fs::create_dir_all(root.path().join(d)).unwrap();
    }
    let fifo = |n: &str| {
        let p = alloc_dir.join("logs").join(n);
        nix::unistd::mkfifo(&p, Mode::S_IRUSR | Mode::S_IWUSR).unwrap();
        p
    };
    let (out, err) = (fifo(".web.stdout.fifo"), fifo(".web.stderr.fifo"));
    let stdout = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(OFlag::O_NONBLOCK.bits())
        .open(&out)
        .unwrap();
    let alloc_id = format!("test-{}", uuid::Uuid::new_v4());
    let cfg = TaskConfig {
        alloc_id,
        task_name: "web".into(),
        config: BTreeMap::from([
            ("command".to_string(), serde_json::json!(command)),
            ("args".to_string(), serde_json::json!(args)),
        ]),
        env: BTreeMap::from([(
            "NOMAD_TASK_DIR".to_string(),
            task_dir.join("local").to_string_lossy().into_owned(),
        )]),
        task_dir,
        alloc_dir,
        stdout_path: out,
        stderr_path: err,
        memory_mb: 64,
        cpu_mhz: 100,
        ..Default::default()
    };
    Alloc {
        _root: root,
        cfg,
        stdout,
    }
}

use std::os::unix::fs::OpenOptionsExt;

impl Alloc {
    /// What the task wrote so far.
    fn output(&mut self) -> String {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match self.stdout.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("reading the task's output: {e}"),
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

fn cgroup_dirs(h: &TaskHandle) -> Vec<PathBuf> {
    TaskCgroup::from_state(&h.state.driver_state[CGROUP_STATE])
        .unwrap()
        .dirs
}

async fn wait(h: &TaskHandle) -> ExitResult {
    tokio::time::timeout(Duration::from_secs(60), h.wait())
        .await
        .expect("the task did not end within 60s")
}

#[tokio::test]
async fn sees_only_its_own_processes_and_runs_as_nobody() {
    let d = usable();
    assert!(d.fingerprint().healthy);
    let script = "echo pid=$$; echo uid=$(id -u); echo procs=$(ls /proc | grep -c '^[0-9]'); \
                  echo dir=$NOMAD_TASK_DIR; echo host=$(cat /proc/sys/kernel/hostname); touch /local/x && echo wrote; test -d /alloc/logs; exit 3";
    let mut a = alloc("/bin/sh", &["-c", script]);
    let h = d.start(&a.cfg).await.unwrap();
    let dirs = cgroup_dirs(&h);
    assert!(!dirs.is_empty());
    let exit = wait(&h).await;
    let out = a.output();
    assert_eq!(exit.exit_code, Some(3), "{exit:?}; output: {out}");
    assert!(out.contains("pid=1\n"), "{out}");
    assert!(out.contains("uid=65534\n"), "{out}");
    assert!(out.contains("dir=/local\n"), "{out}");
    assert!(out.contains("host=web\n"), "{out}");
    assert!(out.contains("wrote\n"), "{out}");
    // sh, the subshell of $(...), ls and grep at most; the host has far more.
    let procs: usize = out
        .lines()
        .find_map(|l| l.strip_prefix("procs="))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no process count in {out}"));
    assert!((1..=4).contains(&procs), "{out}");
    assert!(matches!(d.inspect(&h), TaskStatus::Exited(_)));
    assert!(
        dirs.iter().all(|p| !p.exists()),
        "cgroups left behind: {dirs:?}"
    );
}

#[tokio::test]
async fn is_stopped_by_its_memory_limit() {
    let d = usable();
    let mut a = alloc("tail", &["/dev/zero"]);
    a.cfg.memory_mb = 32;
    let h = d.start(&a.cfg).await.unwrap();
    let dirs = cgroup_dirs(&h);
    let exit = wait(&h).await;
    assert!(exit.oom_killed, "{exit:?}");
    assert_eq!(exit.signal, Some(libc::SIGKILL), "{exit:?}");
    assert!(!exit.successful());
    assert!(
        dirs.iter().all(|p| !p.exists()),
        "cgroups left behind: {dirs:?}"
    );
}

#[tokio::test]
async fn stop_kills_a_task_that_ignores_the_signal_and_recover_reattaches() {
    let d = usable();
    // As pid 1 of its namespace, sleep has no handler and never sees SIGTERM: only the SIGKILL
    // after the timeout ends it.
    let a = alloc("sleep", &["300"]);
    let h = d.start(&a.cfg).await.unwrap();
    let dirs = cgroup_dirs(&h);
    let again = d.recover(&h.state).await.unwrap();
    let started = Instant::now();
    let exit = d
        .stop(&again, Duration::from_millis(300), "SIGTERM")
        .await
        .unwrap();
    assert!(
        exit.exit_code.is_none(),
        "a recovered task's exit is unknown: {exit:?}"
    );
    let exit = wait(&h).await;
    assert_eq!(exit.signal, Some(libc::SIGKILL), "{exit:?}");
    assert!(!exit.oom_killed);
    assert!(started.elapsed() < Duration::from_secs(60));
    assert!(
        dirs.iter().all(|p| !p.exists()),
        "cgroups left behind: {dirs:?}"
    );
    assert!(matches!(
        d.recover(&h.state).await,
        Err(DriverError::NotRunning)
    ));
}

#[tokio::test]
async fn stop_lets_a_task_with_a_handler_exit_gracefully() {
    let d = usable();
    let mut a = alloc(
        "/bin/sh",
        &[
            "-c",
            "trap 'echo bye; exit 7' TERM; echo ready; while :; do sleep 0.1; done",
        ],
    );
    let h = d.start(&a.cfg).await.unwrap();
    // The trap must be installed before the signal is sent.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !a.output().contains("ready") {
        assert!(Instant::now() < deadline, "the task never became ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let exit = d
        .stop(&h, Duration::from_secs(30), "SIGTERM")
        .await
        .unwrap();
    assert_eq!(exit.exit_code, Some(7), "{exit:?}");
    assert!(a.output().contains("bye"));
}

#[tokio::test]
async fn refuses_root_and_bad_configs_before_touching_anything() {
    let d = ExecDriver::new(&DriverSettings::default());
    let mut a = alloc("/bin/true", &[]);
    a.cfg.user = "root".into();
    let err = d.start(&a.cfg).await.unwrap_err();
    assert!(matches!(err, DriverError::Config(_)), "{err}");
    assert!(err.to_string().contains("root"), "{err}");
    a.cfg.user = String::new();
    a.cfg.config.remove("command");
    let err = d.start(&a.cfg).await.unwrap_err();
    assert!(!err.recoverable(), "{err}");
    a.cfg
        .config
        .insert("command".into(), serde_json::json!("/bin/true"));
    a.cfg.user = "no-such-user-here".into();
    assert!(matches!(d.start(&a.cfg).await, Err(DriverError::Config(_))));
    let bad_env = ExecDriver::new(&DriverSettings {
        chroot_env: Some(vec![("/usr".into(), "/proc".into())]),
        ..Default::default()
    });
    a.cfg.user = String::new();
    if nix::unistd::geteuid().is_root() {
        assert!(matches!(
            bad_env.start(&a.cfg).await,
            Err(DriverError::Config(_))
        ));
    }
}

#[tokio::test]
async fn a_missing_program_is_a_clear_start_error() {
    let d = usable();
    let a = alloc("no-such-program", &[]);
    let err = d.start(&a.cfg).await.unwrap_err();
    assert!(err.to_string().contains("no-such-program"), "{err}");
    assert!(err.recoverable());
    let name = cgroup::cgroup_name(&a.cfg.alloc_id, &a.cfg.task_name);
    if let Ok(cgroup::Hierarchy::V1 { memory, .. }) = cgroup::detect() {
        assert!(!memory.join(cgroup::PARENT).join(name).exists());
    }
}
