//! Namespaces: `/v1/namespaces` and `/v1/namespace/:name`. Jobs, allocations, evaluations,
//! deployments and services live in one; `default` always exists.

use crate::job::Meta;
use serde::{Deserialize, Serialize};

pub const DEFAULT_NAMESPACE: &str = "default";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Namespace {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub meta: Meta,
    #[serde(default)]
    pub create_index: u64,
    #[serde(default)]
    pub modify_index: u64,
}

impl Namespace {
    /// The one that always exists.
    pub fn default_namespace() -> Namespace {
        Namespace {
            name: DEFAULT_NAMESPACE.into(),
            description: "Default shared namespace".into(),
            ..Default::default()
        }
    }

    /// Nomad's rule: letters, digits and dashes, 1 to 128 characters.
    pub fn validate_name(name: &str) -> Result<(), String> {
        if crate::is_valid_name(name) {
            Ok(())
        } else {
            Err(format!(
                "invalid namespace name {name:?}: use 1 to 128 letters, digits and dashes"
            ))
        }
    }
}
