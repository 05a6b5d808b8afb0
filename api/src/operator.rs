//! `/v1/operator/raft/*`: the raft configuration as Nomad's API shows it.

use serde::{Deserialize, Serialize};

/// One server of the raft configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RaftServer {
    /// The raft node id.
    #[serde(rename = "ID")]
    pub id: String,
    /// "name.region".
    pub node: String,
    /// The server's rpc address, "ip:port".
    pub address: String,
    pub leader: bool,
    pub voter: bool,
    pub raft_protocol: String,
}

/// `GET /v1/operator/raft/configuration`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RaftConfiguration {
    pub servers: Vec<RaftServer>,
    /// The raft index of the configuration.
    pub index: u64,
}
