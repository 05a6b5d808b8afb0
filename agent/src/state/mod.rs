//! The state store: indexed tables of jobs, nodes, allocations and evaluations, changed only by
//! applying [`Command`]s in log order, with cheap point-in-time snapshots for schedulers and
//! blocking queries.

pub mod acl;
mod alloc_tally;
mod apply;
mod command;
mod deployments;
pub mod events;
mod gc;
#[cfg(test)]
mod gc_tests;
mod id_key;
mod job_family;
mod namespaces;
mod node_pools;
mod node_tally;
mod node_watch;
pub mod search;
mod services;
#[cfg(test)]
mod services_tests;
mod summary;
mod tables;
#[cfg(test)]
mod tests;
pub mod variables;

pub use command::{ApplyResult, Command, DeploymentStatusUpdate};
pub use gc::{GcCandidates, GcCounts, GcThresholds};
pub use node_tally::NodeTally;
pub use tables::{JobKey, Table, TableSizes, Tables, TablesImage};

use std::sync::RwLock;
use std::time::Duration;
use tokio::sync::watch;

pub struct StateStore {
    tables: RwLock<Tables>,
    index_tx: watch::Sender<u64>,
    /// The newest changes, for `/v1/event/stream`.
    pub events: events::EventBuffer,
    node_watches: node_watch::NodeWatches,
}

impl Default for StateStore {
    fn default() -> Self {
        Self::new(Tables::default())
    }
}

impl StateStore {
    pub fn new(tables: Tables) -> StateStore {
        let (index_tx, _) = watch::channel(tables.index);
        StateStore {
            tables: RwLock::new(tables),
            index_tx,
            events: events::EventBuffer::new(events::EVENT_BUFFER_EVENTS),
            node_watches: node_watch::NodeWatches::default(),
        }
    }

    /// A point-in-time copy; O(1) thanks to structural sharing.
    pub fn snapshot(&self) -> Tables {
        self.read(Tables::clone)
    }

    /// Reads the current tables without taking a snapshot. Prefer this over [`Self::snapshot`]
    /// for a quick look, and never hold a snapshot across a raft write: every live snapshot makes
    /// the next writes copy the map nodes they touch, which the snapshot's drop then frees.
    pub fn read<R>(&self, f: impl FnOnce(&Tables) -> R) -> R {
        match self.tables.read() {
            Ok(t) => f(&t),
            Err(poisoned) => f(&poisoned.into_inner()),
        }
    }

    pub fn index(&self) -> u64 {
        *self.index_tx.borrow()
    }

    /// Applies one committed command. Callers apply in log order.
    pub fn apply(&self, index: u64, cmd: &Command) -> ApplyResult {
        let res = {
            let mut t = match self.tables.write() {
                Ok(t) => t,
                Err(poisoned) => poisoned.into_inner(),
            };
            let res = t.apply(index, cmd);
            self.events.push(index, cmd, std::mem::take(&mut t.changes));
            (res, std::mem::take(&mut t.alloc_nodes_touched))
        };
        let (res, mut touched) = res;
        touched.sort_unstable();
        touched.dedup();
        self.node_watches.notify(&touched, index);
        self.index_tx.send_replace(index);
        res
    }

    /// Replaces everything (restore from a snapshot), and hands back what it replaced: freeing
    /// a large state takes a while, and the caller chooses where (never under the lock).
    #[must_use = "the replaced tables should be dropped where their freeing does not hold up others"]
    pub fn restore(&self, mut tables: Tables) -> Tables {
        let index = tables.index;
        tables.changes.clear();
        tables.alloc_nodes_touched.clear();
        let replaced = {
            let mut t = match self.tables.write() {
                Ok(t) => t,
                Err(poisoned) => poisoned.into_inner(),
            };
            std::mem::replace(&mut *t, tables)
        };
        self.events.clear();
        self.node_watches.notify_all(index);
        self.index_tx.send_replace(index);
        replaced
    }

    /// Blocking query: waits until `table`'s index passes `min_index` or `wait` elapses, then
    /// returns a snapshot. A `min_index` of 0 returns at once.
    pub async fn wait_for(&self, table: Table, min_index: u64, wait: Duration) -> Tables {
        if min_index == 0 {
            return self.snapshot();
        }
        self.wait_past(table, min_index, wait).await
    }

    /// Waits until `table`'s index passes `index` (0 included) or `wait` elapses, then returns a
    /// snapshot.
    pub async fn wait_past(&self, table: Table, index: u64, wait: Duration) -> Tables {
        let deadline = tokio::time::Instant::now() + wait;
        let mut rx = self.index_tx.subscribe();
        // The index is looked at without a snapshot: a query that held one while it waited
        // would pin that version of every table, and make each write copy what it touches.
        loop {
            if self.read(|t| t.table_index(table)) > index {
                return self.snapshot();
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => continue,
                _ => return self.snapshot(),
            }
        }
    }

    /// A client's allocation query: waits until the allocations of `node_id` change past
    /// `min_index` (see [`Tables::node_allocs_index`]) or `wait` elapses. Only changes to this
    /// node's allocations wake it. A `min_index` of 0 returns at once. The caller reads the
    /// allocations with [`Self::read`]: thousands of clients wait at once, and their answers
    /// need no snapshot.
    pub async fn wait_node_allocs(&self, node_id: &str, min_index: u64, wait: Duration) {
        let deadline = tokio::time::Instant::now() + wait;
        let mut rx = self.node_watches.subscribe(node_id);
        while min_index != 0 && self.read(|t| t.node_allocs_index(node_id)) <= min_index {
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => continue,
                _ => return,
            }
        }
    }

    /// Waits until the store has applied at least `index` (a worker needs the state its
    /// evaluation was created in).
    pub async fn wait_for_index(&self, index: u64, wait: Duration) -> bool {
        let mut rx = self.index_tx.subscribe();
        let res = tokio::time::timeout(wait, rx.wait_for(|i| *i >= index)).await;
        matches!(res, Ok(Ok(_)))
    }
}
