//! Resource accounting on one node: what is used, what is free, and whether a set of allocations
//! fits. Shared by the scheduler's ranking and by the plan applier's re-check.

use api::{Allocation, Node};
use std::collections::HashSet;

/// Nomad's default dynamic port range, used when the node does not report one.
pub const DEFAULT_MIN_DYNAMIC_PORT: i64 = 20000;
pub const DEFAULT_MAX_DYNAMIC_PORT: i64 = 32000;

/// CPU (MHz) the scheduler may hand out on a node.
pub fn cpu_capacity(node: &Node) -> i64 {
    node.node_resources.cpu.cpu_shares - node.reserved_resources.cpu_shares
}

/// Memory (MB) the scheduler may hand out on a node.
pub fn memory_capacity(node: &Node) -> i64 {
    node.node_resources.memory.memory_mb - node.reserved_resources.memory_mb
}

/// Disk (MB) the scheduler may hand out on a node: the free space of the client's data dir when
/// it fingerprinted, less what the operator reserved.
pub fn disk_capacity(node: &Node) -> i64 {
    node.node_resources.disk.disk_mb - node.reserved_resources.disk_mb
}

/// The node's dynamic port range, inclusive.
pub fn dynamic_range(node: &Node) -> (i64, i64) {
    let r = &node.node_resources;
    if r.min_dynamic_port > 0 && r.max_dynamic_port >= r.min_dynamic_port {
        (r.min_dynamic_port, r.max_dynamic_port)
    } else {
        (DEFAULT_MIN_DYNAMIC_PORT, DEFAULT_MAX_DYNAMIC_PORT)
    }
}

/// Parses a port list such as "22,80,8000-8010". Unparsable items are skipped: the node's own
/// fingerprint produced the string, and a bad item must not stop scheduling.
pub fn parse_port_list(s: &str) -> Vec<i64> {
    let mut out = Vec::new();
    for item in s.split(',').map(str::trim).filter(|x| !x.is_empty()) {
        match item.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.trim().parse::<i64>(), b.trim().parse::<i64>()) {
                    out.extend(a..=b.min(65535));
                }
            }
            None => {
                if let Ok(p) = item.parse::<i64>() {
                    out.push(p);
                }
            }
        }
    }
    out
}

/// What is already taken on a node by the allocations that will keep running.
#[derive(Debug, Clone, Default)]
pub struct NodeUsage {
    pub cpu: i64,
    pub memory_mb: i64,
    pub disk_mb: i64,
    /// Host ports in use, the node's reserved ports included.
    pub ports: HashSet<i64>,
}

impl NodeUsage {
    /// Usage of a node with nothing on it but its reserved ports.
    pub fn empty(node: &Node) -> NodeUsage {
        NodeUsage {
            cpu: 0,
            memory_mb: 0,
            disk_mb: 0,
            ports: parse_port_list(&node.reserved_resources.reserved_host_ports)
                .into_iter()
                .collect(),
        }
    }

    /// Usage from the state's running sum of the node's live allocations.
    pub fn from_tally(node: &Node, tally: Option<&crate::state::NodeTally>) -> NodeUsage {
        let mut u = NodeUsage::empty(node);
        if let Some(t) = tally {
            u.cpu = t.cpu;
            u.memory_mb = t.memory_mb;
            u.disk_mb = t.disk_mb;
            u.ports.extend(t.ports.iter().copied());
        }
        u
    }

    pub fn add(&mut self, alloc: &Allocation) {
        self.cpu += alloc.allocated_resources.cpu();
        self.memory_mb += alloc.allocated_resources.memory_mb();
        self.disk_mb += alloc.allocated_resources.disk_mb();
        for p in &alloc.allocated_resources.shared.ports {
            self.ports.insert(p.value);
        }
    }

    pub fn remove(&mut self, alloc: &Allocation) {
        self.cpu -= alloc.allocated_resources.cpu();
        self.memory_mb -= alloc.allocated_resources.memory_mb();
        self.disk_mb -= alloc.allocated_resources.disk_mb();
        for p in &alloc.allocated_resources.shared.ports {
            self.ports.remove(&p.value);
        }
    }
}

/// The dimension a node ran out of; displayed as Nomad names it, for the operator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DoesNotFit {
    #[error("network: reserved port collision {label}={port}")]
    ReservedPort { label: String, port: i64 },
    #[error("network: port collision {label}={port}")]
    PortCollision { label: String, port: i64 },
    #[error("cpu")]
    Cpu,
    #[error("memory")]
    Memory,
    #[error("disk")]
    Disk,
}

/// Adds `new` to `usage` (what the node's other allocations use) when they fit beside it: no
/// host port reserved by the node or held twice, CPU and memory within the node's capacity.
/// Terminal allocations are skipped. On a refusal `usage` is left part-way: the caller drops it.
pub fn add_if_fits(
    node: &Node,
    usage: &mut NodeUsage,
    new: &[&Allocation],
) -> Result<(), DoesNotFit> {
    let reserved: HashSet<i64> = parse_port_list(&node.reserved_resources.reserved_host_ports)
        .into_iter()
        .collect();
    for a in new.iter().filter(|a| !a.terminal()) {
        for p in &a.allocated_resources.shared.ports {
            if reserved.contains(&p.value) {
                return Err(DoesNotFit::ReservedPort {
                    label: p.label.clone(),
                    port: p.value,
                });
            }
            if !usage.ports.insert(p.value) {
                return Err(DoesNotFit::PortCollision {
                    label: p.label.clone(),
                    port: p.value,
                });
            }
        }
        usage.cpu += a.allocated_resources.cpu();
        usage.memory_mb += a.allocated_resources.memory_mb();
        usage.disk_mb += a.allocated_resources.disk_mb();
    }
    if usage.cpu > cpu_capacity(node) {
        return Err(DoesNotFit::Cpu);
    }
    if usage.memory_mb > memory_capacity(node) {
        return Err(DoesNotFit::Memory);
    }
    if usage.disk_mb > disk_capacity(node) {
        return Err(DoesNotFit::Disk);
    }
    Ok(())
}

/// Whether these allocations, together, fit on the node: CPU, memory, disk, and no host port
/// used twice or reserved by the node. Terminal allocations are ignored.
pub fn allocs_fit(node: &Node, allocs: &[&Allocation]) -> Result<(), DoesNotFit> {
    add_if_fits(node, &mut NodeUsage::empty(node), allocs)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use api::{AllocatedCpu, AllocatedMemory, AllocatedPort, AllocatedTaskResources};

    fn node() -> Node {
        let mut n = Node::default();
        n.node_resources.cpu.cpu_shares = 1000;
        n.node_resources.memory.memory_mb = 1024;
        n.node_resources.disk.disk_mb = 1000;
        n.reserved_resources.cpu_shares = 100;
        n.reserved_resources.reserved_host_ports = "22, 8000-8002".into();
        n
    }

    /// A running allocation of one task using `cpu` MHz, `mem` MB and the given host ports.
    pub(crate) fn alloc(cpu: i64, mem: i64, ports: &[i64]) -> Allocation {
        let mut a = Allocation {
            desired_status: "run".into(),
            client_status: "running".into(),
            ..Allocation::default()
        };
        std::sync::Arc::make_mut(&mut a.allocated_resources)
            .tasks
            .insert(
                "t".into(),
                AllocatedTaskResources {
                    cpu: AllocatedCpu { cpu_shares: cpu },
                    memory: AllocatedMemory {
                        memory_mb: mem,
                        memory_max_mb: 0,
                    },
                },
            );
        std::sync::Arc::make_mut(&mut a.allocated_resources)
            .shared
            .ports = ports
            .iter()
            .map(|p| AllocatedPort {
                label: "http".into(),
                value: *p,
                ..AllocatedPort::default()
            })
            .collect();
        a
    }

    #[test]
    fn fit_table() {
        let n = node();
        let a = alloc(500, 512, &[9000]);
        let b = alloc(400, 512, &[9001]);
        assert_eq!(allocs_fit(&n, &[&a, &b]), Ok(()));
        let c = alloc(1, 1, &[]);
        let why = |allocs: &[&Allocation]| allocs_fit(&n, allocs).unwrap_err().to_string();
        assert_eq!(why(&[&a, &b, &c]), "cpu");
        let d = alloc(1, 600, &[]);
        assert_eq!(why(&[&a, &d]), "memory");
        let e = alloc(1, 1, &[9000]);
        assert_eq!(why(&[&a, &e]), "network: port collision http=9000");
        let f = alloc(1, 1, &[8001]);
        assert_eq!(why(&[&f]), "network: reserved port collision http=8001");
        let mut g = alloc(1, 1, &[]);
        std::sync::Arc::make_mut(&mut g.allocated_resources)
            .shared
            .disk_mb = 600;
        assert_eq!(allocs_fit(&n, &[&g]), Ok(()));
        assert_eq!(why(&[&g, &g]), "disk");
        let mut stopped = alloc(5000, 1, &[]);
        stopped.desired_status = "stop".into();
        assert_eq!(allocs_fit(&n, &[&stopped]), Ok(()));
    }

    #[test]
    fn port_lists() {
        assert_eq!(
            parse_port_list("22, 80,100-102,x"),
            vec![22, 80, 100, 101, 102]
        );
        assert!(parse_port_list("").is_empty());
    }
}
