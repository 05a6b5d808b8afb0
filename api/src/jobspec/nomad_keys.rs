//! Nomad's own vocabulary, so that a real Nomad block or attribute this orchestrator does not
//! implement is refused as "not supported", never mistaken for a typo with a "did you mean".

/// Keys Nomad accepts in a job, by the kind of block that holds them. Only the keys are listed;
/// the ones implemented here never reach this table.
const JOB: &[&str] = &[
    "consul",
    "consul_token",
    "id",
    "multiregion",
    "ui",
    "vault",
    "vault_token",
];

const GROUP: &[&str] = &[
    "consul",
    "prevent_reschedule_on_lost",
    "stop_after_client_disconnect",
    "vault",
];

const TASK: &[&str] = &[
    "action",
    "consul",
    "csi_plugin",
    "identity",
    "kind",
    "schedule",
    "vault",
];

const NETWORK: &[&str] = &["cni", "dns", "hostname"];

const SERVICE: &[&str] = &["connect", "identity", "cluster", "kind"];

const CHECK: &[&str] = &[
    "grpc_service",
    "grpc_use_tls",
    "expose",
    "body",
    "success_before_passing",
    "failures_before_warning",
];

const RESOURCES: &[&str] = &["numa", "secrets"];

/// The client stopping its own allocations while disconnected.
const DISCONNECT: &[&str] = &["stop_on_client_after"];

/// Nomad Enterprise's per-pool scheduler settings.
const NODE_POOL: &[&str] = &["scheduler_config"];

/// Blocks that are not supported wherever they appear, with what they are.
const ANYWHERE: &[(&str, &str)] = &[
    ("multiregion", "multi-region deployments"),
    ("connect", "Consul Connect service mesh"),
    ("csi_plugin", "CSI plugins"),
    ("vault", "Vault integration"),
    ("device", "device plugins"),
    ("sidecar_service", "Consul Connect service mesh"),
    ("sidecar_task", "Consul Connect service mesh"),
];

/// Why an unknown `key` in the block described as `what` (`job "web"`, `group "g"`, `the
/// network of group "g"`) is a real Nomad feature, or `None` when it is not one.
pub fn not_supported(key: &str, what: &str) -> Option<String> {
    if let Some((_, about)) = ANYWHERE.iter().find(|(k, _)| *k == key) {
        return Some(format!("{key:?} is not supported in {what} ({about})"));
    }
    let kind = if what.starts_with("node_pool ") {
        NODE_POOL
    } else if what.starts_with("job ") {
        JOB
    } else if what.starts_with("group ") {
        GROUP
    } else if what.starts_with("task ") {
        TASK
    } else if what.starts_with("the disconnect block") {
        DISCONNECT
    } else if what.contains("network") {
        NETWORK
    } else if what.contains("check") {
        CHECK
    } else if what.contains("service") {
        SERVICE
    } else if what.contains("resources") {
        RESOURCES
    } else {
        &[]
    };
    kind.contains(&key)
        .then(|| format!("{key:?} is not supported in {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_nomad_keys_are_named_and_others_are_not() {
        assert_eq!(
            not_supported("multiregion", "job \"x\"").unwrap(),
            "\"multiregion\" is not supported in job \"x\" (multi-region deployments)"
        );
        assert!(not_supported("vault", "job \"x\"").is_some());
        assert!(not_supported("periodic", "group \"g\"").is_none());
        assert!(not_supported("dns", "the network of group \"g\"").is_some());
        assert!(not_supported("drivr", "task \"t\"").is_none());
    }
}
