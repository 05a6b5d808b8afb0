//! The `service` block (group or task level) and its `check` blocks.
//!
//! The rules a service must follow live with the types (`service_rules`); here they are reported
//! at the line of the block that breaks them. Port labels are collected as [`PortRef`]s and
//! checked once the whole group, with its network, is known.

use super::decode::{Block, Fields, Result};
use super::tree::{Pos, TreeError};
use crate::job::{CheckRestart, Service, ServiceCheck};
use std::collections::BTreeMap;

/// A port named by a service or check, and where.
pub struct PortRef {
    pub port: String,
    pub pos: Pos,
}

/// Blocks and attributes of Nomad's service vocabulary that this orchestrator does not implement.
const UNSUPPORTED_SERVICE: &[&str] = &[
    "connect",
    "enable_tag_override",
    "canary_meta",
    "tagged_addresses",
    "identity",
    "cluster",
    "kind",
];
const UNSUPPORTED_CHECK: &[&str] = &[
    "expose",
    "grpc_service",
    "grpc_use_tls",
    "tls_server_name",
    "notes",
    "success_before_warning",
    "failures_before_warning",
];

/// Every `service` block of a group or task; their ports are added to `ports`.
pub fn services(f: &Fields, ports: &mut Vec<PortRef>) -> Result<Vec<Service>> {
    let what = format!("a service of {}", f.what());
    f.blocks("service", &what)?
        .into_iter()
        .map(|b| service(b, ports))
        .collect()
}

/// Refuses the first key of `unsupported` that the block sets, by name.
fn refuse(f: &Fields, unsupported: &[&str]) -> Result<()> {
    for key in unsupported {
        if let Some(e) = f.get(key) {
            return Err(TreeError::new(
                e.pos,
                format!("{key:?} is not supported (in {})", f.what()),
            ));
        }
    }
    Ok(())
}

fn service(b: Block, ports: &mut Vec<PortRef>) -> Result<Service> {
    let pos = b.pos;
    let mut single = vec![
        "name",
        "tags",
        "canary_tags",
        "port",
        "provider",
        "address_mode",
        "address",
        "meta",
        "task",
        "on_update",
        "check_restart",
    ];
    single.extend_from_slice(UNSUPPORTED_SERVICE);
    let s = Fields::new(b, &single, &["check"])?;
    refuse(&s, UNSUPPORTED_SERVICE)?;
    let mut svc = Service {
        name: s.string("name")?.unwrap_or_default(),
        tags: s.strings("tags")?.unwrap_or_default(),
        canary_tags: s.strings("canary_tags")?.unwrap_or_default(),
        port_label: s.string("port")?.unwrap_or_default(),
        address_mode: s.string("address_mode")?.unwrap_or_default(),
        provider: s.string("provider")?.unwrap_or_default(),
        address: s.string("address")?.unwrap_or_default(),
        meta: s.string_map("meta")?.unwrap_or_default(),
        task_name: s.string("task")?.unwrap_or_default(),
        checks: Vec::new(),
    };
    if let Some(e) = s.get("port") {
        ports.push(PortRef {
            port: svc.port_label.clone(),
            pos: e.value.pos,
        });
    }
    let on_update = s.string("on_update")?.unwrap_or_default();
    let restart = match s.block("check_restart", "the check_restart block of a service")? {
        Some(b) => Some(check_restart(b)?),
        None => None,
    };
    let what = format!("a check of {}", s.what());
    for c in s.blocks("check", &what)? {
        let cpos = c.pos;
        let mut chk = check(c, ports)?;
        if chk.on_update.is_empty() {
            chk.on_update = on_update.clone();
        }
        if chk.check_restart.is_none() {
            chk.check_restart = restart.clone();
        }
        if let Some(p) = chk.problems().into_iter().next() {
            return Err(TreeError::new(cpos, p));
        }
        svc.checks.push(chk);
    }
    if let Some(p) = svc.own_problems().into_iter().next() {
        let at = ["provider", "address_mode", "name"]
            .iter()
            .find(|k| p.contains(*k))
            .and_then(|k| s.get(k))
            .map_or(pos, |e| e.value.pos);
        return Err(TreeError::new(at, p));
    }
    Ok(svc)
}

fn check_restart(b: Block) -> Result<CheckRestart> {
    let c = Fields::new(b, &["limit", "grace", "ignore_warnings"], &[])?;
    Ok(CheckRestart {
        limit: c.int_as("limit")?.unwrap_or(0),
        grace: c.duration("grace")?.unwrap_or_default(),
        ignore_warnings: c.bool("ignore_warnings")?.unwrap_or(false),
    })
}

fn check(b: Block, ports: &mut Vec<PortRef>) -> Result<ServiceCheck> {
    let mut single = vec![
        "name",
        "type",
        "path",
        "port",
        "protocol",
        "method",
        "header",
        "body",
        "interval",
        "timeout",
        "command",
        "args",
        "task",
        "address_mode",
        "initial_status",
        "success_before_passing",
        "failures_before_critical",
        "on_update",
        "check_restart",
        "tls_skip_verify",
    ];
    single.extend_from_slice(UNSUPPORTED_CHECK);
    let c = Fields::new(b, &single, &[])?;
    refuse(&c, UNSUPPORTED_CHECK)?;
    let header = match c.json_map("header")? {
        Some(m) => headers(&c, m)?,
        None => BTreeMap::new(),
    };
    let chk = ServiceCheck {
        name: c.string("name")?.unwrap_or_default(),
        check_type: c.string("type")?.unwrap_or_default(),
        path: c.string("path")?.unwrap_or_default(),
        protocol: c.string("protocol")?.unwrap_or_default(),
        port_label: c.string("port")?.unwrap_or_default(),
        address_mode: c.string("address_mode")?.unwrap_or_default(),
        method: c.string("method")?.unwrap_or_default(),
        header,
        body: c.string("body")?.unwrap_or_default(),
        tls_skip_verify: c.bool("tls_skip_verify")?.unwrap_or(false),
        command: c.string("command")?.unwrap_or_default(),
        args: c.strings("args")?.unwrap_or_default(),
        task_name: c.string("task")?.unwrap_or_default(),
        interval: c.duration("interval")?.unwrap_or_default(),
        timeout: c.duration("timeout")?.unwrap_or_default(),
        initial_status: c.string("initial_status")?.unwrap_or_default(),
        success_before_passing: c.int_as("success_before_passing")?.unwrap_or(0),
        failures_before_critical: c.int_as("failures_before_critical")?.unwrap_or(0),
        on_update: c.string("on_update")?.unwrap_or_default(),
        check_restart: match c.block("check_restart", "the check_restart block of a check")? {
            Some(b) => Some(check_restart(b)?),
            None => None,
        },
    };
    if let Some(e) = c.get("port") {
        ports.push(PortRef {
            port: chk.port_label.clone(),
            pos: e.value.pos,
        });
    }
    Ok(chk)
}

/// `header { Authorization = ["Basic ..."] }`: each name maps to a list of values (one value
/// alone is taken as a list of one).
fn headers(
    c: &Fields,
    m: BTreeMap<String, serde_json::Value>,
) -> Result<BTreeMap<String, Vec<String>>> {
    let pos = c.get("header").map_or(c.pos(), |e| e.value.pos);
    let mut out = BTreeMap::new();
    for (k, v) in m {
        let values = match v {
            serde_json::Value::String(s) => vec![s],
            serde_json::Value::Array(items) => items
                .into_iter()
                .map(|i| match i {
                    serde_json::Value::String(s) => Ok(s),
                    other => Ok(other.to_string()),
                })
                .collect::<Result<Vec<String>>>()?,
            other => {
                return Err(TreeError::new(
                    pos,
                    format!("header {k:?} must be a list of strings, found {other}"),
                ))
            }
        };
        out.insert(k, values);
    }
    Ok(out)
}
