//! Command-line flags of `nomad-agent`; they override the config files.

use std::path::PathBuf;

#[derive(clap::Args, Debug, Clone, Default)]
pub struct AgentFlags {
    /// Development mode: server and client in one process, raw_exec enabled, data in a
    /// temporary directory, bound to 127.0.0.1.
    #[arg(long)]
    pub dev: bool,

    /// A config file (HCL or YAML) or a directory of them; repeat to layer several, later ones
    /// win.
    #[arg(long = "config", value_name = "FILE")]
    pub config: Vec<PathBuf>,

    /// Where the agent keeps its state.
    #[arg(long = "data-dir", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Address the HTTP and RPC listeners bind to.
    #[arg(long = "bind", value_name = "ADDR")]
    pub bind: Option<String>,

    #[arg(long = "http-port", value_name = "N")]
    pub http_port: Option<u16>,

    #[arg(long = "rpc-port", value_name = "N")]
    pub rpc_port: Option<u16>,

    /// Node name (default: the hostname).
    #[arg(long = "node", value_name = "NAME")]
    pub node: Option<String>,

    /// Datacenter of this agent.
    #[arg(long = "dc", value_name = "DC")]
    pub dc: Option<String>,

    /// Region of this agent.
    #[arg(long = "region", value_name = "REGION")]
    pub region: Option<String>,

    /// Run a server.
    #[arg(long)]
    pub server: bool,

    /// Run a client.
    #[arg(long)]
    pub client: bool,

    /// Number of servers to wait for before electing a leader.
    #[arg(long = "bootstrap-expect", value_name = "N")]
    pub bootstrap_expect: Option<u32>,

    /// A server address to join; repeat for several.
    #[arg(long = "retry-join", value_name = "ADDR")]
    pub retry_join: Vec<String>,

    /// Servers a client connects to, comma-separated.
    #[arg(long = "servers", value_name = "ADDR[,ADDR]", value_delimiter = ',')]
    pub servers: Vec<String>,

    /// Turn ACLs on (`acl { enabled = true }`).
    #[arg(long = "acl-enabled")]
    pub acl_enabled: bool,

    /// TRACE, DEBUG, INFO, WARN or ERROR.
    #[arg(long = "log-level", value_name = "LEVEL")]
    pub log_level: Option<String>,
}
