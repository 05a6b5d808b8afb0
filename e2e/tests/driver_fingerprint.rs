//! Scenario: a client agent starts before Docker does. Its DOCKER_HOST names a socket that does
//! not exist yet, so the docker driver is undetected and a docker job waits, blocked. Then
//! "Docker starts": the test opens a proxy to the real engine at that socket. Within two
//! fingerprint intervals the node reports the driver healthy, with a node event saying so, and
//! the waiting job runs, without restarting the agent. When the proxy goes away, the driver turns
//! undetected again, with another event.

use e2e::cluster::Cluster;
use e2e::*;
use serde_json::Value;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(90);
/// Two fingerprint intervals (15 s) and the time to re-register.
const DETECT: Duration = Duration::from_secs(45);

/// A unix socket that relays every connection to the real Docker Engine: Docker "running" at
/// a path of the test's own. Dropping it closes the socket and every relayed connection.
struct EngineProxy {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<UnixStream>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EngineProxy {
    fn start(path: &Path) -> EngineProxy {
        let listener = UnixListener::bind(path).unwrap();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<UnixStream>>> = Arc::default();
        let (s, c) = (stop.clone(), conns.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let Ok((client, _)) = listener.accept() else {
                    // Non-blocking accept: nothing pending; look again shortly.
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                };
                let _ = client.set_nonblocking(false);
                let Ok(engine) = UnixStream::connect(engine_socket()) else {
                    continue;
                };
                for stream in [&client, &engine] {
                    if let Ok(clone) = stream.try_clone() {
                        c.lock().unwrap().push(clone);
                    }
                }
                relay(&client, &engine);
                relay(&engine, &client);
            }
        });
        EngineProxy {
            path: path.to_path_buf(),
            stop,
            conns,
            thread: Some(thread),
        }
    }
}

/// The real engine's socket: this machine's DOCKER_HOST when it names one, else Docker's default.
fn engine_socket() -> String {
    std::env::var("DOCKER_HOST")
        .ok()
        .and_then(|h| h.strip_prefix("unix://").map(String::from))
        .unwrap_or_else(|| "/var/run/docker.sock".into())
}

fn relay(from: &UnixStream, to: &UnixStream) {
    let (mut from, mut to) = (from.try_clone().unwrap(), to.try_clone().unwrap());
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut from, &mut to);
        let _ = to.shutdown(std::net::Shutdown::Write);
    });
}

impl Drop for EngineProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        for c in self.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

fn node(c: &Cluster) -> Option<Value> {
    let nodes = c.http(0, "GET", "/v1/nodes", None).ok()?.json().ok()?;
    let id = nodes.as_array()?.first()?["ID"].as_str()?.to_string();
    c.http(0, "GET", &format!("/v1/node/{id}"), None)
        .ok()?
        .json()
        .ok()
}

fn event_messages(n: &Value) -> Vec<String> {
    n["Events"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter_map(|e| e["Message"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn docker_started_after_the_agent_is_detected_without_a_restart() {
    agent::drivers::docker::testing::require_docker_engine("driver fingerprint");
    let image = agent::drivers::docker::testing::ensure_busybox_image().unwrap();
    let sock_dir = tempfile::tempdir().unwrap();
    let sock = sock_dir.path().join("docker.sock");
    let mut c = Cluster::start(1, "").unwrap();
    c.wait_leader(SETTLE).unwrap();
    let docker_host = format!("unix://{}", sock.display());
    c.add_client_with_env("late-docker", &[("DOCKER_HOST", &docker_host)])
        .unwrap();
    let n = wait_for("the node ready", SETTLE, || {
        node(&c).filter(|n| n["Status"] == "ready")
    })
    .unwrap();
    assert_eq!(
        n["Drivers"]["docker"]["Detected"], false,
        "{:#}",
        n["Drivers"]
    );

    let job = serde_json::json!({"Job": {
        "ID": "late", "Name": "late", "Type": "service", "Datacenters": ["dc1"],
        "TaskGroups": [{"Name": "g", "Count": 1, "Tasks": [{
            "Name": "t", "Driver": "docker", "KillTimeout": 1_000_000_000u64,
            "Config": {"image": image, "command": "sleep", "args": ["300"]},
            "Resources": {"CPU": 50, "MemoryMB": 32}}]}]}});
    let r = c
        .http(0, "POST", "/v1/jobs", Some(&job.to_string()))
        .unwrap();
    assert!(r.is_success(), "{}", r.body);
    wait_for("the job blocked on the missing driver", SETTLE, || {
        let evals = c
            .http(0, "GET", "/v1/job/late/evaluations", None)
            .ok()?
            .json()
            .ok()?;
        evals
            .as_array()?
            .iter()
            .any(|e| e["Status"] == "blocked")
            .then_some(())
    })
    .unwrap();

    // Docker starts.
    let proxy = EngineProxy::start(&sock);
    let n = wait_for("the docker driver healthy", DETECT, || {
        node(&c).filter(|n| n["Drivers"]["docker"]["Healthy"] == true)
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", c.report()));
    assert!(
        n["Attributes"]["driver.docker.version"].is_string(),
        "{:#}",
        n["Attributes"]
    );
    assert!(
        event_messages(&n).contains(&"Driver docker is healthy".to_string()),
        "{:#}",
        n["Events"]
    );
    let alloc = wait_for("the waiting job running", SETTLE, || {
        let list = c
            .http(0, "GET", "/v1/job/late/allocations", None)
            .ok()?
            .json()
            .ok()?;
        let a = list.as_array()?.first()?.clone();
        (a["ClientStatus"] == "running").then_some(a)
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", c.report()));
    let id = alloc["ID"].as_str().unwrap().to_string();
    let r = c.http(0, "DELETE", "/v1/job/late", None).unwrap();
    assert!(r.is_success());
    e2e::docker::wait_containers_gone(&id, SETTLE).unwrap();

    // Docker stops.
    drop(proxy);
    let n = wait_for("the docker driver undetected", DETECT, || {
        node(&c).filter(|n| n["Drivers"]["docker"]["Detected"] == false)
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", c.report()));
    assert!(n["Attributes"].get("driver.docker").is_none());
    assert!(
        event_messages(&n).contains(&"Driver docker is not detected".to_string()),
        "{:#}",
        n["Events"]
    );
}
