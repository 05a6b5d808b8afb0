//! Feasibility of a node for a task group that does not depend on other placements: the node is
//! ready, in one of the job's datacenters and its node pool, has every driver healthy, and meets every constraint of
//! the job, the group and its tasks. Evaluated once per (group, node) and cached by the placer.

use super::constraints::{datacenter_matches, Checker, OP_DISTINCT_HOSTS, OP_DISTINCT_PROPERTY};
use api::{Constraint, Job, Node, Spread, TaskGroup};

/// The key Nomad records in `ConstraintFiltered` for a node without a needed driver.
pub const MISSING_DRIVERS: &str = "missing drivers";

/// Why a node cannot take a group at all, whatever else runs there; shown to the operator as the
/// key of `ConstraintFiltered`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotFeasible {
    /// A driver the group's tasks use is not detected and healthy on the node.
    #[error("{}", MISSING_DRIVERS)]
    MissingDrivers,
    /// A host volume the group asks for is not on the node, or only read-only where the group
    /// writes.
    #[error("missing compatible host volumes")]
    HostVolumes,
    /// The first constraint the node fails, as written in the job.
    #[error("{0}")]
    Constraint(String),
}
pub const DISTINCT_HOSTS: &str = "distinct_hosts";

/// Whether new work of this job may go to the node at all (not counted as evaluated otherwise).
pub fn in_pool(job: &Job, node: &Node) -> bool {
    node.ready() && in_job_nodes(job, node)
}

/// Whether the node is one the job may use at all: one of its datacenters, in its node pool.
pub fn in_job_nodes(job: &Job, node: &Node) -> bool {
    datacenter_matches(&job.datacenters, &node.datacenter)
        && api::node_pool::pool_admits(&job.node_pool, &node.node_pool)
}

/// What one task group asks of a node, gathered once per evaluation.
#[derive(Debug)]
pub struct GroupSpec<'j> {
    pub tg: &'j TaskGroup,
    pub drivers: Vec<&'j str>,
    /// Job, group and task constraints, in that order, without the distinct_* ones.
    pub constraints: Vec<&'j Constraint>,
    /// `distinct_hosts` at job level: at most one allocation of the job per node.
    pub distinct_hosts_job: bool,
    /// `distinct_hosts` at group or task level: at most one allocation of the group per node.
    pub distinct_hosts_group: bool,
    pub cpu: i64,
    pub memory_mb: i64,
    pub disk_mb: i64,
    pub wants_ports: bool,
    pub count: u32,
    /// Job, group and task affinities, as constraints with their weight.
    pub affinities: Vec<(Constraint, i8)>,
    /// Job and group spreads.
    pub spreads: Vec<&'j Spread>,
    /// Host volumes by source, and whether the group writes to it.
    pub host_volumes: Vec<(&'j str, bool)>,
}

impl<'j> GroupSpec<'j> {
    pub fn new(job: &'j Job, tg: &'j TaskGroup) -> GroupSpec<'j> {
        let mut drivers: Vec<&str> = Vec::new();
        for t in &tg.tasks {
            if !drivers.contains(&t.driver.as_str()) {
                drivers.push(&t.driver);
            }
        }
        let is_distinct = |c: &Constraint| {
            c.operand == OP_DISTINCT_HOSTS && !c.r_target.eq_ignore_ascii_case("false")
        };
        let plain = |c: &&'j Constraint| {
            c.operand != OP_DISTINCT_HOSTS && c.operand != OP_DISTINCT_PROPERTY
        };
        let task_constraints = tg.tasks.iter().flat_map(|t| t.constraints.iter());
        GroupSpec {
            tg,
            drivers,
            constraints: job
                .constraints
                .iter()
                .chain(tg.constraints.iter())
                .chain(task_constraints.clone())
                .filter(plain)
                .collect(),
            distinct_hosts_job: job.constraints.iter().any(is_distinct),
            distinct_hosts_group: tg
                .constraints
                .iter()
                .chain(task_constraints)
                .any(is_distinct),
            cpu: tg.tasks.iter().map(|t| t.resources.cpu).sum(),
            memory_mb: tg.tasks.iter().map(|t| t.resources.memory_mb).sum(),
            disk_mb: tg.disk_mb(),
            wants_ports: super::ports::wants_ports(tg),
            count: tg.count.max(0) as u32,
            affinities: job
                .affinities
                .iter()
                .chain(tg.affinities.iter())
                .chain(tg.tasks.iter().flat_map(|t| t.affinities.iter()))
                .map(|a| (a.as_constraint(), a.weight))
                .collect(),
            spreads: job.spreads.iter().chain(tg.spreads.iter()).collect(),
            host_volumes: tg
                .volumes
                .values()
                .map(|v| (v.source.as_str(), !v.read_only))
                .collect(),
        }
    }

    /// Drivers, then constraints. Err displays as the `ConstraintFiltered` key.
    pub fn check_node(&self, node: &Node, checker: &mut Checker) -> Result<(), NotFeasible> {
        for d in &self.drivers {
            match node.drivers.get(*d) {
                Some(info) if info.detected && info.healthy => {}
                _ => return Err(NotFeasible::MissingDrivers),
            }
        }
        for (source, writes) in &self.host_volumes {
            match node.host_volumes.get(*source) {
                Some(v) if !(*writes && v.read_only) => {}
                _ => return Err(NotFeasible::HostVolumes),
            }
        }
        for c in &self.constraints {
            if !checker.check(c, node) {
                return Err(NotFeasible::Constraint(c.to_string()));
            }
        }
        Ok(())
    }
}
