//! One file per subcommand; each exposes `Args` (clap) and `run(..) -> Result<exit code>`,
//! with the text built by pure `render` functions so it can be tested without an agent.

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
pub mod template_render;
