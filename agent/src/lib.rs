//! The agent: servers (state, raft, scheduler workers), clients (alloc and task runners, drivers)
//! and the public HTTP API. `main.rs` wires them together from the configuration.

pub mod client;
pub mod config;
pub mod drivers;
pub mod http;
pub mod rpc;
pub mod scheduler;
pub mod server;
pub mod state;
pub mod template;
pub mod tls;
