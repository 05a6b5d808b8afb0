//! This client's part of the service catalog: the registrations of the tasks it runs, their
//! checks, and the worker that keeps the servers (and Consul, for `provider = "consul"`) in line
//! with them.
//!
//! Task runners call in as tasks start and stop: a task's services are registered when it runs
//! and removed when it stops; a group's services are registered while any of its tasks runs (Nomad
//! keeps them through a restart with failing checks; here an allocation with no running task
//! leaves the catalog at once). The stop path waits until the removal reached the servers before
//! its `shutdown_delay` and the kill, so proxies stop sending first.

pub mod build;
mod checks;
pub mod consul;
mod http;
mod push;
mod sync;

pub use checks::ScriptTarget;

use crate::client::taskenv::NodeInfo;
use crate::rpc::ServerRpc;
use api::{
    worst_status, Allocation, CheckQueryResult, CheckStatus, ServiceRegistration,
    SERVICE_PROVIDER_CONSUL,
};
use build::{check_mode, BuiltService, Owner, ServiceBuildError};
use checks::{CheckHost, CheckRun};
use consul::ConsulAgent;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;

/// Probes in flight at once, whatever the number of checks.
const MAX_PROBES: usize = 256;
/// How long a stopping task waits for its deregistration to reach the servers.
const DEREGISTER_WAIT: Duration = Duration::from_secs(3);
/// Anti-entropy: a full reconciliation this often even when every push succeeded.
const FULL_SYNC_EVERY: Duration = Duration::from_secs(300);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// A task that just started running, as its services see it.
#[derive(Clone)]
pub struct RunningTask {
    pub alloc: Arc<Allocation>,
    pub task: String,
    pub env: BTreeMap<String, String>,
    pub script: ScriptTarget,
    /// Where check_restart's requests go: the task runner restarts the task.
    pub restart: mpsc::UnboundedSender<String>,
}

struct Entry {
    reg: ServiceRegistration,
    alloc_id: String,
    /// The owning task; empty for a group service.
    task: String,
    consul: bool,
    checks: Vec<Arc<CheckRun>>,
    workers: Vec<JoinHandle<()>>,
    /// When each check's status was last pushed to Consul, and which status.
    consul_pushed: BTreeMap<String, (String, Instant)>,
}

impl Drop for Entry {
    fn drop(&mut self) {
        for w in &self.workers {
            w.abort();
        }
    }
}

#[derive(Default)]
struct Inner {
    entries: BTreeMap<String, Entry>,
    /// Running tasks by (alloc, task): where their script checks run, who restarts them.
    tasks: BTreeMap<(String, String), RunningTask>,
    /// Allocations whose group services are registered.
    groups: BTreeSet<String>,
}

pub struct ServiceRegistry {
    node: Arc<NodeInfo>,
    rpc: Arc<dyn ServerRpc>,
    consul: Option<ConsulAgent>,
    inner: Mutex<Inner>,
    queue: sync::SyncQueue,
    probes: Arc<Semaphore>,
    me: Weak<ServiceRegistry>,
    worker: Mutex<Option<JoinHandle<()>>>,
    /// Bumped when any check's status changes or registrations come and go (health watchers).
    check_changes: tokio::sync::watch::Sender<u64>,
}

/// Refreshes a registration's check fields from its checks' states.
fn refresh(e: &mut Entry) {
    let states: Vec<(api::ServiceCheck, checks::CheckState)> = e
        .checks
        .iter()
        .map(|c| (c.spec.check.clone(), c.state()))
        .collect();
    e.reg.checks = e
        .checks
        .iter()
        .zip(&states)
        .map(|(c, (check, st))| CheckStatus {
            name: check.name.clone(),
            check_type: check.check_type.clone(),
            status: st.status.clone(),
            output: st.status_output.clone(),
            task: c.spec.task.clone(),
            mode: check_mode(check).into(),
            timestamp: st.status_at,
        })
        .collect();
    e.reg.check_status = worst_status(states.iter().map(|(_, s)| s.status.as_str()));
}

impl ServiceRegistry {
    /// Starts the worker that pushes changes; it runs until [`Self::shutdown`].
    pub fn start(
        node: Arc<NodeInfo>,
        rpc: Arc<dyn ServerRpc>,
        consul: Option<ConsulAgent>,
    ) -> Arc<ServiceRegistry> {
        let registry = Arc::new_cyclic(|me| ServiceRegistry {
            node,
            rpc,
            consul,
            inner: Mutex::new(Inner::default()),
            queue: sync::SyncQueue::default(),
            probes: Arc::new(Semaphore::new(MAX_PROBES)),
            me: me.clone(),
            worker: Mutex::new(None),
            check_changes: tokio::sync::watch::channel(0).0,
        });
        let handle = tokio::spawn(registry.clone().push_loop());
        if let Ok(mut w) = registry.worker.lock() {
            *w = Some(handle);
        }
        registry
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        match self.inner.lock() {
            Ok(i) => i,
            Err(p) => p.into_inner(),
        }
    }

    /// Changes whenever a check's status (or the set of registrations) changes.
    pub fn check_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.check_changes.subscribe()
    }

    fn bump_checks(&self) {
        self.check_changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Whether every check of the allocation's services passes, as a deployment counts them:
    /// `on_update = "ignore_warnings"` takes a warning as passing, `"ignore"` skips the check.
    pub fn alloc_checks_pass(&self, alloc_id: &str) -> bool {
        let inner = self.inner();
        inner
            .entries
            .values()
            .filter(|e| e.alloc_id == alloc_id)
            .flat_map(|e| e.checks.iter())
            .all(|c| {
                let status = c.state().status;
                match c.spec.check.on_update.as_str() {
                    api::ON_UPDATE_IGNORE => true,
                    api::ON_UPDATE_IGNORE_WARNINGS => {
                        status == api::CHECK_PASSING || status == api::CHECK_WARNING
                    }
                    _ => status == api::CHECK_PASSING,
                }
            })
    }

    /// The restored allocations have re-registered: full reconciliations may run from now on.
    pub fn set_ready(&self) {
        self.queue.set_ready();
    }

    /// Reconcile with the servers at the next push (after the client registered again).
    pub fn request_full_sync(&self) {
        self.queue.full();
    }

    /// Every registration this client holds.
    pub fn registrations(&self) -> Vec<ServiceRegistration> {
        self.inner()
            .entries
            .values()
            .map(|e| e.reg.clone())
            .collect()
    }

    /// A task runs: register its services (and its group's, the first time). Returns what could
    /// not be registered, for the task's events.
    pub fn task_running(&self, rt: RunningTask) -> Vec<String> {
        self.register(rt).1
    }

    /// Registers a running task's services (and its group's, if not yet): the ids written and
    /// what could not be.
    fn register(&self, rt: RunningTask) -> (Vec<String>, Vec<String>) {
        let alloc = rt.alloc.clone();
        let Some(group) = alloc
            .job
            .as_deref()
            .and_then(|j| j.lookup_group(&alloc.task_group))
        else {
            let why = "the allocation has no task group to register services of";
            return (Vec::new(), vec![why.into()]);
        };
        let task_ip = rt
            .script
            .handle
            .state
            .driver_state
            .get(crate::drivers::STATE_TASK_IP)
            .cloned();
        let task = group.tasks.iter().find(|t| t.name == rt.task);
        let mut built: Vec<(Result<BuiltService, ServiceBuildError>, String, String)> = Vec::new();
        let owner = |t, ip| Owner {
            alloc: &alloc,
            group,
            task: t,
            env: &rt.env,
            node: &self.node,
            task_ip: ip,
        };
        if let Some(t) = task {
            let o = owner(Some(t), task_ip.as_deref());
            for s in &t.services {
                built.push((o.build(s), t.name.clone(), s.name.clone()));
            }
        }
        let mut inner = self.inner();
        if inner.groups.insert(alloc.id.clone()) {
            for s in &group.services {
                let ip = (s.task_name == rt.task)
                    .then_some(task_ip.as_deref())
                    .flatten();
                built.push((owner(None, ip).build(s), String::new(), s.name.clone()));
            }
        }
        inner.tasks.insert((alloc.id.clone(), rt.task.clone()), rt);
        let (mut ids, mut errors) = (Vec::new(), Vec::new());
        for (b, task, name) in built {
            let b =
                b.map_err(|e| e.to_string()).and_then(|b| {
                    match api::service_rules::name_problem(&b.reg.service_name) {
                        Some(p) => Err(p),
                        None => Ok(b),
                    }
                });
            match b {
                Ok(b) => ids.push(self.add(&mut inner, b, &alloc.id, &task)),
                Err(e) => errors.push(format!("service {name:?} not registered: {e}")),
            }
        }
        (ids, errors)
    }

    /// A new version of a running allocation's job (an in-place update: tags, meta, checks ...
    /// changed): its registrations are rebuilt. Checks that did not change keep their state, so
    /// a healthy instance stays in the proxies throughout.
    pub fn alloc_updated(&self, alloc: Arc<Allocation>) {
        let running: Vec<RunningTask> = {
            let mut inner = self.inner();
            inner.groups.remove(&alloc.id);
            inner
                .tasks
                .iter()
                .filter(|((a, _), _)| *a == alloc.id)
                .map(|(_, rt)| rt.clone())
                .collect()
        };
        let mut kept = BTreeSet::new();
        for mut rt in running {
            rt.alloc = alloc.clone();
            let task = rt.task.clone();
            let (ids, errors) = self.register(rt);
            kept.extend(ids);
            for e in errors {
                tracing::warn!(alloc = %alloc.id, task = %task, error = %e, "service registration failed");
            }
        }
        self.remove(|e| e.alloc_id == alloc.id && !kept.contains(&e.reg.id));
    }

    /// Adds (or replaces) an entry; returns its id. Replacing an entry whose checks are the same
    /// keeps them running with their state.
    fn add(&self, inner: &mut Inner, b: BuiltService, alloc_id: &str, task: &str) -> String {
        let id = b.reg.id.clone();
        if let Some(e) = inner.entries.get_mut(&id) {
            let same_checks = e.checks.len() == b.checks.len()
                && e.checks.iter().zip(&b.checks).all(|(c, n)| c.spec == *n);
            if same_checks
                && e.consul == (b.provider == SERVICE_PROVIDER_CONSUL && self.consul.is_some())
            {
                let before = e.reg.clone();
                e.reg = b.reg;
                e.task = task.to_string();
                refresh(e);
                if e.reg != before {
                    self.queue.upsert(&id);
                }
                return id;
            }
        }
        let host: Weak<dyn CheckHost> = self.me.clone();
        let checks: Vec<Arc<CheckRun>> = b.checks.into_iter().map(CheckRun::new).collect();
        let workers = checks
            .iter()
            .map(|c| {
                tokio::spawn(checks::run(
                    c.clone(),
                    alloc_id.to_string(),
                    id.clone(),
                    host.clone(),
                    self.probes.clone(),
                ))
            })
            .collect();
        let mut entry = Entry {
            reg: b.reg,
            alloc_id: alloc_id.to_string(),
            task: task.to_string(),
            consul: b.provider == SERVICE_PROVIDER_CONSUL && self.consul.is_some(),
            checks,
            workers,
            consul_pushed: BTreeMap::new(),
        };
        refresh(&mut entry);
        if b.provider == SERVICE_PROVIDER_CONSUL && self.consul.is_none() {
            tracing::warn!(
                service = %entry.reg.service_name,
                "service asks for Consul, but this client has no consul block: registered in \
                 the Nomad catalog only"
            );
        }
        // Replacing an entry (a restarted task) drops the old one's checks.
        inner.entries.insert(id.clone(), entry);
        self.queue.upsert(&id);
        self.bump_checks();
        id
    }

    /// Removes the entries `which` selects; returns the generation to wait for, if any went.
    fn remove(&self, which: impl Fn(&Entry) -> bool) -> Option<u64> {
        let mut inner = self.inner();
        let ids: Vec<String> = inner
            .entries
            .iter()
            .filter(|(_, e)| which(e))
            .map(|(id, _)| id.clone())
            .collect();
        let mut generation = None;
        for id in ids {
            if let Some(e) = inner.entries.remove(&id) {
                generation = Some(self.queue.delete(&id, e.consul));
            }
        }
        if generation.is_some() {
            self.bump_checks();
        }
        generation
    }

    /// A task stopped on its own (it exited): its services go at once, and its group's too when
    /// no other task of the allocation runs (they come back with the next running task).
    pub fn task_stopped(&self, alloc_id: &str, task: &str) {
        let none_left = {
            let mut inner = self.inner();
            inner
                .tasks
                .remove(&(alloc_id.to_string(), task.to_string()));
            let none_left = !inner.tasks.keys().any(|(a, _)| a == alloc_id);
            if none_left {
                inner.groups.remove(alloc_id);
            }
            none_left
        };
        self.remove(|e| {
            e.alloc_id == alloc_id && (e.task == task || (none_left && e.task.is_empty()))
        });
    }

    /// A task is about to be killed: its services go first, and this waits (a little) until the
    /// servers have dropped them.
    pub async fn task_stopping(&self, alloc_id: &str, task: &str) {
        self.inner()
            .tasks
            .remove(&(alloc_id.to_string(), task.to_string()));
        if let Some(g) = self.remove(|e| e.alloc_id == alloc_id && e.task == task) {
            self.queue.wait_pushed(g, DEREGISTER_WAIT).await;
        }
    }

    /// The allocation stops: its group's services go first, and this waits as above.
    pub async fn alloc_stopping(&self, alloc_id: &str) {
        if let Some(g) = self.remove(|e| e.alloc_id == alloc_id && e.task.is_empty()) {
            self.queue.wait_pushed(g, DEREGISTER_WAIT).await;
        }
    }

    /// The allocation is over: nothing of it stays.
    pub fn alloc_done(&self, alloc_id: &str) {
        {
            let mut inner = self.inner();
            inner.groups.remove(alloc_id);
            inner.tasks.retain(|(a, _), _| a != alloc_id);
        }
        self.remove(|e| e.alloc_id == alloc_id);
    }

    /// The live results of an allocation's checks, by check id.
    pub fn check_results(&self, alloc_id: &str) -> BTreeMap<String, CheckQueryResult> {
        let inner = self.inner();
        let mut out = BTreeMap::new();
        for e in inner.entries.values().filter(|e| e.alloc_id == alloc_id) {
            for c in &e.checks {
                let st = c.state();
                let last = st.last.as_ref();
                out.insert(
                    c.spec.id.clone(),
                    CheckQueryResult {
                        id: c.spec.id.clone(),
                        check: c.spec.check.name.clone(),
                        group: c.spec.group.clone(),
                        mode: check_mode(&c.spec.check).into(),
                        output: last.map(|r| r.output.clone()).unwrap_or_default(),
                        service: c.spec.service.clone(),
                        status: st.status.clone(),
                        status_code: last.map_or(0, |r| r.status_code),
                        task: c.spec.task.clone(),
                        timestamp: last.map_or(0, |r| r.at / 1_000_000_000),
                    },
                );
            }
        }
        out
    }

    /// Stops the checks and the push worker. Registrations stay with the servers: a restarted
    /// agent re-attaches to its tasks and confirms them.
    pub fn shutdown(&self) {
        if let Ok(mut w) = self.worker.lock() {
            if let Some(h) = w.take() {
                h.abort();
            }
        }
        let mut inner = self.inner();
        inner.entries.clear();
        inner.tasks.clear();
    }
}

impl CheckHost for ServiceRegistry {
    fn status_changed(&self, reg_id: &str) {
        let mut inner = self.inner();
        if let Some(e) = inner.entries.get_mut(reg_id) {
            refresh(e);
            self.queue.upsert(reg_id);
        }
        drop(inner);
        self.bump_checks();
    }

    fn probed(&self, reg_id: &str, check_id: &str) {
        if self.consul.is_none() {
            return;
        }
        let inner = self.inner();
        let Some(e) = inner.entries.get(reg_id).filter(|e| e.consul) else {
            return;
        };
        let Some(c) = e.checks.iter().find(|c| c.spec.id == check_id) else {
            return;
        };
        // A TTL heartbeat once per interval, or at once when the status moved.
        let due = e.consul_pushed.get(check_id).is_none_or(|(status, at)| {
            at.elapsed() >= c.spec.check.interval || *status != c.state().status
        });
        if due {
            self.queue.consul_refresh(reg_id);
        }
    }

    fn script_target(&self, alloc_id: &str, task: &str) -> Option<ScriptTarget> {
        self.inner()
            .tasks
            .get(&(alloc_id.to_string(), task.to_string()))
            .map(|t| t.script.clone())
    }

    fn restart_task(&self, alloc_id: &str, task: &str, reason: String) {
        if let Some(t) = self
            .inner()
            .tasks
            .get(&(alloc_id.to_string(), task.to_string()))
        {
            let _ = t.restart.send(reason);
        }
    }
}

/// For tests of runners whose tasks declare no services: a registry whose servers never answer.
#[cfg(test)]
pub fn unreachable_registry() -> Arc<ServiceRegistry> {
    ServiceRegistry::start(Arc::new(NodeInfo::default()), unreachable_servers(), None)
}

/// For tests: servers that never answer.
#[cfg(test)]
pub fn unreachable_servers() -> Arc<dyn ServerRpc> {
    use crate::rpc::{Catalog, RpcError, RpcFuture};
    struct NoServers;
    fn gone<'a, T: Send + 'a>() -> RpcFuture<'a, T> {
        Box::pin(async { Err(RpcError::Unreachable("no servers in this test".into())) })
    }
    impl ServerRpc for NoServers {
        fn servers(&self) -> Vec<String> {
            Vec::new()
        }

        fn node_register(&self, _: api::Node) -> RpcFuture<'_, Duration> {
            gone()
        }
        fn node_heartbeat(&self, _: &str) -> RpcFuture<'_, Duration> {
            gone()
        }
        fn node_allocations(
            &self,
            _: &str,
            _: u64,
            _: Duration,
            _: crate::rpc::KnownAllocs,
        ) -> RpcFuture<'_, crate::rpc::NodeAllocs> {
            gone()
        }
        fn update_allocs(&self, _: Vec<api::AllocClientUpdate>) -> RpcFuture<'_, u64> {
            gone()
        }
        fn service_update(
            &self,
            _: Vec<ServiceRegistration>,
            _: Vec<String>,
        ) -> RpcFuture<'_, u64> {
            gone()
        }
        fn service_sync(&self, _: &str, _: Vec<ServiceRegistration>) -> RpcFuture<'_, u64> {
            gone()
        }
        fn catalog(&self, _: u64, _: Duration) -> RpcFuture<'_, Catalog> {
            gone()
        }
        fn resolve_token(&self, _: &str) -> RpcFuture<'_, crate::rpc::ResolvedToken> {
            gone()
        }
    }
    Arc::new(NoServers)
}
