//! One file per subcommand; each exposes `Args` (clap) and `run(..) -> Result<exit code>`,
//! with the text built by pure `render` functions so it can be tested without an agent.

pub mod acl_bootstrap;
pub mod acl_policy_apply;
pub mod acl_policy_delete;
pub mod acl_policy_info;
pub mod acl_policy_list;
pub mod acl_token_create;
pub mod acl_token_delete;
mod acl_token_format;
pub mod acl_token_info;
pub mod acl_token_list;
pub mod alloc_logs;
pub mod alloc_status;
pub mod deployment_fail;
pub mod deployment_list;
pub mod deployment_pause;
pub mod deployment_promote;
pub mod deployment_status;
pub mod eval_status;
pub mod job_history;
pub mod job_init;
pub mod job_plan;
pub mod job_revert;
pub mod job_run;
pub mod job_status;
pub mod job_stop;
pub mod job_validate;
pub mod lookup;
pub mod node_drain;
pub mod node_eligibility;
pub mod node_status;
pub mod operator_raft_list_peers;
pub mod operator_raft_remove_peer;
pub mod server_members;
pub mod service_delete;
pub mod service_info;
pub mod service_list;
pub mod system_gc;
pub mod template_render;
pub mod tls_ca_create;
pub mod tls_cert_create;
#[cfg(test)]
mod tls_cert_create_tests;
