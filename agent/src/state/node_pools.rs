//! Node pools in the replicated state. `all` and `default` are never stored: they always exist,
//! and are answered as if they were. A node that registers in a pool nobody created creates it,
//! as Nomad does, so a client's config alone is enough to start a pool.

use super::command::ApplyResult;
use super::tables::Tables;
use api::node_pool::{NodePool, NODE_POOL_ALL};
use imbl::OrdMap;
use std::sync::Arc;

#[derive(Clone, Default)]
pub struct NodePoolTable {
    pub(crate) by_name: OrdMap<String, Arc<NodePool>>,
    pub(crate) index: u64,
}

impl Tables {
    pub fn node_pool(&self, name: &str) -> Option<Arc<NodePool>> {
        if NodePool::is_built_in(name) {
            return NodePool::built_in()
                .into_iter()
                .find(|p| p.name == name)
                .map(Arc::new);
        }
        self.node_pools.by_name.get(name).cloned()
    }

    pub fn node_pool_exists(&self, name: &str) -> bool {
        NodePool::is_built_in(name) || self.node_pools.by_name.contains_key(name)
    }

    /// Every pool, the built-in ones included, by name.
    pub fn node_pools(&self) -> Vec<Arc<NodePool>> {
        let mut out: Vec<Arc<NodePool>> = NodePool::built_in().into_iter().map(Arc::new).collect();
        out.extend(self.node_pools.by_name.values().cloned());
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    pub fn node_pools_index(&self) -> u64 {
        self.node_pools.index
    }

    /// The nodes of a pool (`all`: every node).
    pub fn nodes_in_pool<'a>(&'a self, pool: &'a str) -> impl Iterator<Item = &'a Arc<api::Node>> {
        self.nodes
            .values()
            .filter(move |n| pool == NODE_POOL_ALL || n.node_pool == pool)
    }

    /// The jobs that place in a pool, in every namespace.
    pub fn jobs_in_pool<'a>(&'a self, pool: &'a str) -> impl Iterator<Item = &'a Arc<api::Job>> {
        self.jobs.values().filter(move |j| j.node_pool == pool)
    }

    pub(super) fn apply_node_pool_upsert(&mut self, index: u64, list: &[NodePool]) -> ApplyResult {
        if let Some(why) = list.iter().find_map(|p| p.validate().err()) {
            return ApplyResult {
                error: Some(why),
                ..Default::default()
            };
        }
        for p in list {
            self.put_node_pool(index, p.clone());
        }
        ApplyResult::default()
    }

    /// The pool a registering node names, created when it does not exist yet.
    pub(super) fn ensure_node_pool(&mut self, index: u64, name: &str) {
        if !self.node_pool_exists(name) {
            self.put_node_pool(
                index,
                NodePool {
                    name: name.to_string(),
                    ..Default::default()
                },
            );
        }
    }

    fn put_node_pool(&mut self, index: u64, mut p: NodePool) {
        p.create_index = self
            .node_pools
            .by_name
            .get(&p.name)
            .map_or(index, |old| old.create_index);
        p.modify_index = index;
        let p = Arc::new(p);
        self.changes
            .push(super::events::Change::NodePool(p.clone()));
        self.node_pools.by_name.insert(p.name.clone(), p);
        self.node_pools.index = index;
    }

    /// Refused whole when one of the pools is built in or still has a node or a job.
    pub(super) fn apply_node_pool_delete(&mut self, index: u64, names: &[String]) -> ApplyResult {
        if let Some(why) = names.iter().find_map(|n| self.node_pool_in_use(n)) {
            return ApplyResult {
                error: Some(why),
                ..Default::default()
            };
        }
        for n in names {
            if let Some(p) = self.node_pools.by_name.remove(n) {
                self.changes.push(super::events::Change::NodePoolDeleted(p));
            }
        }
        self.node_pools.index = index;
        ApplyResult::default()
    }

    /// Why pool `name` cannot be deleted now, if it cannot.
    pub fn node_pool_in_use(&self, name: &str) -> Option<String> {
        if NodePool::is_built_in(name) {
            return Some(format!(
                "deleting node pool {name:?} is not allowed: it is built in"
            ));
        }
        let nodes = self.nodes_in_pool(name).count();
        if nodes > 0 {
            return Some(format!(
                "node pool {name:?} still has {nodes} node(s): move them to another pool first"
            ));
        }
        let jobs = self.jobs_in_pool(name).filter(|j| !j.stop).count();
        (jobs > 0).then(|| {
            format!("node pool {name:?} still has {jobs} non-terminal job(s): stop them first")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Scenario: built-in pools always answer; a registering node creates its pool; a pool with a
    // node or a job cannot be deleted, an empty one can.
    #[test]
    fn built_ins_auto_creation_and_delete_rules() {
        let mut t = Tables::default();
        let names: Vec<String> = t.node_pools().iter().map(|p| p.name.clone()).collect();
        assert_eq!(names, ["all", "default"]);
        assert!(t
            .apply_node_pool_delete(2, &["default".into()])
            .error
            .is_some());
        let refused = t.apply_node_pool_upsert(
            3,
            &[NodePool {
                name: "all".into(),
                ..Default::default()
            }],
        );
        assert!(refused.error.unwrap().contains("not allowed"));

        t.ensure_node_pool(4, "gpu");
        assert_eq!(t.node_pool("gpu").unwrap().create_index, 4);
        t.nodes.insert(
            "n1".into(),
            Arc::new(api::Node {
                id: "n1".into(),
                node_pool: "gpu".into(),
                ..Default::default()
            }),
        );
        let why = t.apply_node_pool_delete(5, &["gpu".into()]).error.unwrap();
        assert!(why.contains("1 node"), "{why}");
        assert_eq!(t.nodes_in_pool("all").count(), 1);
        t.nodes.clear();
        t.jobs.insert(
            ("default".into(), "train".into()),
            Arc::new(api::Job {
                id: "train".into(),
                node_pool: "gpu".into(),
                ..Default::default()
            }),
        );
        let why = t.apply_node_pool_delete(6, &["gpu".into()]).error.unwrap();
        assert!(why.contains("1 non-terminal job"), "{why}");
        t.jobs.clear();
        assert!(t.apply_node_pool_delete(7, &["gpu".into()]).error.is_none());
        assert!(!t.node_pool_exists("gpu"));
    }
}
