//! Client tests against an in-memory fake of the servers. The fake is legitimate here: the real
//! server is another module's work, and the end-to-end tests run the real binaries against it.
//! Every test process carries a unique marker argument so the guard can kill its process group
//! whatever happens.

use super::*;
use crate::rpc::{Catalog, RpcFuture};
use api::{
    AllocClientUpdate, AllocatedPort, Job, RestartPolicy, Task, TaskEvent, ALLOC_DESIRED_RUN,
    ALLOC_DESIRED_STOP,
};
use std::time::Instant;

#[derive(Default)]
struct Inner {
    allocs: BTreeMap<String, Allocation>,
    registrations: usize,
    heartbeats: usize,
    forget_node: bool,
    latest: BTreeMap<String, AllocClientUpdate>,
    /// The catalog as the client wrote it.
    services: BTreeMap<String, api::ServiceRegistration>,
    /// Each service write: (ids upserted, ids deleted), in order.
    service_writes: Vec<(Vec<String>, Vec<String>)>,
    /// How many allocations each answer to the client's wait carried in full.
    sent_in_full: Vec<usize>,
}

struct FakeServer {
    inner: Mutex<Inner>,
    index: watch::Sender<u64>,
    ttl: Duration,
}

impl FakeServer {
    fn new(ttl: Duration) -> Arc<Self> {
        Arc::new(FakeServer {
            inner: Mutex::new(Inner::default()),
            index: watch::channel(1).0,
            ttl,
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.inner.lock().unwrap())
    }

    fn bump(&self) {
        self.index.send_modify(|i| *i += 1);
    }

    /// Each write stamps what it changes with the index it makes, as the servers do.
    fn put_alloc(&self, mut a: Allocation) {
        a.alloc_modify_index = *self.index.borrow() + 1;
        self.with(|s| s.allocs.insert(a.id.clone(), a));
        self.bump();
    }

    fn stop_alloc(&self, id: &str) {
        self.with(|s| {
            let a = s.allocs.get_mut(id).unwrap();
            a.desired_status = ALLOC_DESIRED_STOP.into();
            a.alloc_modify_index = *self.index.borrow() + 1;
        });
        self.bump();
    }

    fn remove_alloc(&self, id: &str) {
        self.with(|s| s.allocs.remove(id));
        self.bump();
    }

    fn status(&self, id: &str) -> Option<AllocClientUpdate> {
        self.with(|s| s.latest.get(id).cloned())
    }
}

impl ServerRpc for FakeServer {
    fn servers(&self) -> Vec<String> {
        Vec::new()
    }

    fn node_register(&self, _node: Node) -> RpcFuture<'_, Duration> {
        self.with(|s| s.registrations += 1);
        Box::pin(async move { Ok(self.ttl) })
    }

    fn node_heartbeat(&self, node_id: &str) -> RpcFuture<'_, Duration> {
        let id = node_id.to_string();
        let forget = self.with(|s| {
            s.heartbeats += 1;
            std::mem::take(&mut s.forget_node)
        });
        Box::pin(async move {
            if forget {
                Err(RpcError::UnknownNode(id))
            } else {
                Ok(self.ttl)
            }
        })
    }

    /// As the servers answer: in full only what the client does not have at its index.
    fn node_allocations(
        &self,
        _node_id: &str,
        min_index: u64,
        wait: Duration,
        known: crate::rpc::KnownAllocs,
    ) -> RpcFuture<'_, crate::rpc::NodeAllocs> {
        let mut rx = self.index.subscribe();
        Box::pin(async move {
            let _ = tokio::time::timeout(wait, rx.wait_for(|i| *i > min_index)).await;
            let index = *self.index.borrow();
            Ok(self.with(|s| {
                let out = crate::rpc::alloc_sync::answer(s.allocs.values(), &known, index);
                s.sent_in_full.push(out.changed.len());
                out
            }))
        })
    }

    fn update_allocs(&self, updates: Vec<AllocClientUpdate>) -> RpcFuture<'_, u64> {
        self.with(|s| {
            for u in updates {
                s.latest.insert(u.id.clone(), u);
            }
        });
        Box::pin(async move { Ok(1) })
    }

    fn service_update(
        &self,
        upsert: Vec<api::ServiceRegistration>,
        delete: Vec<String>,
    ) -> RpcFuture<'_, u64> {
        self.with(|s| {
            for id in &delete {
                s.services.remove(id);
            }
            let ids = upsert.iter().map(|r| r.id.clone()).collect();
            for r in upsert {
                s.services.insert(r.id.clone(), r);
            }
            s.service_writes.push((ids, delete));
        });
        Box::pin(async move { Ok(1) })
    }

    fn service_sync(
        &self,
        _node_id: &str,
        registrations: Vec<api::ServiceRegistration>,
    ) -> RpcFuture<'_, u64> {
        self.with(|s| {
            s.services = registrations
                .into_iter()
                .map(|r| (r.id.clone(), r))
                .collect();
        });
        Box::pin(async move { Ok(1) })
    }

    fn catalog(&self, _min_index: u64, _wait: Duration) -> RpcFuture<'_, Catalog> {
        let services = self.with(|s| s.services.values().cloned().collect());
        Box::pin(async move {
            Ok(Catalog {
                services,
                nodes: Vec::new(),
                index: 1,
            })
        })
    }

    fn resolve_token(&self, _secret: &str) -> RpcFuture<'_, crate::rpc::ResolvedToken> {
        Box::pin(async { Err(RpcError::Forbidden("no ACLs in this fake".into())) })
    }
}

/// Kills, on drop, every process group whose leader carries the marker.
struct ProcGuard {
    marker: String,
}

impl ProcGuard {
    fn new() -> Self {
        ProcGuard {
            marker: format!("nomad-test-{}", uuid::Uuid::new_v4()),
        }
    }

    fn pids(&self) -> Vec<i32> {
        let mut out = Vec::new();
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                continue;
            };
            let alive = crate::drivers::proc::proc_stat(pid).is_some_and(|(s, _)| s != 'Z');
            if alive && String::from_utf8_lossy(&cmd).contains(&self.marker) {
                out.push(pid);
            }
        }
        out
    }
}

impl Drop for ProcGuard {
    fn drop(&mut self) {
        for pid in self.pids() {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn policy(attempts: i32, delay_ms: u64) -> RestartPolicy {
    RestartPolicy {
        attempts,
        interval: Duration::from_secs(600),
        delay: Duration::from_millis(delay_ms),
        mode: "fail".into(),
    }
}

/// A raw_exec task running `/bin/sh -c script marker`.
fn sh_task(script: &str, marker: &str) -> Task {
    Task {
        name: "t".into(),
        driver: "raw_exec".into(),
        config: BTreeMap::from([
            ("command".to_string(), serde_json::json!("/bin/sh")),
            (
                "args".to_string(),
                serde_json::json!(["-c", script, marker]),
            ),
        ]),
        ..Default::default()
    }
}

/// A pending allocation of job "web" whose group `g` runs `task` (the artifact runner's tests
/// use it too).
pub(in crate::client) fn alloc(job_type: &str, task: Task, restart: RestartPolicy) -> Allocation {
    let mut job = Job {
        id: "web".into(),
        name: "web".into(),
        job_type: job_type.into(),
        task_groups: vec![api::TaskGroup {
            name: "g".into(),
            tasks: vec![task],
            restart_policy: Some(restart),
            ..Default::default()
        }],
        ..Default::default()
    };
    job.canonicalize();
    Allocation {
        id: uuid::Uuid::new_v4().to_string(),
        namespace: "default".into(),
        name: "web.g[3]".into(),
        job_id: "web".into(),
        task_group: "g".into(),
        job: Some(std::sync::Arc::new(job)),
        desired_status: ALLOC_DESIRED_RUN.into(),
        client_status: "pending".into(),
        alloc_modify_index: 1,
        ..Default::default()
    }
}

fn config(dir: &std::path::Path) -> ClientConfig {
    ClientConfig {
        node_name: "n1".into(),
        datacenter: "dc1".into(),
        data_dir: dir.to_path_buf(),
        drivers: crate::drivers::DriverSettings {
            raw_exec_enabled: true,
            ..Default::default()
        },
        http_addr: "127.0.0.1:4646".into(),
        bind_ip: "127.0.0.1".into(),
        ..Default::default()
    }
}

async fn start(dir: &std::path::Path, server: &Arc<FakeServer>) -> Arc<Client> {
    let rpc: Arc<dyn ServerRpc> = server.clone();
    Client::start(config(dir), rpc, watch::channel(false).1)
        .await
        .unwrap()
}

fn logs(client: &Client, alloc_id: &str, kind: LogKind) -> String {
    let files = client.log_files(alloc_id, "t", kind).unwrap_or_default();
    String::from_utf8_lossy(&read_logs(&files, LogOrigin::Start, 0, 1 << 20).unwrap().0)
        .into_owned()
}

fn status_is(server: &FakeServer, id: &str, status: &str) -> bool {
    server.status(id).is_some_and(|u| u.client_status == status)
}

fn events(server: &FakeServer, id: &str) -> Vec<TaskEvent> {
    server
        .status(id)
        .map(|u| u.task_states["t"].events.clone())
        .unwrap_or_default()
}

fn event_types(server: &FakeServer, id: &str) -> Vec<String> {
    events(server, id)
        .into_iter()
        .map(|e| e.event_type)
        .collect()
}

#[tokio::test]
async fn runs_task_with_env_and_logs_then_stops_and_gc() {
    let guard = ProcGuard::new();
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::new(Duration::from_secs(10));
    let client = start(dir.path(), &server).await;
    assert_eq!(server.with(|s| s.registrations), 1);
    assert_eq!(client.node().attributes["driver.raw_exec"], "1");

    let script = "echo hi; echo \"idx=$NOMAD_ALLOC_INDEX port=$NOMAD_PORT_http addr=$NOMAD_ADDR_http greet=$GREET\"; echo oops >&2; exec sleep 30";
    let mut task = sh_task(script, &guard.marker);
    task.env
        .insert("GREET".into(), "hello-${NOMAD_PORT_http}".into());
    let mut a = alloc("service", task, policy(0, 10));
    std::sync::Arc::make_mut(&mut a.allocated_resources)
        .shared
        .ports = vec![AllocatedPort {
        label: "http".into(),
        value: 25000,
        to: 8080,
        host_ip: String::new(),
    }];
    let id = a.id.clone();
    server.put_alloc(a);

    wait_until("alloc running", || status_is(&server, &id, "running")).await;
    wait_until("stdout in log", || {
        logs(&client, &id, LogKind::Stdout).contains("greet=")
    })
    .await;
    assert_eq!(
        logs(&client, &id, LogKind::Stdout),
        "hi\nidx=3 port=8080 addr=127.0.0.1:25000 greet=hello-8080\n"
    );
    wait_until("stderr in log", || {
        logs(&client, &id, LogKind::Stderr) == "oops\n"
    })
    .await;
    assert_eq!(
        event_types(&server, &id),
        ["Received", "Task Setup", "Started"]
    );
    let st = &server.status(&id).unwrap().task_states["t"];
    assert_eq!(st.state, "running");
    assert!(st.started_at.ends_with('Z'));
    let alloc_dir = client.alloc_dir(&id).unwrap();
    assert!(alloc_dir.join("t/local").is_dir());
    assert!(alloc_dir.join("alloc/logs/t.stdout.0").is_file());
    assert!(matches!(
        client.log_files(&id, "nope", LogKind::Stdout),
        Err(ClientError::TaskNotFound { .. })
    ));
    assert!(matches!(
        client.log_files("nope", "t", LogKind::Stdout),
        Err(ClientError::AllocNotFound(_))
    ));

    // sleep ignores nothing: SIGINT ends it before the kill timeout.
    server.stop_alloc(&id);
    wait_until("alloc complete", || status_is(&server, &id, "complete")).await;
    let types = event_types(&server, &id);
    assert_eq!(
        &types[types.len() - 3..],
        ["Killing", "Terminated", "Killed"]
    );
    let st = &server.status(&id).unwrap().task_states["t"];
    assert_eq!((st.state.as_str(), st.failed), ("dead", false));
    assert!(guard.pids().is_empty());

    server.remove_alloc(&id);
    wait_until("alloc dir removed", || !alloc_dir.exists()).await;
    wait_until("runner gone", || client.alloc_ids().is_empty()).await;
    client.shutdown().await;
}

#[tokio::test]
async fn failing_task_restarts_per_policy_then_fails() {
    let guard = ProcGuard::new();
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::new(Duration::from_secs(10));
    let client = start(dir.path(), &server).await;
    let a = alloc(
        "service",
        sh_task("echo run; exit 3", &guard.marker),
        policy(2, 10),
    );
    let id = a.id.clone();
    server.put_alloc(a);
    wait_until("alloc failed", || status_is(&server, &id, "failed")).await;
    let st = server.status(&id).unwrap().task_states["t"].clone();
    assert_eq!(
        (st.state.as_str(), st.failed, st.restarts),
        ("dead", true, 2)
    );
    let evs = events(&server, &id);
    let types: Vec<_> = evs.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types.iter().filter(|t| **t == "Restarting").count(), 2);
    assert_eq!(types.last(), Some(&"Not Restarting"));
    let term = evs.iter().find(|e| e.event_type == "Terminated").unwrap();
    assert_eq!(term.exit_code, 3);
    assert!(evs
        .last()
        .unwrap()
        .display_message
        .contains("Exceeded allowed attempts 2"));
    assert_eq!(logs(&client, &id, LogKind::Stdout), "run\nrun\nrun\n");
    client.shutdown().await;
}

#[tokio::test]
async fn batch_task_exit_zero_completes_without_restart() {
    let guard = ProcGuard::new();
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::new(Duration::from_secs(10));
    let client = start(dir.path(), &server).await;
    let a = alloc("batch", sh_task("echo done", &guard.marker), policy(3, 10));
    let id = a.id.clone();
    server.put_alloc(a);
    wait_until("alloc complete", || status_is(&server, &id, "complete")).await;
    let st = server.status(&id).unwrap().task_states["t"].clone();
    assert_eq!(
        (st.state.as_str(), st.failed, st.restarts),
        ("dead", false, 0)
    );
    assert!(!st.finished_at.is_empty());
    assert_eq!(
        event_types(&server, &id),
        ["Received", "Task Setup", "Started", "Terminated"]
    );
    wait_until("log flushed", || {
        logs(&client, &id, LogKind::Stdout) == "done\n"
    })
    .await;
    client.shutdown().await;
}

#[tokio::test]
async fn stop_escalates_to_sigkill_after_kill_timeout() {
    let guard = ProcGuard::new();
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::new(Duration::from_secs(10));
    let client = start(dir.path(), &server).await;
    let mut task = sh_task(
        "trap '' INT; echo ready; while true; do sleep 0.05; done",
        &guard.marker,
    );
    task.kill_timeout = Duration::from_millis(300);
    let a = alloc("service", task, policy(0, 10));
    let id = a.id.clone();
    server.put_alloc(a);
    wait_until("trap installed", || {
        logs(&client, &id, LogKind::Stdout).contains("ready")
    })
    .await;
    server.stop_alloc(&id);
    wait_until("alloc complete", || status_is(&server, &id, "complete")).await;
    let evs = events(&server, &id);
    let killing = evs.iter().find(|e| e.event_type == "Killing").unwrap();
    assert_eq!(
        killing.display_message,
        "Sent interrupt. Waiting 300ms before force killing"
    );
    let term = evs
        .iter()
        .rev()
        .find(|e| e.event_type == "Terminated")
        .unwrap();
    assert_eq!(term.signal, i64::from(libc::SIGKILL));
    assert_eq!(evs.last().unwrap().event_type, "Killed");
    assert!(guard.pids().is_empty());
    client.shutdown().await;
}

#[tokio::test]
async fn missing_command_is_a_driver_failure() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::new(Duration::from_secs(10));
    let client = start(dir.path(), &server).await;
    let mut task = sh_task("", "x");
    task.config
        .insert("command".into(), serde_json::json!("/nonexistent/program"));
    let a = alloc("service", task, policy(1, 10));
    let id = a.id.clone();
    server.put_alloc(a);
    wait_until("alloc failed", || status_is(&server, &id, "failed")).await;
    let evs = events(&server, &id);
    let failures: Vec<_> = evs
        .iter()
        .filter(|e| e.event_type == "Driver Failure")
        .collect();
    assert_eq!(failures.len(), 2, "one start and one restart");
    assert!(failures[0].driver_error.contains("/nonexistent/program"));
    assert_eq!(evs.last().unwrap().event_type, "Not Restarting");
    client.shutdown().await;
}

#[tokio::test]
async fn reregisters_when_the_servers_forgot_the_node() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::new(Duration::from_millis(100));
    let client = start(dir.path(), &server).await;
    wait_until("heartbeats", || server.with(|s| s.heartbeats) >= 2).await;
    server.with(|s| s.forget_node = true);
    wait_until("second registration", || {
        server.with(|s| s.registrations) >= 2
    })
    .await;
    client.shutdown().await;
}

#[tokio::test]
async fn restarted_agent_reattaches_without_running_the_task_twice() {
    let guard = ProcGuard::new();
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::new(Duration::from_secs(10));
    let client = start(dir.path(), &server).await;
    let node_id = client.node_id().to_string();
    let script =
        "echo started; while [ ! -f \"$NOMAD_TASK_DIR/stop\" ]; do sleep 0.05; done; echo bye";
    let a = alloc("service", sh_task(script, &guard.marker), policy(0, 10));
    let id = a.id.clone();
    server.put_alloc(a);
    wait_until("alloc running", || status_is(&server, &id, "running")).await;
    wait_until("first output", || {
        logs(&client, &id, LogKind::Stdout) == "started\n"
    })
    .await;
    let pids = guard.pids();
    assert_eq!(pids.len(), 1);

    // The agent stops: the task must go on running.
    client.shutdown().await;
    drop(client);
    assert_eq!(guard.pids(), pids, "shutdown must not kill tasks");

    let client = start(dir.path(), &server).await;
    assert_eq!(client.node_id(), node_id);
    wait_until("restored runner", || {
        client
            .task_states(&id)
            .is_some_and(|t| t.get("t").is_some_and(|s| s.state == "running"))
    })
    .await;
    // Give the watcher a round with the servers' list, which still wants the alloc running.
    server.bump();
    wait_until("status re-reported", || status_is(&server, &id, "running")).await;
    assert_eq!(
        guard.pids(),
        pids,
        "the task must not be started a second time"
    );
    assert_eq!(
        event_types(&server, &id)
            .iter()
            .filter(|t| *t == "Started")
            .count(),
        1
    );

    // Its exit is noticed, and its output still reaches the log through the FIFO.
    std::fs::write(dir.path().join("alloc").join(&id).join("t/local/stop"), b"").unwrap();
    wait_until("exit noticed", || status_is(&server, &id, "failed")).await;
    let evs = events(&server, &id);
    let term = evs.iter().find(|e| e.event_type == "Terminated").unwrap();
    assert!(
        term.display_message.contains("unknown"),
        "{}",
        term.display_message
    );
    wait_until("last output", || {
        logs(&client, &id, LogKind::Stdout) == "started\nbye\n"
    })
    .await;
    assert!(guard.pids().is_empty());
    client.shutdown().await;
}

#[tokio::test]
async fn a_failed_task_stops_its_siblings() {
    let guard = ProcGuard::new();
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::new(Duration::from_secs(10));
    let client = start(dir.path(), &server).await;
    let mut a = alloc(
        "service",
        sh_task("sleep 0.2; exit 1", &guard.marker),
        policy(0, 10),
    );
    let mut sibling = sh_task("exec sleep 30", &guard.marker);
    sibling.name = "s".into();
    if let Some(job) = a.job.as_mut() {
        std::sync::Arc::make_mut(job).task_groups[0]
            .tasks
            .push(sibling);
    }
    let id = a.id.clone();
    server.put_alloc(a);
    wait_until("alloc failed and sibling dead", || {
        server.status(&id).is_some_and(|u| {
            u.client_status == "failed" && u.task_states.get("s").is_some_and(|s| s.state == "dead")
        })
    })
    .await;
    let s = server.status(&id).unwrap().task_states["s"].clone();
    assert!(!s.failed);
    assert_eq!(s.events.last().unwrap().event_type, "Killed");
    assert!(guard.pids().is_empty());
    client.shutdown().await;
}

/// A client whose GC keeps at most `max_allocs` allocations and runs only when a test asks.
async fn client_keeping(
    dir: &std::path::Path,
    max_allocs: usize,
) -> (Arc<FakeServer>, Arc<Client>) {
    let server = FakeServer::new(Duration::from_secs(10));
    let mut cfg = config(dir);
    cfg.gc = ClientGcConfig {
        interval: Duration::from_secs(3600),
        max_allocs,
        disk_usage_threshold: 100,
    };
    let rpc: Arc<dyn ServerRpc> = server.clone();
    let client = Client::start(cfg, rpc, watch::channel(false).1)
        .await
        .unwrap();
    (server, client)
}

#[tokio::test]
async fn gc_keeps_a_predecessor_whose_data_a_live_replacement_takes() {
    // Scenario: a client keeps at most 1 allocation. A sticky batch allocation finishes, having
    // written alloc/data; its replacement (previous_allocation set, same sticky group) runs and
    // takes the data over. Over the limit, GC still keeps the predecessor while the replacement
    // runs, and the data is in the replacement's directory.
    let guard = ProcGuard::new();
    let dir = tempfile::tempdir().unwrap();
    let (server, client) = client_keeping(dir.path(), 1).await;
    let sticky = |mut a: Allocation| {
        let mut job = (**a.job.as_ref().unwrap()).clone();
        job.task_groups[0].ephemeral_disk = Some(api::EphemeralDisk {
            size_mb: 10,
            sticky: true,
            migrate: false,
        });
        a.job = Some(Arc::new(job));
        a
    };
    let first = sticky(alloc(
        "batch",
        sh_task("echo rows > $NOMAD_ALLOC_DIR/data/db", &guard.marker),
        policy(0, 10),
    ));
    let first_id = first.id.clone();
    server.put_alloc(first);
    wait_until("the first allocation complete", || {
        status_is(&server, &first_id, "complete")
    })
    .await;
    let mut second = sticky(alloc(
        "service",
        sh_task("sleep 600", &guard.marker),
        policy(0, 10),
    ));
    second.previous_allocation = first_id.clone();
    let second_id = second.id.clone();
    server.put_alloc(second);
    wait_until("the replacement running", || {
        status_is(&server, &second_id, "running")
    })
    .await;
    let data = dir
        .path()
        .join("alloc")
        .join(&second_id)
        .join("alloc/data/db");
    assert_eq!(std::fs::read_to_string(&data).unwrap().trim(), "rows");
    assert_eq!(client.collect_garbage().await, 0);
    assert!(dir.path().join("alloc").join(&first_id).exists());
    client.shutdown().await;
}

#[tokio::test]
async fn gc_removes_the_oldest_finished_allocations_beyond_gc_max_allocs() {
    // Scenario: a client keeps at most 2 allocations. Three batch allocations finish and one
    // service allocation runs: a GC pass destroys the two oldest finished ones (directory and
    // state), keeps the newest finished one and never touches the running one; the servers
    // still list the destroyed ones, and the client does not start them again.
    let guard = ProcGuard::new();
    let dir = tempfile::tempdir().unwrap();
    let (server, client) = client_keeping(dir.path(), 2).await;
    let mut finished = Vec::new();
    for i in 0..3 {
        let mut a = alloc("batch", sh_task("echo done", &guard.marker), policy(0, 10));
        a.modify_time = i;
        finished.push(a.id.clone());
        server.put_alloc(a);
    }
    let running = alloc(
        "service",
        sh_task("sleep 600", &guard.marker),
        policy(0, 10),
    );
    let running_id = running.id.clone();
    server.put_alloc(running);
    for id in &finished {
        wait_until("batch alloc complete", || {
            status_is(&server, id, "complete")
        })
        .await;
    }
    wait_until("service running", || {
        status_is(&server, &running_id, "running")
    })
    .await;
    wait_until("runners done", || {
        finished.iter().all(|id| {
            client
                .runners
                .lock()
                .unwrap()
                .get(id)
                .is_some_and(|r| r.finished())
        })
    })
    .await;

    assert_eq!(client.collect_garbage().await, 2);
    let alloc_dir = |id: &str| dir.path().join("alloc").join(id);
    assert!(!alloc_dir(&finished[0]).exists());
    assert!(!alloc_dir(&finished[1]).exists());
    assert!(
        alloc_dir(&finished[2]).exists(),
        "the newest finished one stays"
    );
    assert!(alloc_dir(&running_id).exists());
    assert_eq!(client.alloc_ids().len(), 2);
    // Nothing more to do: two tracked, the limit.
    assert_eq!(client.collect_garbage().await, 0);

    // The servers list everything again: nothing destroyed comes back.
    let everything = server
        .with(|s| crate::rpc::alloc_sync::answer(s.allocs.values(), &Default::default(), 1_000));
    let mut servers = crate::rpc::AllocSync::default();
    assert!(servers.absorb(&everything));
    client.sync(everything.changed, &servers);
    assert!(!alloc_dir(&finished[0]).exists());
    assert_eq!(client.alloc_ids().len(), 2);
    assert!(status_is(&server, &running_id, "running"));
    client.shutdown().await;
}

#[tokio::test]
async fn after_its_first_wake_a_client_is_sent_only_what_changed() {
    // Scenario: 300 finished batch allocations are on the servers before the client starts.
    // Its first wake receives them all; once the servers stop one more allocation, the wake that
    // follows carries only that one in full (the rest as ids), and nothing is started again.
    let guard = ProcGuard::new();
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::new(Duration::from_secs(10));
    for _ in 0..300 {
        let mut a = alloc("batch", sh_task("true", &guard.marker), policy(0, 10));
        a.client_status = "complete".into();
        a.desired_status = ALLOC_DESIRED_STOP.into();
        server.put_alloc(a);
    }
    let web = alloc(
        "service",
        sh_task("sleep 600", &guard.marker),
        policy(0, 10),
    );
    let web_id = web.id.clone();
    server.put_alloc(web);
    let client = start(dir.path(), &server).await;
    wait_until("web running", || status_is(&server, &web_id, "running")).await;
    let calls_before = server.with(|s| s.sent_in_full.len());
    assert_eq!(server.with(|s| s.sent_in_full[0]), 301);

    server.stop_alloc(&web_id);
    wait_until("web stopped", || status_is(&server, &web_id, "complete")).await;
    let later: Vec<usize> = server.with(|s| s.sent_in_full[calls_before..].to_vec());
    assert!(
        !later.is_empty() && later.iter().all(|n| *n <= 1),
        "every wake after the first carries at most the changed allocation: {later:?}"
    );
    assert_eq!(client.alloc_ids(), std::slice::from_ref(&web_id));
    client.shutdown().await;
}
