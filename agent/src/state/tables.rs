//! The in-memory tables. Persistent maps (imbl) share structure, so cloning `Tables` is the
//! point-in-time snapshot schedulers and blocking queries read from.

use super::alloc_tally::JobTally;
use super::events::Change;
use super::id_key::IdKey;
use api::alloc_jobs::same_version;
use api::{Allocation, Deployment, Evaluation, Job, Node, ServiceRegistration};
use imbl::{OrdMap, OrdSet};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// (namespace, job id)
pub type JobKey = (String, String);

/// A job's scaling events, per group, newest first.
pub type GroupScalingEvents = BTreeMap<String, Vec<api::ScalingEvent>>;

/// Allocations by id: a secondary index of [`Tables`].
pub type AllocsById = OrdMap<IdKey, Arc<Allocation>>;

/// Nomad keeps this many old versions of a job.
pub const JOB_TRACKED_VERSIONS: usize = 6;

/// Which table a blocking query waits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Jobs,
    Nodes,
    Allocs,
    Evals,
    Services,
    Deployments,
    Namespaces,
    Variables,
    NodePools,
}

#[derive(Clone, Default)]
pub struct Tables {
    /// Index of the last applied command.
    pub index: u64,
    pub(crate) jobs: OrdMap<JobKey, Arc<Job>>,
    /// (namespace, id) -> version -> job
    pub(crate) job_versions: OrdMap<JobKey, OrdMap<u64, Arc<Job>>>,
    pub(crate) nodes: OrdMap<String, Arc<Node>>,
    pub(crate) allocs: OrdMap<IdKey, Arc<Allocation>>,
    /// The allocations of each job and of each node, by id. They hold the allocations
    /// themselves, not ids: a job's ten thousand allocations are read without ten thousand
    /// lookups in `allocs` (summaries, the deployment watcher and the scheduler read them often).
    pub(crate) allocs_by_job: OrdMap<JobKey, AllocsById>,
    pub(crate) allocs_by_node: OrdMap<IdKey, AllocsById>,
    /// Counts over each job's allocations (see alloc_tally.rs).
    pub(crate) alloc_tallies: OrdMap<JobKey, Arc<JobTally>>,
    /// What each node's live allocations use (see node_tally.rs).
    pub(crate) node_tallies: OrdMap<IdKey, Arc<super::node_tally::NodeTally>>,
    /// Node id -> index of the last change to its allocations (see `node_allocs_index`).
    pub(crate) alloc_index_by_node: OrdMap<IdKey, u64>,
    pub(crate) evals: OrdMap<String, Arc<Evaluation>>,
    pub(crate) evals_by_job: OrdMap<JobKey, OrdSet<String>>,
    /// The service catalog: registration id -> registration (see services.rs).
    pub(crate) services: OrdMap<String, Arc<ServiceRegistration>>,
    /// (namespace, service name) -> registration ids.
    pub(crate) services_by_name: OrdMap<(String, String), OrdSet<String>>,
    pub(crate) services_by_alloc: OrdMap<String, OrdSet<String>>,
    pub(crate) services_by_node: OrdMap<String, OrdSet<String>>,
    /// Rollouts (see deployments.rs): id -> deployment, and a job's deployment ids.
    pub(crate) deployments: OrdMap<String, Arc<Deployment>>,
    pub(crate) deployments_by_job: OrdMap<JobKey, OrdSet<String>>,
    /// Node id -> SHA-256 (hex) of the node's secret. Apart from `nodes`, so that no answer
    /// that shows a node can carry it.
    pub(crate) node_secrets: OrdMap<String, String>,
    /// ACL policies and tokens (see acl.rs).
    pub(crate) acl: super::acl::AclTables,
    pub(crate) namespaces: super::namespaces::NamespaceTable,
    pub(crate) node_pools: super::node_pools::NodePoolTable,
    /// Nomad Variables, sealed, and the keyring's key metadata (see variables.rs).
    pub(crate) variables: super::variables::VariableTable,
    /// Each job's scaling events, per group, newest first.
    pub(crate) scaling_events: OrdMap<JobKey, Arc<GroupScalingEvents>>,
    /// Periodic parents and launched children (see job_family.rs).
    pub(crate) families: super::job_family::JobFamilies,
    pub(crate) jobs_index: u64,
    pub(crate) nodes_index: u64,
    pub(crate) allocs_index: u64,
    pub(crate) evals_index: u64,
    pub(crate) services_index: u64,
    pub(crate) deployments_index: u64,
    /// What the command being applied changed, for the event stream (taken after each apply).
    pub(crate) changes: Vec<Change>,
    /// Nodes whose allocations the command being applied changed, to wake their clients'
    /// queries (taken after each apply; repeats allowed).
    pub(crate) alloc_nodes_touched: Vec<String>,
}

/// How many objects each main table holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableSizes {
    pub jobs: usize,
    pub nodes: usize,
    pub allocs: usize,
    pub evals: usize,
}

impl Tables {
    /// The tables' sizes, without walking them.
    pub fn sizes(&self) -> TableSizes {
        TableSizes {
            jobs: self.jobs.len(),
            nodes: self.nodes.len(),
            allocs: self.allocs.len(),
            evals: self.evals.len(),
        }
    }

    pub fn table_index(&self, t: Table) -> u64 {
        match t {
            Table::Jobs => self.jobs_index,
            Table::Nodes => self.nodes_index,
            Table::Allocs => self.allocs_index,
            Table::Evals => self.evals_index,
            Table::Services => self.services_index,
            Table::Deployments => self.deployments_index,
            Table::Namespaces => self.namespaces.index,
            Table::Variables => self.variables.index,
            Table::NodePools => self.node_pools.index,
        }
    }

    pub fn job(&self, ns: &str, id: &str) -> Option<Arc<Job>> {
        self.jobs.get(&(ns.to_string(), id.to_string())).cloned()
    }

    pub fn jobs(&self) -> impl Iterator<Item = &Arc<Job>> {
        self.jobs.values()
    }

    /// Versions of a job, newest first.
    pub fn job_versions(&self, ns: &str, id: &str) -> Vec<Arc<Job>> {
        self.job_versions
            .get(&(ns.to_string(), id.to_string()))
            .map(|m| m.values().rev().cloned().collect())
            .unwrap_or_default()
    }

    /// One version of a job, while the state tracks it.
    pub fn job_version(&self, ns: &str, id: &str, version: u64) -> Option<Arc<Job>> {
        self.job_version_of(&(ns.to_string(), id.to_string()), version)
    }

    fn job_version_of(&self, key: &JobKey, version: u64) -> Option<Arc<Job>> {
        match self.jobs.get(key) {
            Some(j) if j.version == version => Some(j.clone()),
            _ => self.job_versions.get(key)?.get(&version).cloned(),
        }
    }

    pub fn node(&self, id: &str) -> Option<Arc<Node>> {
        self.nodes.get(id).cloned()
    }

    pub fn nodes(&self) -> impl Iterator<Item = &Arc<Node>> {
        self.nodes.values()
    }

    pub fn alloc(&self, id: &str) -> Option<Arc<Allocation>> {
        self.allocs.get(&IdKey::new(id)).cloned()
    }

    pub fn allocs(&self) -> impl Iterator<Item = &Arc<Allocation>> {
        self.allocs.values()
    }

    /// Allocations in id order, from the first whose id is at least `start`.
    pub fn allocs_from<'a>(&'a self, start: &str) -> impl Iterator<Item = &'a Arc<Allocation>> {
        self.allocs.range(IdKey::new(start)..).map(|(_, a)| a)
    }

    /// Counts over a job's allocations (none when it has none).
    pub fn alloc_tally(&self, ns: &str, job: &str) -> Option<&JobTally> {
        self.alloc_tallies
            .get(&(ns.to_string(), job.to_string()))
            .map(|t| &**t)
    }

    pub fn allocs_for_job(&self, ns: &str, job: &str) -> Vec<Arc<Allocation>> {
        self.allocs_by_job
            .get(&(ns.to_string(), job.to_string()))
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// The index of the last change the servers made to the allocations of `node`: one placed,
    /// stopped, promoted or garbage-collected there. A client's allocation query waits on it.
    pub fn node_allocs_index(&self, node: &str) -> u64 {
        self.alloc_index_by_node
            .get(&IdKey::new(node))
            .copied()
            .unwrap_or(0)
    }

    pub(crate) fn touch_node_allocs(&mut self, node: &str, index: u64) {
        let key = IdKey::new(node);
        if self
            .alloc_index_by_node
            .get(&key)
            .is_none_or(|known| *known < index)
        {
            self.alloc_index_by_node.insert(key, index);
            self.alloc_nodes_touched.push(node.to_string());
        }
    }

    /// The allocations of `node`, without collecting them.
    pub fn allocs_by_node<'a>(&'a self, node: &str) -> impl Iterator<Item = &'a Arc<Allocation>> {
        self.allocs_by_node
            .get(&IdKey::new(node))
            .into_iter()
            .flat_map(|m| m.values())
    }

    pub fn allocs_for_node(&self, node: &str) -> Vec<Arc<Allocation>> {
        self.allocs_by_node(node).cloned().collect()
    }

    pub fn eval(&self, id: &str) -> Option<Arc<Evaluation>> {
        self.evals.get(id).cloned()
    }

    pub fn evals(&self) -> impl Iterator<Item = &Arc<Evaluation>> {
        self.evals.values()
    }

    pub fn evals_for_job(&self, ns: &str, job: &str) -> Vec<Arc<Evaluation>> {
        self.evals_by_job
            .get(&(ns.to_string(), job.to_string()))
            .map(|ids| {
                ids.iter()
                    .filter_map(|id| self.evals.get(id).cloned())
                    .collect()
            })
            .unwrap_or_default()
    }

    // --- writers, used only by the state machine (apply.rs) ---

    pub(crate) fn put_alloc(&mut self, mut alloc: Allocation) {
        let key = (alloc.namespace.clone(), alloc.job_id.clone());
        // Every allocation of a job version points at the state's one copy of it.
        if let Some(job) = alloc.job.as_ref() {
            if let Some(shared) = self
                .job_version_of(&key, job.version)
                .filter(|s| !Arc::ptr_eq(s, job) && same_version(s, job))
            {
                alloc.job = Some(shared);
            }
        }
        // What the servers decided (placed, stopped, promoted) is news to the node; its own
        // reports, which leave `alloc_modify_index` alone, are not, and do not wake its query.
        self.touch_node_allocs(&alloc.node_id, alloc.alloc_modify_index);
        self.share_with_siblings(&key, &mut alloc);
        let node = IdKey::new(&alloc.node_id);
        let id = IdKey::new(&alloc.id);
        let alloc = Arc::new(alloc);
        // The value it replaces leaves the job's counts as the new one enters them.
        let replaced = self.allocs.insert(id.clone(), alloc.clone());
        let tally = Arc::make_mut(self.alloc_tallies.entry(key.clone()).or_default());
        if let Some(old) = &replaced {
            tally.count(old, -1);
        }
        tally.count(&alloc, 1);
        if let Some(old) = &replaced {
            self.count_on_node(old, -1);
        }
        self.count_on_node(&alloc, 1);
        self.allocs_by_job
            .entry(key)
            .or_default()
            .insert(id.clone(), alloc.clone());
        self.allocs_by_node
            .entry(node)
            .or_default()
            .insert(id, alloc.clone());
        self.changes.push(Change::Alloc(alloc));
    }

    /// Adds or takes away what `a` uses from its node's tally; a tally that reaches zero goes.
    fn count_on_node(&mut self, a: &Allocation, sign: i64) {
        if a.terminal() {
            return;
        }
        let key = IdKey::new(&a.node_id);
        let tally = Arc::make_mut(self.node_tallies.entry(key.clone()).or_default());
        tally.count(a, sign);
        if tally.is_empty() {
            self.node_tallies.remove(&key);
        }
    }

    /// What the live allocations of `node` use (none: nothing).
    pub fn node_tally(&self, node: &str) -> Option<&super::node_tally::NodeTally> {
        self.node_tallies.get(&IdKey::new(node)).map(|t| &**t)
    }

    /// The allocations of a group mostly have equal resources and placement metrics: an
    /// allocation takes the copy of a neighbour (by id, in its job) when equal, so that a job's
    /// ten thousand allocations hold a handful of them, not ten thousand.
    fn share_with_siblings(&self, key: &JobKey, alloc: &mut Allocation) {
        let Some(siblings) = self.allocs_by_job.get(key) else {
            return;
        };
        let id = IdKey::new(&alloc.id);
        let near = siblings
            .get_prev(&id)
            .into_iter()
            .chain(siblings.get_next(&id));
        for (_, s) in near {
            let (mine, theirs) = (&alloc.allocated_resources, &s.allocated_resources);
            if !Arc::ptr_eq(mine, theirs) && mine == theirs {
                alloc.allocated_resources = theirs.clone();
            }
            if let (Some(mine), Some(theirs)) = (&alloc.metrics, &s.metrics) {
                if !Arc::ptr_eq(mine, theirs) && mine == theirs {
                    alloc.metrics = Some(theirs.clone());
                }
            }
        }
    }

    pub(crate) fn put_eval(&mut self, eval: Evaluation) -> Arc<Evaluation> {
        let key = (eval.namespace.clone(), eval.job_id.clone());
        self.evals_by_job
            .entry(key)
            .or_default()
            .insert(eval.id.clone());
        let eval = Arc::new(eval);
        self.evals.insert(eval.id.clone(), eval.clone());
        self.changes.push(Change::Eval(eval.clone()));
        eval
    }

    /// Serialisable form, for snapshots on disk.
    pub fn to_image(&self) -> TablesImage {
        // Allocations are written without their job, resources and metrics; each of those they
        // share is written once.
        let (mut jobs, mut resources, mut metrics) = (
            Distinct::default(),
            Distinct::default(),
            Distinct::default(),
        );
        let n = self.allocs.len();
        let (mut alloc_job_of, mut alloc_resources_of, mut alloc_metrics_of) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for a in self.allocs.values() {
            alloc_job_of.push(jobs.position(a.job.as_ref()));
            alloc_resources_of.push(resources.position(Some(&a.allocated_resources)));
            alloc_metrics_of.push(metrics.position(a.metrics.as_ref()));
        }
        TablesImage {
            alloc_jobs: jobs.values,
            alloc_job_of,
            alloc_resources: resources.values,
            alloc_resources_of,
            alloc_metrics: metrics.values,
            alloc_metrics_of,
            index: self.index,
            jobs: self.jobs.values().cloned().collect(),
            job_versions: self
                .job_versions
                .values()
                .flat_map(|m| m.values().cloned())
                .collect(),
            nodes: self.nodes.values().cloned().collect(),
            allocs: self.allocs.values().cloned().collect(),
            evals: self.evals.values().cloned().collect(),
            indexes: [
                self.jobs_index,
                self.nodes_index,
                self.allocs_index,
                self.evals_index,
            ],
            services: self.services.values().cloned().collect(),
            services_index: self.services_index,
            deployments: self.deployments.values().cloned().collect(),
            deployments_index: self.deployments_index,
            node_secrets: self
                .node_secrets
                .iter()
                .map(|(id, hash)| (id.clone(), hash.clone()))
                .collect(),
            acl: self.acl.to_image(),
            namespaces: self.namespaces.by_name.values().cloned().collect(),
            namespaces_index: self.namespaces.index,
            scaling_events: self
                .scaling_events
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            variables: self.variables.by_key.values().cloned().collect(),
            root_keys: self.variables.root_keys.values().cloned().collect(),
            variables_index: self.variables.index,
            node_pools: self.node_pools.by_name.values().cloned().collect(),
            node_pools_index: self.node_pools.index,
        }
    }

    /// The hash of a node's secret, once the node registered with one.
    pub fn node_secret_hash(&self, node_id: &str) -> Option<&str> {
        self.node_secrets.get(node_id).map(String::as_str)
    }

    pub fn from_image(img: TablesImage) -> Tables {
        let mut t = Tables {
            index: img.index,
            jobs_index: img.indexes[0],
            nodes_index: img.indexes[1],
            allocs_index: img.indexes[2],
            evals_index: img.indexes[3],
            services_index: img.services_index,
            deployments_index: img.deployments_index,
            node_secrets: img.node_secrets.into_iter().collect(),
            acl: super::acl::AclTables::from_image(img.acl),
            namespaces: super::namespaces::NamespaceTable {
                by_name: img
                    .namespaces
                    .into_iter()
                    .map(|n| (n.name.clone(), n))
                    .collect(),
                index: img.namespaces_index,
            },
            node_pools: super::node_pools::NodePoolTable {
                by_name: img
                    .node_pools
                    .into_iter()
                    .map(|p| (p.name.clone(), p))
                    .collect(),
                index: img.node_pools_index,
            },
            scaling_events: img.scaling_events.into_iter().collect(),
            variables: super::variables::VariableTable {
                by_key: img.variables.into_iter().map(|v| (v.key(), v)).collect(),
                root_keys: img
                    .root_keys
                    .into_iter()
                    .map(|k| (k.key_id.clone(), k))
                    .collect(),
                index: img.variables_index,
            },
            ..Default::default()
        };
        for j in img.jobs {
            t.families.add(&j);
            t.jobs.insert((j.namespace.clone(), j.id.clone()), j);
        }
        for j in img.job_versions {
            t.job_versions
                .entry((j.namespace.clone(), j.id.clone()))
                .or_default()
                .insert(j.version, j);
        }
        for n in img.nodes {
            t.nodes.insert(n.id.clone(), n);
        }
        for (i, a) in img.allocs.into_iter().enumerate() {
            let mut a = Arc::unwrap_or_clone(a);
            if a.job.is_none() {
                a.job = shared(&img.alloc_jobs, &img.alloc_job_of, i);
            }
            if let Some(r) = shared(&img.alloc_resources, &img.alloc_resources_of, i) {
                a.allocated_resources = r;
            }
            if a.metrics.is_none() {
                a.metrics = shared(&img.alloc_metrics, &img.alloc_metrics_of, i);
            }
            t.put_alloc(a);
        }
        for e in img.evals {
            t.put_eval(Arc::unwrap_or_clone(e));
        }
        for r in img.services {
            t.put_service(Arc::unwrap_or_clone(r));
        }
        for d in img.deployments {
            t.deployments_by_job
                .entry((d.namespace.clone(), d.job_id.clone()))
                .or_default()
                .insert(d.id.clone());
            t.deployments.insert(d.id.clone(), d);
        }
        t
    }
}

/// The tables as one serialisable value. It shares the objects with the tables it was taken
/// from (an `Arc` encodes as what it points to), so taking one copies no job or allocation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TablesImage {
    pub index: u64,
    pub jobs: Vec<Arc<Job>>,
    pub job_versions: Vec<Arc<Job>>,
    pub nodes: Vec<Arc<Node>>,
    /// Written without their jobs, resources and metrics (see `alloc_jobs`, `alloc_resources`
    /// and `alloc_metrics`); images written before embed them.
    #[serde(serialize_with = "serialize_stubs")]
    pub allocs: Vec<Arc<Allocation>>,
    pub evals: Vec<Arc<Evaluation>>,
    pub indexes: [u64; 4],
    /// Added with the service catalog: images written before it have none.
    #[serde(default)]
    pub services: Vec<Arc<ServiceRegistration>>,
    #[serde(default)]
    pub services_index: u64,
    #[serde(default)]
    pub deployments: Vec<Arc<Deployment>>,
    #[serde(default)]
    pub deployments_index: u64,
    /// Added with node identity.
    #[serde(default)]
    pub node_secrets: Vec<(String, String)>,
    /// Added with ACLs.
    #[serde(default)]
    pub acl: super::acl::AclImage,
    /// Each job version the allocations run, once.
    #[serde(default)]
    pub alloc_jobs: Vec<Arc<Job>>,
    /// For each allocation, its job's position in `alloc_jobs` (`NO_SHARED`: none).
    #[serde(default)]
    pub alloc_job_of: Vec<u32>,
    /// Each allocation's resources and placement metrics, once per value the allocations share
    /// (a plan's placements share them), and for each allocation its position. Images written
    /// before embed them in every allocation: decoding those made a million copies that the
    /// state then shared again one by one.
    #[serde(default)]
    pub alloc_resources: Vec<Arc<api::AllocatedResources>>,
    #[serde(default)]
    pub alloc_resources_of: Vec<u32>,
    #[serde(default)]
    pub alloc_metrics: Vec<Arc<api::AllocationMetric>>,
    #[serde(default)]
    pub alloc_metrics_of: Vec<u32>,
    /// Added with namespaces.
    #[serde(default)]
    pub namespaces: Vec<Arc<api::namespace::Namespace>>,
    #[serde(default)]
    pub namespaces_index: u64,
    /// Added with `job scale`.
    #[serde(default)]
    pub scaling_events: Vec<(JobKey, Arc<GroupScalingEvents>)>,
    /// Added with Nomad Variables: sealed variables and key metadata, never the keys.
    #[serde(default)]
    pub variables: Vec<Arc<super::variables::EncryptedVariable>>,
    #[serde(default)]
    pub root_keys: Vec<super::variables::RootKeyMeta>,
    #[serde(default)]
    pub variables_index: u64,
    /// Added with node pools: the pools operators or nodes created (never the built-in ones).
    #[serde(default)]
    pub node_pools: Vec<Arc<api::node_pool::NodePool>>,
    #[serde(default)]
    pub node_pools_index: u64,
}

/// No shared value: an allocation without a job or metrics.
const NO_SHARED: u32 = u32::MAX;

/// The distinct values a table's rows point at, in the order first met, and where each is.
struct Distinct<T> {
    values: Vec<Arc<T>>,
    positions: HashMap<*const T, u32>,
}

impl<T> Default for Distinct<T> {
    fn default() -> Self {
        Distinct {
            values: Vec::new(),
            positions: HashMap::new(),
        }
    }
}

impl<T> Distinct<T> {
    /// The position of `v` (added if new); `NO_SHARED` for none.
    fn position(&mut self, v: Option<&Arc<T>>) -> u32 {
        let Some(v) = v else { return NO_SHARED };
        let Distinct { values, positions } = self;
        *positions.entry(Arc::as_ptr(v)).or_insert_with(|| {
            values.push(v.clone());
            u32::try_from(values.len() - 1).unwrap_or(NO_SHARED)
        })
    }
}

/// Row `i`'s value out of an image's distinct values, if it has one.
fn shared<T>(values: &[Arc<T>], of: &[u32], i: usize) -> Option<Arc<T>> {
    let at = of.get(i).copied().filter(|&p| p != NO_SHARED)?;
    values.get(usize::try_from(at).ok()?).cloned()
}

/// The resources written in place of each allocation's own (see `alloc_resources`).
static NO_RESOURCES: std::sync::LazyLock<Arc<api::AllocatedResources>> =
    std::sync::LazyLock::new(Arc::default);

/// One allocation at a time is copied without its job, resources and metrics (written once
/// each, apart), so that writing an image never holds a second copy of the allocation table.
fn serialize_stubs<S: serde::Serializer>(
    allocs: &[Arc<Allocation>],
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_seq(allocs.iter().map(|a| Allocation {
        allocated_resources: NO_RESOURCES.clone(),
        metrics: None,
        ..a.stub()
    }))
}
