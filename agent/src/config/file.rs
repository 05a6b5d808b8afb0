//! Agent config files (HCL or YAML with Nomad's keys) applied onto a [`Config`].
//!
//! Decoding writes only what the file sets, so layering files is applying them in order. The
//! positioned tree and its typed reader come from `api::jobspec`, so errors read like the job
//! parser's: `agent.hcl:3:1: unknown block "sever"; did you mean "server"?`.

use super::{Addresses, Config};
use api::jobspec::decode::{Block, Fields, Result};
use api::jobspec::tree::{Body, Pos, TreeError};
use api::jobspec::{parse_tree, Format, JobspecError};
use std::path::Path;

/// Reads one config file, or every `.hcl`/`.yaml`/`.yml` file of a directory in name order, onto
/// `cfg`.
pub fn apply_path(cfg: &mut Config, path: &Path) -> std::result::Result<(), JobspecError> {
    let name = path.display().to_string();
    if path.is_dir() {
        let entries = std::fs::read_dir(path).map_err(|e| {
            JobspecError::whole_file(&name, format!("cannot read the config directory: {e}"))
        })?;
        let mut files: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| matches!(Format::from_path(p), Some(Format::Hcl | Format::Yaml)))
            .collect();
        files.sort();
        for f in files {
            apply_path(cfg, &f)?;
        }
        return Ok(());
    }
    let src = std::fs::read_to_string(path).map_err(|e| {
        JobspecError::whole_file(&name, format!("cannot read the config file: {e}"))
    })?;
    let format = Format::from_path(path).unwrap_or_else(|| Format::sniff(&src));
    apply_str(cfg, &src, &name, format)
}

/// Applies config text of the given format onto `cfg`; `name` is used in error messages.
pub fn apply_str(
    cfg: &mut Config,
    src: &str,
    name: &str,
    format: Format,
) -> std::result::Result<(), JobspecError> {
    if format == Format::Json {
        return Err(JobspecError::whole_file(
            name,
            "JSON agent config files are not supported: write HCL or YAML",
        ));
    }
    let body = parse_tree(src, name, format)?;
    apply_body(cfg, &body).map_err(|e| JobspecError::from_tree(name, e))
}

/// Nomad's top-level blocks that this agent does not implement, with what to know about each.
/// Writing one stops the agent with its name: nothing in a config is accepted and then ignored.
const UNSUPPORTED_BLOCKS: &[(&str, &str)] = &[
    ("vault", "Vault integration is not implemented"),
    ("telemetry", "telemetry is not implemented"),
    ("audit", "audit logging is not implemented"),
    ("sentinel", "Sentinel policies are not implemented"),
    (
        "autopilot",
        "autopilot is not implemented: retire a server with `nomadctl operator raft remove-peer`",
    ),
    ("ui", "the web UI is not implemented yet"),
];

/// Refuses `key` in `f` if it is present: "`<what>` is not supported: <why>".
pub(super) fn refuse(f: &Fields, key: &str, what: &str, why: &str) -> Result<()> {
    match f.get(key) {
        Some(e) => Err(TreeError::new(
            e.pos,
            format!("{what} is not supported: {why}"),
        )),
        None => Ok(()),
    }
}

/// Accepts a boolean that asks for what this agent does anyway, refuses the other value.
fn refuse_bool(f: &Fields, key: &str, supported: bool, what: &str, why: &str) -> Result<()> {
    if f.bool(key)?.is_some_and(|v| v != supported) {
        let pos = f.get(key).map_or(f.pos(), |e| e.pos);
        return Err(TreeError::new(
            pos,
            format!("{what} = {} is not supported: {why}", !supported),
        ));
    }
    Ok(())
}

fn apply_body(cfg: &mut Config, body: &Body) -> Result<()> {
    let mut single = vec![
        "name",
        "datacenter",
        "region",
        "data_dir",
        "bind_addr",
        "log_level",
        "log_json",
        "log_file",
        "enable_debug",
        "enable_syslog",
        "leave_on_interrupt",
        "leave_on_terminate",
        "disable_update_check",
        "plugin_dir",
        "ports",
        "addresses",
        "advertise",
        "server",
        "client",
        "consul",
        "tls",
        "limits",
        "acl",
    ];
    single.extend(UNSUPPORTED_BLOCKS.iter().map(|(k, _)| *k));
    let f = Fields::new(
        Block::new(body, Pos { line: 1, col: 1 }, "the agent config"),
        &single,
        &["plugin", "template"],
    )?;
    if let Some(v) = f.string("name")? {
        cfg.name = v;
    }
    if let Some(v) = f.string("datacenter")? {
        cfg.datacenter = v;
    }
    if let Some(v) = f.string("region")? {
        cfg.region = v;
    }
    if let Some(v) = f.string("data_dir")? {
        cfg.data_dir = Some(v.into());
    }
    if let Some(v) = f.string("bind_addr")? {
        cfg.bind_addr = v;
    }
    if let Some(v) = f.string("log_level")? {
        let pos = f.get("log_level").map_or(f.pos(), |e| e.value.pos);
        cfg.log_level =
            super::normalize_log_level(&v).map_err(|e| TreeError::new(pos, e.to_string()))?;
    }
    for (key, why) in UNSUPPORTED_BLOCKS {
        refuse(&f, key, key, why)?;
    }
    // Logs go to stderr as text (systemd's journal keeps them); there is no debug endpoint, no
    // graceful leave, and no plugin directory: only the other value of each is accepted.
    refuse_bool(&f, "log_json", false, "log_json", "logs are text on stderr")?;
    refuse_bool(
        &f,
        "enable_syslog",
        false,
        "enable_syslog",
        "logs go to stderr (the journal under systemd)",
    )?;
    refuse_bool(
        &f,
        "enable_debug",
        false,
        "enable_debug",
        "there are no debug endpoints",
    )?;
    for key in ["leave_on_interrupt", "leave_on_terminate"] {
        refuse_bool(&f, key, false, key, "a stopping agent does not leave the cluster; remove a server with `nomadctl operator raft remove-peer`")?;
    }
    refuse(
        &f,
        "log_file",
        "log_file",
        "logs go to stderr (the journal under systemd)",
    )?;
    refuse(&f, "plugin_dir", "plugin_dir", "the drivers are built in")?;
    // This agent never checks for updates, so either value is honoured.
    f.bool("disable_update_check")?;
    if let Some(b) = f.block("ports", "the ports block")? {
        let p = Fields::new(b, &["http", "rpc", "serf"], &[])?;
        if let Some(v) = p.int_as("http")? {
            cfg.ports.http = v;
        }
        if let Some(v) = p.int_as("rpc")? {
            cfg.ports.rpc = v;
        }
        if let Some(v) = p.int_as("serf")? {
            cfg.ports.serf = v;
        }
    }
    if let Some(b) = f.block("addresses", "the addresses block")? {
        addresses(b, &mut cfg.addresses)?;
    }
    if let Some(b) = f.block("advertise", "the advertise block")? {
        addresses(b, &mut cfg.advertise)?;
    }
    if let Some(b) = f.block("server", "the server block")? {
        server(cfg, b)?;
    }
    if let Some(b) = f.block("client", "the client block")? {
        client(cfg, b)?;
    }
    if let Some(b) = f.block("tls", "the tls block")? {
        cfg.tls = super::blocks::tls(b)?;
    }
    if let Some(b) = f.block("acl", "the acl block")? {
        cfg.acl = super::blocks::acl(b)?;
    }
    if let Some(b) = f.block("limits", "the limits block")? {
        cfg.limits = super::blocks::limits(b)?;
    }
    if let Some(b) = f.block("consul", "the consul block")? {
        cfg.consul = Some(super::blocks::consul(b)?);
    }
    for b in f.blocks("template", "a template block of the agent")? {
        cfg.templates.push(super::blocks::template(b)?);
    }
    for (label, body, pos) in f.labelled("plugin")? {
        let what = format!("plugin {:?}", label.name);
        let p = Fields::new(
            Block::new(body, pos, what.clone()),
            &["config", "args"],
            &[],
        )?;
        if !crate::drivers::BUILTIN_DRIVER_NAMES.contains(&label.name.as_str()) {
            return Err(TreeError::new(
                pos,
                format!(
                    "{what}: external plugins are not supported; the drivers are built in ({})",
                    crate::drivers::BUILTIN_DRIVER_NAMES.join(", ")
                ),
            ));
        }
        refuse(
            &p,
            "args",
            &format!("{what} args"),
            "the drivers are built in",
        )?;
        let config = p.json_map("config")?.unwrap_or_default();
        // Only raw_exec's switch and docker's host access settings are read from a plugin's
        // config; any other setting would be ignored, so it is refused by name.
        for (key, value) in &config {
            let known = match (label.name.as_str(), key.as_str()) {
                ("raw_exec", "enabled") => true,
                ("docker", "volumes") => value
                    .as_object()
                    .is_some_and(|o| o.keys().all(|k| k == "enabled")),
                ("docker", "allow_privileged") => value.is_boolean() || value.is_string(),
                ("docker", "allow_caps") => value
                    .as_array()
                    .is_some_and(|caps| caps.iter().all(|c| c.is_string())),
                _ => false,
            };
            if !known {
                let at = p.get("config").map_or(pos, |e| e.pos);
                return Err(TreeError::new(
                    at,
                    format!("{what} config.{key} is not supported"),
                ));
            }
        }
        cfg.plugins.insert(
            label.name.clone(),
            serde_json::Value::Object(config.into_iter().collect()),
        );
    }
    Ok(())
}

fn addresses(b: Block, into: &mut Addresses) -> Result<()> {
    let a = Fields::new(b, &["http", "rpc", "serf"], &[])?;
    if let Some(v) = a.string("http")? {
        into.http = Some(v);
    }
    if let Some(v) = a.string("rpc")? {
        into.rpc = Some(v);
    }
    if let Some(v) = a.string("serf")? {
        into.serf = Some(v);
    }
    Ok(())
}

/// `server_join { retry_join = [...] }`: the addresses to join (other keys are accepted).
fn server_join(b: Block) -> Result<Vec<String>> {
    let j = Fields::new(
        b,
        &["retry_join", "retry_max", "retry_interval", "start_join"],
        &[],
    )?;
    j.int("retry_max")?;
    j.duration("retry_interval")?;
    let mut out = j.strings("retry_join")?.unwrap_or_default();
    out.extend(j.strings("start_join")?.unwrap_or_default());
    Ok(out)
}

fn server(cfg: &mut Config, b: Block) -> Result<()> {
    let s = Fields::new(
        b,
        &[
            "enabled",
            "bootstrap_expect",
            "server_join",
            "retry_join",
            "start_join",
            "data_dir",
            "encrypt",
            "num_schedulers",
            "enabled_schedulers",
            "heartbeat_grace",
            "raft_protocol",
            "authoritative_region",
            "node_gc_threshold",
            "job_gc_threshold",
            "eval_gc_threshold",
            "batch_eval_gc_threshold",
            "deployment_gc_threshold",
            "job_gc_interval",
            "job_max_group_count",
            "raft_snapshot_threshold",
            "raft_trailing_logs",
            "raft_snapshot_interval",
            "min_heartbeat_ttl",
            "max_heartbeats_per_second",
            "failover_heartbeat_ttl",
        ],
        &[],
    )?;
    if let Some(v) = s.bool("enabled")? {
        cfg.server.enabled = v;
    }
    if let Some(v) = s.int_as("bootstrap_expect")? {
        cfg.server.bootstrap_expect = v;
    }
    if let Some(v) = s.strings("retry_join")? {
        cfg.server.retry_join = v;
    }
    if let Some(v) = s.strings("start_join")? {
        cfg.server.retry_join.extend(v);
    }
    if let Some(j) = s.block("server_join", "the server_join block of the server")? {
        cfg.server.retry_join = server_join(j)?;
    }
    refuse(
        &s,
        "data_dir",
        "server.data_dir",
        "set the agent's data_dir",
    )?;
    refuse(
        &s,
        "encrypt",
        "server.encrypt",
        "there is no gossip layer to encrypt: the tls block secures the rpc port",
    )?;
    refuse(
        &s,
        "authoritative_region",
        "server.authoritative_region",
        "there is one region",
    )?;
    refuse(
        &s,
        "enabled_schedulers",
        "server.enabled_schedulers",
        "every server schedules service, batch and system jobs",
    )?;
    if let Some(v) = s.duration("heartbeat_grace")? {
        cfg.server.heartbeat_grace = Some(v);
    }
    if let Some(v) = s.duration("min_heartbeat_ttl")? {
        cfg.server.min_heartbeat_ttl = Some(v);
    }
    if let Some(v) = s.duration("failover_heartbeat_ttl")? {
        cfg.server.failover_heartbeat_ttl = Some(v);
    }
    if let Some(v) = s.int_as("max_heartbeats_per_second")? {
        cfg.server.max_heartbeats_per_second = Some(v);
    }
    let gc = &mut cfg.server.gc;
    for (key, slot) in [
        ("job_gc_interval", &mut gc.job_gc_interval),
        ("job_gc_threshold", &mut gc.job_gc_threshold),
        ("eval_gc_threshold", &mut gc.eval_gc_threshold),
        ("batch_eval_gc_threshold", &mut gc.batch_eval_gc_threshold),
        ("deployment_gc_threshold", &mut gc.deployment_gc_threshold),
        ("node_gc_threshold", &mut gc.node_gc_threshold),
    ] {
        if let Some(v) = s.duration(key)? {
            *slot = Some(v);
        }
    }
    if gc.job_gc_interval.is_some_and(|d| d.is_zero()) {
        let pos = s.get("job_gc_interval").map_or(s.pos(), |e| e.pos);
        return Err(TreeError::new(
            pos,
            "server.job_gc_interval must be more than 0s",
        ));
    }
    if let Some(v) = s.int_as::<u32>("job_max_group_count")? {
        if v == 0 {
            let pos = s.get("job_max_group_count").map_or(s.pos(), |e| e.pos);
            return Err(TreeError::new(
                pos,
                "server.job_max_group_count must be at least 1",
            ));
        }
        cfg.server.job_max_group_count = Some(v);
    }
    if let Some(v) = s.int_as("num_schedulers")? {
        cfg.server.num_schedulers = v;
    }
    if let Some(v) = s.int_as("raft_snapshot_threshold")? {
        cfg.server.raft_snapshot_threshold = v;
    }
    if let Some(v) = s.int_as("raft_trailing_logs")? {
        cfg.server.raft_trailing_logs = v;
    }
    if let Some(v) = s.duration("raft_snapshot_interval")? {
        cfg.server.raft_snapshot_interval = v;
    }
    if s.int("raft_protocol")?.is_some_and(|v| v != 3) {
        let pos = s.get("raft_protocol").map_or(s.pos(), |e| e.pos);
        return Err(TreeError::new(
            pos,
            "server.raft_protocol: only 3 is supported",
        ));
    }
    Ok(())
}

fn client(cfg: &mut Config, b: Block) -> Result<()> {
    let c = Fields::new(
        b,
        &[
            "enabled",
            "servers",
            "server_join",
            "node_class",
            "node_pool",
            "meta",
            "network_interface",
            "cpu_total_compute",
            "memory_total_mb",
            "options",
            "reserved",
            "state_dir",
            "alloc_dir",
            "gc_interval",
            "gc_max_allocs",
            "gc_disk_usage_threshold",
            "gc_inode_usage_threshold",
            "gc_parallel_destroys",
            "drain_on_shutdown",
            "chroot_env",
        ],
        &["host_volume", "host_network"],
    )?;
    if let Some(v) = c.bool("enabled")? {
        cfg.client.enabled = v;
    }
    if let Some(v) = c.strings("servers")? {
        cfg.client.servers = v;
    }
    if let Some(j) = c.block("server_join", "the server_join block of the client")? {
        cfg.client.servers.extend(server_join(j)?);
    }
    if let Some(v) = c.string("node_class")? {
        cfg.client.node_class = v;
    }
    if let Some(v) = c.string("node_pool")? {
        let pos = c.get("node_pool").map_or(c.pos(), |e| e.pos);
        api::node_pool::validate_pool_name(&v)
            .map_err(|e| TreeError::new(pos, format!("client.node_pool: {e}")))?;
        if v == api::node_pool::NODE_POOL_ALL {
            return Err(TreeError::new(
                pos,
                "client.node_pool: a node cannot be in the \"all\" pool: it holds every node",
            ));
        }
        cfg.client.node_pool = v;
    }
    if let Some(v) = c.string_map("meta")? {
        cfg.client.meta.extend(v);
    }
    if let Some(v) = c.string("network_interface")? {
        cfg.client.network_interface = v;
    }
    if let Some(v) = c.int_as("cpu_total_compute")? {
        cfg.client.cpu_total_compute = v;
    }
    if let Some(v) = c.int_as("memory_total_mb")? {
        cfg.client.memory_total_mb = v;
    }
    if let Some(v) = c.string_map("options")? {
        cfg.client.options.extend(v);
    }
    if let Some(v) = c.string_map("chroot_env")? {
        cfg.client.chroot_env = v.into_iter().collect();
    }
    if let Some(v) = c.duration("gc_interval")? {
        if v.is_zero() {
            let pos = c.get("gc_interval").map_or(c.pos(), |e| e.pos);
            return Err(TreeError::new(
                pos,
                "client.gc_interval must be more than 0s",
            ));
        }
        cfg.client.gc_interval = Some(v);
    }
    if let Some(v) = c.int_as::<usize>("gc_max_allocs")? {
        cfg.client.gc_max_allocs = Some(v);
    }
    if let Some(v) = c.int_as::<u8>("gc_disk_usage_threshold")? {
        if !(1..=100).contains(&v) {
            let pos = c.get("gc_disk_usage_threshold").map_or(c.pos(), |e| e.pos);
            return Err(TreeError::new(
                pos,
                "client.gc_disk_usage_threshold is a percentage: 1 to 100",
            ));
        }
        cfg.client.gc_disk_usage_threshold = Some(v);
    }
    for (label, body, pos) in c.labelled("host_volume")? {
        let what = format!("client.host_volume {:?}", label.name);
        let v = Fields::new(
            Block::new(body, pos, what.clone()),
            &["path", "read_only"],
            &[],
        )?;
        let path = v.string("path")?.unwrap_or_default();
        let at = v.get("path").map_or(pos, |e| e.value.pos);
        if !path.starts_with('/') {
            return Err(TreeError::new(at, format!("{what}: path must be absolute")));
        }
        if !std::path::Path::new(&path).is_dir() {
            return Err(TreeError::new(
                at,
                format!("{what}: {path} is not a directory on this host"),
            ));
        }
        let read_only = v.bool("read_only")?.unwrap_or(false);
        cfg.client.host_volumes.insert(
            label.name.clone(),
            api::ClientHostVolumeConfig {
                name: label.name,
                path,
                read_only,
            },
        );
    }
    let not_yet: &[(&str, &str)] = &[
        (
            "reserved",
            "reserving resources for the host is not implemented yet",
        ),
        (
            "state_dir",
            "the client keeps its state under the agent's data_dir",
        ),
        (
            "alloc_dir",
            "allocation directories live under the agent's data_dir",
        ),
        (
            "gc_inode_usage_threshold",
            "the client collects by gc_disk_usage_threshold and gc_max_allocs only",
        ),
        (
            "gc_parallel_destroys",
            "the client removes allocation directories one at a time",
        ),
        (
            "drain_on_shutdown",
            "a stopping client does not drain itself",
        ),
        ("host_network", "host networks are not implemented yet"),
    ];
    for (key, why) in not_yet {
        refuse(&c, key, &format!("client.{key}"), why)?;
    }
    Ok(())
}

/// True if a YAML/HCL value is present and not false (used for plugin `enabled`).
pub(super) fn truthy(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Bool(b) => *b,
        serde_json::Value::String(s) => matches!(s.as_str(), "1" | "true"),
        serde_json::Value::Number(n) => n.as_i64() == Some(1),
        _ => false,
    }
}
