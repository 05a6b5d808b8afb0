//! Counts over each job's allocations, kept as allocations change.
//!
//! A job's summary, its status and its deployment's health are counts over its allocations.
//! Counted on read, they cost every allocation of the job at every read: with a hundred jobs of
//! ten thousand allocations, a `/v1/jobs` listing or one pass of the deployment watcher read a
//! million allocations. So every write of an allocation takes the old value's contribution out
//! of its job's tally and puts the new value's in; readers look the counts up.
//!
//! Each count is a function of one allocation ([`JobTally::count`]), so what a write adds and
//! what it later takes away always match, and a tally rebuilt from the allocations (a snapshot
//! restore) is the same as one kept along the way (tested in `tests.rs`).

use api::*;
use std::collections::BTreeMap;

/// One job's counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobTally {
    /// Allocations of the job in the state.
    pub total: i64,
    /// Those not terminal (neither stopped by the servers nor finished on the client).
    pub live: i64,
    /// Client states per group, as a job summary shows them.
    pub groups: BTreeMap<String, GroupTally>,
    /// Health verdicts per deployment id.
    pub deployments: BTreeMap<String, DeploymentTally>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupTally {
    /// Pending on the client and still wanted.
    pub starting: i64,
    pub running: i64,
    pub complete: i64,
    pub failed: i64,
    pub lost: i64,
    /// On a disconnected node.
    pub unknown: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeploymentTally {
    /// Allocations judged unhealthy, per group.
    pub unhealthy: BTreeMap<String, i64>,
    /// Live allocations judged healthy, per group.
    pub healthy_live: BTreeMap<String, i64>,
}

impl DeploymentTally {
    pub fn unhealthy_verdicts(&self) -> i64 {
        self.unhealthy.values().sum()
    }
}

impl JobTally {
    /// Adds (`sign` 1) or takes away (`sign` -1) what `a` counts for.
    pub fn count(&mut self, a: &Allocation, sign: i64) {
        self.total += sign;
        if !a.terminal() {
            self.live += sign;
        }
        let group = || a.task_group.clone();
        let g = self.groups.entry(group()).or_default();
        match a.client_status.as_str() {
            ALLOC_CLIENT_PENDING if !a.server_terminal() => g.starting += sign,
            ALLOC_CLIENT_RUNNING => g.running += sign,
            ALLOC_CLIENT_COMPLETE => g.complete += sign,
            ALLOC_CLIENT_FAILED => g.failed += sign,
            ALLOC_CLIENT_LOST => g.lost += sign,
            api::ALLOC_CLIENT_UNKNOWN => g.unknown += sign,
            _ => {}
        }
        if *g == GroupTally::default() {
            self.groups.remove(&a.task_group);
        }
        let Some(status) = a.deployment_status.as_ref() else {
            return;
        };
        if a.deployment_id.is_empty() || (!status.is_healthy() && !status.is_unhealthy()) {
            return;
        }
        let d = self.deployments.entry(a.deployment_id.clone()).or_default();
        if status.is_unhealthy() {
            bump(&mut d.unhealthy, &a.task_group, sign);
        }
        if status.is_healthy() && !a.server_terminal() {
            bump(&mut d.healthy_live, &a.task_group, sign);
        }
        if *d == DeploymentTally::default() {
            self.deployments.remove(&a.deployment_id);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }
}

/// Adds `by` to `map[key]`, and drops the key at zero.
fn bump(map: &mut BTreeMap<String, i64>, key: &str, by: i64) {
    let n = map.entry(key.to_string()).or_default();
    *n += by;
    if *n == 0 {
        map.remove(key);
    }
}
