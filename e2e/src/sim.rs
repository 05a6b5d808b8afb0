//! Simulated client nodes, for the scale benchmark and the tests that need many nodes.
//!
//! SIMULATED CLIENTS: no task is ever started. Each node registers over the servers' real rpc
//! port with a node id and secret of its own, heartbeats on the TTL the servers hand out (half
//! of it, less up to 10%, as the real client does), watches its allocations with the same
//! incremental query a real client uses (`AllocSync`), and reports each new
//! allocation running. Their nodes are named `sim-NNNNNN` and carry the meta
//! `simulated = "true"`. Many nodes share one rpc connection per group, as a real fleet's
//! clients would each have one: the servers see `groups` connections, not one per node.

use agent::rpc::remote::RemoteServers;
use agent::rpc::{AllocSync, RpcClient, RpcError, ServerRpc};
use anyhow::{Context, Result};
use api::{AllocClientUpdate, Node, TaskState};
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How long one allocation query waits on the servers.
const ALLOC_WAIT: Duration = Duration::from_secs(300);
const RETRY: Duration = Duration::from_millis(500);

#[derive(Debug, Clone)]
pub struct FleetConfig {
    pub nodes: usize,
    /// Rpc connections the nodes share (spread over the servers).
    pub groups: usize,
    /// Worker threads of the fleet's own runtime.
    pub threads: usize,
    /// What each node offers the scheduler.
    pub cpu_mhz: i64,
    pub memory_mb: i64,
}

impl Default for FleetConfig {
    fn default() -> Self {
        FleetConfig {
            nodes: 100,
            groups: 16,
            threads: 1,
            cpu_mhz: 64_000,
            memory_mb: 256_000,
        }
    }
}

/// A heartbeat round trip over this is kept with its time (see [`FleetStats::slow_heartbeats`]).
pub const SLOW_HEARTBEAT: Duration = Duration::from_millis(250);

/// What the fleet saw, updated as it runs.
#[derive(Default)]
pub struct FleetStats {
    pub registered: AtomicUsize,
    /// Allocations reported running, counted once the servers acknowledged the report.
    pub reported_running: AtomicU64,
    /// Heartbeat round trips in microseconds.
    pub heartbeat_rtt_us: Mutex<Vec<u32>>,
    /// When each answered heartbeat slower than [`SLOW_HEARTBEAT`] was sent, and how long it
    /// took: lined up with the run's events (a server killed, a snapshot built), they say what
    /// held it up. Heartbeats that failed are only counted, in `heartbeat_errors`.
    pub slow_heartbeats: Mutex<Vec<(Instant, Duration)>>,
    pub heartbeat_errors: AtomicU64,
    /// Heartbeats answered "unknown node": the servers had forgotten or downed the node.
    pub unknown_node: AtomicU64,
    pub watch_errors: AtomicU64,
    pub update_errors: AtomicU64,
}

impl FleetStats {
    /// The `q` quantile (0..=1) of the heartbeat round trips so far, and how many there were.
    pub fn heartbeat_quantile(&self, q: f64) -> (Duration, usize) {
        let mut v = self
            .heartbeat_rtt_us
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if v.is_empty() {
            return (Duration::ZERO, 0);
        }
        v.sort_unstable();
        let i = ((v.len() - 1) as f64 * q).round() as usize;
        (Duration::from_micros(u64::from(v[i])), v.len())
    }
}

/// Running simulated nodes; they stop when this drops.
pub struct SimulatedFleet {
    runtime: Option<tokio::runtime::Runtime>,
    stop: watch::Sender<bool>,
    pub stats: Arc<FleetStats>,
    pub node_ids: Vec<String>,
}

/// The id of simulated node `i` of this process, UUID-shaped as Nomad's are. Real ids are
/// random, so their first bytes differ from node to node, and the state's id keys compare
/// those first: a scrambled `i` leads here (the whole `i` at the end keeps ids unique).
fn sim_id(i: usize, salt: u32) -> String {
    let pid = std::process::id() & 0xfff;
    let head = (i as u64 ^ u64::from(salt)).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32;
    format!("{head:08x}-{salt:04x}-4{pid:03x}-8000-{i:012x}")
}

fn sim_node(i: usize, cfg: &FleetConfig) -> Node {
    let mut node = Node {
        id: sim_id(i, 0x5e),
        secret_id: sim_id(i, 0x5ec),
        name: format!("sim-{i:06}"),
        datacenter: "dc1".into(),
        status: api::NODE_STATUS_READY.into(),
        ..Default::default()
    };
    node.node_resources.cpu.cpu_shares = cfg.cpu_mhz;
    node.node_resources.cpu.total_cpu_cores = 16;
    node.node_resources.memory.memory_mb = cfg.memory_mb;
    node.node_resources.disk.disk_mb = 1_000_000;
    node.node_resources.min_dynamic_port = 20_000;
    node.node_resources.max_dynamic_port = 32_000;
    node.attributes
        .insert("unique.network.ip-address".into(), "127.0.0.1".into());
    node.meta.insert("simulated".into(), "true".into());
    node.drivers.insert(
        "raw_exec".into(),
        api::DriverInfo {
            detected: true,
            healthy: true,
            health_description: "simulated: never starts a task".into(),
            ..Default::default()
        },
    );
    node
}

impl SimulatedFleet {
    /// Starts `cfg.nodes` nodes against the servers' rpc addresses. Returns at once; see
    /// `stats.registered`.
    pub fn start(servers: &[String], cfg: &FleetConfig) -> Result<SimulatedFleet> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cfg.threads.max(1))
            .thread_name("sim-client")
            .enable_all()
            .build()
            .context("starting the simulated clients' runtime")?;
        let (stop, stop_rx) = watch::channel(false);
        let stats = Arc::new(FleetStats::default());
        let groups: Vec<RpcClient> = (0..cfg.groups.max(1)).map(|_| RpcClient::new()).collect();
        let mut node_ids = Vec::with_capacity(cfg.nodes);
        for i in 0..cfg.nodes {
            let g = i % groups.len();
            // A group prefers one server, as each real client sticks to the first that answers.
            let mut order = servers.to_vec();
            order.rotate_left(g % servers.len().max(1));
            let remote = RemoteServers::new(&order, groups[g].clone())
                .map_err(|e| anyhow::anyhow!("simulated client {i}: {e}"))?;
            let node = sim_node(i, cfg);
            node_ids.push(node.id.clone());
            let sim = SimNode {
                remote: Arc::new(remote),
                node,
                stats: stats.clone(),
                stop: stop_rx.clone(),
            };
            runtime.spawn(sim.run());
        }
        Ok(SimulatedFleet {
            runtime: Some(runtime),
            stop,
            stats,
            node_ids,
        })
    }

    pub fn registered(&self) -> usize {
        self.stats.registered.load(Ordering::Relaxed)
    }
}

impl Drop for SimulatedFleet {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(5));
        }
    }
}

#[derive(Clone)]
struct SimNode {
    remote: Arc<RemoteServers>,
    node: Node,
    stats: Arc<FleetStats>,
    stop: watch::Receiver<bool>,
}

impl SimNode {
    /// Sleeps `d`; false once the fleet stops.
    async fn sleep(&mut self, d: Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(d) => !*self.stop.borrow(),
            _ = self.stop.changed() => false,
        }
    }

    async fn register(&mut self) -> Option<Duration> {
        loop {
            match self.remote.node_register(self.node.clone()).await {
                Ok(ttl) => return Some(ttl),
                Err(_) if self.sleep(RETRY).await => continue,
                Err(_) => return None,
            }
        }
    }

    async fn run(mut self) {
        let Some(ttl) = self.register().await else {
            return;
        };
        self.stats.registered.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(self.clone().heartbeats(ttl));
        self.watch().await;
    }

    async fn heartbeats(mut self, mut ttl: Duration) {
        // Spread, as the real client's jitter does; derived from the node so runs repeat.
        let spread = (self.node.name.bytes().map(u64::from).sum::<u64>() % 100) as f64 / 1000.0;
        loop {
            if !self.sleep((ttl / 2).mul_f64(0.9 + spread)).await {
                return;
            }
            let t0 = Instant::now();
            match self.remote.node_heartbeat(&self.node.id).await {
                Ok(t) => {
                    ttl = t;
                    let took = t0.elapsed();
                    let us = u32::try_from(took.as_micros()).unwrap_or(u32::MAX);
                    self.stats
                        .heartbeat_rtt_us
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(us);
                    if took > SLOW_HEARTBEAT {
                        self.stats
                            .slow_heartbeats
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .push((t0, took));
                    }
                }
                Err(RpcError::UnknownNode(_)) => {
                    self.stats.unknown_node.fetch_add(1, Ordering::Relaxed);
                    match self.register().await {
                        Some(t) => ttl = t,
                        None => return,
                    }
                }
                Err(_) => {
                    self.stats.heartbeat_errors.fetch_add(1, Ordering::Relaxed);
                    ttl = Duration::from_secs(2);
                }
            }
        }
    }

    async fn watch(mut self) {
        let mut servers = AllocSync::default();
        let mut reported: HashSet<String> = HashSet::new();
        let mut unsent: Vec<AllocClientUpdate> = Vec::new();
        loop {
            let (index, known) = servers.query();
            let query = self
                .remote
                .node_allocations(&self.node.id, index, ALLOC_WAIT, known);
            let got = tokio::select! {
                got = query => got,
                _ = self.stop.changed() => return,
            };
            let got = match got {
                Ok(got) => got,
                Err(_) => {
                    self.stats.watch_errors.fetch_add(1, Ordering::Relaxed);
                    if !self.sleep(RETRY).await {
                        return;
                    }
                    continue;
                }
            };
            if !servers.absorb(&got) {
                continue;
            }
            for a in &got.changed {
                if a.terminal() || !reported.insert(a.id.clone()) {
                    continue;
                }
                let task_states: api::TaskStates = a
                    .job
                    .as_ref()
                    .and_then(|j| j.lookup_group(&a.task_group))
                    .map(|g| {
                        g.tasks
                            .iter()
                            .map(|t| {
                                let state = TaskState {
                                    state: api::TASK_STATE_RUNNING.into(),
                                    ..Default::default()
                                };
                                (t.name.clone(), state)
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                unsent.push(AllocClientUpdate {
                    id: a.id.clone(),
                    client_status: api::ALLOC_CLIENT_RUNNING.into(),
                    client_description: "simulated: nothing was started".into(),
                    task_states,
                    deployment_status: None,
                    deployment_id: String::new(),
                });
            }
            while !unsent.is_empty() {
                let n = unsent.len() as u64;
                match self.remote.update_allocs(unsent.clone()).await {
                    Ok(_) => {
                        self.stats.reported_running.fetch_add(n, Ordering::Relaxed);
                        unsent.clear();
                    }
                    Err(_) => {
                        self.stats.update_errors.fetch_add(1, Ordering::Relaxed);
                        if !self.sleep(RETRY).await {
                            return;
                        }
                    }
                }
            }
        }
    }
}
