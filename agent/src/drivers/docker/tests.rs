//! The docker driver against the real Docker Engine, with a busybox image imported locally (no
//! registry is reachable). Without an engine they fail, saying what to install: they never
//! skip. Every container a test makes carries its allocation label and is removed at the end.

use super::testing::{ensure_busybox_image, remove_alloc_containers, require_docker_engine};
use super::*;
use nix::sys::stat::Mode;
use std::io::{Read, Write};
use std::path::Path;

/// Removes the allocation's containers when the test ends, whatever happened.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        remove_alloc_containers(&self.0);
    }
}

/// Polls `f` (off the runtime: it may block) until it returns Some, or None after `timeout`.
async fn wait_until<T: Send + 'static>(
    timeout: Duration,
    f: impl Fn() -> Option<T> + Send + Sync + 'static,
) -> Option<T> {
    let f = std::sync::Arc::new(f);
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let g = f.clone();
        if let Some(v) = tokio::task::spawn_blocking(move || g())
            .await
            .ok()
            .flatten()
        {
            return Some(v);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn task(dir: &Path, config: serde_json::Value, env: &[(&str, String)]) -> TaskConfig {
    let out = dir.join("out.fifo");
    let err = dir.join("err.fifo");
    for p in [&out, &err] {
        nix::unistd::mkfifo(p, Mode::S_IRUSR | Mode::S_IWUSR).unwrap();
    }
    let config = match config {
        serde_json::Value::Object(m) => m.into_iter().collect(),
        other => panic!("config must be an object: {other}"),
    };
    TaskConfig {
        alloc_id: uuid::Uuid::new_v4().to_string(),
        task_name: "web".into(),
        config,
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        task_dir: dir.join("web"),
        alloc_dir: dir.join("alloc"),
        stdout_path: out,
        stderr_path: err,
        memory_mb: 64,
        cpu_mhz: 100,
        ..Default::default()
    }
}

/// Reads a FIFO until `want` shows up (the driver copies the container's output there).
fn read_fifo_until(path: &Path, want: &str) -> String {
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true) // never sees EOF while the driver reopens it
        .open(path)
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut got = String::new();
    let mut buf = [0u8; 4096];
    nix::fcntl::fcntl(
        &f,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    )
    .unwrap();
    while !got.contains(want) {
        assert!(
            std::time::Instant::now() < deadline,
            "no {want:?} in {got:?}"
        );
        match f.read(&mut buf) {
            Ok(n) => got.push_str(&String::from_utf8_lossy(&buf[..n])),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    got
}

fn http_get(port: u16) -> Option<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n").ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    Some(body)
}

fn containers_of(alloc_id: &str) -> Vec<String> {
    let out = std::process::Command::new("docker")
        .args(["ps", "-aq", "--filter"])
        .arg(format!("label={}={alloc_id}", container::LABEL_ALLOC_ID))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_http_on_the_mapped_port_recovers_and_stops() {
    // Scenario: busybox httpd in a container, its port 8080 published on a free loopback port;
    // the test reaches it, a second driver (an agent restart) re-attaches to the same container,
    // and stop removes it.
    require_docker_engine("docker driver");
    let image = ensure_busybox_image().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let host_port = free_port();
    let tc = task(
        dir.path(),
        serde_json::json!({
            "image": image,
            "command": "httpd",
            "args": ["-f", "-v", "-p", "8080", "-h", "/www"],
            "ports": ["http"],
        }),
        &[
            ("NOMAD_HOST_PORT_http", host_port.to_string()),
            ("NOMAD_PORT_http", "8080".into()),
            ("NOMAD_HOST_IP_http", "127.0.0.1".into()),
        ],
    );
    let _cleanup = Cleanup(tc.alloc_id.clone());
    let driver = DockerDriver::new();
    assert!(driver.fingerprint().detected);
    let handle = driver.start(&tc).await.unwrap();
    let id = handle.state.driver_state[STATE_CONTAINER_ID].clone();

    let port = host_port;
    let body = wait_until(Duration::from_secs(30), move || {
        http_get(port).filter(|b| b.contains(testing::BUSYBOX_INDEX.trim()))
    })
    .await
    .expect("the container never answered on its mapped port");
    assert!(
        body.starts_with("HTTP/1.1 200") || body.starts_with("HTTP/1.0 200"),
        "{body}"
    );

    // A new driver instance knows nothing but the stored handle, as after an agent restart.
    let restarted = DockerDriver::new();
    let recovered = restarted.recover(&handle.state).await.unwrap();
    assert!(recovered.exited().is_none());
    assert_eq!(containers_of(&tc.alloc_id), vec![id[..12].to_string()]);

    let exit = restarted
        .stop(&recovered, Duration::from_secs(5), "")
        .await
        .unwrap();
    assert!(!exit.oom_killed, "{exit:?}");
    let alloc_id = tc.alloc_id.clone();
    wait_until(Duration::from_secs(30), move || {
        containers_of(&alloc_id).is_empty().then_some(())
    })
    .await
    .expect("the stopped container was not removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_reaches_the_fifos_and_the_exit_code_is_reported() {
    // Scenario: a container writes to stdout and stderr and exits 3; both lines arrive in the
    // task's FIFOs and the handle reports exit code 3.
    require_docker_engine("docker driver");
    let image = ensure_busybox_image().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let tc = task(
        dir.path(),
        serde_json::json!({
            "image": image,
            "command": "sh",
            "args": ["-c", "echo out-line; echo err-line >&2; sleep 1; exit 3"],
        }),
        &[],
    );
    let _cleanup = Cleanup(tc.alloc_id.clone());
    let driver = DockerDriver::new();
    let handle = driver.start(&tc).await.unwrap();
    let (out, err) = (tc.stdout_path.clone(), tc.stderr_path.clone());
    let read = tokio::task::spawn_blocking(move || {
        (
            read_fifo_until(&out, "out-line"),
            read_fifo_until(&err, "err-line"),
        )
    });
    let exit = tokio::time::timeout(Duration::from_secs(60), handle.wait())
        .await
        .expect("the container never exited");
    assert_eq!(exit.exit_code, Some(3), "{exit:?}");
    read.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_image_without_a_registry_fails_with_the_reason() {
    // Scenario: the image is not present and no registry can be reached: start fails and says
    // which image and why, instead of hanging.
    require_docker_engine("docker driver");
    let dir = tempfile::tempdir().unwrap();
    let tc = task(
        dir.path(),
        serde_json::json!({ "image": "local/does-not-exist:never" }),
        &[],
    );
    let _cleanup = Cleanup(tc.alloc_id.clone());
    let err = DockerDriver::new().start(&tc).await.unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("local/does-not-exist:never"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_memory_limit_is_set_on_the_container() {
    // Scenario: the task's memory (64 MB) becomes the container's memory limit, swap included.
    require_docker_engine("docker driver");
    let image = ensure_busybox_image().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let tc = task(
        dir.path(),
        serde_json::json!({ "image": image, "command": "sleep", "args": ["30"] }),
        &[],
    );
    let _cleanup = Cleanup(tc.alloc_id.clone());
    let driver = DockerDriver::new();
    let handle = driver.start(&tc).await.unwrap();
    let id = handle.state.driver_state[STATE_CONTAINER_ID].clone();
    let out = std::process::Command::new("docker")
        .args([
            "inspect",
            "-f",
            "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}}",
            &id,
        ])
        .output()
        .unwrap();
    let limits = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(limits, format!("{0} {0}", 64 * 1024 * 1024));
    driver
        .stop(&handle, Duration::from_secs(1), "SIGKILL")
        .await
        .unwrap();
}

/// Removes a test's image tag when the test ends.
struct ImageCleanup(String);

impl Drop for ImageCleanup {
    fn drop(&mut self) {
        let _ = std::process::Command::new("docker")
            .args(["rmi", "-f", &self.0])
            .output();
    }
}

fn docker_cli(args: &[&str]) {
    let out = std::process::Command::new("docker")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_missing_here_is_loaded_from_the_tasks_tarball() {
    // Scenario: a host without a registry gets its image as a tarball (an artifact, in a job):
    // the image is absent from the engine, `load = "busybox.tar"` in the task's local/ dir brings
    // it in, and the container runs.
    require_docker_engine("docker driver");
    let base = ensure_busybox_image().unwrap();
    let image = format!("local/busybox-load:{}", std::process::id());
    let _image_cleanup = ImageCleanup(image.clone());
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("web").join("local");
    std::fs::create_dir_all(&local).unwrap();
    let tarball = local.join("busybox.tar");
    docker_cli(&["tag", &base, &image]);
    docker_cli(&["save", "-o", tarball.to_str().unwrap(), &image]);
    docker_cli(&["rmi", &image]);

    let tc = task(
        dir.path(),
        serde_json::json!({
            "image": image,
            "load": "busybox.tar",
            "command": "sh",
            "args": ["-c", "echo loaded-and-running"],
        }),
        &[],
    );
    let _cleanup = Cleanup(tc.alloc_id.clone());
    let driver = DockerDriver::new();
    let handle = driver.start(&tc).await.unwrap();
    let out = tc.stdout_path.clone();
    let read = tokio::task::spawn_blocking(move || read_fifo_until(&out, "loaded-and-running"));
    let exit = tokio::time::timeout(Duration::from_secs(60), handle.wait())
        .await
        .expect("the container never exited");
    assert_eq!(exit.exit_code, Some(0), "{exit:?}");
    read.await.unwrap();
}
