//! The `service` block (group or task level) and its `check` blocks.

use super::decode::{Block, Fields, Result};
use super::decode_parts::check_one_of;
use super::tree::TreeError;
use crate::job::{Service, ServiceCheck};

/// Every `service` block of a group or task.
pub fn services(f: &Fields) -> Result<Vec<Service>> {
    let what = format!("a service of {}", f.what());
    f.blocks("service", &what)?
        .into_iter()
        .map(service)
        .collect()
}

fn service(b: Block) -> Result<Service> {
    let s = Fields::new(
        b,
        &[
            "name",
            "tags",
            "canary_tags",
            "port",
            "provider",
            "address_mode",
            "address",
            "meta",
            "task",
        ],
        &["check"],
    )?;
    let mut svc = Service {
        name: s.string("name")?.unwrap_or_default(),
        tags: s.strings("tags")?.unwrap_or_default(),
        port_label: s.string("port")?.unwrap_or_default(),
        address_mode: s.string("address_mode")?.unwrap_or_default(),
        provider: s.string("provider")?.unwrap_or_default(),
        address: s.string("address")?.unwrap_or_default(),
        meta: s.string_map("meta")?.unwrap_or_default(),
        checks: Vec::new(),
    };
    s.strings("canary_tags")?;
    s.string("task")?;
    if let Some(p) = s.get("provider") {
        check_one_of(&s, "provider", &svc.provider, &["nomad", "consul"])
            .map_err(|e| TreeError::new(p.value.pos, e.message))?;
    }
    let what = format!("a check of {}", s.what());
    for c in s.blocks("check", &what)? {
        svc.checks.push(check(c)?);
    }
    Ok(svc)
}

fn check(b: Block) -> Result<ServiceCheck> {
    let c = Fields::new(
        b,
        &[
            "name",
            "type",
            "path",
            "port",
            "protocol",
            "method",
            "interval",
            "timeout",
            "command",
            "args",
            "task",
            "address_mode",
            "header",
            "initial_status",
            "check_restart",
        ],
        &[],
    )?;
    let chk = ServiceCheck {
        name: c.string("name")?.unwrap_or_default(),
        check_type: c.string("type")?.unwrap_or_default(),
        path: c.string("path")?.unwrap_or_default(),
        protocol: c.string("protocol")?.unwrap_or_default(),
        port_label: c.string("port")?.unwrap_or_default(),
        method: c.string("method")?.unwrap_or_default(),
        command: c.string("command")?.unwrap_or_default(),
        args: c.strings("args")?.unwrap_or_default(),
        interval: c.duration("interval")?.unwrap_or_default(),
        timeout: c.duration("timeout")?.unwrap_or_default(),
    };
    if let Some(e) = c.get("type") {
        let known = ["http", "tcp", "script", "grpc"];
        if !known.contains(&chk.check_type.as_str()) {
            return Err(TreeError::new(
                e.value.pos,
                format!(
                    "check type {:?} must be one of http, tcp, script, grpc{}",
                    chk.check_type,
                    super::suggest::did_you_mean(&chk.check_type, known)
                ),
            ));
        }
    }
    Ok(chk)
}
