//! What the live allocations of each node use, kept as allocations change.
//!
//! The scheduler ranks a node by what is left on it, and the plan applier checks that a plan
//! still fits. Summed on demand, both cost every allocation on the node at every look: with 200
//! allocations per node, a plan touching 5,000 nodes read a million allocations, and placement
//! slowed as the cluster filled. As with the job tallies (alloc_tally.rs), every write of an
//! allocation takes the old value's share out of its node's tally and puts the new value's in.
//! Each share is a function of one allocation, so what is added and later taken away match, and
//! a tally rebuilt from the allocations (a snapshot restore) equals one kept along the way.

use api::Allocation;

/// One node's use by its live (not terminal) allocations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeTally {
    pub cpu: i64,
    pub memory_mb: i64,
    pub disk_mb: i64,
    /// Host ports the live allocations hold, sorted; a port held twice appears twice.
    pub ports: Vec<i64>,
    /// Live allocations counted.
    pub live: i64,
}

impl NodeTally {
    /// Adds (`sign` 1) or takes away (`sign` -1) what `a` uses. Terminal allocations use nothing.
    pub fn count(&mut self, a: &Allocation, sign: i64) {
        if a.terminal() {
            return;
        }
        self.live += sign;
        self.cpu += sign * a.allocated_resources.cpu();
        self.memory_mb += sign * a.allocated_resources.memory_mb();
        self.disk_mb += sign * a.allocated_resources.disk_mb();
        for p in &a.allocated_resources.shared.ports {
            let at = self.ports.partition_point(|x| *x < p.value);
            if sign > 0 {
                self.ports.insert(at, p.value);
            } else if self.ports.get(at) == Some(&p.value) {
                self.ports.remove(at);
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == NodeTally::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::{AllocatedPort, AllocatedTaskResources};
    use std::sync::Arc;

    fn alloc(cpu: i64, ports: &[i64], status: &str) -> Allocation {
        let mut task = AllocatedTaskResources::default();
        task.cpu.cpu_shares = cpu;
        task.memory.memory_mb = cpu * 2;
        let mut res = api::AllocatedResources::default();
        res.tasks.insert("t".into(), task);
        res.shared.ports = ports
            .iter()
            .map(|p| AllocatedPort {
                label: format!("p{p}"),
                value: *p,
                ..Default::default()
            })
            .collect();
        Allocation {
            desired_status: "run".into(),
            client_status: status.into(),
            allocated_resources: Arc::new(res),
            ..Default::default()
        }
    }

    #[test]
    fn adds_and_takes_away_what_live_allocations_use() {
        let mut t = NodeTally::default();
        let a = alloc(100, &[8080, 20001], "running");
        let b = alloc(50, &[8080], "pending");
        t.count(&a, 1);
        t.count(&b, 1);
        assert_eq!((t.cpu, t.memory_mb, t.live), (150, 300, 2));
        assert_eq!(t.ports, [8080, 8080, 20001]);
        // `b` finishes: the write replaces its live value with a terminal one.
        t.count(&b, -1);
        t.count(&alloc(50, &[8080], "complete"), 1);
        assert_eq!((t.cpu, t.ports.clone()), (100, vec![8080, 20001]));
        t.count(&a, -1);
        assert!(t.is_empty());
    }
}
