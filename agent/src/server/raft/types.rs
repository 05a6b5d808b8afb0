//! The one place that binds openraft's generic types to ours: log entries carry encoded
//! [`Command`](crate::state::Command)s,
//! a node is a [`ServerInfo`], and applying an entry answers with its index and [`ApplyResult`].

use super::payload::LogPayload;
use crate::rpc::ServerInfo;
use crate::state::ApplyResult;
use serde::{Deserialize, Serialize};

/// What applying one log entry answers to whoever proposed it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Applied {
    pub index: u64,
    pub result: ApplyResult,
}

openraft::declare_raft_types!(
    pub TypeConfig:
        D = LogPayload,
        R = Applied,
        Node = ServerInfo,
);

pub type LogId = openraft::alias::LogIdOf<TypeConfig>;
pub type Entry = openraft::alias::EntryOf<TypeConfig>;
pub type Vote = openraft::alias::VoteOf<TypeConfig>;
pub type StoredMembership = openraft::alias::StoredMembershipOf<TypeConfig>;
pub type SnapshotMeta = openraft::alias::SnapshotMetaOf<TypeConfig>;
pub type SnapshotData = super::snapshot_file::SnapshotFile;
pub type Snapshot = openraft::alias::SnapshotOf<TypeConfig, SnapshotData>;
pub type OpenRaft = openraft::Raft<TypeConfig, super::state_machine::StateMachine>;

/// Errors from storage as openraft wants them.
pub fn io_err(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

pub fn decode_err(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string())
}

/// The id of log entry `index` in term 1 of node 0, for tests.
#[cfg(test)]
pub fn log_id_at(index: u64) -> LogId {
    use openraft::vote::leader_id_adv::CommittedLeaderId;
    use openraft::vote::RaftLeaderId;
    LogId::new(CommittedLeaderId::new(1, 0), index)
}

/// The meta of a snapshot up to entry `index`, for tests.
#[cfg(test)]
pub fn snapshot_meta_at(index: u64) -> SnapshotMeta {
    SnapshotMeta {
        last_log_id: Some(log_id_at(index)),
        ..SnapshotMeta::default()
    }
}
