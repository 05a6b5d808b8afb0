//! Garbage collection of the cluster state, as Nomad's core jobs do it: terminal evaluations
//! with their terminal allocations, dead jobs, terminal deployments and nodes long down.
//!
//! The leader picks what to collect from a snapshot ([`Tables::gc_candidates`]) and proposes it
//! as one command; every server then removes it ([`Tables::apply_gc`]). Apply checks each item
//! again, so an item that came back to life between the two (a job registered again, a node
//! that reconnected) is kept: the command stays deterministic and nothing live is lost.

use super::id_key::IdKey;
use super::tables::{JobKey, Tables};
use api::{Allocation, Evaluation};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

/// How old a terminal object must be before it is collected (Nomad's `*_gc_threshold`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcThresholds {
    pub eval: Duration,
    pub batch_eval: Duration,
    pub job: Duration,
    pub deployment: Duration,
    pub node: Duration,
}

impl Default for GcThresholds {
    /// Nomad's defaults.
    fn default() -> Self {
        GcThresholds {
            eval: Duration::from_secs(3600),
            batch_eval: Duration::from_secs(24 * 3600),
            job: Duration::from_secs(4 * 3600),
            deployment: Duration::from_secs(3600),
            node: Duration::from_secs(24 * 3600),
        }
    }
}

impl GcThresholds {
    /// `system gc`: everything terminal, whatever its age.
    pub const FORCE: GcThresholds = GcThresholds {
        eval: Duration::ZERO,
        batch_eval: Duration::ZERO,
        job: Duration::ZERO,
        deployment: Duration::ZERO,
        node: Duration::ZERO,
    };
}

/// What one collection removes. Jobs and nodes carry the modify index they were seen at: one
/// changed since is kept.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GcCandidates {
    pub jobs: Vec<(JobKey, u64)>,
    pub evals: Vec<String>,
    pub allocs: Vec<String>,
    pub deployments: Vec<String>,
    pub nodes: Vec<(String, u64)>,
}

impl GcCandidates {
    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
            && self.evals.is_empty()
            && self.allocs.is_empty()
            && self.deployments.is_empty()
            && self.nodes.is_empty()
    }

    pub fn len(&self) -> usize {
        self.jobs.len()
            + self.evals.len()
            + self.allocs.len()
            + self.deployments.len()
            + self.nodes.len()
    }
}

/// What `system gc` and the periodic collector report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GcCounts {
    pub jobs: usize,
    pub evals: usize,
    pub allocs: usize,
    pub deployments: usize,
    pub nodes: usize,
}

impl GcCounts {
    pub fn is_empty(&self) -> bool {
        *self == GcCounts::default()
    }
}

impl std::ops::AddAssign for GcCounts {
    fn add_assign(&mut self, n: GcCounts) {
        self.jobs += n.jobs;
        self.evals += n.evals;
        self.allocs += n.allocs;
        self.deployments += n.deployments;
        self.nodes += n.nodes;
    }
}

fn older(then_nanos: i64, now_nanos: i64, threshold: Duration) -> bool {
    let age = now_nanos.saturating_sub(then_nanos);
    age >= 0 && age as u128 >= threshold.as_nanos()
}

fn eval_collectable(
    eval: &Evaluation,
    job_gone_or_dead: bool,
    now: i64,
    th: &GcThresholds,
) -> bool {
    if !eval.terminal() {
        return false;
    }
    let batch = api::runs_to_completion(&eval.eval_type);
    let threshold = if batch { th.batch_eval } else { th.eval };
    older(eval.modify_time, now, threshold) && (!batch || job_gone_or_dead)
}

impl Tables {
    /// What is old and terminal enough to collect at `now` (nanoseconds), at most `limit` items,
    /// so that one raft entry stays small; the collector asks again until nothing is left.
    pub fn gc_candidates(&self, now: i64, th: &GcThresholds, limit: usize) -> GcCandidates {
        let mut out = GcCandidates::default();
        let mut taken_evals = BTreeSet::new();
        let mut taken_allocs = BTreeSet::new();
        let mut taken_deployments = BTreeSet::new();

        // Dead jobs: stopped or finished, with nothing live left, quiet for the threshold.
        for (key, job) in self.jobs.iter() {
            if out.jobs.len() + taken_evals.len() + taken_allocs.len() >= limit {
                break;
            }
            if self.job_status(job) != api::JOB_STATUS_DEAD {
                continue;
            }
            let allocs = self.allocs_for_job(&key.0, &key.1);
            let evals = self.evals_for_job(&key.0, &key.1);
            if allocs.iter().any(|a| !a.terminal()) || evals.iter().any(|e| !e.terminal()) {
                continue;
            }
            let last = allocs
                .iter()
                .map(|a| a.modify_time)
                .chain(evals.iter().map(|e| e.modify_time))
                .fold(job.submit_time, i64::max);
            if !older(last, now, th.job) {
                continue;
            }
            out.jobs.push((key.clone(), job.modify_index));
            for e in &evals {
                taken_evals.insert(e.id.clone());
            }
            for a in &allocs {
                taken_allocs.insert(a.id.clone());
            }
            for d in self.deployments_by_job.get(key).into_iter().flatten() {
                taken_deployments.insert(d.clone());
            }
        }

        // Terminal evaluations whose allocations all finished: with those allocations. A batch
        // job's are kept while the job lives, or it would run again.
        for (key, ids) in self.evals_by_job.iter() {
            // A batch job's evaluations go only once it is gone or dead: asked once per job.
            let job_gone_or_dead = self
                .jobs
                .get(key)
                .is_none_or(|j| self.job_status(j) == api::JOB_STATUS_DEAD);
            let mut by_eval: Option<Vec<Arc<Allocation>>> = None;
            for id in ids.iter() {
                if out.len() + taken_evals.len() + taken_allocs.len() >= limit {
                    break;
                }
                if taken_evals.contains(id) {
                    continue;
                }
                let Some(eval) = self.evals.get(id) else {
                    continue;
                };
                if !eval_collectable(eval, job_gone_or_dead, now, th) {
                    continue;
                }
                let allocs = by_eval.get_or_insert_with(|| self.allocs_for_job(&key.0, &key.1));
                let mine: Vec<&Arc<Allocation>> =
                    allocs.iter().filter(|a| a.eval_id == eval.id).collect();
                if mine.iter().any(|a| !a.terminal()) {
                    continue;
                }
                taken_evals.insert(id.clone());
                for a in mine {
                    taken_allocs.insert(a.id.clone());
                }
            }
        }

        // Terminal deployments, but a live job's latest one, which its status page shows.
        for (id, d) in self.deployments.iter() {
            if d.active() || !older(d.modify_time, now, th.deployment) {
                continue;
            }
            let latest = self
                .latest_deployment(&d.namespace, &d.job_id)
                .is_some_and(|l| l.id == d.id);
            let job_lives = self
                .jobs
                .contains_key(&(d.namespace.clone(), d.job_id.clone()));
            if latest && job_lives {
                continue;
            }
            taken_deployments.insert(id.clone());
        }

        // Nodes down for the threshold with nothing live on them.
        for (id, node) in self.nodes.iter() {
            // StatusUpdatedAt is in seconds, as Nomad's.
            let down_since = node.status_updated_at.saturating_mul(1_000_000_000);
            if node.status != api::NODE_STATUS_DOWN
                || !older(down_since, now, th.node)
                || self.allocs_for_node(id).iter().any(|a| !a.terminal())
            {
                continue;
            }
            out.nodes.push((id.clone(), node.modify_index));
        }

        out.evals = taken_evals.into_iter().collect();
        out.allocs = taken_allocs.into_iter().collect();
        out.deployments = taken_deployments.into_iter().collect();
        out
    }

    /// Removes what `c` names, each only if it is still collectable: a job at the same modify
    /// index and dead, a terminal allocation, a node at the same modify index and down.
    pub(crate) fn apply_gc(&mut self, index: u64, c: &GcCandidates) -> GcCounts {
        let mut n = GcCounts::default();
        for (key, seen_at) in &c.jobs {
            let Some(job) = self.jobs.get(key).cloned() else {
                continue;
            };
            if job.modify_index != *seen_at || self.job_status(&job) != api::JOB_STATUS_DEAD {
                continue;
            }
            self.families.remove(&job);
            self.jobs.remove(key);
            self.job_versions.remove(key);
            n.jobs += 1;
        }
        for id in &c.allocs {
            let Some(a) = self.allocs.get(&IdKey::new(id)).cloned() else {
                continue;
            };
            if !a.terminal() {
                continue;
            }
            self.remove_alloc_services(index, [id.as_str()]);
            self.allocs.remove(id.as_str());
            let key = (a.namespace.clone(), a.job_id.clone());
            let take = |m: &mut super::tables::AllocsById| {
                m.remove(id.as_str());
                m.is_empty()
            };
            remove_from_index(&mut self.alloc_tallies, &key, |t| {
                let t = std::sync::Arc::make_mut(t);
                t.count(&a, -1);
                t.is_empty()
            });
            remove_from_index(&mut self.allocs_by_job, &key, take);
            remove_from_index(&mut self.allocs_by_node, a.node_id.as_str(), take);
            self.touch_node_allocs(&a.node_id, index);
            n.allocs += 1;
        }
        for id in &c.evals {
            let Some(e) = self.evals.remove(id) else {
                continue;
            };
            let key = (e.namespace.clone(), e.job_id.clone());
            remove_from_index(&mut self.evals_by_job, &key, |s| without(s, id));
            n.evals += 1;
        }
        for id in &c.deployments {
            let Some(d) = self.deployments.get(id).cloned() else {
                continue;
            };
            if d.active() {
                continue;
            }
            self.deployments.remove(id);
            let key = (d.namespace.clone(), d.job_id.clone());
            remove_from_index(&mut self.deployments_by_job, &key, |s| without(s, id));
            n.deployments += 1;
        }
        for (id, seen_at) in &c.nodes {
            let Some(node) = self.nodes.get(id) else {
                continue;
            };
            if node.modify_index != *seen_at
                || node.status != api::NODE_STATUS_DOWN
                || self.allocs_for_node(id).iter().any(|a| !a.terminal())
            {
                continue;
            }
            self.nodes.remove(id);
            self.node_secrets.remove(id);
            self.remove_node_services(index, id);
            n.nodes += 1;
        }
        // Blocking queries on these tables wake and see the removals.
        if n.jobs > 0 {
            self.jobs_index = index;
        }
        if n.allocs > 0 {
            self.allocs_index = index;
        }
        if n.evals > 0 {
            self.evals_index = index;
        }
        if n.deployments > 0 {
            self.deployments_index = index;
        }
        if n.nodes > 0 {
            self.nodes_index = index;
        }
        n
    }
}

/// Takes an entry out of the collection a secondary index holds under `key` (`remove` takes it
/// and says whether the collection is now empty), and the key with it once nothing is left.
fn remove_from_index<K, Q, V>(
    index: &mut imbl::OrdMap<K, V>,
    key: &Q,
    remove: impl FnOnce(&mut V) -> bool,
) where
    K: Ord + Clone + std::borrow::Borrow<Q>,
    Q: Ord + ?Sized,
    V: Clone,
{
    let now_empty = index.get_mut(key).is_some_and(remove);
    if now_empty {
        index.remove(key);
    }
}

/// Takes `id` out of `set`; true when nothing is left.
fn without(set: &mut imbl::OrdSet<String>, id: &str) -> bool {
    set.remove(id);
    set.is_empty()
}
