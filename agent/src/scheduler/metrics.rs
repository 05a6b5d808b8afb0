//! `AllocationMetric` bookkeeping in Nomad's shape: why nodes were filtered or exhausted.

use api::{AllocationMetric, Node};
use std::collections::BTreeMap;

fn bump(map: &mut BTreeMap<String, i64>, key: &str) {
    match map.get_mut(key) {
        Some(v) => *v += 1,
        None => {
            map.insert(key.to_string(), 1);
        }
    }
}

/// A node failed a feasibility check (driver, constraint, distinct_hosts).
pub fn filter_node(m: &mut AllocationMetric, node: &Node, reason: &str) {
    m.nodes_filtered += 1;
    if !node.node_class.is_empty() {
        bump(&mut m.class_filtered, &node.node_class);
    }
    bump(&mut m.constraint_filtered, reason);
}

/// A feasible node lacked room in one dimension ("cpu", "memory", "network: ...").
pub fn exhaust_node(m: &mut AllocationMetric, node: &Node, dimension: &str) {
    m.nodes_exhausted += 1;
    if !node.node_class.is_empty() {
        bump(&mut m.class_exhausted, &node.node_class);
    }
    bump(&mut m.dimension_exhausted, dimension);
}

/// The pool part every metric of an evaluation shares: ready nodes of the job's datacenters.
pub fn pool_metric<'n>(pool: impl Iterator<Item = &'n Node>) -> AllocationMetric {
    let mut m = AllocationMetric::default();
    for n in pool {
        m.nodes_in_pool += 1;
        bump(&mut m.nodes_available, &n.datacenter);
    }
    m
}
