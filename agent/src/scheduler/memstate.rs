//! A plain in-memory [`StateView`]: for tests, benchmarks and tools that schedule without a store.

use super::StateView;
use api::{Allocation, Deployment, Job, Node};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

#[derive(Debug, Default, Clone)]
pub struct MemState {
    nodes: BTreeMap<String, Arc<Node>>,
    jobs: HashMap<(String, String), Arc<Job>>,
    allocs: BTreeMap<String, Arc<Allocation>>,
    by_node: HashMap<String, Vec<String>>,
    by_job: HashMap<(String, String), Vec<String>>,
    /// (namespace, job) -> its newest deployment.
    deployments: HashMap<(String, String), Arc<Deployment>>,
}

impl MemState {
    pub fn new() -> MemState {
        MemState::default()
    }

    pub fn upsert_node(&mut self, n: Node) {
        self.nodes.insert(n.id.clone(), Arc::new(n));
    }

    pub fn upsert_job(&mut self, j: Job) {
        self.jobs
            .insert((j.namespace.clone(), j.id.clone()), Arc::new(j));
    }

    pub fn remove_job(&mut self, namespace: &str, id: &str) {
        self.jobs.remove(&(namespace.to_string(), id.to_string()));
    }

    /// Inserts or replaces an allocation (matched by id), keeping the indexes in step.
    pub fn upsert_alloc(&mut self, a: Allocation) {
        if !self.allocs.contains_key(&a.id) {
            self.by_node
                .entry(a.node_id.clone())
                .or_default()
                .push(a.id.clone());
            self.by_job
                .entry((a.namespace.clone(), a.job_id.clone()))
                .or_default()
                .push(a.id.clone());
        }
        self.allocs.insert(a.id.clone(), Arc::new(a));
    }

    /// Makes `d` its job's newest deployment.
    pub fn upsert_deployment(&mut self, d: Deployment) {
        self.deployments
            .insert((d.namespace.clone(), d.job_id.clone()), Arc::new(d));
    }

    pub fn alloc(&self, id: &str) -> Option<Arc<Allocation>> {
        self.allocs.get(id).cloned()
    }

    fn collect(&self, ids: Option<&Vec<String>>) -> Vec<Arc<Allocation>> {
        ids.map(|ids| {
            ids.iter()
                .filter_map(|id| self.allocs.get(id).cloned())
                .collect()
        })
        .unwrap_or_default()
    }
}

impl StateView for MemState {
    fn nodes(&self) -> Vec<Arc<Node>> {
        self.nodes.values().cloned().collect()
    }
    fn node(&self, id: &str) -> Option<Arc<Node>> {
        self.nodes.get(id).cloned()
    }
    fn job(&self, namespace: &str, id: &str) -> Option<Arc<Job>> {
        self.jobs
            .get(&(namespace.to_string(), id.to_string()))
            .cloned()
    }
    fn allocs_by_job(&self, namespace: &str, job_id: &str) -> Vec<Arc<Allocation>> {
        self.collect(
            self.by_job
                .get(&(namespace.to_string(), job_id.to_string())),
        )
    }
    fn allocs_by_node(&self, node_id: &str) -> Vec<Arc<Allocation>> {
        self.collect(self.by_node.get(node_id))
    }
    fn latest_deployment(&self, namespace: &str, job_id: &str) -> Option<Arc<Deployment>> {
        self.deployments
            .get(&(namespace.to_string(), job_id.to_string()))
            .cloned()
    }
}
