//! Wire types in Nomad's JSON shape, the jobspec parser and the HTTP client.
//!
//! Both the CLI and the agent depend on this crate; it holds no server code and no async runtime.

pub mod acl;
pub mod agent;
pub mod alloc;
pub mod alloc_jobs;
pub mod client;
mod client_acl;
pub mod client_tls;
pub mod deployment;
pub mod diff;
pub mod diff_text;
pub mod duration;
pub mod eval;
pub mod event;
pub mod filter;
pub mod fs;
pub mod gotemplate;
pub mod job;
pub mod jobspec;
pub mod namespace;
pub mod node;
pub mod node_pool;
pub mod nulls;
pub mod operator;
pub mod plan;
pub mod search;
pub mod service;
pub mod service_rules;
pub mod small_map;
pub mod stats;
pub mod time;
pub mod variable;

pub use agent::{AgentMember, ServerMembers};
pub use alloc::*;
pub use deployment::*;
pub use eval::*;
pub use job::*;
pub use node::*;
pub use operator::{RaftConfiguration, RaftServer};
pub use plan::*;
pub use service::*;

/// Nomad's rule for the names of namespaces and ACL policies: 1 to 128 letters, digits and
/// dashes.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// Short ids as the CLI prints them: the first 8 characters.
pub fn short_id(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}
