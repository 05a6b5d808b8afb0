//! Choosing a node for one allocation: walks the job's node pool in a seeded shuffled order,
//! round-robin across placements, keeps the first few feasible nodes that fit (log2 of the pool for
//! service jobs, 2 for batch, as Nomad does) and takes the best scored. Node usage is read
//! lazily (the state keeps each node's sum) and updated with every planned stop and placement,
//! so one plan never overcommits a node.

use super::constraints::{resolve, Checker};
use super::feasible::{in_pool, GroupSpec, DISTINCT_HOSTS};
use super::fit::{cpu_capacity, disk_capacity, memory_capacity, NodeUsage};
use super::ids::{FastMap, Rng};
use super::metrics::{exhaust_node, filter_node, pool_metric};
use super::ports::assign_ports;
use super::rank;
use super::StateView;
use api::{AllocatedPort, Allocation, AllocationMetric, Job, Node};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Feas {
    Unknown,
    Ok,
    Filtered(usize),
}

/// A node picked for a placement.
#[derive(Debug)]
pub struct Choice {
    pub node: Arc<Node>,
    /// The node's final score (see rank.rs).
    pub score: f64,
    pub ports: Vec<AllocatedPort>,
    pub metric: AllocationMetric,
}

pub struct Placer<'a> {
    state: &'a dyn StateView,
    nodes: &'a [Arc<Node>],
    index: FastMap<&'a str, usize>,
    pub groups: Vec<GroupSpec<'a>>,
    pool: Vec<usize>,
    pooled: Vec<bool>,
    cursor: usize,
    limit: usize,
    usage: Vec<Option<NodeUsage>>,
    stopped: HashSet<String>,
    /// Stops planned on a node whose usage was not looked at yet: taken off when it is.
    pending_stops: FastMap<usize, Vec<Allocation>>,
    /// Per node: live and planned allocations of the job.
    job_counts: Vec<u32>,
    /// Per group, per node (sized on first use): live and planned allocations of the group.
    group_counts: Vec<Vec<u32>>,
    feas: Vec<Vec<Feas>>,
    reasons: Vec<String>,
    checker: Checker,
    base_metric: AllocationMetric,
    /// Per group with spreads, built on first use: each spread's view of the nodes.
    spread_state: Vec<Option<Vec<SpreadState>>>,
    /// Per group with affinities, per node (sized on first use): the affinity score, which no
    /// placement changes. Scored once per node rather than once per node and placement.
    affinity_cache: Vec<Vec<Option<Option<f64>>>>,
    pub rng: Rng,
}

/// One spread of one group: the attribute value of every node, as an index into the values,
/// and per value its desired share and how many of the group's allocations (live and planned)
/// it holds. Indexes, so that scoring a node does no string hashing.
struct SpreadState {
    value_of: Vec<Option<u32>>,
    desired: Vec<f64>,
    counts: Vec<u32>,
}

impl<'a> Placer<'a> {
    /// `job_allocs` are the job's allocations in the state (any status): the live ones count for
    /// anti-affinity and distinct_hosts.
    pub fn new(
        job: &'a Job,
        nodes: &'a [Arc<Node>],
        state: &'a dyn StateView,
        job_allocs: &[Arc<Allocation>],
        mut rng: Rng,
    ) -> Placer<'a> {
        let index: FastMap<&str, usize> = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.id.as_str(), i))
            .collect();
        let pooled: Vec<bool> = nodes.iter().map(|n| in_pool(job, n)).collect();
        let mut pool: Vec<usize> = (0..nodes.len()).filter(|i| pooled[*i]).collect();
        let base_metric = pool_metric(pool.iter().map(|i| nodes[*i].as_ref()));
        rng.shuffle(&mut pool);
        let limit = if job.job_type == api::JOB_TYPE_BATCH {
            2
        } else {
            (pool.len().max(1) as f64).log2().ceil().max(2.0) as usize
        };
        let groups: Vec<GroupSpec> = job
            .task_groups
            .iter()
            .map(|tg| GroupSpec::new(job, tg))
            .collect();
        let mut p = Placer {
            state,
            nodes,
            index,
            feas: vec![Vec::new(); groups.len()],
            groups,
            pool,
            pooled,
            cursor: 0,
            limit,
            usage: Vec::new(),
            stopped: HashSet::new(),
            pending_stops: FastMap::default(),
            job_counts: vec![0; nodes.len()],
            group_counts: vec![Vec::new(); job.task_groups.len()],
            reasons: Vec::new(),
            checker: Checker::default(),
            base_metric,
            spread_state: Vec::new(),
            affinity_cache: vec![Vec::new(); job.task_groups.len()],
            rng,
        };
        p.spread_state.resize_with(p.groups.len(), || None);
        p.usage.resize_with(nodes.len(), || None);
        for a in job_allocs.iter().filter(|a| !a.terminal()) {
            p.count(a, 1);
        }
        p
    }

    pub fn node_index(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    pub fn group_index(&self, name: &str) -> Option<usize> {
        self.groups.iter().position(|g| g.tg.name == name)
    }

    fn count(&mut self, a: &Allocation, delta: i32) {
        let (Some(n), Some(g)) = (self.node_index(&a.node_id), self.group_index(&a.task_group))
        else {
            return;
        };
        let apply = |v: &mut u32| *v = v.saturating_add_signed(delta);
        apply(&mut self.job_counts[n]);
        let per_node = &mut self.group_counts[g];
        if per_node.is_empty() {
            per_node.resize(self.nodes.len(), 0);
        }
        apply(&mut per_node[n]);
        if let Some(states) = self.spread_state.get_mut(g).and_then(Option::as_mut) {
            for s in states {
                if let Some(v) = s.value_of[n] {
                    if let Some(c) = s.counts.get_mut(v as usize) {
                        apply(c);
                    }
                }
            }
        }
    }

    /// The spreads' view of the nodes for group `g`, from the group's per-node counts.
    fn spread_states(&mut self, g: usize) -> &[SpreadState] {
        if self.spread_state[g].is_none() {
            let counts = &self.group_counts[g];
            let count = self.groups[g].count;
            let states = self.groups[g]
                .spreads
                .iter()
                .map(|s| {
                    let mut ids: HashMap<&str, u32> = HashMap::new();
                    let mut names: Vec<&str> = Vec::new();
                    let mut per_value: Vec<u32> = Vec::new();
                    let mut seen = HashSet::new();
                    let mut value_of = Vec::with_capacity(self.nodes.len());
                    for (i, n) in self.nodes.iter().enumerate() {
                        let Some(v) = resolve(&s.attribute, n) else {
                            value_of.push(None);
                            continue;
                        };
                        let id = *ids.entry(v).or_insert_with(|| {
                            names.push(v);
                            per_value.push(0);
                            (names.len() - 1) as u32
                        });
                        value_of.push(Some(id));
                        if self.pooled[i] {
                            seen.insert(id);
                        }
                        per_value[id as usize] += counts.get(i).copied().unwrap_or(0);
                    }
                    // Values among the nodes the job may use: an even spread shares the group
                    // over these.
                    let distinct = seen.len();
                    SpreadState {
                        value_of,
                        desired: names
                            .iter()
                            .map(|v| s.desired(v, count, distinct))
                            .collect(),
                        counts: per_value,
                    }
                })
                .collect();
            self.spread_state[g] = Some(states);
        }
        self.spread_state[g].as_deref().unwrap_or(&[])
    }

    /// Affinity and spread scores of node `idx` for group `g`; empty without either.
    fn preferences(&mut self, g: usize, idx: usize) -> [Option<f64>; 2] {
        // Most groups have neither: nothing on the placement path is touched for them.
        if self.groups[g].affinities.is_empty() && self.groups[g].spreads.is_empty() {
            return [None, None];
        }
        let affinity = self.affinity(g, idx);
        if self.groups[g].spreads.is_empty() {
            return [affinity, None];
        }
        let weights: Vec<f64> = self.groups[g]
            .spreads
            .iter()
            .map(|s| f64::from(s.weight))
            .collect();
        let states = self.spread_states(g);
        let (mut sum, mut total) = (0.0, 0.0);
        for (w, state) in weights.iter().zip(states) {
            let boost = match state.value_of[idx] {
                Some(v) => rank::spread_boost(
                    state.counts.get(v as usize).copied().unwrap_or(0),
                    state.desired.get(v as usize).copied(),
                ),
                None => rank::spread_boost(0, None),
            };
            sum += boost * w;
            total += w;
        }
        [affinity, (total > 0.0).then(|| sum / total)]
    }

    /// The affinity score of node `idx` for group `g`, computed on first use.
    fn affinity(&mut self, g: usize, idx: usize) -> Option<f64> {
        if self.groups[g].affinities.is_empty() {
            return None;
        }
        if self.affinity_cache[g].is_empty() {
            self.affinity_cache[g] = vec![None; self.nodes.len()];
        }
        if let Some(known) = self.affinity_cache[g][idx] {
            return known;
        }
        let node = self.nodes[idx].clone();
        let (mut matched, mut magnitude) = (0i32, 0i32);
        for (c, w) in &self.groups[g].affinities {
            magnitude += i32::from(*w).abs();
            if self.checker.check(c, &node) {
                matched += i32::from(*w);
            }
        }
        let score = rank::affinity(matched, magnitude);
        self.affinity_cache[g][idx] = Some(score);
        score
    }

    /// A live allocation stops in this plan: its resources are free for the placements that follow.
    pub fn mark_stopped(&mut self, a: &Allocation) {
        if a.terminal() || !self.stopped.insert(a.id.clone()) {
            return;
        }
        self.count(a, -1);
        let Some(n) = self.node_index(&a.node_id) else {
            return;
        };
        match self.usage[n].as_mut() {
            Some(u) => u.remove(a),
            None => self.pending_stops.entry(n).or_default().push(a.clone()),
        }
    }

    /// Undoes [`Placer::mark_stopped`] (a destructive update whose replacement found no node).
    pub fn unmark_stopped(&mut self, a: &Allocation) {
        if !self.stopped.remove(&a.id) {
            return;
        }
        self.count(a, 1);
        let Some(n) = self.node_index(&a.node_id) else {
            return;
        };
        match self.usage[n].as_mut() {
            Some(u) => u.add(a),
            None => {
                if let Some(pending) = self.pending_stops.get_mut(&n) {
                    pending.retain(|p| p.id != a.id);
                }
            }
        }
    }

    /// Records a planned allocation on its node.
    pub fn commit(&mut self, a: &Allocation) {
        self.count(a, 1);
        if let Some(n) = self.node_index(&a.node_id) {
            self.usage_of(n).add(a);
        }
    }

    fn usage_of(&mut self, n: usize) -> &mut NodeUsage {
        if self.usage[n].is_none() {
            // What the node's live allocations use (the state keeps it summed), less what this
            // plan stops there.
            let mut u = self.state.node_usage(&self.nodes[n]);
            for a in self.pending_stops.remove(&n).unwrap_or_default() {
                u.remove(&a);
            }
            self.usage[n] = Some(u);
        }
        self.usage[n].get_or_insert_with(NodeUsage::default)
    }

    /// Whether node `n` may take new work of the job (ready, right datacenter and node pool).
    pub fn in_pool(&self, n: usize) -> bool {
        self.pooled.get(n).copied().unwrap_or(false)
    }

    /// Picks a node for one allocation of group `g`. On failure returns the metric of a full scan.
    /// `penalty_node` is the node a failed allocation is rescheduled away from.
    pub fn select(
        &mut self,
        g: usize,
        penalty_node: Option<&str>,
    ) -> Result<Choice, Box<AllocationMetric>> {
        let mut metric = self.base_metric.clone();
        let n = self.pool.len();
        let mut best: Option<(f64, usize, Vec<AllocatedPort>)> = None;
        let mut found = 0;
        // With preferences every candidate must be scored, as Nomad does: the first few that
        // fit are not the best placed.
        let spec = &self.groups[g];
        let limit = if spec.affinities.is_empty() && spec.spreads.is_empty() {
            self.limit
        } else {
            n
        };
        for _ in 0..n {
            let idx = self.pool[self.cursor];
            self.cursor = (self.cursor + 1) % n;
            metric.nodes_evaluated += 1;
            let penalty = penalty_node.is_some_and(|p| p == self.nodes[idx].id);
            if let Some((score, ports)) = self.evaluate(g, idx, penalty, &mut metric) {
                found += 1;
                if best.as_ref().is_none_or(|(s, _, _)| score > *s) {
                    best = Some((score, idx, ports));
                }
                if found >= limit {
                    break;
                }
            }
        }
        match best {
            Some((score, idx, ports)) => Ok(Choice {
                node: self.nodes[idx].clone(),
                score,
                ports,
                metric,
            }),
            None => Err(Box::new(metric)),
        }
    }

    /// Picks `preferred` when it can take the allocation (ready, in the job's pool, feasible, with
    /// room), else the best node as [`Placer::select`] finds it. For `ephemeral_disk { sticky }`:
    /// a replacement stays with its data when it can.
    pub fn select_preferring(
        &mut self,
        g: usize,
        preferred: &str,
    ) -> Result<Choice, Box<AllocationMetric>> {
        if let Some(idx) = self.index.get(preferred).copied() {
            if self.in_pool(idx) {
                if let Ok(choice) = self.select_node(g, idx) {
                    return Ok(choice);
                }
            }
        }
        self.select(g, None)
    }

    /// Checks one specific node for group `g` (the system scheduler's way). The caller checks
    /// [`Placer::in_pool`] first.
    pub fn select_node(&mut self, g: usize, idx: usize) -> Result<Choice, Box<AllocationMetric>> {
        let mut metric = self.base_metric.clone();
        metric.nodes_evaluated += 1;
        match self.evaluate(g, idx, false, &mut metric) {
            Some((score, ports)) => Ok(Choice {
                node: self.nodes[idx].clone(),
                score,
                ports,
                metric,
            }),
            None => Err(Box::new(metric)),
        }
    }

    /// Static feasibility of node `idx` for group `g`, cached. Err is the filter reason.
    pub fn feasible(&mut self, g: usize, idx: usize) -> Result<(), &str> {
        if self.feas[g].is_empty() {
            self.feas[g] = vec![Feas::Unknown; self.nodes.len()];
        }
        if self.feas[g][idx] == Feas::Unknown {
            let verdict = match self.groups[g].check_node(&self.nodes[idx], &mut self.checker) {
                Ok(()) => Feas::Ok,
                Err(why) => {
                    let reason = why.to_string();
                    let pos = match self.reasons.iter().position(|r| *r == reason) {
                        Some(p) => p,
                        None => {
                            self.reasons.push(reason);
                            self.reasons.len() - 1
                        }
                    };
                    Feas::Filtered(pos)
                }
            };
            self.feas[g][idx] = verdict;
        }
        match self.feas[g][idx] {
            Feas::Filtered(r) => Err(&self.reasons[r]),
            _ => Ok(()),
        }
    }

    fn evaluate(
        &mut self,
        g: usize,
        idx: usize,
        penalty: bool,
        metric: &mut AllocationMetric,
    ) -> Option<(f64, Vec<AllocatedPort>)> {
        let node = self.nodes[idx].clone();
        if let Err(reason) = self.feasible(g, idx) {
            filter_node(metric, &node, reason);
            return None;
        }
        let spec = &self.groups[g];
        let job_here = self.job_counts[idx];
        let group_here = self.group_counts[g].get(idx).copied().unwrap_or(0);
        if (spec.distinct_hosts_job && job_here > 0)
            || (spec.distinct_hosts_group && group_here > 0)
        {
            filter_node(metric, &node, DISTINCT_HOSTS);
            return None;
        }
        let (cpu, mem, disk, wants_ports, count) = (
            spec.cpu,
            spec.memory_mb,
            spec.disk_mb,
            spec.wants_ports,
            spec.count,
        );
        let cpu_total = cpu_capacity(&node);
        let mem_total = memory_capacity(&node);
        let usage = self.usage_of(idx);
        let cpu_after = usage.cpu + cpu;
        let mem_after = usage.memory_mb + mem;
        if cpu_after > cpu_total {
            exhaust_node(metric, &node, "cpu");
            return None;
        }
        if mem_after > mem_total {
            exhaust_node(metric, &node, "memory");
            return None;
        }
        if usage.disk_mb + disk > disk_capacity(&node) {
            exhaust_node(metric, &node, "disk");
            return None;
        }
        let mut ports = Vec::new();
        if wants_ports {
            // Split borrows: the usage lives in self.usage, the RNG in self.rng.
            let used = match &self.usage[idx] {
                Some(u) => &u.ports,
                None => return None,
            };
            match assign_ports(self.groups[g].tg, &node, used, &mut self.rng) {
                Ok(p) => ports = p,
                Err(dim) => {
                    exhaust_node(metric, &node, &dim);
                    return None;
                }
            }
        }
        let preferences = self.preferences(g, idx);
        let score = rank::combine(
            rank::binpack(cpu_after, cpu_total, mem_after, mem_total),
            rank::anti_affinity(group_here, count),
            penalty,
            &preferences,
        );
        Some((score, ports))
    }
}
