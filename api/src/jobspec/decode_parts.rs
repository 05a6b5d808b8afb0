//! Blocks that appear at several levels of a job: constraint, update, restart, reschedule,
//! migrate, network/port.

use super::decode::{Block, Fields, Result};
use super::tree::TreeError;
use crate::job::{
    Affinity, Constraint, MigrateStrategy, NetworkResource, Port, ReschedulePolicy, RestartPolicy,
    Spread, SpreadTarget, UpdateStrategy, VolumeMount, VolumeRequest,
};

/// The operators Nomad's `constraint` block accepts.
const OPERATORS: &[&str] = &[
    "=",
    "==",
    "is",
    "!=",
    "not",
    "<",
    ">",
    "<=",
    ">=",
    "regexp",
    "version",
    "semver",
    "set_contains",
    "set_contains_all",
    "set_contains_any",
    "is_set",
    "is_not_set",
    "distinct_hosts",
    "distinct_property",
];

/// Every `constraint` block of a job, group or task.
pub fn constraints(f: &Fields) -> Result<Vec<Constraint>> {
    let what = format!("a constraint of {}", f.what());
    f.blocks("constraint", &what)?
        .into_iter()
        .map(constraint)
        .collect()
}

/// A group's `volume "name" { type source read_only }` blocks; CSI's keys are refused.
pub fn volumes(f: &Fields) -> Result<std::collections::BTreeMap<String, VolumeRequest>> {
    let mut out = std::collections::BTreeMap::new();
    for (label, body, pos) in f.labelled("volume")? {
        let what = format!("volume {:?} of {}", label.name, f.what());
        let v = Fields::new(
            Block::new(body, pos, what.clone()),
            &[
                "type",
                "source",
                "read_only",
                "access_mode",
                "attachment_mode",
                "per_alloc",
                "mount_options",
                "sticky",
            ],
            &[],
        )?;
        if v.string("type")?.as_deref() == Some("csi") {
            let at = v.get("type").map_or(pos, |e| e.value.pos);
            return Err(TreeError::new(
                at,
                format!("{what}: type \"csi\" is not supported (CSI volumes); use a host volume"),
            ));
        }
        for key in [
            "access_mode",
            "attachment_mode",
            "per_alloc",
            "mount_options",
            "sticky",
        ] {
            if let Some(e) = v.get(key) {
                return Err(TreeError::new(
                    e.pos,
                    format!("{key:?} in {what} is for CSI volumes, which are not supported"),
                ));
            }
        }
        let req = VolumeRequest {
            name: label.name.clone(),
            volume_type: v.string("type")?.unwrap_or_else(|| "host".into()),
            source: v.string("source")?.unwrap_or_default(),
            read_only: v.bool("read_only")?.unwrap_or(false),
        };
        if let Some(p) = req.problems().into_iter().next() {
            return Err(TreeError::new(pos, p));
        }
        out.insert(label.name, req);
    }
    Ok(out)
}

/// A task's `volume_mount` blocks.
pub fn volume_mounts(f: &Fields) -> Result<Vec<VolumeMount>> {
    let what = format!("a volume_mount of {}", f.what());
    let mut out = Vec::new();
    for b in f.blocks("volume_mount", &what)? {
        let pos = b.pos;
        let m = Fields::new(
            b,
            &[
                "volume",
                "destination",
                "read_only",
                "propagation_mode",
                "selinux_label",
            ],
            &[],
        )?;
        if let Some(e) = m.get("selinux_label") {
            return Err(TreeError::new(e.pos, "selinux_label is not supported"));
        }
        if let Some(mode) = m.string("propagation_mode")? {
            if mode != "private" {
                return Err(TreeError::new(
                    pos,
                    format!("propagation_mode {mode:?} is not supported: mounts are private"),
                ));
            }
        }
        out.push(VolumeMount {
            volume: m.string("volume")?.unwrap_or_default(),
            destination: m.string("destination")?.unwrap_or_default(),
            read_only: m.bool("read_only")?.unwrap_or(false),
        });
    }
    Ok(out)
}

/// The `affinity` blocks of a job, group or task.
pub fn affinities(f: &Fields) -> Result<Vec<Affinity>> {
    let what = format!("an affinity of {}", f.what());
    f.blocks("affinity", &what)?
        .into_iter()
        .map(affinity)
        .collect()
}

fn affinity(b: Block) -> Result<Affinity> {
    let pos = b.pos;
    let f = Fields::new(b, &["attribute", "operator", "value", "weight"], &[])?;
    let a = Affinity {
        l_target: f.string("attribute")?.unwrap_or_default(),
        r_target: f.string("value")?.unwrap_or_default(),
        operand: f.string("operator")?.unwrap_or_else(|| "=".into()),
        weight: f.int_as("weight")?.unwrap_or(50),
    };
    if let Some(e) = f.get("operator") {
        if !OPERATORS.contains(&a.operand.as_str()) {
            return Err(TreeError::new(
                e.value.pos,
                format!(
                    "unknown affinity operator {:?}{}; use one of {}",
                    a.operand,
                    super::suggest::did_you_mean(&a.operand, OPERATORS.iter().copied()),
                    OPERATORS.join(" ")
                ),
            ));
        }
    }
    match a.problems().into_iter().next() {
        Some(p) => Err(TreeError::new(pos, p)),
        None => Ok(a),
    }
}

/// The `spread` blocks of a job or group, with their `target "value" { percent }` blocks.
pub fn spreads(f: &Fields) -> Result<Vec<Spread>> {
    let what = format!("a spread of {}", f.what());
    let mut out = Vec::new();
    for b in f.blocks("spread", &what)? {
        let pos = b.pos;
        let s = Fields::new(b, &["attribute", "weight"], &["target"])?;
        let mut spread = Spread {
            attribute: s.string("attribute")?.unwrap_or_default(),
            weight: s.int_as("weight")?.unwrap_or(50),
            targets: Vec::new(),
        };
        for (label, body, tpos) in s.labelled("target")? {
            let t = Fields::new(
                Block::new(body, tpos, format!("target {:?} of a spread", label.name)),
                &["value", "percent"],
                &[],
            )?;
            spread.targets.push(SpreadTarget {
                value: t.string("value")?.unwrap_or(label.name),
                percent: t.int_as("percent")?.unwrap_or(0),
            });
        }
        if let Some(p) = spread.problems().into_iter().next() {
            return Err(TreeError::new(pos, p));
        }
        out.push(spread);
    }
    Ok(out)
}

fn constraint(b: Block) -> Result<Constraint> {
    let pos = b.pos;
    let f = Fields::new(
        b,
        &[
            "attribute",
            "operator",
            "value",
            "distinct_hosts",
            "distinct_property",
            "version",
            "semver",
            "regexp",
            "set_contains",
            "set_contains_any",
            "set_contains_all",
        ],
        &[],
    )?;
    let mut c = Constraint {
        l_target: f.string("attribute")?.unwrap_or_default(),
        r_target: f.string("value")?.unwrap_or_default(),
        operand: f.string("operator")?.unwrap_or_else(|| "=".into()),
    };
    if let Some(e) = f.get("operator") {
        if !OPERATORS.contains(&c.operand.as_str()) {
            return Err(TreeError::new(
                e.value.pos,
                format!(
                    "unknown constraint operator {:?}{}; use one of {}",
                    c.operand,
                    super::suggest::did_you_mean(&c.operand, OPERATORS.iter().copied()),
                    OPERATORS.join(" ")
                ),
            ));
        }
    }
    // Nomad's shorthands: `distinct_hosts = true`, `version = ">= 1.2"`, ...
    if let Some(v) = f.bool("distinct_hosts")? {
        c.operand = "distinct_hosts".into();
        c.r_target = v.to_string();
    }
    for op in [
        "distinct_property",
        "version",
        "semver",
        "regexp",
        "set_contains",
        "set_contains_any",
        "set_contains_all",
    ] {
        if let Some(v) = f.string(op)? {
            c.operand = op.into();
            if op == "distinct_property" {
                c.l_target = v;
            } else {
                c.r_target = v;
            }
        }
    }
    let needs_attribute = !matches!(c.operand.as_str(), "distinct_hosts" | "distinct_property");
    if needs_attribute && c.l_target.is_empty() {
        return Err(TreeError::new(
            pos,
            format!(
                "constraint with operator {:?} needs an attribute",
                c.operand
            ),
        ));
    }
    Ok(c)
}

/// The `update` block of `f`, its unset fields from `base` (the job's, for a group) or Nomad's
/// defaults.
pub fn update(f: &Fields, base: Option<&UpdateStrategy>) -> Result<Option<UpdateStrategy>> {
    let Some(b) = f.block("update", &format!("the update block of {}", f.what()))? else {
        return Ok(None);
    };
    let u = Fields::new(
        b,
        &[
            "max_parallel",
            "health_check",
            "min_healthy_time",
            "healthy_deadline",
            "progress_deadline",
            "auto_revert",
            "auto_promote",
            "canary",
            "stagger",
        ],
        &[],
    )?;
    let mut s = base.cloned().unwrap_or_default();
    if let Some(v) = u.int_as("max_parallel")? {
        s.max_parallel = v;
    }
    if let Some(v) = u.string("health_check")? {
        if v == "manual" {
            let pos = u.get("health_check").map_or(u.pos(), |e| e.value.pos);
            return Err(TreeError::new(
                pos,
                format!(
                    "health_check \"manual\" in {} is not supported: nothing here sets an \
                     allocation's health by hand; use \"checks\" or \"task_states\"",
                    u.what()
                ),
            ));
        }
        check_one_of(&u, "health_check", &v, &["checks", "task_states"])?;
        s.health_check = v;
    }
    if let Some(v) = u.duration("min_healthy_time")? {
        s.min_healthy_time = v;
    }
    if let Some(v) = u.duration("healthy_deadline")? {
        s.healthy_deadline = v;
    }
    if let Some(v) = u.duration("progress_deadline")? {
        s.progress_deadline = v;
    }
    if let Some(v) = u.bool("auto_revert")? {
        s.auto_revert = v;
    }
    if let Some(v) = u.bool("auto_promote")? {
        s.auto_promote = v;
    }
    if let Some(v) = u.int_as("canary")? {
        s.canary = v;
    }
    if let Some(v) = u.duration("stagger")? {
        s.stagger = v;
    }
    Ok(Some(s))
}

/// The group's `restart` block. Unset fields take Nomad's defaults for the job type; the
/// server's canonicalize fills whole missing blocks.
/// The `restart` block of a group or task; unset fields come from `base` (the group's policy,
/// for a task), else Nomad's defaults for the job type.
pub fn restart(
    f: &Fields,
    job_type: &str,
    base: Option<&RestartPolicy>,
) -> Result<Option<RestartPolicy>> {
    let Some(b) = f.block("restart", &format!("the restart block of {}", f.what()))? else {
        return Ok(None);
    };
    let r = Fields::new(
        b,
        &["attempts", "interval", "delay", "mode", "render_templates"],
        &[],
    )?;
    let mut p = base
        .cloned()
        .unwrap_or_else(|| RestartPolicy::default_for(job_type));
    if let Some(v) = r.int_as("attempts")? {
        p.attempts = v;
    }
    if let Some(v) = r.duration("interval")? {
        p.interval = v;
    }
    if let Some(v) = r.duration("delay")? {
        p.delay = v;
    }
    if let Some(v) = r.string("mode")? {
        check_one_of(&r, "mode", &v, &["fail", "delay"])?;
        p.mode = v;
    }
    r.bool("render_templates")?;
    Ok(Some(p))
}

/// The `reschedule` block of a job or group; unset fields come from `base` (the job's, for a
/// group), else Nomad's defaults for the job type.
pub fn reschedule(
    f: &Fields,
    job_type: &str,
    base: Option<&ReschedulePolicy>,
) -> Result<Option<ReschedulePolicy>> {
    let Some(b) = f.block(
        "reschedule",
        &format!("the reschedule block of {}", f.what()),
    )?
    else {
        return Ok(None);
    };
    let r = Fields::new(
        b,
        &[
            "attempts",
            "interval",
            "delay",
            "delay_function",
            "max_delay",
            "unlimited",
        ],
        &[],
    )?;
    // System jobs have no default policy; start from the batch one, which is bounded.
    let mut p = base
        .cloned()
        .or_else(|| ReschedulePolicy::default_for(job_type))
        .or_else(|| ReschedulePolicy::default_for(crate::job::JOB_TYPE_BATCH))
        .ok_or_else(|| TreeError::new(f.pos(), "no reschedule defaults"))?;
    if let Some(v) = r.int_as("attempts")? {
        p.attempts = v;
        // Nomad: setting attempts without `unlimited` means a bounded policy.
        p.unlimited = false;
    }
    if let Some(v) = r.duration("interval")? {
        p.interval = v;
    }
    if let Some(v) = r.duration("delay")? {
        p.delay = v;
    }
    if let Some(v) = r.string("delay_function")? {
        check_one_of(
            &r,
            "delay_function",
            &v,
            &["constant", "exponential", "fibonacci"],
        )?;
        p.delay_function = v;
    }
    if let Some(v) = r.duration("max_delay")? {
        p.max_delay = v;
    }
    if let Some(v) = r.bool("unlimited")? {
        p.unlimited = v;
    }
    Ok(Some(p))
}

/// The `migrate` block of a job or group; unset fields come from `base` (the job's, for a
/// group).
pub fn migrate(f: &Fields, base: Option<&MigrateStrategy>) -> Result<Option<MigrateStrategy>> {
    let Some(b) = f.block("migrate", &format!("the migrate block of {}", f.what()))? else {
        return Ok(None);
    };
    let m = Fields::new(
        b,
        &[
            "max_parallel",
            "health_check",
            "min_healthy_time",
            "healthy_deadline",
        ],
        &[],
    )?;
    let mut s = base.cloned().unwrap_or_default();
    if let Some(v) = m.int_as("max_parallel")? {
        s.max_parallel = v;
    }
    if let Some(v) = m.string("health_check")? {
        check_one_of(&m, "health_check", &v, &["checks", "task_states"])?;
        s.health_check = v;
    }
    if let Some(v) = m.duration("min_healthy_time")? {
        s.min_healthy_time = v;
    }
    if let Some(v) = m.duration("healthy_deadline")? {
        s.healthy_deadline = v;
    }
    Ok(Some(s))
}

/// A `network` block (group level, or the older task `resources` level). A port with `static`
/// is reserved; one without is dynamic.
pub fn network(b: Block) -> Result<NetworkResource> {
    let n = Fields::new(b, &["mode", "mbits", "hostname"], &["port"])?;
    let mut net = NetworkResource {
        mode: n.string("mode")?.unwrap_or_default(),
        mbits: n.int("mbits")?.unwrap_or(0),
        ..NetworkResource::default()
    };
    n.string("hostname")?;
    for (label, body, pos) in n.labelled("port")? {
        let what = format!("port {:?} of {}", label.name, n.what());
        let p = Fields::new(
            Block::new(body, pos, what),
            &["static", "to", "host_network"],
            &[],
        )?;
        let port = Port {
            label: label.name.clone(),
            value: p.int("static")?.unwrap_or(0),
            to: p.int("to")?.unwrap_or(0),
            host_network: p.string("host_network")?.unwrap_or_default(),
        };
        for key in ["static", "to"] {
            if let (Some(e), Some(v)) = (p.get(key), p.int(key)?) {
                // `to = -1` is Nomad's "same as the host port" for bridge mode.
                if !(-1..=65535).contains(&v) {
                    return Err(TreeError::new(
                        e.value.pos,
                        format!(
                            "{key} port {v} of {:?} must be between 0 and 65535",
                            label.name
                        ),
                    ));
                }
            }
        }
        if p.get("static").is_some() {
            net.reserved_ports.push(port);
        } else {
            net.dynamic_ports.push(port);
        }
    }
    Ok(net)
}

/// Refuses a string outside its allowed values, pointing at the value.
pub(super) fn check_one_of(f: &Fields, key: &str, v: &str, allowed: &[&str]) -> Result<()> {
    if allowed.contains(&v) {
        return Ok(());
    }
    let pos = f.get(key).map_or(f.pos(), |e| e.value.pos);
    Err(TreeError::new(
        pos,
        format!(
            "{key} {v:?} in {} must be one of {}{}",
            f.what(),
            allowed.join(", "),
            super::suggest::did_you_mean(v, allowed.iter().copied())
        ),
    ))
}
