//! Builders for scheduler tests: nodes, jobs, evaluations, and a tiny plan applier.

use super::StateView;
use super::{schedule, MemState, SchedulerContext, SchedulerOutcome};
use api::{Allocation, DriverInfo, Evaluation, Job, NetworkResource, Node, Port, Task, TaskGroup};

pub const NOW: i64 = 1_700_000_000_000_000_000;
pub const SEC: i64 = 1_000_000_000;

#[derive(Clone)]
pub struct NodeB(Node);

pub fn node(id: &str) -> NodeB {
    let mut n = Node {
        id: id.into(),
        name: format!("name-{id}"),
        datacenter: "dc1".into(),
        status: "ready".into(),
        scheduling_eligibility: "eligible".into(),
        ..Node::default()
    };
    n.node_resources.cpu.cpu_shares = 4000;
    n.node_resources.memory.memory_mb = 8192;
    n.node_resources.disk.disk_mb = 100_000;
    n.attributes.insert("kernel.name".into(), "linux".into());
    n.attributes.insert(
        "unique.network.ip-address".into(),
        format!("10.0.0.{}", id.len()),
    );
    NodeB(n).driver("raw_exec")
}

impl NodeB {
    pub fn dc(mut self, dc: &str) -> Self {
        self.0.datacenter = dc.into();
        self
    }
    pub fn pool(mut self, pool: &str) -> Self {
        self.0.node_pool = pool.into();
        self
    }
    pub fn cpu(mut self, mhz: i64) -> Self {
        self.0.node_resources.cpu.cpu_shares = mhz;
        self
    }
    pub fn mem(mut self, mb: i64) -> Self {
        self.0.node_resources.memory.memory_mb = mb;
        self
    }
    pub fn driver(mut self, d: &str) -> Self {
        let info = DriverInfo {
            detected: true,
            healthy: true,
            ..DriverInfo::default()
        };
        self.0.drivers.insert(d.into(), info);
        self
    }
    pub fn no_drivers(mut self) -> Self {
        self.0.drivers.clear();
        self
    }
    pub fn attr(mut self, k: &str, v: &str) -> Self {
        self.0.attributes.insert(k.into(), v.into());
        self
    }
    pub fn status(mut self, s: &str) -> Self {
        self.0.status = s.into();
        self
    }
    /// Disconnected since `at` (nanoseconds; the node keeps seconds).
    pub fn disconnected_at(mut self, at: i64) -> Self {
        self.0.status = api::NODE_STATUS_DISCONNECTED.into();
        self.0.status_updated_at = at / SEC;
        self
    }
    pub fn drain(mut self) -> Self {
        self.0.drain = true;
        self
    }
    pub fn reserved_ports(mut self, p: &str) -> Self {
        self.0.reserved_resources.reserved_host_ports = p.into();
        self
    }
    pub fn build(self) -> Node {
        self.0
    }
}

/// A service job "web" with group "web" of `count`, one raw_exec task of 500 MHz / 256 MB.
pub fn job(count: i32) -> Job {
    let mut j = Job {
        id: "web".into(),
        datacenters: vec!["dc1".into()],
        task_groups: vec![TaskGroup {
            name: "web".into(),
            count,
            tasks: vec![Task {
                name: "app".into(),
                driver: "raw_exec".into(),
                ..Task::default()
            }],
            ..TaskGroup::default()
        }],
        ..Job::default()
    };
    j.task_groups[0].tasks[0].resources.cpu = 500;
    j.task_groups[0].tasks[0].resources.memory_mb = 256;
    j.canonicalize();
    j
}

pub fn with_ports(mut j: Job, static_ports: &[(&str, i64)], dynamic: &[&str]) -> Job {
    let port = |l: &str, v: i64| Port {
        label: l.into(),
        value: v,
        ..Port::default()
    };
    j.task_groups[0].networks = vec![NetworkResource {
        reserved_ports: static_ports.iter().map(|(l, v)| port(l, *v)).collect(),
        dynamic_ports: dynamic.iter().map(|l| port(l, 0)).collect(),
        ..NetworkResource::default()
    }];
    j
}

/// The next version of `j` with a destructive change (the task's command), as a job update
/// committed at `job_modify_index` would be.
pub fn destructive_version(j: &Job, job_modify_index: u64) -> Job {
    let mut v = j.clone();
    v.task_groups[0].tasks[0]
        .config
        .insert("command".into(), "/bin/true".into());
    v.version = j.version + 1;
    v.job_modify_index = job_modify_index;
    v
}

/// An evaluation for the job. Each call gets a new id, as each real evaluation does: ids of new
/// allocations derive from it.
pub fn eval_for(j: &Job) -> Evaluation {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Evaluation {
        id: format!("eval-{n}"),
        namespace: j.namespace.clone(),
        priority: j.priority,
        eval_type: j.job_type.clone(),
        triggered_by: "job-register".into(),
        job_id: j.id.clone(),
        status: "pending".into(),
        ..Evaluation::default()
    }
}

pub fn state(nodes: Vec<NodeB>, j: &Job) -> MemState {
    let mut s = MemState::new();
    for n in nodes {
        s.upsert_node(n.build());
    }
    s.upsert_job(j.clone());
    s
}

pub fn run(s: &MemState, j: &Job) -> SchedulerOutcome {
    run_at(s, j, NOW)
}

pub fn run_at(s: &MemState, j: &Job, now: i64) -> SchedulerOutcome {
    schedule(&eval_for(j), s, &SchedulerContext::new(now, 42))
}

/// Commits a plan the way the applier would: every stop and placement replaces its allocation,
/// a new deployment becomes the job's newest, and cancelled ones change status.
pub fn apply(s: &mut MemState, out: &SchedulerOutcome) {
    for a in out.plan.node_update.values().flatten() {
        s.upsert_alloc(a.clone());
    }
    for a in out.plan.node_allocation.values().flatten() {
        s.upsert_alloc(a.clone());
    }
    if let Some(d) = &out.plan.deployment {
        s.upsert_deployment(d.clone());
    }
    for u in &out.plan.deployment_updates {
        let latest = s.latest_deployment(&out.eval.namespace, &out.eval.job_id);
        if let Some(d) = latest.filter(|d| d.id == u.deployment_id) {
            let mut d = (*d).clone();
            d.status = u.status.clone();
            d.status_description = u.status_description.clone();
            s.upsert_deployment(d);
        }
    }
}

/// Marks an allocation healthy (or not), as its client would.
pub fn set_healthy(s: &mut MemState, id: &str, healthy: bool) {
    if let Some(a) = s.alloc(id) {
        let mut a = (*a).clone();
        let canary = a.deployment_status.as_ref().is_some_and(|d| d.canary);
        a.client_status = "running".into();
        a.deployment_status = Some(api::AllocDeploymentStatus {
            healthy: Some(healthy),
            canary,
            ..Default::default()
        });
        s.upsert_alloc(a);
    }
}

/// The new allocations of a plan (not in `s` yet), sorted by name.
pub fn placed<'o>(s: &MemState, out: &'o SchedulerOutcome) -> Vec<&'o Allocation> {
    let mut v: Vec<&Allocation> = out
        .plan
        .node_allocation
        .values()
        .flatten()
        .filter(|a| s.alloc(&a.id).is_none())
        .collect();
    v.sort_by(|a, b| a.name.cmp(&b.name));
    v
}

pub fn stopped(out: &SchedulerOutcome) -> Vec<&Allocation> {
    let mut v: Vec<&Allocation> = out.plan.node_update.values().flatten().collect();
    v.sort_by(|a, b| a.name.cmp(&b.name));
    v
}

/// Marks an allocation's client status, as a client update would.
pub fn set_client_status(s: &mut MemState, id: &str, status: &str, at: i64) {
    if let Some(a) = s.alloc(id) {
        let mut a = (*a).clone();
        a.client_status = status.into();
        a.modify_time = at;
        s.upsert_alloc(a);
    }
}
