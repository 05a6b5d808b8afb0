//! Node pools: `/v1/node/pools` and `/v1/node/pool/:name`. Every node is in exactly one pool, and
//! a job places only on the nodes of its pool. `all` and `default` always exist: `all` holds every
//! node (jobs may name it, nodes may not), and `default` is where nodes and jobs that name no pool
//! go.

use crate::job::Meta;
use serde::{Deserialize, Serialize};

pub const NODE_POOL_ALL: &str = "all";
pub const NODE_POOL_DEFAULT: &str = "default";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NodePool {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub meta: Meta,
    /// Nomad Enterprise's per-pool scheduler settings: refused when set (see [`NodePool::validate`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduler_configuration: Option<serde_json::Value>,
    #[serde(default)]
    pub create_index: u64,
    #[serde(default)]
    pub modify_index: u64,
}

impl NodePool {
    /// The two pools that always exist, in name order.
    pub fn built_in() -> [NodePool; 2] {
        [
            NodePool {
                name: NODE_POOL_ALL.into(),
                description: "Node pool with all nodes in the cluster.".into(),
                ..Default::default()
            },
            NodePool {
                name: NODE_POOL_DEFAULT.into(),
                description: "Default node pool.".into(),
                ..Default::default()
            },
        ]
    }

    pub fn is_built_in(name: &str) -> bool {
        name == NODE_POOL_ALL || name == NODE_POOL_DEFAULT
    }

    /// What an operator may write: a valid name, not a built-in pool, no enterprise settings.
    pub fn validate(&self) -> Result<(), String> {
        validate_pool_name(&self.name)?;
        if Self::is_built_in(&self.name) {
            return Err(format!(
                "modifying node pool {:?} is not allowed: it is built in",
                self.name
            ));
        }
        if self.description.len() > 256 {
            return Err(format!(
                "node pool {:?}: the description is {} characters, more than 256",
                self.name,
                self.description.len()
            ));
        }
        if self.scheduler_configuration.is_some() {
            return Err(format!(
                "node pool {:?}: scheduler_config is not supported (a Nomad Enterprise setting)",
                self.name
            ));
        }
        Ok(())
    }
}

/// Nomad's rule for pool names: 1 to 128 letters, digits, `-` and `_`.
pub fn validate_pool_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid node pool name {name:?}: use 1 to 128 letters, digits, dashes and underscores"
        ))
    }
}

/// Where a node that names no pool goes (serde's default for [`crate::Node::node_pool`]).
pub fn default_pool() -> String {
    NODE_POOL_DEFAULT.into()
}

/// Whether a job of pool `job_pool` may place on a node of pool `node_pool`. An empty name is
/// `default`: jobs are only filled in when registered, and nodes when they register.
pub fn pool_admits(job_pool: &str, node_pool: &str) -> bool {
    let job_pool = if job_pool.is_empty() {
        NODE_POOL_DEFAULT
    } else {
        job_pool
    };
    let node_pool = if node_pool.is_empty() {
        NODE_POOL_DEFAULT
    } else {
        node_pool
    };
    job_pool == NODE_POOL_ALL || job_pool == node_pool
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_built_ins_and_matching() {
        assert!(validate_pool_name("prod_eu-1").is_ok());
        assert!(validate_pool_name("").is_err());
        assert!(validate_pool_name("a b").is_err());
        let err = NodePool {
            name: "all".into(),
            ..Default::default()
        }
        .validate()
        .unwrap_err();
        assert!(err.contains("not allowed"), "{err}");
        let err = NodePool {
            name: "gpu".into(),
            scheduler_configuration: Some(serde_json::json!({})),
            ..Default::default()
        }
        .validate()
        .unwrap_err();
        assert!(err.contains("scheduler_config is not supported"), "{err}");
        assert!(pool_admits("all", "gpu"));
        assert!(pool_admits("gpu", "gpu"));
        assert!(!pool_admits("default", "gpu"));
        assert!(pool_admits("", "default") && pool_admits("default", ""));
    }
}
