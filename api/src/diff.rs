//! Job diffs in Nomad's shape (`JobDiff` of `job plan` and `job history -p`): what changed between
//! two versions of a job, field by field, with the annotations that say what a change forces
//! ("forces create/destroy update" ...).
//!
//! The diff walks the jobs' JSON form, so every field the API carries is compared without a list
//! to keep in step with the types. Groups and tasks pair by name; lists of blocks pair by name
//! when they have one (services, checks, ports), else compare as sets; a task's `config` is
//! flattened into Nomad's `key[index]` names.

use crate::job::{Job, Task, TaskGroup};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

pub const DIFF_ADDED: &str = "Added";
pub const DIFF_DELETED: &str = "Deleted";
pub const DIFF_EDITED: &str = "Edited";
pub const DIFF_NONE: &str = "None";

pub const ANNOTATION_FORCES_CREATE: &str = "forces create";
pub const ANNOTATION_FORCES_DESTROY: &str = "forces destroy";
pub const ANNOTATION_FORCES_DESTRUCTIVE: &str = "forces create/destroy update";
pub const ANNOTATION_FORCES_INPLACE: &str = "forces in-place update";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JobDiff {
    #[serde(rename = "Type")]
    pub diff_type: String,
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(default)]
    pub fields: Vec<FieldDiff>,
    #[serde(default)]
    pub objects: Vec<ObjectDiff>,
    #[serde(default)]
    pub task_groups: Vec<TaskGroupDiff>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TaskGroupDiff {
    #[serde(rename = "Type")]
    pub diff_type: String,
    pub name: String,
    #[serde(default)]
    pub fields: Vec<FieldDiff>,
    #[serde(default)]
    pub objects: Vec<ObjectDiff>,
    #[serde(default)]
    pub tasks: Vec<TaskDiff>,
    /// What the scheduler would do, by kind ("create/destroy update": 2), from a plan.
    #[serde(default)]
    pub updates: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TaskDiff {
    #[serde(rename = "Type")]
    pub diff_type: String,
    pub name: String,
    #[serde(default)]
    pub fields: Vec<FieldDiff>,
    #[serde(default)]
    pub objects: Vec<ObjectDiff>,
    #[serde(default)]
    pub annotations: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FieldDiff {
    #[serde(rename = "Type")]
    pub diff_type: String,
    pub name: String,
    #[serde(default)]
    pub old: String,
    #[serde(default)]
    pub new: String,
    #[serde(default)]
    pub annotations: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ObjectDiff {
    #[serde(rename = "Type")]
    pub diff_type: String,
    pub name: String,
    #[serde(default)]
    pub fields: Vec<FieldDiff>,
    #[serde(default)]
    pub objects: Vec<ObjectDiff>,
}

/// Fields the servers own: never part of a diff.
const JOB_SERVER_FIELDS: &[&str] = &[
    "Status",
    "StatusDescription",
    "Stable",
    "Version",
    "SubmitTime",
    "CreateIndex",
    "ModifyIndex",
    "JobModifyIndex",
    "TaskGroups",
];

/// Whether moving a group from `old` to `new` needs new allocations (its tasks, their
/// resources, drivers, config, artifacts or the network changed) rather than an in-place update
/// (count, meta, services, update block ...). The scheduler and the diff share it.
pub fn destructive_change(old: &TaskGroup, new: &TaskGroup) -> bool {
    // The disk is reserved when an allocation is placed: a new size or data rule needs a new one.
    if old.networks != new.networks
        || old.tasks.len() != new.tasks.len()
        || old.ephemeral_disk != new.ephemeral_disk
    {
        return true;
    }
    old.tasks
        .iter()
        .zip(&new.tasks)
        .any(|(a, b)| a.name != b.name || task_destructive(a, b))
}

fn task_destructive(a: &Task, b: &Task) -> bool {
    a.driver != b.driver
        || a.user != b.user
        || a.config != b.config
        || a.env != b.env
        || a.resources != b.resources
        || a.artifacts != b.artifacts
        || a.templates != b.templates
}

fn as_map(v: &Value) -> Option<&Map<String, Value>> {
    v.as_object()
}

/// How a value shows in a diff: strings bare, null and empty as "".
fn show(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

fn is_scalar(v: &Value) -> bool {
    !matches!(v, Value::Object(_) | Value::Array(_))
}

fn field(name: &str, old: Option<&Value>, new: Option<&Value>, ctx: bool) -> Option<FieldDiff> {
    let (o, n) = (show(old), show(new));
    let t = match (o.is_empty(), n.is_empty()) {
        _ if o == n => DIFF_NONE,
        (true, false) => DIFF_ADDED,
        (false, true) => DIFF_DELETED,
        _ => DIFF_EDITED,
    };
    (t != DIFF_NONE || ctx).then(|| FieldDiff {
        diff_type: t.into(),
        name: name.into(),
        old: o,
        new: n,
        annotations: Vec::new(),
    })
}

/// The singular of a list's name: "Constraints" -> "Constraint".
fn singular(key: &str) -> String {
    match key {
        "DynamicPorts" => "Dynamic Port".into(),
        "ReservedPorts" => "Static Port".into(),
        "Affinities" => "Affinity".into(),
        k => k.strip_suffix('s').unwrap_or(k).to_string(),
    }
}

/// What a list's elements pair by, when they have it.
fn element_key(v: &Value) -> Option<String> {
    let m = v.as_object()?;
    ["Name", "Label", "GetterSource", "DestPath"]
        .iter()
        .find_map(|k| m.get(*k).and_then(Value::as_str).filter(|s| !s.is_empty()))
        .map(str::to_string)
}

fn object_type(fields: &[FieldDiff], objects: &[ObjectDiff], old: bool, new: bool) -> &'static str {
    match (old, new) {
        (false, true) => DIFF_ADDED,
        (true, false) => DIFF_DELETED,
        _ if fields.iter().any(|f| f.diff_type != DIFF_NONE)
            || objects.iter().any(|o| o.diff_type != DIFF_NONE) =>
        {
            DIFF_EDITED
        }
        _ => DIFF_NONE,
    }
}

fn object(
    name: &str,
    old: Option<&Map<String, Value>>,
    new: Option<&Map<String, Value>>,
    ctx: bool,
) -> Option<ObjectDiff> {
    let (fields, objects) = diff_maps(old, new, &[], ctx);
    let t = object_type(&fields, &objects, old.is_some(), new.is_some());
    (t != DIFF_NONE || ctx).then(|| ObjectDiff {
        diff_type: t.into(),
        name: name.into(),
        fields,
        objects,
    })
}

/// A list of scalars as one object of set fields (`Datacenters { + Datacenters: "dc2" }`).
fn scalar_set(name: &str, old: &[Value], new: &[Value], ctx: bool) -> Option<ObjectDiff> {
    let o: BTreeSet<String> = old.iter().map(|v| show(Some(v))).collect();
    let n: BTreeSet<String> = new.iter().map(|v| show(Some(v))).collect();
    let mut fields = Vec::new();
    for v in o.union(&n) {
        let (was, is) = (o.contains(v), n.contains(v));
        let s = Value::String(v.clone());
        let f = field(name, was.then_some(&s), is.then_some(&s), ctx);
        fields.extend(f);
    }
    let t = object_type(&fields, &[], !old.is_empty(), !new.is_empty());
    (t != DIFF_NONE || ctx).then(|| ObjectDiff {
        diff_type: t.into(),
        name: name.into(),
        fields,
        objects: Vec::new(),
    })
}

/// A list of blocks: paired by name when they have one, else compared as a set.
fn block_list(key: &str, old: &[Value], new: &[Value], ctx: bool) -> Vec<ObjectDiff> {
    let name = singular(key);
    let mut out = Vec::new();
    let keyed = old.iter().chain(new).all(|v| element_key(v).is_some());
    if keyed {
        let index = |l: &[Value]| -> BTreeMap<String, Map<String, Value>> {
            l.iter()
                .filter_map(|v| Some((element_key(v)?, v.as_object()?.clone())))
                .collect()
        };
        let (o, n) = (index(old), index(new));
        let keys: BTreeSet<&String> = o.keys().chain(n.keys()).collect();
        for k in keys {
            out.extend(object(&name, o.get(k), n.get(k), ctx));
        }
        return out;
    }
    for v in old.iter().filter(|v| !new.contains(v)) {
        out.extend(object(&name, as_map(v), None, ctx));
    }
    for v in new.iter().filter(|v| !old.contains(v)) {
        out.extend(object(&name, None, as_map(v), ctx));
    }
    if ctx {
        for v in old.iter().filter(|v| new.contains(v)) {
            out.extend(object(&name, as_map(v), as_map(v), ctx));
        }
    }
    out
}

/// Nomad's flatmap of a task's config: `args[0]`, `port_map[0][http]`.
fn flatten(prefix: &str, v: &Value, out: &mut Map<String, Value>) {
    match v {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), item, out);
            }
        }
        Value::Object(m) => {
            for (k, item) in m {
                flatten(&format!("{prefix}[{k}]"), item, out);
            }
        }
        scalar => {
            out.insert(prefix.to_string(), scalar.clone());
        }
    }
}

fn flat_config(v: Option<&Value>) -> Option<Map<String, Value>> {
    let m = v?.as_object()?;
    let mut out = Map::new();
    for (k, item) in m {
        flatten(k, item, &mut out);
    }
    Some(out)
}

/// Fields and objects of two JSON objects, keys in order, `skip` left out.
fn diff_maps(
    old: Option<&Map<String, Value>>,
    new: Option<&Map<String, Value>>,
    skip: &[&str],
    ctx: bool,
) -> (Vec<FieldDiff>, Vec<ObjectDiff>) {
    let empty = Map::new();
    let (o, n) = (old.unwrap_or(&empty), new.unwrap_or(&empty));
    let keys: BTreeSet<&String> = o.keys().chain(n.keys()).collect();
    let (mut fields, mut objects) = (Vec::new(), Vec::new());
    for key in keys.into_iter().filter(|k| !skip.contains(&k.as_str())) {
        let (ov, nv) = (o.get(key), n.get(key));
        let is_null = |v: Option<&Value>| v.is_none_or(Value::is_null);
        match (ov, nv) {
            _ if key == "Config" => {
                let (fo, fnew) = (flat_config(ov), flat_config(nv));
                let (fo, fnew) = (fo.filter(|m| !m.is_empty()), fnew.filter(|m| !m.is_empty()));
                if fo.is_some() || fnew.is_some() {
                    objects.extend(object(key, fo.as_ref(), fnew.as_ref(), ctx));
                }
            }
            (a, b) if a.is_none_or(is_scalar) && b.is_none_or(is_scalar) => {
                fields.extend(field(key, a, b, ctx));
            }
            (a, b)
                if a.is_none_or(|v| v.is_array() || v.is_null())
                    && b.is_none_or(|v| v.is_array() || v.is_null()) =>
            {
                let list =
                    |v: Option<&Value>| v.and_then(Value::as_array).cloned().unwrap_or_default();
                let (la, lb) = (list(a), list(b));
                if la.iter().chain(&lb).all(is_scalar) {
                    if !la.is_empty() || !lb.is_empty() {
                        objects.extend(scalar_set(key, &la, &lb, ctx));
                    }
                } else {
                    objects.extend(block_list(key, &la, &lb, ctx));
                }
            }
            (a, b) => {
                let (ma, mb) = (
                    a.and_then(as_map).filter(|_| !is_null(a)),
                    b.and_then(as_map).filter(|_| !is_null(b)),
                );
                let (ma, mb) = (ma.filter(|m| !m.is_empty()), mb.filter(|m| !m.is_empty()));
                if ma.is_some() || mb.is_some() {
                    objects.extend(object(key, ma, mb, ctx));
                }
            }
        }
    }
    (fields, objects)
}

fn json(v: &impl Serialize) -> Option<Map<String, Value>> {
    match serde_json::to_value(v).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

fn task_diff(old: Option<&Task>, new: Option<&Task>, ctx: bool) -> Option<TaskDiff> {
    let name = new.or(old).map(|t| t.name.clone()).unwrap_or_default();
    let (jo, jn) = (old.and_then(json), new.and_then(json));
    let (fields, objects) = diff_maps(jo.as_ref(), jn.as_ref(), &["Name"], ctx);
    let t = object_type(&fields, &objects, old.is_some(), new.is_some());
    let annotation = match (old, new, t) {
        (None, Some(_), _) => Some(ANNOTATION_FORCES_CREATE),
        (Some(_), None, _) => Some(ANNOTATION_FORCES_DESTROY),
        (Some(a), Some(b), DIFF_EDITED) if task_destructive(a, b) => {
            Some(ANNOTATION_FORCES_DESTRUCTIVE)
        }
        (_, _, DIFF_EDITED) => Some(ANNOTATION_FORCES_INPLACE),
        _ => None,
    };
    (t != DIFF_NONE || ctx).then(|| TaskDiff {
        diff_type: t.into(),
        name,
        fields,
        objects,
        annotations: annotation.into_iter().map(str::to_string).collect(),
    })
}

fn group_diff(
    old: Option<&TaskGroup>,
    new: Option<&TaskGroup>,
    ctx: bool,
) -> Option<TaskGroupDiff> {
    let name = new.or(old).map(|g| g.name.clone()).unwrap_or_default();
    let (jo, jn) = (old.and_then(json), new.and_then(json));
    let (mut fields, objects) = diff_maps(jo.as_ref(), jn.as_ref(), &["Name", "Tasks"], ctx);
    for f in fields.iter_mut().filter(|f| f.name == "Count") {
        let (o, n) = (
            f.old.parse::<i64>().unwrap_or(0),
            f.new.parse::<i64>().unwrap_or(0),
        );
        if n > o {
            f.annotations.push(ANNOTATION_FORCES_CREATE.into());
        } else if n < o {
            f.annotations.push(ANNOTATION_FORCES_DESTROY.into());
        }
    }
    let names: BTreeSet<&String> = old
        .iter()
        .chain(new.iter())
        .flat_map(|g| g.tasks.iter().map(|t| &t.name))
        .collect();
    let find = |g: Option<&TaskGroup>, n: &str| {
        g.and_then(|g| g.tasks.iter().find(|t| t.name == n).cloned())
    };
    let tasks: Vec<TaskDiff> = names
        .into_iter()
        .filter_map(|n| task_diff(find(old, n).as_ref(), find(new, n).as_ref(), ctx))
        .collect();
    let mut t = object_type(&fields, &objects, old.is_some(), new.is_some());
    if t == DIFF_NONE && tasks.iter().any(|d| d.diff_type != DIFF_NONE) {
        t = DIFF_EDITED;
    }
    (t != DIFF_NONE || ctx).then(|| TaskGroupDiff {
        diff_type: t.into(),
        name,
        fields,
        objects,
        tasks,
        updates: BTreeMap::new(),
    })
}

/// What changed from `old` (None: the job is new) to `new`. With `contextual`, unchanged fields
/// and blocks are listed too (as "None").
pub fn job_diff(old: Option<&Job>, new: &Job, contextual: bool) -> JobDiff {
    let (jo, jn) = (old.and_then(json), json(new));
    let (fields, objects) = diff_maps(jo.as_ref(), jn.as_ref(), JOB_SERVER_FIELDS, contextual);
    let names: BTreeSet<&String> = old
        .iter()
        .flat_map(|j| j.task_groups.iter().map(|g| &g.name))
        .chain(new.task_groups.iter().map(|g| &g.name))
        .collect();
    let task_groups: Vec<TaskGroupDiff> = names
        .into_iter()
        .filter_map(|n| {
            group_diff(
                old.and_then(|j| j.lookup_group(n)),
                new.lookup_group(n),
                contextual,
            )
        })
        .collect();
    let mut t = object_type(&fields, &objects, old.is_some(), true);
    if t == DIFF_NONE && task_groups.iter().any(|g| g.diff_type != DIFF_NONE) {
        t = DIFF_EDITED;
    }
    JobDiff {
        diff_type: t.into(),
        id: new.id.clone(),
        fields,
        objects,
        task_groups,
    }
}

impl JobDiff {
    /// Whether anything differs.
    pub fn changed(&self) -> bool {
        self.diff_type != DIFF_NONE
    }
}

#[cfg(test)]
mod tests;
