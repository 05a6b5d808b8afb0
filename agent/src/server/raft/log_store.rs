//! The durable log and snapshot in one redb file. Entries are MessagePack-encoded [`Command`]s
//! keyed by index; the snapshot is the encoded tables image at some index, and the log keeps only
//! what came after it.

use crate::state::{Command, TablesImage};
use redb::{Database, Durability, ReadableDatabase, TableDefinition};
use std::path::Path;

const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("log");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const SNAPSHOT_KEY: &str = "snapshot";

#[derive(Debug, thiserror::Error)]
pub enum LogStoreError {
    #[error("log store {path}: {source}")]
    Open {
        path: String,
        source: redb::DatabaseError,
    },
    #[error("log store: {0}")]
    Db(String),
    #[error("log store: corrupt entry at index {index}: {msg}")]
    Corrupt { index: u64, msg: String },
}

fn db_err(e: impl std::fmt::Display) -> LogStoreError {
    LogStoreError::Db(e.to_string())
}

pub struct LogStore {
    db: Database,
}

/// What a restart finds on disk.
pub struct Recovered {
    pub snapshot: Option<TablesImage>,
    pub entries: Vec<(u64, Command)>,
}

impl LogStore {
    pub fn open(path: &Path) -> Result<LogStore, LogStoreError> {
        let db = Database::create(path).map_err(|source| LogStoreError::Open {
            path: path.display().to_string(),
            source,
        })?;
        let txn = db.begin_write().map_err(db_err)?;
        txn.open_table(LOG).map_err(db_err)?;
        txn.open_table(META).map_err(db_err)?;
        txn.commit().map_err(db_err)?;
        Ok(LogStore { db })
    }

    /// Appends a batch of entries in one durable commit (group commit: one fsync per batch).
    pub fn append(&self, entries: &[(u64, Vec<u8>)]) -> Result<(), LogStoreError> {
        let mut txn = self.db.begin_write().map_err(db_err)?;
        txn.set_durability(Durability::Immediate).map_err(db_err)?;
        {
            let mut t = txn.open_table(LOG).map_err(db_err)?;
            for (i, bytes) in entries {
                t.insert(*i, bytes.as_slice()).map_err(db_err)?;
            }
        }
        txn.commit().map_err(db_err)
    }

    /// Stores a snapshot and drops the log entries it covers.
    pub fn install_snapshot(&self, image: &TablesImage) -> Result<(), LogStoreError> {
        let bytes = rmp_serde::to_vec_named(image).map_err(db_err)?;
        let mut txn = self.db.begin_write().map_err(db_err)?;
        txn.set_durability(Durability::Immediate).map_err(db_err)?;
        {
            let mut meta = txn.open_table(META).map_err(db_err)?;
            meta.insert(SNAPSHOT_KEY, bytes.as_slice())
                .map_err(db_err)?;
            let mut log = txn.open_table(LOG).map_err(db_err)?;
            log.retain_in(..=image.index, |_, _| false)
                .map_err(db_err)?;
        }
        txn.commit().map_err(db_err)
    }

    pub fn recover(&self) -> Result<Recovered, LogStoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let meta = txn.open_table(META).map_err(db_err)?;
        let snapshot = match meta.get(SNAPSHOT_KEY).map_err(db_err)? {
            Some(v) => Some(
                rmp_serde::from_slice::<TablesImage>(v.value()).map_err(|e| {
                    LogStoreError::Corrupt {
                        index: 0,
                        msg: format!("snapshot: {e}"),
                    }
                })?,
            ),
            None => None,
        };
        let after = snapshot.as_ref().map(|s| s.index).unwrap_or(0);
        let log = txn.open_table(LOG).map_err(db_err)?;
        let mut entries = Vec::new();
        for item in log.range(after + 1..).map_err(db_err)? {
            let (k, v) = item.map_err(db_err)?;
            let index = k.value();
            let cmd: Command =
                rmp_serde::from_slice(v.value()).map_err(|e| LogStoreError::Corrupt {
                    index,
                    msg: e.to_string(),
                })?;
            entries.push((index, cmd));
        }
        Ok(Recovered { snapshot, entries })
    }
}
