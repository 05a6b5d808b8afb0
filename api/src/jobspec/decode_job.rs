//! The job and group vocabulary: positioned tree -> `api::Job`. Shared by HCL and YAML.

use super::decode::{describe, Block, Fields, Result};
use super::decode_parts::{constraints, migrate, network, reschedule, restart, update};
use super::decode_service::services;
use super::decode_task::task;
use super::tree::{Body, Pos, TreeError};
use crate::job::{
    Job, ParameterizedJobConfig, ScalingPolicy, TaskGroup, UpdateStrategy, JOB_TYPE_BATCH,
    JOB_TYPE_SERVICE, JOB_TYPE_SYSTEM,
};
use crate::service_rules::unknown_port;

/// Decodes the root body of a job file: exactly one `job "name" { ... }`.
pub fn decode_root(root: &Body) -> Result<Job> {
    let top = Fields::new(
        Block::new(root, Pos { line: 1, col: 1 }, "the file"),
        &[],
        &["job"],
    )?;
    let jobs = top.labelled("job")?;
    match jobs.as_slice() {
        [] => Err(TreeError::new(
            Pos { line: 1, col: 1 },
            "no job in the file: write job \"name\" { ... }",
        )),
        [(label, body, pos)] => decode_job(&label.name, body, *pos),
        [_, (label, _, _), ..] => Err(TreeError::new(
            label.pos,
            "a job file holds exactly one job; this is the second",
        )),
    }
}

fn decode_job(name: &str, body: &Body, pos: Pos) -> Result<Job> {
    let what = describe("job", name);
    let f = Fields::new(
        Block::new(body, pos, what),
        &[
            "name",
            "type",
            "datacenters",
            "region",
            "namespace",
            "priority",
            "all_at_once",
            "meta",
            "update",
            "parameterized",
        ],
        &["constraint", "group"],
    )?;
    let mut job = Job {
        id: name.to_string(),
        name: f.string("name")?.unwrap_or_else(|| name.to_string()),
        ..Job::default()
    };
    if let Some(t) = f.string("type")? {
        if ![JOB_TYPE_SERVICE, JOB_TYPE_BATCH, JOB_TYPE_SYSTEM].contains(&t.as_str()) {
            let p = f.get("type").map_or(pos, |e| e.value.pos);
            return Err(TreeError::new(
                p,
                format!("job type {t:?} must be one of \"service\", \"batch\", \"system\""),
            ));
        }
        job.job_type = t;
    }
    if let Some(v) = f.strings("datacenters")? {
        job.datacenters = v;
    }
    if let Some(v) = f.string("region")? {
        job.region = v;
    }
    if let Some(v) = f.string("namespace")? {
        job.namespace = v;
    }
    if let Some(v) = f.int_as("priority")? {
        job.priority = v;
    }
    if let Some(v) = f.bool("all_at_once")? {
        job.all_at_once = v;
    }
    if let Some(v) = f.string_map("meta")? {
        job.meta = v;
    }
    job.update = update(&f, None)?;
    job.constraints = constraints(&f)?;
    if let Some(b) = f.block("parameterized", "the parameterized block")? {
        let at = b.pos;
        let p = Fields::new(b, &["payload", "meta_required", "meta_optional"], &[])?;
        let cfg = ParameterizedJobConfig {
            payload: p.string("payload")?.unwrap_or_else(|| "optional".into()),
            meta_required: p.strings("meta_required")?.unwrap_or_default(),
            meta_optional: p.strings("meta_optional")?.unwrap_or_default(),
        };
        if let Some(problem) = cfg.problems().into_iter().next() {
            return Err(TreeError::new(at, problem));
        }
        job.parameterized_job = Some(cfg);
    }
    for (label, body, gpos) in f.labelled("group")? {
        job.task_groups.push(group(
            &label.name,
            body,
            gpos,
            &job.job_type,
            job.update.as_ref(),
        )?);
    }
    Ok(job)
}

/// `job_update`: the job's update block, which the group's own merges into field by field.
fn group(
    name: &str,
    body: &Body,
    pos: Pos,
    job_type: &str,
    job_update: Option<&UpdateStrategy>,
) -> Result<TaskGroup> {
    let f = Fields::new(
        Block::new(body, pos, describe("group", name)),
        &[
            "count",
            "network",
            "restart",
            "reschedule",
            "update",
            "migrate",
            "ephemeral_disk",
            "meta",
            "shutdown_delay",
            "scaling",
        ],
        &["constraint", "service", "task"],
    )?;
    let mut tg = TaskGroup {
        name: name.to_string(),
        ..TaskGroup::default()
    };
    if let Some(c) = f.int_as("count")? {
        tg.count = c;
    }
    if let Some(n) = f.block("network", &format!("the network block of group {name:?}"))? {
        tg.networks.push(network(n)?);
    }
    tg.restart_policy = restart(&f, job_type)?;
    tg.reschedule_policy = reschedule(&f, job_type)?;
    tg.update = update(&f, job_update)?;
    tg.migrate = migrate(&f)?;
    if let Some(b) = f.block("scaling", &format!("the scaling block of group {name:?}"))? {
        let at = b.pos;
        let s = Fields::new(b, &["enabled", "min", "max", "policy"], &[])?;
        let policy = ScalingPolicy {
            enabled: s.bool("enabled")?,
            min: s.int("min")?,
            max: s.int("max")?,
            policy: s.json_map("policy")?.unwrap_or_default(),
            ..ScalingPolicy::default()
        };
        if let Some(p) = policy.problems().into_iter().next() {
            return Err(TreeError::new(at, p));
        }
        tg.scaling = Some(policy);
    }
    if let Some(d) = f.block(
        "ephemeral_disk",
        &format!("the ephemeral_disk of group {name:?}"),
    )? {
        // Accepted so that Nomad job files load; the disk is not reserved by this orchestrator.
        let d = Fields::new(d, &["size", "migrate", "sticky"], &[])?;
        d.int("size")?;
        d.bool("migrate")?;
        d.bool("sticky")?;
    }
    if let Some(m) = f.string_map("meta")? {
        tg.meta = m;
    }
    if let Some(v) = f.duration("shutdown_delay")? {
        tg.shutdown_delay = v;
    }
    tg.constraints = constraints(&f)?;
    let mut ports = Vec::new();
    tg.services = services(&f, &mut ports)?;
    for (label, body, tpos) in f.labelled("task")? {
        tg.tasks.push(task(&label.name, body, tpos, &mut ports)?);
    }
    let labels = crate::job::port_labels(&tg);
    for p in ports {
        if let Some(msg) = unknown_port(&p.port, &labels) {
            return Err(TreeError::new(p.pos, msg));
        }
    }
    Ok(tg)
}
