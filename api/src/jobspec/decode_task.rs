//! The task vocabulary: driver config, env, resources (with the older task-level network),
//! logs, artifacts, templates.

use super::decode::{describe, Block, Fields, Result};
use super::decode_parts::{affinities, constraints, network, restart, volume_mounts};
use super::decode_service::{services, PortRef};
use super::tree::{Body, Pos, TreeError};
use crate::job::{
    Artifact, ChangeScript, LogConfig, Resources, RestartPolicy, Task, Template, TemplateWait,
};

/// Decodes a task; the ports its services name are added to `ports` for the group to check.
/// A task's own `restart` block starts from its group's policy.
pub fn task(
    name: &str,
    body: &Body,
    pos: Pos,
    job_type: &str,
    group_restart: Option<&RestartPolicy>,
    ports: &mut Vec<PortRef>,
) -> Result<Task> {
    let f = Fields::new(
        Block::new(body, pos, describe("task", name)),
        &[
            "driver",
            "config",
            "env",
            "resources",
            "logs",
            "kill_timeout",
            "kill_signal",
            "user",
            "meta",
            "leader",
            "shutdown_delay",
            "lifecycle",
            "dispatch_payload",
            "restart",
        ],
        &[
            "artifact",
            "template",
            "service",
            "constraint",
            "affinity",
            "volume_mount",
            "scaling",
        ],
    )?;
    if let Some(e) = f.get("scaling") {
        return Err(TreeError::new(
            e.pos,
            "scaling blocks in tasks (vertical scaling of cpu and memory) are not supported; a group's scaling block is",
        ));
    }
    let mut t = Task {
        name: name.to_string(),
        restart_policy: restart(&f, job_type, group_restart)?,
        ..Task::default()
    };
    match f.string("driver")? {
        Some(d) => t.driver = d,
        None => {
            return Err(TreeError::new(
                pos,
                format!("task {name:?} needs a driver, e.g. driver = \"raw_exec\""),
            ))
        }
    }
    if let Some(c) = f.json_map("config")? {
        t.config = c;
    }
    if let Some(e) = f.string_map("env")? {
        t.env = e;
    }
    if let Some(r) = f.block("resources", &format!("the resources of task {name:?}"))? {
        t.resources = resources(r)?;
    }
    if let Some(l) = f.block("logs", &format!("the logs block of task {name:?}"))? {
        t.log_config = logs(l)?;
    }
    if let Some(v) = f.duration("kill_timeout")? {
        t.kill_timeout = v;
    }
    if let Some(v) = f.string("kill_signal")? {
        t.kill_signal = v;
    }
    if let Some(v) = f.string("user")? {
        t.user = v;
    }
    if let Some(v) = f.string_map("meta")? {
        t.meta = v;
    }
    if let Some(v) = f.bool("leader")? {
        t.leader = v;
    }
    if let Some(v) = f.duration("shutdown_delay")? {
        t.shutdown_delay = v;
    }
    let what = format!("an artifact of task {name:?}");
    for a in f.blocks("artifact", &what)? {
        t.artifacts.push(artifact(a)?);
    }
    let what = format!("a template of task {name:?}");
    for b in f.blocks("template", &what)? {
        t.templates.push(template(b)?);
    }
    if let Some(b) = f.block("lifecycle", &format!("the lifecycle of task {name:?}"))? {
        let at = b.pos;
        let l = Fields::new(b, &["hook", "sidecar"], &[])?;
        let hook = l.string("hook")?.unwrap_or_default();
        let hooks = ["prestart", "poststart", "poststop"];
        if !hooks.contains(&hook.as_str()) {
            let p = l.get("hook").map_or(at, |e| e.value.pos);
            return Err(TreeError::new(
                p,
                format!("lifecycle hook {hook:?} must be prestart, poststart or poststop"),
            ));
        }
        let sidecar = l.bool("sidecar")?.unwrap_or(false);
        if sidecar && hook == "poststop" {
            return Err(TreeError::new(at, "a poststop task cannot be a sidecar"));
        }
        t.lifecycle = Some(crate::job::TaskLifecycle { hook, sidecar });
    }
    if let Some(b) = f.block(
        "dispatch_payload",
        &format!("the dispatch_payload of task {name:?}"),
    )? {
        let at = b.pos;
        let d = Fields::new(b, &["file"], &[])?;
        let file = d
            .string("file")?
            .ok_or_else(|| TreeError::new(at, "dispatch_payload needs a file"))?;
        t.dispatch_payload = Some(crate::job::DispatchPayloadConfig { file });
    }
    t.services = services(&f, ports)?;
    t.constraints = constraints(&f)?;
    t.affinities = affinities(&f)?;
    t.volume_mounts = volume_mounts(&f)?;
    Ok(t)
}

fn resources(b: Block) -> Result<Resources> {
    let r = Fields::new(
        b,
        &[
            "cpu",
            "cores",
            "memory",
            "memory_max",
            "disk",
            "network",
            "iops",
        ],
        &["device"],
    )?;
    let mut res = Resources::default();
    if let Some(v) = r.int("cpu")? {
        res.cpu = v;
    }
    if let Some(e) = r.get("cores") {
        return Err(TreeError::new(
            e.pos,
            "cores (whole reserved CPU cores) is not supported: give cpu in MHz",
        ));
    }
    // Nomad itself has ignored `iops` since 0.9 and only warns; so does `Job::warnings`.
    if let Some(v) = r.int("iops")? {
        res.iops = v;
    }
    if let Some(v) = r.int("memory")? {
        res.memory_mb = v;
    }
    if let Some(v) = r.int("memory_max")? {
        res.memory_max_mb = v;
    }
    if let Some(v) = r.int("disk")? {
        res.disk_mb = v;
    }
    if r.get("device").is_some() {
        let e = r.get("device").map_or(r.pos(), |e| e.pos);
        return Err(TreeError::new(e, "device resources are not supported"));
    }
    let what = format!("the network block of {}", r.what());
    if let Some(n) = r.block("network", &what)? {
        res.networks.push(network(n)?);
    }
    Ok(res)
}

fn logs(b: Block) -> Result<LogConfig> {
    let l = Fields::new(
        b,
        &["max_files", "max_file_size", "disabled", "enabled"],
        &[],
    )?;
    let mut c = LogConfig::default();
    if let Some(v) = l.int_as("max_files")? {
        c.max_files = v;
    }
    if let Some(v) = l.int_as("max_file_size")? {
        c.max_file_size_mb = v;
    }
    l.bool("disabled")?;
    l.bool("enabled")?;
    Ok(c)
}

fn artifact(b: Block) -> Result<Artifact> {
    let pos = b.pos;
    let a = Fields::new(
        b,
        &["source", "destination", "mode", "options", "headers"],
        &[],
    )?;
    let art = Artifact {
        getter_source: a.string("source")?.unwrap_or_default(),
        relative_dest: a.string("destination")?.unwrap_or_default(),
        getter_mode: a.string("mode")?.unwrap_or_default(),
        getter_options: a.string_map("options")?.unwrap_or_default(),
    };
    a.string_map("headers")?;
    if art.getter_source.is_empty() {
        return Err(TreeError::new(pos, "artifact needs a source"));
    }
    if !["", "any", "file", "dir"].contains(&art.getter_mode.as_str()) {
        let p = a.get("mode").map_or(pos, |e| e.value.pos);
        return Err(TreeError::new(
            p,
            format!(
                "artifact mode {:?} must be one of any, file, dir",
                art.getter_mode
            ),
        ));
    }
    Ok(art)
}

fn template(b: Block) -> Result<Template> {
    let pos = b.pos;
    let t = Fields::new(
        b,
        &[
            "data",
            "source",
            "destination",
            "change_mode",
            "change_signal",
            "splay",
            "perms",
            "left_delimiter",
            "right_delimiter",
            "env",
            "uid",
            "gid",
            "error_on_missing_key",
        ],
        &["wait", "change_script"],
    )?;
    let id = |key: &str| -> Result<Option<u32>> {
        match t.int(key)? {
            None => Ok(None),
            Some(v) => u32::try_from(v).map(Some).map_err(|_| {
                let p = t.get(key).map_or(pos, |e| e.value.pos);
                TreeError::new(p, format!("{key} {v} is not a user or group id"))
            }),
        }
    };
    let mut tmpl = Template {
        embedded_tmpl: t.string("data")?.unwrap_or_default(),
        source_path: t.string("source")?.unwrap_or_default(),
        dest_path: t.string("destination")?.unwrap_or_default(),
        change_mode: t.string("change_mode")?.unwrap_or_else(|| "restart".into()),
        change_signal: t.string("change_signal")?.unwrap_or_default(),
        splay: t
            .duration("splay")?
            .unwrap_or(std::time::Duration::from_secs(5)),
        perms: t.string("perms")?.unwrap_or_else(|| "0644".into()),
        left_delim: t.string("left_delimiter")?.unwrap_or_else(|| "{{".into()),
        right_delim: t.string("right_delimiter")?.unwrap_or_else(|| "}}".into()),
        envvars: t.bool("env")?.unwrap_or(false),
        uid: id("uid")?,
        gid: id("gid")?,
        err_missing_key: t.bool("error_on_missing_key")?.unwrap_or(false),
        ..Template::default()
    };
    if let Some(w) = t.block("wait", "the wait block of a template")? {
        let w = Fields::new(w, &["min", "max"], &[])?;
        tmpl.wait = Some(TemplateWait {
            min: w.duration("min")?.unwrap_or_default(),
            max: w.duration("max")?.unwrap_or_default(),
        });
    }
    if let Some(c) = t.block("change_script", "the change_script block of a template")? {
        let c = Fields::new(c, &["command", "args", "timeout", "fail_on_error"], &[])?;
        tmpl.change_script = Some(ChangeScript {
            command: c.string("command")?.unwrap_or_default(),
            args: c.strings("args")?.unwrap_or_default(),
            timeout: c
                .duration("timeout")?
                .unwrap_or(std::time::Duration::from_secs(5)),
            fail_on_error: c.bool("fail_on_error")?.unwrap_or(false),
        });
    }
    // The checks the API applies too, reported here at the block's line.
    if let Some(problem) = tmpl.problems().into_iter().next() {
        return Err(TreeError::new(pos, format!("template: {problem}")));
    }
    Ok(tmpl)
}
