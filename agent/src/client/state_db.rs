//! The client's own state in redb (`<data_dir>/client/state.db`): the node id, the allocations it
//! runs and, per task, its state and driver handle, so that a restarted agent re-attaches to its
//! tasks instead of starting them again.

use crate::drivers::TaskHandleState;
use api::{Allocation, TaskState};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const ALLOCS: TableDefinition<&str, &[u8]> = TableDefinition::new("allocs");
/// Key "<alloc_id>/<task>".
const TASKS: TableDefinition<&str, &[u8]> = TableDefinition::new("tasks");

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("client state database: {0}")]
    Db(#[from] redb::Error),
    #[error("client state database is closed (the client is shutting down)")]
    Closed,
    #[error("client state record {key:?} is unreadable: {msg}")]
    Decode { key: String, msg: String },
    #[error("client state record cannot be encoded: {0}")]
    Encode(String),
}

fn db_err<E: Into<redb::Error>>(e: E) -> StateError {
    StateError::Db(e.into())
}

/// What is kept per task.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LocalTaskState {
    /// Set while the task's process runs.
    pub handle: Option<TaskHandleState>,
    pub state: TaskState,
}

/// A stored allocation with its tasks' states, by task name.
pub type StoredAlloc = (Allocation, BTreeMap<String, LocalTaskState>);

pub struct StateDb {
    // An Option so that `close` releases the file lock while runners still hold the Arc.
    db: Mutex<Option<Database>>,
}

impl StateDb {
    pub fn open(path: &Path) -> Result<Self, StateError> {
        let db = Database::create(path).map_err(db_err)?;
        let tx = db.begin_write().map_err(db_err)?;
        for t in [META, ALLOCS, TASKS] {
            tx.open_table(t).map_err(db_err)?;
        }
        tx.commit().map_err(db_err)?;
        Ok(StateDb {
            db: Mutex::new(Some(db)),
        })
    }

    pub fn close(&self) {
        if let Ok(mut g) = self.db.lock() {
            g.take();
        }
    }

    fn with_db<T>(
        &self,
        f: impl FnOnce(&Database) -> Result<T, StateError>,
    ) -> Result<T, StateError> {
        let guard = self.db.lock().map_err(|_| StateError::Closed)?;
        match guard.as_ref() {
            Some(db) => f(db),
            None => Err(StateError::Closed),
        }
    }

    fn put(
        &self,
        table: TableDefinition<&str, &[u8]>,
        key: &str,
        value: &[u8],
    ) -> Result<(), StateError> {
        self.with_db(|db| {
            let tx = db.begin_write().map_err(db_err)?;
            tx.open_table(table)
                .map_err(db_err)?
                .insert(key, value)
                .map_err(db_err)?;
            tx.commit().map_err(db_err)
        })
    }

    /// The node id, created (UUID v4) and stored on first use.
    pub fn node_id(&self) -> Result<String, StateError> {
        self.meta_uuid("node_id")
    }

    /// The node's secret, which proves its calls to the servers: created and stored on first
    /// use, next to the id (the data dir is the agent's own, mode 0700 under systemd).
    pub fn node_secret(&self) -> Result<String, StateError> {
        self.meta_uuid("node_secret")
    }

    fn meta_uuid(&self, key: &str) -> Result<String, StateError> {
        let existing = self.with_db(|db| {
            let tx = db.begin_read().map_err(db_err)?;
            let t = tx.open_table(META).map_err(db_err)?;
            let v = t.get(key).map_err(db_err)?;
            Ok(v.map(|g| String::from_utf8_lossy(g.value()).into_owned()))
        })?;
        if let Some(value) = existing.filter(|s| !s.is_empty()) {
            return Ok(value);
        }
        let value = uuid::Uuid::new_v4().to_string();
        self.put(META, key, value.as_bytes())?;
        Ok(value)
    }

    pub fn put_alloc(&self, alloc: &Allocation) -> Result<(), StateError> {
        let bytes =
            rmp_serde::to_vec_named(alloc).map_err(|e| StateError::Encode(e.to_string()))?;
        self.put(ALLOCS, &alloc.id, &bytes)
    }

    pub fn put_task(
        &self,
        alloc_id: &str,
        task: &str,
        state: &LocalTaskState,
    ) -> Result<(), StateError> {
        let bytes =
            rmp_serde::to_vec_named(state).map_err(|e| StateError::Encode(e.to_string()))?;
        self.put(TASKS, &format!("{alloc_id}/{task}"), &bytes)
    }

    /// Forgets an allocation and its tasks.
    pub fn delete_alloc(&self, alloc_id: &str) -> Result<(), StateError> {
        self.with_db(|db| {
            let tx = db.begin_write().map_err(db_err)?;
            tx.open_table(ALLOCS)
                .map_err(db_err)?
                .remove(alloc_id)
                .map_err(db_err)?;
            {
                let mut tasks = tx.open_table(TASKS).map_err(db_err)?;
                let prefix = format!("{alloc_id}/");
                let keys: Vec<String> = tasks
                    .range(prefix.as_str()..)
                    .map_err(db_err)?
                    .map_while(|r| r.ok().map(|(k, _)| k.value().to_string()))
                    .take_while(|k| k.starts_with(&prefix))
                    .collect();
                for k in keys {
                    tasks.remove(k.as_str()).map_err(db_err)?;
                }
            }
            tx.commit().map_err(db_err)
        })
    }

    /// Every stored allocation with its tasks' states.
    pub fn load(&self) -> Result<Vec<StoredAlloc>, StateError> {
        self.with_db(|db| {
            let tx = db.begin_read().map_err(db_err)?;
            let allocs = tx.open_table(ALLOCS).map_err(db_err)?;
            let tasks = tx.open_table(TASKS).map_err(db_err)?;
            let mut out: BTreeMap<String, (Allocation, BTreeMap<String, LocalTaskState>)> =
                BTreeMap::new();
            for row in allocs.iter().map_err(db_err)? {
                let (k, v) = row.map_err(db_err)?;
                let alloc: Allocation =
                    rmp_serde::from_slice(v.value()).map_err(|e| StateError::Decode {
                        key: k.value().to_string(),
                        msg: e.to_string(),
                    })?;
                out.insert(alloc.id.clone(), (alloc, BTreeMap::new()));
            }
            for row in tasks.iter().map_err(db_err)? {
                let (k, v) = row.map_err(db_err)?;
                let key = k.value().to_string();
                let Some((alloc_id, task)) = key.split_once('/') else {
                    continue;
                };
                let st: LocalTaskState =
                    rmp_serde::from_slice(v.value()).map_err(|e| StateError::Decode {
                        key: key.clone(),
                        msg: e.to_string(),
                    })?;
                if let Some((_, m)) = out.get_mut(alloc_id) {
                    m.insert(task.to_string(), st);
                }
            }
            Ok(out.into_values().collect())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_node_id_allocs_and_tasks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let db = StateDb::open(&path).unwrap();
        let id = db.node_id().unwrap();
        let alloc = Allocation {
            id: "a1".into(),
            job: Some(std::sync::Arc::default()),
            ..Default::default()
        };
        db.put_alloc(&alloc).unwrap();
        let ts = LocalTaskState {
            handle: Some(TaskHandleState {
                driver: "raw_exec".into(),
                pid: 42,
                start_time: 7,
                ..Default::default()
            }),
            state: TaskState {
                state: "running".into(),
                ..Default::default()
            },
        };
        db.put_task("a1", "web", &ts).unwrap();
        db.put_alloc(&Allocation {
            id: "a2".into(),
            ..Default::default()
        })
        .unwrap();
        db.put_task("a2", "x", &LocalTaskState::default()).unwrap();
        db.close();
        assert!(matches!(db.node_id(), Err(StateError::Closed)));

        let db = StateDb::open(&path).unwrap();
        assert_eq!(db.node_id().unwrap(), id);
        let loaded = db.load().unwrap();
        assert_eq!(loaded.len(), 2);
        assert_eq!(loaded[0].0, alloc);
        assert_eq!(loaded[0].1["web"], ts);
        db.delete_alloc("a1").unwrap();
        let loaded = db.load().unwrap();
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].1.len(), 1);
    }
}
