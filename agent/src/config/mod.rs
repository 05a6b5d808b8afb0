//! Agent configuration: defaults <- config files (HCL or YAML) <- command-line flags, into one
//! typed [`Config`].

mod blocks;
mod file;
mod flags;
#[cfg(test)]
mod tests;

pub use file::{apply_path, apply_str};
pub use flags::AgentFlags;

use api::jobspec::JobspecError;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A config file that cannot be read or decoded (`file:line:col: message`).
    #[error(transparent)]
    File(#[from] JobspecError),
    /// A combination of settings that cannot work.
    #[error("{0}")]
    Invalid(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ports {
    pub http: u16,
    pub rpc: u16,
    pub serf: u16,
}

impl Default for Ports {
    fn default() -> Self {
        Ports {
            http: 4646,
            rpc: 4647,
            serf: 4648,
        }
    }
}

/// `addresses {}` / `advertise {}`: per-listener overrides of `bind_addr`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Addresses {
    pub http: Option<String>,
    pub rpc: Option<String>,
    pub serf: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerConfig {
    pub enabled: bool,
    pub bootstrap_expect: u32,
    /// Servers to join (`server_join { retry_join = [...] }`, `--retry-join`).
    pub retry_join: Vec<String>,
    /// Raft log entries between snapshots (`raft_snapshot_threshold`).
    pub raft_snapshot_threshold: u64,
    /// Raft log entries kept behind a snapshot so a lagging follower catches up from the log
    /// (`raft_trailing_logs`).
    pub raft_trailing_logs: u64,
    /// How often a server checks whether `raft_snapshot_threshold` entries accumulated, stretched
    /// at random by up to as much again (`raft_snapshot_interval`).
    pub raft_snapshot_interval: std::time::Duration,
    /// Scheduler workers (`num_schedulers`); 0 = four per core.
    pub num_schedulers: usize,
    /// Heartbeat settings with Nomad's names; None keeps our defaults (see
    /// `server::HeartbeatConfig`).
    pub min_heartbeat_ttl: Option<std::time::Duration>,
    pub heartbeat_grace: Option<std::time::Duration>,
    pub max_heartbeats_per_second: Option<u32>,
    pub failover_heartbeat_ttl: Option<std::time::Duration>,
    /// Garbage collection (`job_gc_interval` and the `*_gc_threshold`s); None keeps Nomad's
    /// defaults (see `state::GcThresholds`).
    pub gc: ServerGcConfig,
    /// `job_max_group_count`; None keeps the default (100,000).
    pub job_max_group_count: Option<u32>,
}

/// The server block's garbage collection settings, with Nomad's names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerGcConfig {
    pub job_gc_interval: Option<std::time::Duration>,
    pub job_gc_threshold: Option<std::time::Duration>,
    pub eval_gc_threshold: Option<std::time::Duration>,
    pub batch_eval_gc_threshold: Option<std::time::Duration>,
    pub deployment_gc_threshold: Option<std::time::Duration>,
    pub node_gc_threshold: Option<std::time::Duration>,
}

/// Defaults for the raft log: a snapshot every 8192 entries, 2048 kept behind it.
pub const DEFAULT_RAFT_SNAPSHOT_THRESHOLD: u64 = 8192;
pub const DEFAULT_RAFT_TRAILING_LOGS: u64 = 2048;
/// Nomad's (hashicorp/raft's) default check interval for snapshots.
pub const DEFAULT_RAFT_SNAPSHOT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(120);

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientConfig {
    pub enabled: bool,
    pub servers: Vec<String>,
    pub node_class: String,
    /// `node_pool`: the pool the node registers in (empty: `default`).
    pub node_pool: String,
    pub meta: BTreeMap<String, String>,
    pub network_interface: String,
    /// MHz; 0 = detect.
    pub cpu_total_compute: u64,
    /// 0 = detect.
    pub memory_total_mb: u64,
    /// Nomad's client `options` (e.g. `"driver.raw_exec.enable" = "1"`).
    pub options: BTreeMap<String, String>,
    /// exec's chroot: host path -> path inside (`chroot_env { "/bin" = "/bin" }`); empty = the
    /// default list.
    pub chroot_env: BTreeMap<String, String>,
    /// Removal of finished allocations' directories (`gc_interval`, `gc_max_allocs`,
    /// `gc_disk_usage_threshold`); None keeps Nomad's defaults.
    pub gc_interval: Option<std::time::Duration>,
    pub gc_max_allocs: Option<usize>,
    /// Percent of the data dir's file system.
    pub gc_disk_usage_threshold: Option<u8>,
    /// `host_volume "name" { path read_only }`: directories offered to jobs.
    pub host_volumes: BTreeMap<String, api::ClientHostVolumeConfig>,
}

/// `consul { address token }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsulConfig {
    /// "host:port" or a URL of the local Consul agent's HTTP API.
    pub address: String,
    pub token: Option<String>,
}

/// `tls { http rpc ca_file cert_file key_file verify_server_hostname verify_https_client }`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsConfig {
    /// HTTPS on the HTTP API.
    pub http: bool,
    /// Mutual TLS on the rpc port (and for every rpc this agent dials).
    pub rpc: bool,
    pub ca_file: PathBuf,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// Peers must present `server.<region>.nomad` to act as servers.
    pub verify_server_hostname: bool,
    /// Every HTTPS caller must present a certificate signed by the CA.
    pub verify_https_client: bool,
    /// `tls_min_version = "tls13"`: refuse TLS 1.2.
    pub tls13_only: bool,
}

impl TlsConfig {
    pub fn enabled(&self) -> bool {
        self.http || self.rpc
    }
}

/// `limits { http_max_conns_per_client rpc_max_conns_per_client }`: 0 means no limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitsConfig {
    pub http_max_conns_per_client: u32,
    pub rpc_max_conns_per_client: u32,
}

impl Default for LimitsConfig {
    /// Nomad's defaults.
    fn default() -> Self {
        LimitsConfig {
            http_max_conns_per_client: 100,
            rpc_max_conns_per_client: 100,
        }
    }
}

/// `acl { enabled }`: every API request and client call must carry a token its policies allow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AclConfig {
    pub enabled: bool,
}

/// One `template` block: a minijinja template rendered from the service catalog into a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateConfig {
    pub source: PathBuf,
    pub destination: PathBuf,
    /// A command that must succeed with the new file in place (`nginx -t`), else it is undone.
    pub check: Option<String>,
    /// Run after a change was kept (`nginx -s reload`).
    pub command: Option<String>,
    pub perms: u32,
    /// A change is rendered once the catalog has been quiet for `wait_min`, and at the latest
    /// `wait_max` after the first change of a burst.
    pub wait_min: std::time::Duration,
    pub wait_max: std::time::Duration,
    /// How long `check` and `command` may run.
    pub command_timeout: std::time::Duration,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// Node name; defaults to the hostname.
    pub name: String,
    pub datacenter: String,
    pub region: String,
    /// None: in --dev the caller uses a temporary directory.
    pub data_dir: Option<PathBuf>,
    pub bind_addr: String,
    pub ports: Ports,
    pub addresses: Addresses,
    pub advertise: Addresses,
    /// TRACE, DEBUG, INFO, WARN or ERROR.
    pub log_level: String,
    pub server: ServerConfig,
    pub client: ClientConfig,
    /// `plugin "raw_exec" { config { enabled = true } }` -> `{"raw_exec": {"enabled": true}}`.
    pub plugins: BTreeMap<String, serde_json::Value>,
    pub dev_mode: bool,
    pub consul: Option<ConsulConfig>,
    /// The agent's own template renderer (`template` blocks).
    pub templates: Vec<TemplateConfig>,
    pub tls: TlsConfig,
    pub limits: LimitsConfig,
    pub acl: AclConfig,
}

impl Config {
    /// The defaults before any file or flag: Nomad's, with `--dev`'s changes when `dev` is set.
    pub fn defaults(dev: bool) -> Config {
        Config {
            name: hostname(),
            datacenter: "dc1".into(),
            region: "global".into(),
            tls: TlsConfig::default(),
            limits: LimitsConfig::default(),
            acl: AclConfig::default(),
            data_dir: None,
            bind_addr: if dev { "127.0.0.1" } else { "0.0.0.0" }.into(),
            ports: Ports::default(),
            addresses: Addresses::default(),
            advertise: Addresses::default(),
            log_level: "INFO".into(),
            server: ServerConfig {
                enabled: dev,
                bootstrap_expect: u32::from(dev),
                retry_join: Vec::new(),
                raft_snapshot_threshold: DEFAULT_RAFT_SNAPSHOT_THRESHOLD,
                raft_trailing_logs: DEFAULT_RAFT_TRAILING_LOGS,
                raft_snapshot_interval: DEFAULT_RAFT_SNAPSHOT_INTERVAL,
                num_schedulers: 0,
                min_heartbeat_ttl: None,
                heartbeat_grace: None,
                max_heartbeats_per_second: None,
                failover_heartbeat_ttl: None,
                gc: ServerGcConfig::default(),
                job_max_group_count: None,
            },
            client: ClientConfig {
                enabled: dev,
                ..ClientConfig::default()
            },
            plugins: BTreeMap::new(),
            dev_mode: dev,
            consul: None,
            templates: Vec::new(),
        }
    }

    /// raw_exec runs tasks without isolation, so it is off unless the plugin config (or the
    /// older client option `driver.raw_exec.enable`) turns it on, or in --dev.
    /// The client's driver settings: raw_exec's switch, exec's `chroot_env`, and whether tasks
    /// may run as root (`options { "user.allow_root" = "true" }`, our extension).
    pub fn driver_settings(&self) -> crate::drivers::DriverSettings {
        crate::drivers::DriverSettings {
            raw_exec_enabled: self.raw_exec_enabled(),
            chroot_env: (!self.client.chroot_env.is_empty()).then(|| {
                self.client
                    .chroot_env
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            }),
            allow_root: self
                .client
                .options
                .get("user.allow_root")
                .is_some_and(|v| file::truthy(&serde_json::Value::String(v.clone()))),
            allowlist: self.driver_list("driver.allowlist"),
            denylist: self.driver_list("driver.denylist").unwrap_or_default(),
            docker: self.docker_host_access(),
            local_artifacts: self
                .client
                .options
                .get("artifact.allow_local")
                .is_some_and(|v| file::truthy(&serde_json::Value::String(v.clone()))),
        }
    }

    /// The docker plugin's host access settings (checked when the config was read).
    fn docker_host_access(&self) -> crate::drivers::docker::host_access::HostAccess {
        use crate::drivers::docker::host_access::{normalize_cap, HostAccess};
        let plugin = self.plugins.get("docker");
        let defaults = HostAccess::default();
        HostAccess {
            volumes: plugin
                .and_then(|p| p.get("volumes"))
                .and_then(|v| v.get("enabled"))
                .is_some_and(file::truthy),
            privileged: plugin
                .and_then(|p| p.get("allow_privileged"))
                .is_some_and(file::truthy),
            allow_caps: plugin
                .and_then(|p| p.get("allow_caps"))
                .and_then(|v| v.as_array())
                .map_or(defaults.allow_caps, |caps| {
                    caps.iter()
                        .filter_map(|c| c.as_str())
                        .map(normalize_cap)
                        .collect()
                }),
        }
    }

    /// A comma-separated client option such as `driver.allowlist`, split and trimmed.
    fn driver_list(&self, key: &str) -> Option<Vec<String>> {
        self.client.options.get(key).map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        })
    }

    pub fn raw_exec_enabled(&self) -> bool {
        if self.dev_mode {
            return true;
        }
        let by_plugin = self
            .plugins
            .get("raw_exec")
            .and_then(|p| p.get("enabled"))
            .is_some_and(file::truthy);
        let by_option = self
            .client
            .options
            .get("driver.raw_exec.enable")
            .is_some_and(|v| matches!(v.as_str(), "1" | "true"));
        by_plugin || by_option
    }

    /// Defaults, then each `--config` file in order, then the flags; then checks the result.
    pub fn load(flags: &AgentFlags) -> Result<Config, ConfigError> {
        let mut cfg = Config::defaults(flags.dev);
        for path in &flags.config {
            file::apply_path(&mut cfg, path)?;
        }
        cfg.apply_flags(flags)?;
        cfg.check()?;
        Ok(cfg)
    }

    fn apply_flags(&mut self, f: &AgentFlags) -> Result<(), ConfigError> {
        if let Some(v) = &f.data_dir {
            self.data_dir = Some(v.clone());
        }
        if let Some(v) = &f.bind {
            self.bind_addr = v.clone();
        }
        if let Some(v) = f.http_port {
            self.ports.http = v;
        }
        if let Some(v) = f.rpc_port {
            self.ports.rpc = v;
        }
        if let Some(v) = &f.node {
            self.name = v.clone();
        }
        if let Some(v) = &f.dc {
            self.datacenter = v.clone();
        }
        if let Some(v) = &f.region {
            self.region = v.clone();
        }
        if f.server || f.dev {
            self.server.enabled = true;
        }
        if f.client || f.dev {
            self.client.enabled = true;
        }
        if let Some(v) = f.bootstrap_expect {
            self.server.bootstrap_expect = v;
        }
        if f.acl_enabled {
            self.acl.enabled = true;
        }
        if !f.retry_join.is_empty() {
            self.server.retry_join = f.retry_join.clone();
        }
        let servers: Vec<String> = f
            .servers
            .iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        if !servers.is_empty() {
            self.client.servers = servers;
        }
        if let Some(v) = &f.log_level {
            self.log_level = normalize_log_level(v)
                .map_err(|m| ConfigError::Invalid(format!("--log-level: {m}")))?;
        }
        Ok(())
    }

    fn check(&self) -> Result<(), ConfigError> {
        if !self.dev_mode && !self.server.enabled && !self.client.enabled {
            return Err(ConfigError::Invalid(
                "neither a server nor a client is enabled: pass --server and/or --client, set \
                 `server { enabled = true }` or `client { enabled = true }` in a config file, or \
                 use --dev"
                    .into(),
            ));
        }
        if self.name.trim().is_empty() {
            return Err(ConfigError::Invalid(
                "the node name must not be empty".into(),
            ));
        }
        if self.datacenter.trim().is_empty() || self.region.trim().is_empty() {
            return Err(ConfigError::Invalid(
                "datacenter and region must not be empty".into(),
            ));
        }
        for key in ["driver.allowlist", "driver.denylist"] {
            for name in self.driver_list(key).unwrap_or_default() {
                if !crate::drivers::BUILTIN_DRIVER_NAMES.contains(&name.as_str()) {
                    return Err(ConfigError::Invalid(format!(
                        "client option {key:?} names {name:?}, which is not a driver of this \
                         agent (it has {})",
                        crate::drivers::BUILTIN_DRIVER_NAMES.join(", ")
                    )));
                }
            }
        }
        let p = &self.ports;
        let clash = |a: u16, b: u16| a != 0 && a == b;
        if clash(p.http, p.rpc) || clash(p.http, p.serf) || clash(p.rpc, p.serf) {
            return Err(ConfigError::Invalid(format!(
                "the http, rpc and serf ports must differ (got {}, {}, {})",
                p.http, p.rpc, p.serf
            )));
        }
        Ok(())
    }
}

/// A log level other than the ones the agent knows, as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("log level {0:?} must be one of TRACE, DEBUG, INFO, WARN, ERROR")]
pub(crate) struct UnknownLogLevel(pub String);

/// Uppercases a log level after checking it is one we know.
pub(crate) fn normalize_log_level(v: &str) -> Result<String, UnknownLogLevel> {
    let up = v.trim().to_ascii_uppercase();
    match up.as_str() {
        "TRACE" | "DEBUG" | "INFO" | "WARN" | "ERROR" => Ok(up),
        _ => Err(UnknownLogLevel(v.to_string())),
    }
}

fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}
