//! The job and group vocabulary: positioned tree -> `api::Job`. Shared by HCL and YAML.

use super::decode::{describe, Block, Fields, Result};
use super::decode_parts::{
    affinities, check_one_of, constraints, migrate, network, reschedule, restart, spreads, update,
    volumes,
};
use super::decode_service::services;
use super::decode_task::task;
use super::tree::{Body, Pos, TreeError};
use crate::job::{
    Job, MigrateStrategy, ParameterizedJobConfig, PeriodicConfig, ReschedulePolicy, ScalingPolicy,
    TaskGroup, UpdateStrategy,
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
            "node_pool",
            "region",
            "namespace",
            "priority",
            "all_at_once",
            "meta",
            "update",
            "parameterized",
            "periodic",
            "reschedule",
            "migrate",
        ],
        &["constraint", "affinity", "spread", "group", "task"],
    )?;
    let mut job = Job {
        id: name.to_string(),
        name: f.string("name")?.unwrap_or_else(|| name.to_string()),
        ..Job::default()
    };
    if let Some(t) = f.string("type")? {
        let p = f.get("type").map_or(pos, |e| e.value.pos);
        if !crate::job::JOB_TYPES.contains(&t.as_str()) {
            return Err(TreeError::new(
                p,
                format!(
                    "job type {t:?} must be one of \"service\", \"batch\", \"system\", \
                     \"sysbatch\"{}",
                    super::suggest::did_you_mean(&t, crate::job::JOB_TYPES.iter().copied())
                ),
            ));
        }
        job.job_type = t;
    }
    if let Some(v) = f.strings("datacenters")? {
        job.datacenters = v;
    }
    if let Some(v) = f.string("node_pool")? {
        let p = f.get("node_pool").map_or(pos, |e| e.value.pos);
        crate::node_pool::validate_pool_name(&v).map_err(|e| TreeError::new(p, e))?;
        job.node_pool = v;
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
    job.affinities = affinities(&f)?;
    job.spreads = spreads(&f)?;
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
    if let Some(b) = f.block("periodic", "the periodic block")? {
        job.periodic = Some(periodic(b)?);
    }
    let defaults = JobDefaults {
        job_type: &job.job_type,
        update: job.update.as_ref(),
        reschedule: reschedule(&f, &job.job_type, None)?,
        migrate: migrate(&f, None)?,
    };
    let mut groups = Vec::new();
    for (label, body, gpos) in f.labelled("group")? {
        groups.push(group(&label.name, body, gpos, &defaults)?);
    }
    // A task written straight in the job is a group of its own, of one, as Nomad reads it.
    for (label, body, tpos) in f.labelled("task")? {
        let mut ports = Vec::new();
        let t = task(&label.name, body, tpos, defaults.job_type, None, &mut ports)?;
        let tg = TaskGroup {
            name: label.name.clone(),
            count: 1,
            tasks: vec![t],
            update: defaults.update.cloned(),
            reschedule_policy: defaults.reschedule.clone(),
            migrate: defaults.migrate.clone(),
            ..TaskGroup::default()
        };
        check_ports(&tg, ports)?;
        groups.push(tg);
    }
    job.task_groups = groups;
    Ok(job)
}

/// What a job's own blocks give each of its groups.
struct JobDefaults<'a> {
    job_type: &'a str,
    update: Option<&'a UpdateStrategy>,
    reschedule: Option<ReschedulePolicy>,
    migrate: Option<MigrateStrategy>,
}

fn check_ports(tg: &TaskGroup, ports: Vec<super::decode_service::PortRef>) -> Result<()> {
    let labels = crate::job::port_labels(tg);
    for p in ports {
        if let Some(msg) = unknown_port(&p.port, &labels) {
            return Err(TreeError::new(p.pos, msg));
        }
    }
    Ok(())
}

fn periodic(b: Block) -> Result<PeriodicConfig> {
    let at = b.pos;
    let p = Fields::new(
        b,
        &["cron", "crons", "prohibit_overlap", "time_zone", "enabled"],
        &[],
    )?;
    let cfg = PeriodicConfig {
        enabled: p.bool("enabled")?.unwrap_or(true),
        spec: p.string("cron")?.unwrap_or_default(),
        specs: p.strings("crons")?.unwrap_or_default(),
        prohibit_overlap: p.bool("prohibit_overlap")?.unwrap_or(false),
        time_zone: p.string("time_zone")?.unwrap_or_default(),
        ..PeriodicConfig::default()
    };
    if let Some(problem) = cfg.problems().into_iter().next() {
        let keys: &[&str] = if problem.contains("time_zone") {
            &["time_zone"]
        } else {
            &["cron", "crons"]
        };
        let at = keys
            .iter()
            .find_map(|k| p.get(k))
            .map_or(at, |e| e.value.pos);
        return Err(TreeError::new(at, problem));
    }
    Ok(cfg)
}

/// The job's update, reschedule and migrate blocks are merged into the group's own field by
/// field.
fn group(name: &str, body: &Body, pos: Pos, defaults: &JobDefaults) -> Result<TaskGroup> {
    let job_type = defaults.job_type;
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
            "disconnect",
            "max_client_disconnect",
        ],
        &[
            "constraint",
            "affinity",
            "spread",
            "service",
            "task",
            "volume",
        ],
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
    tg.restart_policy = restart(&f, job_type, None)?;
    tg.reschedule_policy =
        reschedule(&f, job_type, defaults.reschedule.as_ref())?.or(defaults.reschedule.clone());
    tg.update = update(&f, defaults.update)?;
    tg.migrate = migrate(&f, defaults.migrate.as_ref())?.or(defaults.migrate.clone());
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
        // Reserved on the node; sticky and migrate hand the data to a replacement on the same
        // node (see the client's prev_alloc.rs).
        let d = Fields::new(d, &["size", "migrate", "sticky"], &[])?;
        tg.ephemeral_disk = Some(crate::job::EphemeralDisk {
            size_mb: d.int("size")?.unwrap_or(300),
            migrate: d.bool("migrate")?.unwrap_or(false),
            sticky: d.bool("sticky")?.unwrap_or(false),
        });
    }
    if let Some(m) = f.string_map("meta")? {
        tg.meta = m;
    }
    if let Some(v) = f.duration("shutdown_delay")? {
        tg.shutdown_delay = v;
    }
    tg.max_client_disconnect = f.duration("max_client_disconnect")?;
    if let Some(b) = f.block(
        "disconnect",
        &format!("the disconnect block of group {name:?}"),
    )? {
        let d = Fields::new(b, &["lost_after", "replace", "reconcile"], &[])?;
        if let Some(r) = d.string("reconcile")? {
            check_one_of(
                &d,
                "reconcile",
                &r,
                &[
                    crate::job::RECONCILE_BEST_SCORE,
                    crate::job::RECONCILE_KEEP_ORIGINAL,
                    crate::job::RECONCILE_KEEP_REPLACEMENT,
                    crate::job::RECONCILE_LONGEST_RUNNING,
                ],
            )?;
        }
        if tg.max_client_disconnect.is_some() {
            let at = f.get("max_client_disconnect").map_or(pos, |e| e.pos);
            return Err(TreeError::new(
                at,
                format!("group {name:?}: use disconnect or max_client_disconnect, not both"),
            ));
        }
        tg.disconnect = Some(crate::job::DisconnectStrategy {
            lost_after: d.duration("lost_after")?.unwrap_or_default(),
            replace: d.bool("replace")?,
            reconcile: d.string("reconcile")?.unwrap_or_default(),
            ..Default::default()
        });
    }
    tg.constraints = constraints(&f)?;
    tg.affinities = affinities(&f)?;
    tg.spreads = spreads(&f)?;
    tg.volumes = volumes(&f)?;
    let mut ports = Vec::new();
    tg.services = services(&f, &mut ports)?;
    for (label, body, tpos) in f.labelled("task")? {
        let restart = tg.restart_policy.as_ref();
        tg.tasks.push(task(
            &label.name,
            body,
            tpos,
            job_type,
            restart,
            &mut ports,
        )?);
    }
    check_ports(&tg, ports)?;
    Ok(tg)
}
