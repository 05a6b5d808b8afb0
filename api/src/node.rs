//! Client nodes as the servers see them: identity, fingerprint, resources, status.

use crate::job::Meta;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const NODE_STATUS_INIT: &str = "initializing";
pub const NODE_STATUS_READY: &str = "ready";
pub const NODE_STATUS_DOWN: &str = "down";
/// Missed its heartbeats while running allocations of groups with `disconnect` rules: they
/// turn `unknown` rather than `lost`, until the node returns or their `lost_after` passes.
pub const NODE_STATUS_DISCONNECTED: &str = "disconnected";
pub const NODE_ELIGIBLE: &str = "eligible";
pub const NODE_INELIGIBLE: &str = "ineligible";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Node {
    #[serde(rename = "ID")]
    pub id: String,
    /// The node's secret: set only by the client when it registers; the servers keep a hash of
    /// it and never hand it out.
    #[serde(rename = "SecretID", default, skip_serializing_if = "String::is_empty")]
    pub secret_id: String,
    pub name: String,
    pub datacenter: String,
    #[serde(default)]
    pub node_class: String,
    /// The pool the node is in; a node registered before pools existed is in `default`.
    #[serde(default = "crate::node_pool::default_pool")]
    pub node_pool: String,
    #[serde(rename = "HTTPAddr", default)]
    pub http_addr: String,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    #[serde(default)]
    pub meta: Meta,
    #[serde(default)]
    pub node_resources: NodeResources,
    #[serde(default)]
    pub reserved_resources: NodeReservedResources,
    #[serde(default)]
    pub drivers: BTreeMap<String, DriverInfo>,
    /// What happened to the node, oldest first, the last [`NODE_MAX_EVENTS`] (Nomad's `Events`).
    #[serde(default)]
    pub events: Vec<NodeEvent>,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub status_description: String,
    #[serde(default)]
    pub status_updated_at: i64,
    #[serde(default)]
    pub scheduling_eligibility: String,
    #[serde(default)]
    pub drain: bool,
    /// How the current drain proceeds; None when the node is not draining.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain_strategy: Option<DrainStrategy>,
    /// Directories the client offers to jobs' host volumes, by name.
    #[serde(default)]
    pub host_volumes: BTreeMap<String, ClientHostVolumeConfig>,
    #[serde(default)]
    pub create_index: u64,
    #[serde(default)]
    pub modify_index: u64,
}

/// One `host_volume` of a client's config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ClientHostVolumeConfig {
    pub name: String,
    pub path: String,
    #[serde(default)]
    pub read_only: bool,
}

impl Node {
    /// Whether the scheduler may place new work here.
    pub fn ready(&self) -> bool {
        self.status == NODE_STATUS_READY
            && self.scheduling_eligibility != NODE_INELIGIBLE
            && !self.drain
    }

    pub fn address(&self) -> String {
        self.attributes
            .get("unique.network.ip-address")
            .cloned()
            .unwrap_or_default()
    }

    pub fn stub(&self) -> NodeListStub {
        NodeListStub {
            address: self.address(),
            id: self.id.clone(),
            datacenter: self.datacenter.clone(),
            name: self.name.clone(),
            node_class: self.node_class.clone(),
            node_pool: self.node_pool.clone(),
            version: self
                .attributes
                .get("nomad.version")
                .cloned()
                .unwrap_or_default(),
            drain: self.drain,
            scheduling_eligibility: self.scheduling_eligibility.clone(),
            status: self.status.clone(),
            status_description: self.status_description.clone(),
            drivers: self.drivers.clone(),
            create_index: self.create_index,
            modify_index: self.modify_index,
            node_resources: None,
            reserved_resources: None,
            attributes: None,
        }
    }

    /// The list stub with what `?resources=true` and `?os=true` add.
    pub fn stub_with(&self, resources: bool, os: bool) -> NodeListStub {
        let mut stub = self.stub();
        if resources {
            stub.node_resources = Some(self.node_resources.clone());
            stub.reserved_resources = Some(self.reserved_resources.clone());
        }
        if os {
            let os_attrs = ["os.name", "os.version"]
                .iter()
                .filter_map(|k| Some((k.to_string(), self.attributes.get(*k)?.clone())))
                .collect();
            stub.attributes = Some(os_attrs);
        }
        stub
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NodeResources {
    #[serde(default)]
    pub cpu: NodeCpuResources,
    #[serde(default)]
    pub memory: NodeMemoryResources,
    #[serde(default)]
    pub disk: NodeDiskResources,
    /// Port range the scheduler picks dynamic ports from (inclusive).
    #[serde(default)]
    pub min_dynamic_port: i64,
    #[serde(default)]
    pub max_dynamic_port: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NodeCpuResources {
    /// Total MHz (cores x MHz per core).
    pub cpu_shares: i64,
    pub total_cpu_cores: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NodeMemoryResources {
    #[serde(rename = "MemoryMB")]
    pub memory_mb: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NodeDiskResources {
    #[serde(rename = "DiskMB")]
    pub disk_mb: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NodeReservedResources {
    #[serde(default)]
    pub cpu_shares: i64,
    #[serde(rename = "MemoryMB", default)]
    pub memory_mb: i64,
    #[serde(rename = "DiskMB", default)]
    pub disk_mb: i64,
    /// Host ports nothing may be placed on, e.g. "22,80".
    #[serde(default)]
    pub reserved_host_ports: String,
}

/// How many events a node keeps, as Nomad.
pub const NODE_MAX_EVENTS: usize = 10;

/// One thing that happened to a node: a driver that turned healthy or unhealthy, say.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NodeEvent {
    pub message: String,
    /// "Driver", "Cluster", ...
    pub subsystem: String,
    #[serde(default)]
    pub details: BTreeMap<String, String>,
    /// RFC 3339.
    pub timestamp: String,
    #[serde(default)]
    pub create_index: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DriverInfo {
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    pub detected: bool,
    pub healthy: bool,
    #[serde(default)]
    pub health_description: String,
    #[serde(default)]
    pub update_time: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NodeListStub {
    pub address: String,
    #[serde(rename = "ID")]
    pub id: String,
    pub datacenter: String,
    pub name: String,
    pub node_class: String,
    #[serde(default)]
    pub node_pool: String,
    pub version: String,
    pub drain: bool,
    pub scheduling_eligibility: String,
    pub status: String,
    pub status_description: String,
    pub drivers: BTreeMap<String, DriverInfo>,
    pub create_index: u64,
    pub modify_index: u64,
    /// With `?resources=true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_resources: Option<NodeResources>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserved_resources: Option<NodeReservedResources>,
    /// With `?os=true`: the `os.name` and `os.version` attributes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<BTreeMap<String, String>>,
}

/// `POST /v1/node/:id/eligibility`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NodeEligibilityRequest {
    #[serde(rename = "NodeID", default)]
    pub node_id: String,
    pub eligibility: String,
}

/// How a drain proceeds (`DrainSpec`). A negative deadline means no deadline.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DrainSpec {
    /// Nanoseconds.
    pub deadline: i64,
    pub ignore_system_jobs: bool,
}

/// A drain under way: its spec, when it started, and when whatever is left gets stopped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DrainStrategy {
    /// Nanoseconds; negative means no deadline.
    pub deadline: i64,
    pub ignore_system_jobs: bool,
    /// Unix nanoseconds at which the remaining allocations are stopped; 0 = never.
    pub force_deadline: i64,
    /// Unix nanoseconds.
    pub started_at: i64,
}

/// `POST /v1/node/:id/drain`: `DrainSpec` set starts a drain, null ends it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NodeDrainRequest {
    #[serde(rename = "NodeID")]
    pub node_id: String,
    pub drain_spec: Option<DrainSpec>,
    /// With a drain ended: whether the node becomes eligible again.
    pub mark_eligible: bool,
}

/// The answer to both node updates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NodeUpdateResponse {
    #[serde(rename = "EvalIDs")]
    pub eval_ids: Vec<String>,
    pub eval_create_index: u64,
    pub node_modify_index: u64,
    pub index: u64,
}
