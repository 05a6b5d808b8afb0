//! The `service` and `check` blocks of a job: what its groups and tasks register in the
//! service catalog, and how their health is checked.

use super::Meta;
use crate::duration::nanos;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// A `service` block: what a group or task registers in the service catalog.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Service {
    /// May hold `${JOB}`, `${TASKGROUP}`, `${TASK}`, `${BASE}` and `${NOMAD_*}`; empty means
    /// Nomad's default name (`<job>-<group>[-<task>]`).
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Tags used instead of `tags` while the allocation is a deployment's canary.
    #[serde(default)]
    pub canary_tags: Vec<String>,
    /// A port label of the group's network, or a port number.
    #[serde(default)]
    pub port_label: String,
    /// auto | host | driver | alloc (empty = auto).
    #[serde(default)]
    pub address_mode: String,
    /// nomad | consul (empty = nomad).
    #[serde(default)]
    pub provider: String,
    /// Address to advertise instead of the node's (`address` in the service block).
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub checks: Vec<ServiceCheck>,
    #[serde(default)]
    pub meta: Meta,
    /// For a group service: the task its script checks run in.
    #[serde(default)]
    pub task_name: String,
}

pub const SERVICE_PROVIDER_NOMAD: &str = "nomad";
pub const SERVICE_PROVIDER_CONSUL: &str = "consul";

pub const CHECK_PASSING: &str = "passing";
pub const CHECK_WARNING: &str = "warning";
pub const CHECK_CRITICAL: &str = "critical";

/// `on_update`: how a check's status counts while a deployment judges an allocation's health.
pub const ON_UPDATE_REQUIRE_HEALTHY: &str = "require_healthy";
pub const ON_UPDATE_IGNORE_WARNINGS: &str = "ignore_warnings";
pub const ON_UPDATE_IGNORE: &str = "ignore";

/// A `check` block of a service, run by the client that runs the allocation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceCheck {
    #[serde(default)]
    pub name: String,
    /// http | tcp | script
    #[serde(rename = "Type", default)]
    pub check_type: String,
    #[serde(default)]
    pub path: String,
    /// http | https (http checks; empty = http).
    #[serde(default)]
    pub protocol: String,
    /// The port to probe, when not the service's own.
    #[serde(default)]
    pub port_label: String,
    /// host | driver | alloc (empty = the service's).
    #[serde(default)]
    pub address_mode: String,
    /// HTTP method (empty = GET).
    #[serde(default)]
    pub method: String,
    /// Request headers of an http check.
    #[serde(default)]
    pub header: BTreeMap<String, Vec<String>>,
    /// Request body of an http check.
    #[serde(default)]
    pub body: String,
    #[serde(rename = "TLSSkipVerify", default)]
    pub tls_skip_verify: bool,
    #[serde(default)]
    pub command: String,
    #[serde(default)]
    pub args: Vec<String>,
    /// For a group service's script check: the task to run it in.
    #[serde(default)]
    pub task_name: String,
    #[serde(with = "nanos", default)]
    pub interval: Duration,
    #[serde(with = "nanos", default)]
    pub timeout: Duration,
    /// The status before the first result (empty = critical).
    #[serde(default)]
    pub initial_status: String,
    /// Consecutive successes needed before the status turns passing.
    #[serde(default)]
    pub success_before_passing: u32,
    /// Consecutive failures needed before the status turns critical (or warning).
    #[serde(default)]
    pub failures_before_critical: u32,
    /// require_healthy | ignore_warnings | ignore (empty = require_healthy).
    #[serde(default)]
    pub on_update: String,
    #[serde(default)]
    pub check_restart: Option<CheckRestart>,
}

/// `check_restart`: restart the task after `limit` unhealthy results in a row.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CheckRestart {
    /// Unhealthy results in a row before a restart; 0 = never.
    #[serde(default)]
    pub limit: u32,
    /// Time after the task starts during which results do not count.
    #[serde(with = "nanos", default)]
    pub grace: Duration,
    /// A warning counts as healthy.
    #[serde(default)]
    pub ignore_warnings: bool,
}
