//! The job specification in Nomad's API shape: Job -> TaskGroup -> Task.
//!
//! Optional blocks stay `Option` so that `canonicalize` can fill Nomad's defaults per job type, and
//! so that a job read back through the API looks like the one that was submitted.

use crate::duration::nanos;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

mod admin;
pub mod cron;
mod disconnect;
mod dispatch;
mod periodic;
mod placement_prefs;
mod policies;
mod scaling;
mod services;
mod template;
mod volumes;
pub use admin::*;
pub use disconnect::*;
pub use policies::*;
pub use services::*;

pub type Meta = BTreeMap<String, String>;

pub const JOB_TYPE_SERVICE: &str = "service";
pub const JOB_TYPE_BATCH: &str = "batch";
pub const JOB_TYPE_SYSTEM: &str = "system";
/// Once on every feasible node, each run to completion: the system scheduler with batch tasks.
pub const JOB_TYPE_SYSBATCH: &str = "sysbatch";
pub const JOB_TYPES: [&str; 4] = [
    JOB_TYPE_SERVICE,
    JOB_TYPE_BATCH,
    JOB_TYPE_SYSTEM,
    JOB_TYPE_SYSBATCH,
];

/// Whether tasks of this job type are done once they succeed (batch, sysbatch) rather than
/// kept running.
pub fn runs_to_completion(job_type: &str) -> bool {
    job_type == JOB_TYPE_BATCH || job_type == JOB_TYPE_SYSBATCH
}

/// Whether the system scheduler places this job type: one allocation per feasible node.
pub fn on_every_node(job_type: &str) -> bool {
    job_type == JOB_TYPE_SYSTEM || job_type == JOB_TYPE_SYSBATCH
}

pub const JOB_STATUS_PENDING: &str = "pending";
pub const JOB_STATUS_RUNNING: &str = "running";
pub const JOB_STATUS_DEAD: &str = "dead";

fn default_namespace() -> String {
    "default".into()
}
fn default_region() -> String {
    "global".into()
}
fn default_priority() -> i32 {
    50
}
fn default_count() -> i32 {
    1
}
fn default_job_type() -> String {
    JOB_TYPE_SERVICE.into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Job {
    #[serde(rename = "ID", default)]
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default = "default_namespace")]
    pub namespace: String,
    #[serde(default = "default_region")]
    pub region: String,
    #[serde(rename = "Type", default = "default_job_type")]
    pub job_type: String,
    #[serde(default = "default_priority")]
    pub priority: i32,
    #[serde(default)]
    pub all_at_once: bool,
    #[serde(default)]
    pub datacenters: Vec<String>,
    /// The node pool the job places in (`all`: any node); empty until canonicalized.
    #[serde(default)]
    pub node_pool: String,
    #[serde(default)]
    pub constraints: Vec<Constraint>,
    #[serde(default)]
    pub affinities: Vec<Affinity>,
    #[serde(default)]
    pub spreads: Vec<Spread>,
    #[serde(default)]
    pub task_groups: Vec<TaskGroup>,
    #[serde(default)]
    pub update: Option<UpdateStrategy>,
    #[serde(default)]
    pub meta: Meta,
    // Fields the servers own; a submitted job's values are ignored.
    #[serde(default)]
    pub stop: bool,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub status_description: String,
    #[serde(default)]
    pub stable: bool,
    #[serde(default)]
    pub version: u64,
    #[serde(default)]
    pub submit_time: i64,
    #[serde(default)]
    pub create_index: u64,
    #[serde(default)]
    pub modify_index: u64,
    #[serde(default)]
    pub job_modify_index: u64,
    /// A `parameterized` job never runs itself: `job dispatch` runs children of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameterized_job: Option<ParameterizedJobConfig>,
    /// A `periodic` job never runs itself: the leader launches children on its schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub periodic: Option<PeriodicConfig>,
    /// A child made by `job dispatch`.
    #[serde(default)]
    pub dispatched: bool,
    #[serde(rename = "ParentID", default)]
    pub parent_id: String,
    /// The dispatch's payload, base64.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub payload: String,
}

impl Default for Job {
    fn default() -> Self {
        Job {
            id: String::new(),
            name: String::new(),
            namespace: default_namespace(),
            region: default_region(),
            job_type: default_job_type(),
            priority: default_priority(),
            all_at_once: false,
            datacenters: Vec::new(),
            node_pool: String::new(),
            constraints: Vec::new(),
            affinities: Vec::new(),
            spreads: Vec::new(),
            task_groups: Vec::new(),
            update: None,
            meta: Meta::new(),
            stop: false,
            status: String::new(),
            status_description: String::new(),
            stable: false,
            version: 0,
            submit_time: 0,
            create_index: 0,
            modify_index: 0,
            job_modify_index: 0,
            parameterized_job: None,
            periodic: None,
            dispatched: false,
            parent_id: String::new(),
            payload: String::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TaskGroup {
    pub name: String,
    #[serde(default = "default_count")]
    pub count: i32,
    #[serde(default)]
    pub constraints: Vec<Constraint>,
    #[serde(default)]
    pub affinities: Vec<Affinity>,
    #[serde(default)]
    pub spreads: Vec<Spread>,
    /// Host volumes the group's tasks may mount, by the name they mount them with.
    #[serde(default)]
    pub volumes: BTreeMap<String, VolumeRequest>,
    /// Kept as written; not enforced (see [`Job::warnings`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ephemeral_disk: Option<EphemeralDisk>,
    #[serde(default)]
    pub tasks: Vec<Task>,
    #[serde(default)]
    pub restart_policy: Option<RestartPolicy>,
    #[serde(default)]
    pub reschedule_policy: Option<ReschedulePolicy>,
    #[serde(default)]
    pub networks: Vec<NetworkResource>,
    #[serde(default)]
    pub services: Vec<Service>,
    #[serde(default)]
    pub update: Option<UpdateStrategy>,
    #[serde(default)]
    pub migrate: Option<MigrateStrategy>,
    #[serde(default)]
    pub meta: Meta,
    /// Time between deregistering the group's services and stopping its tasks.
    #[serde(with = "nanos", default)]
    pub shutdown_delay: Duration,
    /// The `scaling` block: bounds of `count`, and an autoscaler's policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scaling: Option<ScalingPolicy>,
    /// What its allocations do while their node is disconnected (see disconnect.rs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disconnect: Option<DisconnectStrategy>,
    /// The older form of `disconnect { lost_after }`, nanoseconds.
    #[serde(
        default,
        with = "crate::duration::opt_nanos",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_client_disconnect: Option<Duration>,
}

impl Default for TaskGroup {
    fn default() -> Self {
        TaskGroup {
            name: String::new(),
            count: 1,
            constraints: Vec::new(),
            tasks: Vec::new(),
            restart_policy: None,
            affinities: Vec::new(),
            spreads: Vec::new(),
            volumes: BTreeMap::new(),
            ephemeral_disk: None,
            reschedule_policy: None,
            networks: Vec::new(),
            services: Vec::new(),
            update: None,
            migrate: None,
            meta: Meta::new(),
            shutdown_delay: Duration::ZERO,
            scaling: None,
            disconnect: None,
            max_client_disconnect: None,
        }
    }
}

fn default_kill_timeout() -> Duration {
    Duration::from_secs(5)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Task {
    pub name: String,
    #[serde(default)]
    pub driver: String,
    #[serde(default)]
    pub user: String,
    /// Driver configuration, free-form as in Nomad: each driver validates its own keys.
    #[serde(default)]
    pub config: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub services: Vec<Service>,
    #[serde(default)]
    pub resources: Resources,
    #[serde(default)]
    pub constraints: Vec<Constraint>,
    #[serde(default)]
    pub meta: Meta,
    #[serde(with = "nanos", default = "default_kill_timeout")]
    pub kill_timeout: Duration,
    #[serde(default)]
    pub kill_signal: String,
    #[serde(default)]
    pub log_config: LogConfig,
    #[serde(default)]
    pub artifacts: Vec<Artifact>,
    #[serde(default)]
    pub templates: Vec<Template>,
    #[serde(default)]
    pub leader: bool,
    /// Time between deregistering the task's services and killing it, so proxies stop sending
    /// first.
    #[serde(with = "nanos", default)]
    pub shutdown_delay: Duration,
    /// When the task runs relative to the group's main tasks (none: it is a main task).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<TaskLifecycle>,
    /// Where a dispatched job's payload is written, under `local/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispatch_payload: Option<DispatchPayloadConfig>,
    /// Count toward the group's node scores, with the group's own.
    #[serde(default)]
    pub affinities: Vec<Affinity>,
    #[serde(default)]
    pub volume_mounts: Vec<VolumeMount>,
    /// The task's own `restart` block, over its group's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<RestartPolicy>,
}

/// A task's `lifecycle` block: a prestart task runs to completion (or, as a sidecar, keeps
/// running) before the main tasks start; a poststart task starts once they run; a poststop
/// task runs after they end.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TaskLifecycle {
    pub hook: String,
    #[serde(default)]
    pub sidecar: bool,
}

pub const LIFECYCLE_PRESTART: &str = "prestart";
pub const LIFECYCLE_POSTSTART: &str = "poststart";
pub const LIFECYCLE_POSTSTOP: &str = "poststop";

impl Task {
    /// The task's lifecycle hook, if it is not a main task.
    pub fn hook(&self) -> Option<&str> {
        self.lifecycle.as_ref().map(|l| l.hook.as_str())
    }

    /// A sidecar keeps running beside the main tasks, and is stopped when they end.
    pub fn is_sidecar(&self) -> bool {
        self.lifecycle.as_ref().is_some_and(|l| l.sidecar)
    }
}

impl Default for Task {
    fn default() -> Self {
        Task {
            name: String::new(),
            driver: String::new(),
            user: String::new(),
            config: BTreeMap::new(),
            env: BTreeMap::new(),
            services: Vec::new(),
            resources: Resources::default(),
            constraints: Vec::new(),
            meta: Meta::new(),
            kill_timeout: default_kill_timeout(),
            kill_signal: String::new(),
            log_config: LogConfig::default(),
            artifacts: Vec::new(),
            templates: Vec::new(),
            leader: false,
            lifecycle: None,
            dispatch_payload: None,
            restart_policy: None,
            affinities: Vec::new(),
            volume_mounts: Vec::new(),
            shutdown_delay: Duration::ZERO,
        }
    }
}

fn default_cpu() -> i64 {
    100
}
fn default_memory() -> i64 {
    300
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Resources {
    /// MHz.
    #[serde(rename = "CPU", default = "default_cpu")]
    pub cpu: i64,
    #[serde(rename = "MemoryMB", default = "default_memory")]
    pub memory_mb: i64,
    #[serde(rename = "MemoryMaxMB", default)]
    pub memory_max_mb: i64,
    #[serde(rename = "DiskMB", default)]
    pub disk_mb: i64,
    /// Kept as written; Nomad has ignored it since 0.9 and so does this.
    #[serde(rename = "IOPS", default, skip_serializing_if = "is_zero")]
    pub iops: i64,
    /// The older task-level network block; `canonicalize` moves it to the group.
    #[serde(default)]
    pub networks: Vec<NetworkResource>,
}

impl Default for Resources {
    fn default() -> Self {
        Resources {
            cpu: default_cpu(),
            memory_mb: default_memory(),
            memory_max_mb: 0,
            disk_mb: 0,
            iops: 0,
            networks: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkResource {
    #[serde(default)]
    pub mode: String,
    #[serde(default)]
    pub device: String,
    #[serde(rename = "IP", default)]
    pub ip: String,
    #[serde(rename = "MBits", default)]
    pub mbits: i64,
    #[serde(default)]
    pub reserved_ports: Vec<Port>,
    #[serde(default)]
    pub dynamic_ports: Vec<Port>,
}

/// A port label. `value` is the host port (static, or chosen by the scheduler for dynamic ports);
/// `to` is the port inside the task (0 = same as value).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Port {
    pub label: String,
    #[serde(default)]
    pub value: i64,
    #[serde(default)]
    pub to: i64,
    #[serde(default)]
    pub host_network: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Constraint {
    #[serde(rename = "LTarget", default)]
    pub l_target: String,
    #[serde(rename = "RTarget", default)]
    pub r_target: String,
    #[serde(default)]
    pub operand: String,
}

impl std::fmt::Display for Constraint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} {}", self.l_target, self.operand, self.r_target)
    }
}

fn default_max_files() -> i32 {
    10
}
fn default_max_file_size() -> i32 {
    10
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LogConfig {
    #[serde(default = "default_max_files")]
    pub max_files: i32,
    #[serde(rename = "MaxFileSizeMB", default = "default_max_file_size")]
    pub max_file_size_mb: i32,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            max_files: default_max_files(),
            max_file_size_mb: default_max_file_size(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Artifact {
    #[serde(default)]
    pub getter_source: String,
    #[serde(default)]
    pub getter_options: BTreeMap<String, String>,
    #[serde(default)]
    pub getter_mode: String,
    #[serde(default)]
    pub relative_dest: String,
}

pub use dispatch::{
    DispatchPayloadConfig, JobDispatchRequest, JobDispatchResponse, ParameterizedJobConfig,
};
pub use periodic::{periodic_child_id, PeriodicConfig, PERIODIC_SPEC_CRON};
pub use placement_prefs::{Affinity, Spread, SpreadTarget};
pub use scaling::{ScalingPolicy, ScalingPolicyListStub, SCALING_HORIZONTAL};
pub use template::{
    explain as explain_template_error, function_names as template_function_names, ChangeScript,
    Template, TemplateWait, TEMPLATE_FUNCTIONS,
    UNSUPPORTED_FUNCTIONS as UNSUPPORTED_TEMPLATE_FUNCTIONS,
};
pub use volumes::{mount_destination, VolumeMount, VolumeRequest, VOLUME_TYPE_HOST};

/// A problem with a job that the submitter must fix.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", .0.join("; "))]
pub struct ValidationError(pub Vec<String>);

impl Job {
    /// Fills Nomad's defaults the way the servers do on register, so that every later reader sees a
    /// complete job: ID/Name, datacenters, restart/reschedule policies, task-level networks moved
    /// to the group, log and update defaults.
    pub fn canonicalize(&mut self) {
        if self.id.is_empty() {
            self.id = self.name.clone();
        }
        if self.name.is_empty() {
            self.name = self.id.clone();
        }
        if self.namespace.is_empty() {
            self.namespace = default_namespace();
        }
        if self.region.is_empty() {
            self.region = default_region();
        }
        if self.job_type.is_empty() {
            self.job_type = default_job_type();
        }
        if self.datacenters.is_empty() {
            self.datacenters = vec!["*".into()];
        }
        if self.node_pool.is_empty() {
            self.node_pool = crate::node_pool::NODE_POOL_DEFAULT.into();
        }
        if self.job_type == JOB_TYPE_SERVICE && self.update.is_none() {
            self.update = Some(UpdateStrategy::default());
        }
        let job_type = self.job_type.clone();
        let job_update = self.update.clone();
        let (namespace, job_id) = (self.namespace.clone(), self.id.clone());
        for tg in &mut self.task_groups {
            if let Some(s) = tg.scaling.as_mut() {
                s.canonicalize(&namespace, &job_id, &tg.name, tg.count);
            }
            if tg.restart_policy.is_none() {
                tg.restart_policy = Some(RestartPolicy::default_for(&job_type));
            }
            if tg.reschedule_policy.is_none() {
                tg.reschedule_policy = ReschedulePolicy::default_for(&job_type);
            }
            if tg.update.is_none() {
                tg.update = job_update.clone();
            }
            if tg.migrate.is_none() && job_type == JOB_TYPE_SERVICE {
                tg.migrate = Some(MigrateStrategy::default());
            }
            // The older form put networks inside the task's resources; Nomad moved them to the
            // group. Move them so the scheduler has one place to look.
            for task in &mut tg.tasks {
                let nets = std::mem::take(&mut task.resources.networks);
                for net in nets {
                    merge_network(&mut tg.networks, net);
                }
            }
        }
    }

    /// Checks what the scheduler relies on. Returns every problem at once.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut errs = Vec::new();
        if self.id.is_empty() {
            errs.push("job ID is missing".to_string());
        } else if self.id.contains(' ') || (self.id.contains('/') && self.parent_id.is_empty()) {
            // Children are named `<parent>/dispatch-...` and `<parent>/periodic-...` by the
            // servers.
            errs.push(format!(
                "job ID {:?} must not contain spaces or '/'",
                self.id
            ));
        }
        if let Some(p) = &self.parameterized_job {
            errs.extend(p.problems());
            if !runs_to_completion(&self.job_type) {
                errs.push(format!(
                    "a parameterized job must be a batch or sysbatch job, not {:?}",
                    self.job_type
                ));
            }
        }
        let groups = self.task_groups.iter();
        let affinities = self.affinities.iter().chain(groups.clone().flat_map(|g| {
            g.affinities
                .iter()
                .chain(g.tasks.iter().flat_map(|t| t.affinities.iter()))
        }));
        for a in affinities {
            errs.extend(a.problems());
        }
        for s in self
            .spreads
            .iter()
            .chain(groups.flat_map(|g| g.spreads.iter()))
        {
            errs.extend(s.problems());
        }
        for g in &self.task_groups {
            if let Some(d) = &g.disconnect {
                errs.extend(d.problems(&g.name));
                if g.max_client_disconnect.is_some() {
                    errs.push(format!(
                        "group {:?}: use disconnect or max_client_disconnect, not both",
                        g.name
                    ));
                }
            }
            for v in g.volumes.values() {
                errs.extend(v.problems());
            }
            for t in &g.tasks {
                for m in &t.volume_mounts {
                    if !g.volumes.contains_key(&m.volume) {
                        errs.push(format!(
                            "task {:?} mounts volume {:?}, which group {:?} does not declare",
                            t.name, m.volume, g.name
                        ));
                    }
                    if mount_destination(&m.destination).is_none() {
                        errs.push(format!(
                            "task {:?}: volume_mount destination {:?} must be a path without \"..\"",
                            t.name, m.destination
                        ));
                    }
                }
            }
        }
        if let Some(p) = &self.periodic {
            errs.extend(p.problems());
            if !runs_to_completion(&self.job_type) {
                errs.push(format!(
                    "a periodic job must be a batch or sysbatch job, not {:?}",
                    self.job_type
                ));
            }
            if self.parameterized_job.is_some() {
                errs.push("a job is either periodic or parameterized, not both".into());
            }
        }
        for tg in &self.task_groups {
            for t in &tg.tasks {
                let Some(d) = &t.dispatch_payload else {
                    continue;
                };
                if self.parameterized_job.is_none() {
                    errs.push(format!(
                        "task {:?}: dispatch_payload needs a parameterized job",
                        t.name
                    ));
                }
                let escapes = d.file.is_empty()
                    || d.file.starts_with('/')
                    || d.file.split('/').any(|p| p == "..");
                if escapes {
                    errs.push(format!(
                        "task {:?}: dispatch_payload file {:?} must be a relative path inside local/",
                        t.name, d.file
                    ));
                }
            }
        }
        if !JOB_TYPES.contains(&self.job_type.as_str()) {
            errs.push(format!(
                "job type {:?} is not one of service, batch, system, sysbatch",
                self.job_type
            ));
        }
        if self.job_type == JOB_TYPE_SYSBATCH {
            for g in &self.task_groups {
                if g.reschedule_policy
                    .as_ref()
                    .is_some_and(|r| r.attempts > 0 || r.unlimited)
                {
                    errs.push(format!(
                        "group {:?}: a sysbatch job is not rescheduled: remove its reschedule block",
                        g.name
                    ));
                }
            }
        }
        if !(1..=100).contains(&self.priority) {
            errs.push(format!(
                "job priority {} must be between 1 and 100",
                self.priority
            ));
        }
        if self.task_groups.is_empty() {
            errs.push("job has no task groups: add a group block".to_string());
        }
        let mut group_names = std::collections::BTreeSet::new();
        for tg in &self.task_groups {
            if tg.name.is_empty() {
                errs.push("a task group has no name".to_string());
            }
            if !group_names.insert(tg.name.clone()) {
                errs.push(format!("task group {:?} is defined twice", tg.name));
            }
            if tg.count < 0 {
                errs.push(format!(
                    "group {:?}: count {} must not be negative",
                    tg.name, tg.count
                ));
            }
            if tg.tasks.is_empty() {
                errs.push(format!(
                    "group {:?} has no tasks: add a task block",
                    tg.name
                ));
            }
            if let Some(u) = &tg.update {
                errs.extend(
                    u.problems()
                        .into_iter()
                        .map(|p| format!("group {:?}, update: {p}", tg.name)),
                );
            }
            if let Some(m) = &tg.migrate {
                errs.extend(
                    m.problems()
                        .into_iter()
                        .map(|p| format!("group {:?}, migrate: {p}", tg.name)),
                );
            }
            let mut task_names = std::collections::BTreeSet::new();
            for t in &tg.tasks {
                if !task_names.insert(t.name.clone()) {
                    errs.push(format!(
                        "group {:?}: task {:?} is defined twice",
                        tg.name, t.name
                    ));
                }
                if t.driver.is_empty() {
                    errs.push(format!("task {:?}: missing driver", t.name));
                }
                if t.resources.cpu < 1 {
                    errs.push(format!("task {:?}: cpu must be at least 1 MHz", t.name));
                }
                if t.resources.memory_mb < 10 {
                    errs.push(format!("task {:?}: memory must be at least 10 MB", t.name));
                }
                if t.log_config.max_files < 1 || t.log_config.max_file_size_mb < 1 {
                    errs.push(format!(
                        "task {:?}: logs max_files and max_file_size must be at least 1",
                        t.name
                    ));
                }
            }
            if let Some(rp) = &tg.restart_policy {
                if !["fail", "delay"].contains(&rp.mode.as_str()) {
                    errs.push(format!(
                        "group {:?}: restart mode {:?} must be \"fail\" or \"delay\"",
                        tg.name, rp.mode
                    ));
                }
            }
            if !tg.tasks.is_empty() && tg.tasks.iter().all(|t| t.lifecycle.is_some()) {
                errs.push(format!(
                    "group {:?}: every task has a lifecycle hook; a group needs a main task",
                    tg.name
                ));
            }
            errs.extend(service_problems(tg));
            let mut labels = std::collections::BTreeSet::new();
            for net in &tg.networks {
                for p in net.reserved_ports.iter().chain(&net.dynamic_ports) {
                    if !labels.insert(p.label.clone()) {
                        errs.push(format!(
                            "group {:?}: port {:?} is defined twice",
                            tg.name, p.label
                        ));
                    }
                    if !(0..=65535).contains(&p.value) || !(0..=65535).contains(&p.to) {
                        errs.push(format!(
                            "group {:?}: port {:?} is out of range",
                            tg.name, p.label
                        ));
                    }
                }
            }
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(ValidationError(errs))
        }
    }

    /// Whether `other` is the same job as submitted: every field but those the servers own.
    pub fn same_spec(&self, other: &Job) -> bool {
        let spec = |j: &Job| Job {
            status: String::new(),
            status_description: String::new(),
            stable: false,
            version: 0,
            submit_time: 0,
            create_index: 0,
            modify_index: 0,
            job_modify_index: 0,
            ..j.clone()
        };
        spec(self) == spec(other)
    }

    /// A parameterized job that is not itself a dispatch: it never runs, its children do.
    pub fn is_parameterized_parent(&self) -> bool {
        self.parameterized_job.is_some() && !self.dispatched
    }

    /// Blocks and settings the job file may carry that have no effect here, each saying so;
    /// `job validate`, `job plan` and `job run` print them, as Nomad prints its warnings.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        for g in &self.task_groups {
            for t in &g.tasks {
                if t.resources.iops > 0 {
                    out.push(format!(
                        "task {:?}: resources.iops has no effect (Nomad ignores it too)",
                        t.name
                    ));
                }
                if t.resources.disk_mb > 0 {
                    out.push(format!(
                        "task {:?}: resources.disk has no effect: the group's ephemeral_disk.size is what is reserved",
                        t.name
                    ));
                }
            }
        }
        out
    }

    /// A periodic or parameterized job: it is never scheduled itself; its children are.
    pub fn is_parent(&self) -> bool {
        self.is_parameterized_parent() || self.periodic.is_some()
    }

    pub fn lookup_group(&self, name: &str) -> Option<&TaskGroup> {
        self.task_groups.iter().find(|g| g.name == name)
    }
}

/// The port labels of a group's network (and of its tasks' older network blocks).
pub fn port_labels(tg: &TaskGroup) -> std::collections::BTreeSet<String> {
    tg.networks
        .iter()
        .chain(tg.tasks.iter().flat_map(|t| &t.resources.networks))
        .flat_map(|n| n.reserved_ports.iter().chain(&n.dynamic_ports))
        .map(|p| p.label.clone())
        .collect()
}

/// The task a group service's check runs in (script) or restarts (check_restart): the check's
/// `task`, else the service's, else the group's only task.
pub fn check_task<'a>(tg: &'a TaskGroup, s: &'a Service, c: &'a ServiceCheck) -> &'a str {
    match (
        c.task_name.as_str(),
        s.task_name.as_str(),
        tg.tasks.as_slice(),
    ) {
        ("", "", [only]) => &only.name,
        ("", t, _) => t,
        (t, _, _) => t,
    }
}

/// The problems of a group's and its tasks' service blocks, and of what tasks may not use yet.
fn service_problems(tg: &TaskGroup) -> Vec<String> {
    let labels = port_labels(tg);
    let mut errs = Vec::new();
    if let Some(s) = &tg.scaling {
        let bounds = s.problems();
        let count = if bounds.is_empty() {
            s.check_count(i64::from(tg.count)).err()
        } else {
            None
        };
        for p in bounds.into_iter().chain(count) {
            errs.push(format!("group {:?}: {p}", tg.name));
        }
    }
    for s in &tg.services {
        for p in s.problems(&labels) {
            errs.push(format!("group {:?}, service {:?}: {p}", tg.name, s.name));
        }
        let concerns_a_task =
            |c: &&ServiceCheck| c.check_type == "script" || c.check_restart.is_some();
        for c in s.checks.iter().filter(concerns_a_task) {
            let task = check_task(tg, s, c);
            if !tg.tasks.iter().any(|t| t.name == task) {
                errs.push(format!(
                    "group {:?}, service {:?}: check {:?} runs a script or restarts a task, and \
                     the group has several: set `task` to the one it concerns",
                    tg.name, s.name, c.name
                ));
            }
        }
    }
    for t in &tg.tasks {
        for s in &t.services {
            for p in s.problems(&labels) {
                errs.push(format!("task {:?}, service {:?}: {p}", t.name, s.name));
            }
        }
        if let Some(l) = &t.lifecycle {
            let hooks = [LIFECYCLE_PRESTART, LIFECYCLE_POSTSTART, LIFECYCLE_POSTSTOP];
            if !hooks.contains(&l.hook.as_str()) {
                errs.push(format!(
                    "task {:?}: lifecycle hook {:?} must be prestart, poststart or poststop",
                    t.name, l.hook
                ));
            }
            if l.sidecar && l.hook == LIFECYCLE_POSTSTOP {
                errs.push(format!(
                    "task {:?}: a poststop task cannot be a sidecar",
                    t.name
                ));
            }
        }
        for (i, tmpl) in t.templates.iter().enumerate() {
            for p in tmpl.problems() {
                errs.push(format!("task {:?}, template {}: {p}", t.name, i + 1));
            }
        }
    }
    errs
}

fn merge_network(into: &mut Vec<NetworkResource>, net: NetworkResource) {
    match into.first_mut() {
        Some(existing) => {
            existing.reserved_ports.extend(net.reserved_ports);
            existing.dynamic_ports.extend(net.dynamic_ports);
            existing.mbits = existing.mbits.max(net.mbits);
        }
        None => into.push(net),
    }
}

/// `POST /v1/jobs` and `POST /v1/job/:id` body.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JobRegisterRequest {
    pub job: Job,
    #[serde(default)]
    pub enforce_index: bool,
    #[serde(default)]
    pub job_modify_index: u64,
    #[serde(default)]
    pub policy_override: bool,
}

/// `POST /v1/jobs/parse` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JobsParseRequest {
    #[serde(rename = "JobHCL")]
    pub job_hcl: String,
    #[serde(default)]
    pub canonicalize: bool,
    /// Values for the file's variables, as the text of a var file (`name = value` lines).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub variables: String,
    /// Nomad's HCL1 parser; only HCL2 is here.
    #[serde(default, rename = "HCLv1", skip_serializing_if = "std::ops::Not::not")]
    pub hcl_v1: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JobRegisterResponse {
    #[serde(rename = "EvalID")]
    pub eval_id: String,
    pub eval_create_index: u64,
    pub job_modify_index: u64,
    #[serde(default)]
    pub warnings: String,
    #[serde(default)]
    pub index: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JobDeregisterResponse {
    #[serde(rename = "EvalID")]
    pub eval_id: String,
    pub eval_create_index: u64,
    pub job_modify_index: u64,
    #[serde(default)]
    pub index: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JobListStub {
    #[serde(rename = "ID")]
    pub id: String,
    pub name: String,
    pub namespace: String,
    #[serde(rename = "Type")]
    pub job_type: String,
    pub priority: i32,
    pub datacenters: Vec<String>,
    #[serde(default)]
    pub node_pool: String,
    pub status: String,
    pub status_description: String,
    pub stop: bool,
    pub version: u64,
    pub job_summary: Option<JobSummary>,
    pub submit_time: i64,
    pub create_index: u64,
    pub modify_index: u64,
    pub job_modify_index: u64,
    /// The job's `meta`, with `?meta=true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    #[serde(rename = "ParentID", default)]
    pub parent_id: String,
    #[serde(default)]
    pub periodic: bool,
    #[serde(default)]
    pub parameterized_job: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JobSummary {
    #[serde(rename = "JobID")]
    pub job_id: String,
    pub namespace: String,
    pub summary: BTreeMap<String, TaskGroupSummary>,
    pub children: JobChildrenSummary,
    pub create_index: u64,
    pub modify_index: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TaskGroupSummary {
    pub queued: i64,
    pub complete: i64,
    pub failed: i64,
    pub running: i64,
    pub starting: i64,
    pub lost: i64,
    pub unknown: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JobChildrenSummary {
    pub pending: i64,
    pub running: i64,
    pub dead: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JobVersionsResponse {
    pub versions: Vec<Job>,
    /// With `?diffs=true`: `Diffs[i]` goes from `Versions[i+1]` to `Versions[i]`.
    #[serde(default)]
    pub diffs: Option<Vec<crate::diff::JobDiff>>,
}

/// `POST /v1/job/:id/revert`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JobRevertRequest {
    #[serde(rename = "JobID", default)]
    pub job_id: String,
    pub job_version: u64,
    /// Revert only if the current version is this one.
    #[serde(default)]
    pub enforce_prior_version: Option<u64>,
}

/// A group's `ephemeral_disk { size sticky migrate }`, in Nomad's shape.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EphemeralDisk {
    #[serde(rename = "SizeMB", default)]
    pub size_mb: i64,
    #[serde(default)]
    pub sticky: bool,
    #[serde(default)]
    pub migrate: bool,
}

/// Nomad's size for a group without an `ephemeral_disk` block.
pub const DEFAULT_EPHEMERAL_DISK_MB: i64 = 300;

impl TaskGroup {
    /// The disk its allocations reserve on their node (MB).
    pub fn disk_mb(&self) -> i64 {
        self.ephemeral_disk
            .as_ref()
            .map_or(DEFAULT_EPHEMERAL_DISK_MB, |d| d.size_mb)
    }

    /// Whether a replacement should land where its previous allocation ran, with its data:
    /// `ephemeral_disk { sticky }`, or `migrate`, which also carries the data across nodes.
    pub fn keeps_data(&self) -> bool {
        self.ephemeral_disk
            .as_ref()
            .is_some_and(|d| d.sticky || d.migrate)
    }

    /// `ephemeral_disk { migrate }`: the data also follows a replacement to another node.
    pub fn migrates_data(&self) -> bool {
        self.ephemeral_disk.as_ref().is_some_and(|d| d.migrate)
    }
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}
