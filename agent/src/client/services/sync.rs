//! What the client still has to tell the servers (and Consul) about its registrations. Changes
//! pile up here while a push is in flight and go out together in the next one; a push that fails
//! goes back in and turns the next one into a full reconciliation, so a client that lost the
//! servers catches up with one call when they answer again. Every change gets a generation, and
//! a caller can wait until its change has been pushed (the stop path does, before its kill).

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// One push's worth of work.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Batch {
    pub upsert: BTreeSet<String>,
    pub delete: BTreeSet<String>,
    /// Consul services to deregister.
    pub consul_delete: BTreeSet<String>,
    /// Consul registrations whose TTL checks need a heartbeat.
    pub consul_refresh: BTreeSet<String>,
    /// Reconcile everything: the servers' view of this node, and Consul's.
    pub full: bool,
    /// The newest change this batch carries.
    pub generation: u64,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.upsert.is_empty()
            && self.delete.is_empty()
            && self.consul_delete.is_empty()
            && self.consul_refresh.is_empty()
            && !self.full
    }

    fn merge(&mut self, other: Batch) {
        self.upsert.extend(other.upsert);
        self.delete.extend(other.delete);
        self.consul_delete.extend(other.consul_delete);
        self.consul_refresh.extend(other.consul_refresh);
        self.full |= other.full;
        self.generation = self.generation.max(other.generation);
    }
}

pub struct SyncQueue {
    pending: Mutex<Pending>,
    wake: Notify,
    /// The newest generation pushed.
    pushed: watch::Sender<u64>,
}

#[derive(Default)]
struct Pending {
    batch: Batch,
    next_generation: u64,
    /// Full reconciliations wait until the restored allocations have re-registered, or they
    /// would drop the registrations of tasks still being re-attached.
    ready: bool,
}

impl Default for SyncQueue {
    fn default() -> Self {
        SyncQueue {
            pending: Mutex::new(Pending::default()),
            wake: Notify::new(),
            pushed: watch::channel(0).0,
        }
    }
}

impl SyncQueue {
    fn change(&self, f: impl FnOnce(&mut Batch)) -> u64 {
        let generation = {
            let mut p = match self.pending.lock() {
                Ok(p) => p,
                Err(poisoned) => poisoned.into_inner(),
            };
            p.next_generation += 1;
            let g = p.next_generation;
            f(&mut p.batch);
            p.batch.generation = g;
            g
        };
        self.wake.notify_one();
        generation
    }

    pub fn upsert(&self, id: &str) -> u64 {
        self.change(|b| {
            b.delete.remove(id);
            b.upsert.insert(id.to_string());
        })
    }

    pub fn delete(&self, id: &str, consul: bool) -> u64 {
        self.change(|b| {
            b.upsert.remove(id);
            b.consul_refresh.remove(id);
            b.delete.insert(id.to_string());
            if consul {
                b.consul_delete.insert(id.to_string());
            }
        })
    }

    pub fn consul_refresh(&self, id: &str) -> u64 {
        self.change(|b| {
            b.consul_refresh.insert(id.to_string());
        })
    }

    pub fn full(&self) -> u64 {
        self.change(|b| b.full = true)
    }

    pub fn set_ready(&self) {
        if let Ok(mut p) = self.pending.lock() {
            p.ready = true;
        }
        self.full();
    }

    /// Waits for work, then takes it. A full reconciliation requested before `set_ready` stays
    /// queued (the incremental changes go out meanwhile).
    pub async fn next(&self) -> Batch {
        loop {
            let notified = self.wake.notified();
            {
                let mut p = match self.pending.lock() {
                    Ok(p) => p,
                    Err(poisoned) => poisoned.into_inner(),
                };
                let full = p.batch.full && p.ready;
                let mut batch = std::mem::take(&mut p.batch);
                if batch.full && !full {
                    // Keep the full request for later; send what else there is.
                    p.batch.full = true;
                    p.batch.generation = batch.generation;
                    batch.full = false;
                }
                if !batch.is_empty() {
                    return batch;
                }
            }
            notified.await;
        }
    }

    /// A push failed: its work goes back in, and the next push reconciles everything.
    pub fn retry(&self, mut batch: Batch) {
        if let Ok(mut p) = self.pending.lock() {
            batch.full = true;
            let newer = std::mem::take(&mut p.batch);
            batch.merge(newer);
            p.batch = batch;
        }
    }

    /// The batch up to `generation` reached the servers.
    pub fn pushed(&self, generation: u64) {
        self.pushed.send_if_modified(|g| {
            let newer = generation > *g;
            if newer {
                *g = generation;
            }
            newer
        });
    }

    /// Waits until the change of `generation` was pushed, at most `limit`. Returns whether it was.
    pub async fn wait_pushed(&self, generation: u64, limit: Duration) -> bool {
        let mut rx = self.pushed.subscribe();
        let waited = tokio::time::timeout(limit, rx.wait_for(|g| *g >= generation)).await;
        matches!(waited, Ok(Ok(_)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn changes_gather_and_a_delete_cancels_an_upsert() {
        let q = SyncQueue::default();
        q.upsert("a");
        q.upsert("b");
        let g = q.delete("a", true);
        let b = q.next().await;
        assert_eq!(b.upsert, BTreeSet::from(["b".to_string()]));
        assert_eq!(b.delete, BTreeSet::from(["a".to_string()]));
        assert_eq!(b.consul_delete, BTreeSet::from(["a".to_string()]));
        assert_eq!(b.generation, g);
    }

    #[tokio::test]
    async fn a_full_sync_waits_for_ready_and_failures_come_back_as_full() {
        let q = SyncQueue::default();
        q.full();
        q.upsert("a");
        let b = q.next().await;
        assert!(!b.full, "not ready yet");
        assert_eq!(b.upsert.len(), 1);
        q.set_ready();
        let b = q.next().await;
        assert!(b.full);
        q.retry(b);
        q.upsert("c");
        let b = q.next().await;
        assert!(b.full && b.upsert.contains("c"));
    }

    #[tokio::test]
    async fn waiters_learn_when_their_change_went_out() {
        let q = SyncQueue::default();
        let g = q.delete("x", false);
        assert!(!q.wait_pushed(g, Duration::from_millis(10)).await);
        q.pushed(g);
        assert!(q.wait_pushed(g, Duration::from_millis(10)).await);
    }
}
