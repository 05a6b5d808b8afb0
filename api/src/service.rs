//! The service catalog in Nomad's shape (native service discovery): one [`ServiceRegistration`]
//! per registered instance, listed by `/v1/services` and `/v1/service/:name`.
//!
//! Beyond Nomad's fields a registration carries its `Meta` and the status of its checks
//! (`CheckStatus` and `Checks`), so that a proxy's template can pick the healthy instances without
//! asking each client.

use crate::job::{Meta, CHECK_CRITICAL, CHECK_PASSING, CHECK_WARNING};
use serde::{Deserialize, Serialize};

/// One instance of a service: an allocation's address and port under a service name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceRegistration {
    /// `_nomad-task-<alloc>-<task>-<service>-<port>`, or `...-group-<group>-...` for a group's.
    #[serde(rename = "ID")]
    pub id: String,
    pub service_name: String,
    pub namespace: String,
    #[serde(rename = "NodeID")]
    pub node_id: String,
    pub datacenter: String,
    #[serde(rename = "JobID")]
    pub job_id: String,
    #[serde(rename = "AllocID")]
    pub alloc_id: String,
    #[serde(default)]
    pub tags: Vec<String>,
    pub address: String,
    pub port: i64,
    /// The service block's `meta`, interpolated (an extension of Nomad's shape).
    #[serde(default)]
    pub meta: Meta,
    /// The worst status of its checks: passing, warning or critical; empty without checks
    /// (an extension of Nomad's shape).
    #[serde(default)]
    pub check_status: String,
    /// Each check's status as of its last change (an extension of Nomad's shape).
    #[serde(default)]
    pub checks: Vec<CheckStatus>,
    #[serde(default)]
    pub create_index: u64,
    #[serde(default)]
    pub modify_index: u64,
}

impl ServiceRegistration {
    /// Healthy: every check passes (or there is none). Warnings and critical results keep an
    /// instance out of a proxy.
    pub fn healthy(&self) -> bool {
        self.check_status.is_empty() || self.check_status == CHECK_PASSING
    }

    /// The same registration, ignoring what the servers stamp on it.
    pub fn same_content(&self, other: &ServiceRegistration) -> bool {
        let strip = |r: &ServiceRegistration| ServiceRegistration {
            create_index: 0,
            modify_index: 0,
            ..r.clone()
        };
        strip(self) == strip(other)
    }
}

/// The status of one check of a registration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CheckStatus {
    pub name: String,
    #[serde(rename = "Type")]
    pub check_type: String,
    /// passing | warning | critical
    pub status: String,
    /// What the probe said when the status last changed.
    #[serde(default)]
    pub output: String,
    /// The task the check belongs to; empty for a group service's check.
    #[serde(default)]
    pub task: String,
    /// healthiness (counts for deployments) or readiness (`on_update = "ignore"`).
    #[serde(default)]
    pub mode: String,
    /// Unix nanoseconds of the result that set this status.
    #[serde(default)]
    pub timestamp: i64,
}

/// The worst of several statuses (critical > warning > passing); empty for none.
pub fn worst_status<'a>(statuses: impl IntoIterator<Item = &'a str>) -> String {
    let mut worst = "";
    for s in statuses {
        let rank = |s: &str| match s {
            CHECK_CRITICAL => 3,
            CHECK_WARNING => 2,
            CHECK_PASSING => 1,
            "" => 0,
            _ => 3,
        };
        if rank(s) > rank(worst) {
            worst = s;
        }
    }
    worst.to_string()
}

/// `GET /v1/services`: per namespace, every service name with the union of its tags.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceRegistrationListStub {
    pub namespace: String,
    pub services: Vec<ServiceNameStub>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceNameStub {
    pub service_name: String,
    pub tags: Vec<String>,
}

/// The live result of one check on the client that runs it
/// (`GET /v1/client/allocation/:id/checks`, keyed by check id).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CheckQueryResult {
    #[serde(rename = "ID")]
    pub id: String,
    /// The check's name.
    pub check: String,
    pub group: String,
    /// healthiness | readiness
    pub mode: String,
    pub output: String,
    pub service: String,
    /// passing | warning | critical
    pub status: String,
    /// The HTTP status of an http check's last probe.
    #[serde(default)]
    pub status_code: i64,
    #[serde(default)]
    pub task: String,
    /// Unix seconds of the last probe.
    pub timestamp: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_status_orders_critical_over_warning_over_passing() {
        assert_eq!(worst_status([]), "");
        assert_eq!(worst_status(["passing", "passing"]), "passing");
        assert_eq!(worst_status(["passing", "warning"]), "warning");
        assert_eq!(worst_status(["warning", "critical", "passing"]), "critical");
    }

    #[test]
    fn registrations_read_nomads_json() {
        let r: ServiceRegistration = serde_json::from_str(
            r#"{"Address":"127.0.0.1","AllocID":"a","CreateIndex":14,"Datacenter":"dc1",
                "ID":"_nomad-task-a-redis-cache-db","JobID":"example","ModifyIndex":24,
                "Namespace":"default","NodeID":"n","Port":29702,"ServiceName":"cache",
                "Tags":["db"]}"#,
        )
        .unwrap();
        assert_eq!(r.port, 29702);
        assert!(r.healthy());
    }
}
