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

/// Top-level keys that Nomad accepts and that change nothing here; their content is not checked.
const IGNORED_BLOCKS: &[&str] = &[
    "telemetry",
    "acl",
    "vault",
    "tls",
    "ui",
    "limits",
    "autopilot",
    "audit",
    "sentinel",
];

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
    ];
    single.extend_from_slice(IGNORED_BLOCKS);
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
        cfg.log_level = super::normalize_log_level(&v).map_err(|m| TreeError::new(pos, m))?;
    }
    for key in [
        "log_json",
        "enable_debug",
        "enable_syslog",
        "leave_on_interrupt",
    ] {
        f.bool(key)?;
    }
    for key in ["leave_on_terminate", "disable_update_check"] {
        f.bool(key)?;
    }
    f.string("log_file")?;
    f.string("plugin_dir")?;
    for key in IGNORED_BLOCKS {
        f.block(key, key)?;
    }
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
    if let Some(b) = f.block("consul", "the consul block")? {
        cfg.consul = Some(super::blocks::consul(b)?);
    }
    for b in f.blocks("template", "a template block of the agent")? {
        cfg.templates.push(super::blocks::template(b)?);
    }
    for (label, body, pos) in f.labelled("plugin")? {
        let what = format!("plugin {:?}", label.name);
        let p = Fields::new(Block::new(body, pos, what), &["config", "args"], &[])?;
        p.strings("args")?;
        let config = p.json_map("config")?.unwrap_or_default();
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
    for key in ["data_dir", "encrypt", "authoritative_region"] {
        s.string(key)?;
    }
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
    for key in ["node_gc_threshold", "job_gc_threshold", "eval_gc_threshold"] {
        s.duration(key)?;
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
    s.int("raft_protocol")?;
    s.strings("enabled_schedulers")?;
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
    if let Some(r) = c.block("reserved", "the reserved block of the client")? {
        let r = Fields::new(
            r,
            &["cpu", "cores", "memory", "disk", "reserved_ports"],
            &[],
        )?;
        for key in ["cpu", "memory", "disk"] {
            r.int(key)?;
        }
        r.string("cores")?;
        r.string("reserved_ports")?;
    }
    for key in ["node_pool", "state_dir", "alloc_dir"] {
        c.string(key)?;
    }
    c.duration("gc_interval")?;
    c.int("gc_max_allocs")?;
    c.block("drain_on_shutdown", "drain_on_shutdown")?;
    // Host volumes and networks are accepted so Nomad configs load; they are not used yet.
    for key in ["host_volume", "host_network"] {
        c.labelled(key)?;
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
