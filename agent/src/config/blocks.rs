//! The agent config's `consul` and `template` blocks.

use super::{ConsulConfig, TemplateConfig};
use api::jobspec::decode::{Block, Fields, Result};
use api::jobspec::tree::TreeError;
use std::time::Duration;

/// Keys of Nomad's consul block that this agent does not implement: refused by name.
const CONSUL_UNSUPPORTED: &[&str] = &[
    "auth",
    "ssl",
    "verify_ssl",
    "ca_file",
    "cert_file",
    "key_file",
    "grpc_address",
    "grpc_ca_file",
    "share_ssl",
    "server_service_name",
    "client_service_name",
    "server_http_check_name",
    "server_serf_check_name",
    "server_rpc_check_name",
    "client_http_check_name",
    "auto_advertise",
    "checks_use_advertise",
    "server_auto_join",
    "client_auto_join",
    "tags",
    "timeout",
    "namespace",
    "service_identity",
    "task_identity",
    "service_auth_method",
    "task_auth_method",
    "name",
];

/// `consul { address token }`: where clients also register `provider = "consul"` services.
pub fn consul(b: Block) -> Result<ConsulConfig> {
    let mut keys = vec!["address", "token"];
    keys.extend_from_slice(CONSUL_UNSUPPORTED);
    let c = Fields::new(b, &keys, &[])?;
    for key in CONSUL_UNSUPPORTED {
        super::file::refuse(
            &c,
            key,
            &format!("consul.{key}"),
            "this agent registers services with the Consul agent at `address` (with `token`), \
             and nothing else",
        )?;
    }
    Ok(ConsulConfig {
        address: c
            .string("address")?
            .unwrap_or_else(|| "127.0.0.1:8500".into()),
        token: c.string("token")?.filter(|t| !t.is_empty()),
    })
}

/// Consul-template's `wait` defaults are off; ours gather a burst without costing much latency.
pub const DEFAULT_WAIT_MIN: Duration = Duration::from_millis(100);
pub const DEFAULT_WAIT_MAX: Duration = Duration::from_secs(1);
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// One `template { source destination check command perms wait {} }` of the agent's renderer.
pub fn template(b: Block) -> Result<TemplateConfig> {
    let pos = b.pos;
    let t = Fields::new(
        b,
        &[
            "source",
            "destination",
            "check",
            "command",
            "perms",
            "wait",
            "command_timeout",
        ],
        &[],
    )?;
    let missing = |key: &str| {
        TreeError::new(
            pos,
            format!("the template block needs a {key} (a path to a file)"),
        )
    };
    let source = t.string("source")?.ok_or_else(|| missing("source"))?;
    let destination = t
        .string("destination")?
        .ok_or_else(|| missing("destination"))?;
    let perms = match t.string("perms")? {
        None => 0o644,
        Some(p) => u32::from_str_radix(p.trim_start_matches("0o"), 8)
            .ok()
            .filter(|m| *m <= 0o7777)
            .ok_or_else(|| {
                let at = t.get("perms").map_or(pos, |e| e.value.pos);
                TreeError::new(
                    at,
                    format!("perms {p:?} must be an octal file mode such as \"0644\""),
                )
            })?,
    };
    let (mut wait_min, mut wait_max) = (DEFAULT_WAIT_MIN, DEFAULT_WAIT_MAX);
    if let Some(w) = t.block("wait", "the wait block of a template")? {
        let wpos = w.pos;
        let w = Fields::new(w, &["min", "max"], &[])?;
        if let Some(v) = w.duration("min")? {
            wait_min = v;
        }
        match w.duration("max")? {
            Some(v) => wait_max = v,
            None => wait_max = wait_max.max(wait_min * 4),
        }
        if wait_max < wait_min {
            return Err(TreeError::new(
                wpos,
                "the template's wait max must not be less than its min",
            ));
        }
    }
    let nonempty = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
    Ok(TemplateConfig {
        source: source.into(),
        destination: destination.into(),
        check: nonempty(t.string("check")?),
        command: nonempty(t.string("command")?),
        perms,
        wait_min,
        wait_max,
        command_timeout: t
            .duration("command_timeout")?
            .unwrap_or(DEFAULT_COMMAND_TIMEOUT),
    })
}
