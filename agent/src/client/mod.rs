//! The client side of the agent: node fingerprint and registration, heartbeats, the allocation
//! watcher, alloc runner -> task runner -> driver, restarts, logs, and the client state db that lets
//! a restarted agent re-attach to its running tasks instead of starting them twice.
//!
//! The client talks to the servers only through [`ServerRpc`].

pub mod alloc_fs;
pub mod alloc_runner;
pub mod allocdir;
use allocdir::AllocDir;
pub(crate) mod alloc_snapshot;
mod artifacts;
pub mod events;
pub mod fingerprint;
mod gc;
pub mod health;
pub mod interface;
mod lifecycle;
pub mod logs;
mod prev_alloc;
pub mod restarts;
pub mod services;
pub mod state_db;
pub mod stats;
pub mod task_runner;
pub mod taskenv;
mod templates;
pub mod updater;

#[cfg(test)]
mod tests;

use crate::rpc::{RpcError, ServerRpc};
pub use alloc_runner::TaskCommandError;
use alloc_runner::{AllocRunner, RunnerContext};
use api::{Allocation, Node, TaskState};
pub use gc::AllocGcError;
pub use gc::ClientGcConfig;
pub use logs::{read_logs, LogKind, LogOrigin};
use state_db::{StateDb, StateError};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// How long one blocking query for the node's allocations may wait on the servers.
const ALLOC_WAIT: Duration = Duration::from_secs(300);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How often the drivers are asked again whether they work: a driver that appears (Docker
/// started after the agent) is offered within this, one that breaks is reported.
const FINGERPRINT_INTERVAL: Duration = Duration::from_secs(15);

#[derive(Debug, Clone, Default)]
pub struct ClientConfig {
    pub node_name: String,
    pub datacenter: String,
    pub node_class: String,
    /// The node pool the node registers in (empty: `default`); servers create it if needed.
    pub node_pool: String,
    pub meta: BTreeMap<String, String>,
    /// Client state goes to `<data_dir>/client`, allocation directories to `<data_dir>/alloc`.
    pub data_dir: PathBuf,
    pub drivers: crate::drivers::DriverSettings,
    /// MHz in all; 0 = detect.
    pub cpu_total_compute: u64,
    /// 0 = detect.
    pub memory_total_mb: u64,
    /// Advertised HTTP address, e.g. "127.0.0.1:4646".
    pub http_addr: String,
    pub bind_ip: String,
    /// `consul { address token }`: where `provider = "consul"` services also go.
    pub consul: Option<services::consul::ConsulAgent>,
    /// When finished allocations' directories are removed.
    pub gc: ClientGcConfig,
    /// Directories offered to jobs' host volumes, registered with the node.
    pub host_volumes: BTreeMap<String, api::ClientHostVolumeConfig>,
    /// The agent's TLS, for HTTPS calls to other client agents.
    pub tls: Option<Arc<crate::tls::Tls>>,
}

/// Why an allocation's data is not handed to another node.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MigrationRefused {
    #[error("the migrate token is not valid for this allocation on this node")]
    BadToken,
    #[error("the allocation's directory is gone from this node")]
    Gone,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("allocation {0} is not on this client")]
    AllocNotFound(String),
    #[error("task {task:?} is not in allocation {alloc}")]
    TaskNotFound { alloc: String, task: String },
    #[error(transparent)]
    Rpc(#[from] RpcError),
}

/// Why the servers may no longer count this node as up, as `/v1/agent/health` shows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientHealthError {
    #[error("No known servers: this node has not registered yet")]
    NotRegistered,
    #[error("no contact with a server for {} s", .silent_for.as_secs())]
    ServersSilent { silent_for: Duration },
}

pub struct Client {
    node_id: String,
    /// Sent only with registrations; never part of `node`, which the HTTP API shows.
    node_secret: String,
    node: Mutex<Node>,
    rpc: Arc<dyn ServerRpc>,
    db: Arc<StateDb>,
    alloc_base: PathBuf,
    /// Taken at shutdown so the status updater sees its last sender go.
    ctx: Mutex<Option<RunnerContext>>,
    runners: Mutex<BTreeMap<String, Arc<AllocRunner>>>,
    stop_tx: watch::Sender<bool>,
    loops: Mutex<Vec<JoinHandle<()>>>,
    updater: Mutex<Option<JoinHandle<()>>>,
    services: Arc<services::ServiceRegistry>,
    /// When a server last answered a registration or heartbeat, and the TTL it gave: the
    /// client part of `/v1/agent/health`.
    server_contact: Mutex<Option<(std::time::Instant, Duration)>>,
    gc: ClientGcConfig,
    /// Fingerprinted again every [`FINGERPRINT_INTERVAL`]: Docker often starts after the agent.
    drivers: Arc<crate::drivers::Drivers>,
    /// Finished allocations this client destroyed that the servers may still list.
    collected: Mutex<BTreeSet<String>>,
}

async fn wait_runners(runners: &[Arc<AllocRunner>], limit: Duration) {
    for r in runners {
        if tokio::time::timeout(limit, r.wait()).await.is_err() {
            tracing::warn!(alloc = %r.id, "allocation runner did not stop in time");
        }
    }
}

fn io_err(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> ClientError + '_ {
    move |source| ClientError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Client {
    /// Fingerprints the node, opens the state db, re-attaches to the allocations it ran before,
    /// registers with the servers and starts the heartbeat and allocation loops. The client stops
    /// (without killing its tasks) when `shutdown` turns true or [`Client::shutdown`] is called.
    pub async fn start(
        cfg: ClientConfig,
        rpc: Arc<dyn ServerRpc>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<Arc<Client>, ClientError> {
        let state_dir = cfg.data_dir.join("client");
        let alloc_base = cfg.data_dir.join("alloc");
        std::fs::create_dir_all(&state_dir).map_err(io_err(&state_dir))?;
        std::fs::create_dir_all(&alloc_base).map_err(io_err(&alloc_base))?;
        let db = Arc::new(StateDb::open(&state_dir.join("state.db"))?);
        let node_id = db.node_id()?;
        let node_secret = db.node_secret()?;
        rpc.set_node_identity(&node_id, &node_secret);
        let drivers = Arc::new(crate::drivers::builtin_drivers(&cfg.drivers));
        let node = fingerprint::fingerprint(&cfg, &node_id, &drivers);
        let (tx, rx) = mpsc::unbounded_channel();
        let updater = updater::spawn(rpc.clone(), rx);
        let node_info = Arc::new(taskenv::NodeInfo {
            id: node_id.clone(),
            name: node.name.clone(),
            datacenter: node.datacenter.clone(),
            class: node.node_class.clone(),
            attributes: node.attributes.clone(),
            meta: node.meta.clone(),
        });
        let services =
            services::ServiceRegistry::start(node_info.clone(), rpc.clone(), cfg.consul.clone());
        let ctx = RunnerContext {
            drivers: drivers.clone(),
            db: db.clone(),
            node: node_info,
            alloc_base: alloc_base.clone(),
            updates: tx,
            services: services.clone(),
            local_artifacts: cfg.drivers.local_artifacts,
            host_volumes: Arc::new(cfg.host_volumes.clone()),
            servers: rpc.clone(),
            tls: cfg.tls.clone(),
        };
        let mut runners = BTreeMap::new();
        for (alloc, tasks) in db.load()? {
            tracing::info!(alloc = %alloc.id, "restoring allocation");
            runners.insert(alloc.id.clone(), AllocRunner::start(alloc, tasks, &ctx));
        }
        // Reconciling the catalog before the restored tasks re-registered would drop them.
        let restored: Vec<Arc<AllocRunner>> = runners.values().cloned().collect();
        let ready = services.clone();
        tokio::spawn(async move {
            for r in restored {
                r.recovered().await;
            }
            ready.set_ready();
        });
        let (stop_tx, _) = watch::channel(false);
        let client = Arc::new(Client {
            node_id,
            node_secret,
            node: Mutex::new(node),
            rpc,
            db,
            alloc_base,
            ctx: Mutex::new(Some(ctx)),
            runners: Mutex::new(runners),
            stop_tx,
            loops: Mutex::new(Vec::new()),
            updater: Mutex::new(Some(updater)),
            services,
            server_contact: Mutex::new(None),
            gc: cfg.gc,
            drivers: drivers.clone(),
            collected: Mutex::new(BTreeSet::new()),
        });
        let registered = client.register().await;
        let loops = vec![
            tokio::spawn(client.clone().heartbeat_loop(registered)),
            tokio::spawn(client.clone().watch_loop()),
            tokio::spawn(client.clone().gc_loop()),
            tokio::spawn(client.clone().fingerprint_loop()),
        ];
        if let Ok(mut l) = client.loops.lock() {
            l.extend(loops);
        }
        let weak = Arc::downgrade(&client);
        let mut stopped = client.stop_tx.subscribe();
        tokio::spawn(async move {
            let asked = tokio::select! {
                r = async { shutdown.wait_for(|v| *v).await.is_ok() } => r,
                _ = async { stopped.wait_for(|v| *v).await.is_ok() } => false,
            };
            if let Some(c) = weak.upgrade().filter(|_| asked) {
                c.shutdown().await;
            }
        });
        Ok(client)
    }

    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// The servers this client talks to (`/v1/agent/servers`).
    pub fn servers(&self) -> Vec<String> {
        self.rpc.servers()
    }

    /// Replaces them; the next call goes to the first of the new list.
    pub fn set_servers(&self, servers: Vec<String>) -> Result<(), RpcError> {
        self.rpc.set_servers(servers)
    }

    /// The node as fingerprinted and registered.
    pub fn node(&self) -> Node {
        self.node.lock().map(|n| n.clone()).unwrap_or_default()
    }

    /// Ids of the allocations this client has a runner for.
    pub fn alloc_ids(&self) -> Vec<String> {
        self.runners
            .lock()
            .map(|r| r.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The client's view of an allocation's task states.
    pub fn task_states(&self, alloc_id: &str) -> Option<BTreeMap<String, TaskState>> {
        self.runner(alloc_id).map(|r| r.task_states())
    }

    /// The live results of an allocation's checks, if it runs here.
    pub fn check_results(&self, alloc_id: &str) -> Option<BTreeMap<String, api::CheckQueryResult>> {
        self.runner(alloc_id)?;
        Some(self.services.check_results(alloc_id))
    }

    /// The registrations this client keeps in the catalog.
    pub fn service_registrations(&self) -> Vec<api::ServiceRegistration> {
        self.services.registrations()
    }

    /// `alloc signal`: the named task, or every running task, of an allocation here.
    pub async fn signal_alloc(
        &self,
        alloc_id: &str,
        task: Option<&str>,
        signal: &str,
    ) -> Result<(), TaskCommandError> {
        let runner = self
            .runner(alloc_id)
            .ok_or(TaskCommandError::NothingRunning)?;
        runner.signal(task, signal).await
    }

    /// `alloc restart`: the named task, or every running task, of an allocation here.
    pub async fn restart_alloc(
        &self,
        alloc_id: &str,
        task: Option<&str>,
    ) -> Result<(), TaskCommandError> {
        let runner = self
            .runner(alloc_id)
            .ok_or(TaskCommandError::NothingRunning)?;
        runner.restart(task).await
    }

    /// MHz of one core, as fingerprinted: what a share of a core is worth in Nomad's ticks.
    fn mhz_per_core(&self) -> f64 {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1) as f64;
        self.node().node_resources.cpu.cpu_shares as f64 / cores
    }

    /// `/v1/client/allocation/:id/stats`: the running tasks' usage, if the allocation is here.
    pub async fn alloc_stats(&self, alloc_id: &str) -> Option<api::stats::AllocResourceUsage> {
        let pids = self.runner(alloc_id)?.task_pids();
        Some(stats::alloc_usage(pids, self.mhz_per_core()).await)
    }

    /// `/v1/client/stats`: the host's usage.
    pub async fn host_stats(&self) -> api::stats::HostStats {
        stats::host_stats(&self.alloc_base, self.mhz_per_core()).await
    }

    /// `alloc exec`: a command in a task's context, if the allocation runs here.
    pub async fn exec_alloc(
        &self,
        alloc_id: &str,
        task: Option<&str>,
        cmd: Vec<String>,
        tty: bool,
    ) -> Result<crate::drivers::exec_session::ExecSession, TaskCommandError> {
        let runner = self
            .runner(alloc_id)
            .ok_or(TaskCommandError::NothingRunning)?;
        runner.exec(task, cmd, tty).await
    }

    /// The namespace of an allocation here, and the driver of its task (the only task's when
    /// none is named): what `alloc exec`'s permission depends on.
    pub fn exec_target(&self, alloc_id: &str, task: Option<&str>) -> Option<(String, String)> {
        let alloc = self.runner(alloc_id)?.alloc();
        let group = alloc.job.as_deref()?.lookup_group(&alloc.task_group)?;
        let t = match task {
            Some(name) => group.tasks.iter().find(|t| t.name == name)?,
            None => match group.tasks.as_slice() {
                [only] => only,
                _ => return None,
            },
        };
        Some((alloc.namespace.clone(), t.driver.clone()))
    }

    /// Whether this client has a runner for the allocation.
    pub fn runs(&self, alloc_id: &str) -> bool {
        self.runner(alloc_id).is_some()
    }

    fn runner(&self, alloc_id: &str) -> Option<Arc<AllocRunner>> {
        self.runners.lock().ok()?.get(alloc_id).cloned()
    }

    pub fn alloc_dir(&self, alloc_id: &str) -> Option<PathBuf> {
        if let Some(r) = self.runner(alloc_id) {
            return Some(r.alloc_dir().root.clone());
        }
        // Reject anything that is not a plain id before touching the file system.
        if alloc_id.is_empty() || alloc_id.contains('/') || alloc_id.starts_with('.') {
            return None;
        }
        let d = self.alloc_base.join(alloc_id);
        d.is_dir().then_some(d)
    }

    /// The directory of an allocation whose data another node may fetch with `token` (the
    /// migrate token the servers made from this node's secret).
    pub fn migration_source(
        &self,
        alloc_id: &str,
        token: &str,
    ) -> Result<AllocDir, MigrationRefused> {
        if !crate::rpc::node_secret::verify_migrate_token(&self.node_secret, alloc_id, token) {
            return Err(MigrationRefused::BadToken);
        }
        self.alloc_dir(alloc_id)
            .map(|root| AllocDir { root })
            .ok_or(MigrationRefused::Gone)
    }

    /// Current and rotated log files of a task, oldest first (for `GET /v1/client/fs/logs`).
    pub fn log_files(
        &self,
        alloc_id: &str,
        task: &str,
        kind: LogKind,
    ) -> Result<Vec<PathBuf>, ClientError> {
        let not_found = || ClientError::TaskNotFound {
            alloc: alloc_id.to_string(),
            task: task.to_string(),
        };
        if task.is_empty() || task.contains('/') {
            return Err(not_found());
        }
        let dir = self
            .alloc_dir(alloc_id)
            .ok_or_else(|| ClientError::AllocNotFound(alloc_id.to_string()))?;
        if let Some(r) = self.runner(alloc_id) {
            let alloc = r.alloc();
            let known = alloc
                .job
                .as_deref()
                .and_then(|j| j.lookup_group(&alloc.task_group))
                .is_some_and(|g| g.tasks.iter().any(|t| t.name == task));
            if !known {
                return Err(not_found());
            }
        }
        let logs_dir = dir.join("alloc").join("logs");
        match logs::log_files(&logs_dir, task, kind) {
            Ok(files) => Ok(files),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(io_err(&logs_dir)(e)),
        }
    }

    fn runner_list(&self) -> Vec<Arc<AllocRunner>> {
        self.runners
            .lock()
            .map(|r| r.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Kills every task and waits for it (dev mode with a temporary data dir: nothing could
    /// re-attach to them after exit). Call before [`Client::shutdown`].
    pub async fn destroy_all(&self) {
        let runners = self.runner_list();
        for r in &runners {
            r.kill();
        }
        wait_runners(&runners, Duration::from_secs(30)).await;
    }

    /// Stops the loops and lets go of the tasks WITHOUT killing them: a restarted agent re-attaches
    /// to them. Flushes pending status reports and closes the state db.
    pub async fn shutdown(&self) {
        if self.stop_tx.send_replace(true) {
            return; // already shut down
        }
        let loops = self
            .loops
            .lock()
            .map(|mut l| std::mem::take(&mut *l))
            .unwrap_or_default();
        for l in loops {
            l.abort();
            let _ = l.await;
        }
        let runners = self.runner_list();
        for r in &runners {
            r.detach();
        }
        wait_runners(&runners, Duration::from_secs(10)).await;
        self.services.shutdown();
        if let Ok(mut c) = self.ctx.lock() {
            c.take();
        }
        let updater = self.updater.lock().ok().and_then(|mut u| u.take());
        if let Some(u) = updater {
            let _ = tokio::time::timeout(Duration::from_secs(5), u).await;
        }
        self.db.close();
    }

    fn stopping(&self) -> bool {
        *self.stop_tx.borrow()
    }

    /// Registers the node; returns the heartbeat TTL when it worked.
    async fn register(&self) -> Option<Duration> {
        let mut node = self.node();
        node.secret_id = self.node_secret.clone();
        match self.rpc.node_register(node).await {
            Ok(ttl) => {
                self.heard_from_server(ttl);
                Some(ttl)
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot register node, retrying");
                None
            }
        }
    }

    async fn sleep_or_stop(&self, d: Duration) -> bool {
        let mut stop = self.stop_tx.subscribe();
        tokio::select! {
            _ = tokio::time::sleep(d) => !self.stopping(),
            _ = stop.wait_for(|v| *v) => false,
        }
    }

    async fn fingerprint_loop(self: Arc<Self>) {
        while self.sleep_or_stop(FINGERPRINT_INTERVAL).await {
            let drivers = self.drivers.clone();
            let Ok(fresh) =
                tokio::task::spawn_blocking(move || fingerprint::driver_infos(&drivers)).await
            else {
                continue;
            };
            let events = match self.node.lock() {
                Ok(mut node) => fingerprint::refresh_drivers(&mut node, fresh, events::now_nanos()),
                Err(_) => return,
            };
            if events.is_empty() {
                continue;
            }
            for e in &events {
                tracing::info!(details = ?e.details, "{}", e.message);
            }
            // The servers learn the node's new drivers, and place what waited for them.
            self.register().await;
        }
    }

    fn heard_from_server(&self, ttl: Duration) {
        if let Ok(mut c) = self.server_contact.lock() {
            *c = Some((std::time::Instant::now(), ttl));
        }
    }

    /// `/v1/agent/health`'s client part: a server answered this node's registration or
    /// heartbeat within the TTL it gave, so the servers still count the node as up.
    pub fn health(&self) -> Result<(), ClientHealthError> {
        let contact = self.server_contact.lock().ok().and_then(|c| *c);
        match contact {
            None => Err(ClientHealthError::NotRegistered),
            Some((at, ttl)) if at.elapsed() <= ttl => Ok(()),
            Some((at, _)) => Err(ClientHealthError::ServersSilent {
                silent_for: at.elapsed(),
            }),
        }
    }

    async fn heartbeat_loop(self: Arc<Self>, mut ttl: Option<Duration>) {
        let mut backoff = Duration::from_millis(500);
        let mut missed = false;
        loop {
            let wait = match ttl {
                // Half the TTL, minus up to 10% so many clients do not beat in step.
                Some(t) => (t / 2).mul_f64(0.9 + rand::random::<f64>() * 0.1),
                None => backoff,
            };
            if !self.sleep_or_stop(wait).await {
                return;
            }
            if ttl.is_none() {
                ttl = self.register().await;
                if ttl.is_some() {
                    self.services.request_full_sync();
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
            match self.rpc.node_heartbeat(&self.node_id).await {
                Ok(t) => {
                    if missed {
                        // Back after a disconnect: the servers may have dropped this node's
                        // services from the catalog meanwhile.
                        self.services.request_full_sync();
                        missed = false;
                    }
                    ttl = Some(t);
                    self.heard_from_server(t);
                    backoff = Duration::from_millis(500);
                }
                Err(RpcError::UnknownNode(_)) => {
                    tracing::info!("servers do not know this node, registering again");
                    ttl = self.register().await;
                    self.services.request_full_sync();
                }
                Err(e) => {
                    tracing::warn!(error = %e, "heartbeat failed");
                    missed = true;
                    ttl = Some(Duration::from_secs(2));
                }
            }
        }
    }

    async fn watch_loop(self: Arc<Self>) {
        // What this client has of the servers' allocations: each wait sends one index, and only
        // what changed comes back in full.
        let mut servers = crate::rpc::AllocSync::default();
        let mut backoff = Duration::from_millis(200);
        while !self.stopping() {
            let (index, known) = servers.query();
            match self
                .rpc
                .node_allocations(&self.node_id, index, ALLOC_WAIT, known)
                .await
            {
                Ok(got) => {
                    backoff = Duration::from_millis(200);
                    if servers.absorb(&got) {
                        self.sync(got.changed, &servers);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot fetch allocations");
                    if !self.sleep_or_stop(backoff).await {
                        return;
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// Brings the runners in line with the servers' allocations for this node: `allocs` are
    /// those that changed, `servers` knows which ids the servers still have.
    fn sync(&self, allocs: Vec<Allocation>, servers: &crate::rpc::AllocSync) {
        let Some(ctx) = self.ctx.lock().ok().and_then(|c| c.clone()) else {
            return;
        };
        let Ok(mut runners) = self.runners.lock() else {
            return;
        };
        let Ok(mut collected) = self.collected.lock() else {
            return;
        };
        for mut a in allocs {
            match runners.get(&a.id) {
                Some(r) => {
                    let cur = r.alloc();
                    if a.job.is_none() {
                        a.job = cur.job.clone();
                    }
                    let changed = cur.desired_status != a.desired_status
                        || cur.alloc_modify_index != a.alloc_modify_index
                        || cur.job.as_ref().map(|j| (j.version, j.job_modify_index))
                            != a.job.as_ref().map(|j| (j.version, j.job_modify_index));
                    if changed {
                        r.update(a);
                    }
                }
                None => {
                    if a.terminal() || collected.contains(&a.id) {
                        continue;
                    }
                    if a.job.is_none() {
                        tracing::warn!(alloc = %a.id, "allocation arrived without its job; skipping");
                        continue;
                    }
                    tracing::info!(alloc = %a.id, name = %a.name, "starting allocation");
                    let prev_done = runners.get(&a.previous_allocation).map(|r| r.done_watch());
                    let prev = prev_alloc::PreviousAlloc::find(&a, &ctx, prev_done);
                    let runner = AllocRunner::start_after(a, BTreeMap::new(), &ctx, prev);
                    runners.insert(runner.id.clone(), runner);
                }
            }
        }
        // Once the servers forgot an allocation, so can the guard against starting it again.
        collected.retain(|id| servers.contains(id));
        let gone: Vec<String> = runners
            .keys()
            .filter(|id| !servers.contains(id))
            .cloned()
            .collect();
        for id in gone {
            if let Some(r) = runners.remove(&id) {
                tracing::info!(alloc = %id, "allocation garbage collected; destroying");
                tokio::spawn(async move { r.destroy().await });
            }
        }
    }
}
