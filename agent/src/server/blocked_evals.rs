//! Blocked evaluations (leader only): evaluations that could not place everything for lack of
//! capacity wait here, one per job, until capacity may have appeared (a node registered or came
//! back, an allocation finished or was stopped), and are then handed back to the broker.

use crate::state::JobKey;
use api::Evaluation;
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Default)]
struct Inner {
    enabled: bool,
    by_job: HashMap<JobKey, Evaluation>,
    /// State index of the last capacity change. An evaluation scheduled on an older snapshot
    /// missed it, so it must not block: it is retried at once.
    last_unblock_index: u64,
}

#[derive(Default)]
pub struct BlockedEvals {
    inner: Mutex<Inner>,
}

/// What `block` decided.
pub enum BlockOutcome {
    /// Held. If the job already had a blocked evaluation, it is returned to be cancelled.
    Held { superseded: Option<Evaluation> },
    /// Capacity changed after the evaluation's snapshot: run it again now.
    RetryNow(Evaluation),
}

impl BlockedEvals {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    pub fn set_enabled(&self, enabled: bool) {
        let mut g = self.lock();
        *g = Inner {
            enabled,
            ..Default::default()
        };
    }

    pub fn block(&self, eval: Evaluation) -> BlockOutcome {
        let mut g = self.lock();
        if !g.enabled {
            return BlockOutcome::Held { superseded: None };
        }
        if eval.snapshot_index < g.last_unblock_index {
            return BlockOutcome::RetryNow(eval);
        }
        let key = (eval.namespace.clone(), eval.job_id.clone());
        let superseded = g
            .by_job
            .insert(key, eval.clone())
            .filter(|old| old.id != eval.id);
        BlockOutcome::Held { superseded }
    }

    /// A job's blocked evaluation is no longer needed (job stopped or re-registered).
    pub fn untrack(&self, key: &JobKey) -> Option<Evaluation> {
        self.lock().by_job.remove(key)
    }

    /// Capacity may have changed at `index`: every blocked evaluation is released.
    pub fn unblock_all(&self, index: u64) -> Vec<Evaluation> {
        let mut g = self.lock();
        g.last_unblock_index = g.last_unblock_index.max(index);
        g.by_job.drain().map(|(_, e)| e).collect()
    }

    pub fn len(&self) -> usize {
        self.lock().by_job.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(id: &str, job: &str, snap: u64) -> Evaluation {
        Evaluation {
            id: id.into(),
            namespace: "default".into(),
            job_id: job.into(),
            snapshot_index: snap,
            ..Default::default()
        }
    }

    #[test]
    fn one_per_job_and_stale_snapshots_retry() {
        // Scenario: a job blocks twice (the older eval is superseded), capacity appears at index
        // 10 and releases it; an eval computed on a snapshot older than 10 is retried at once.
        let b = BlockedEvals::default();
        b.set_enabled(true);
        assert!(matches!(
            b.block(ev("e1", "j", 5)),
            BlockOutcome::Held { superseded: None }
        ));
        match b.block(ev("e2", "j", 6)) {
            BlockOutcome::Held {
                superseded: Some(old),
            } => assert_eq!(old.id, "e1"),
            _ => panic!("e1 should be superseded"),
        }
        assert_eq!(b.unblock_all(10).len(), 1);
        assert_eq!(b.len(), 0);
        assert!(matches!(
            b.block(ev("e3", "j", 9)),
            BlockOutcome::RetryNow(_)
        ));
        assert!(matches!(
            b.block(ev("e4", "j", 11)),
            BlockOutcome::Held { .. }
        ));
    }
}
