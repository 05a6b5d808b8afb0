//! The functions a task template calls beyond Go's own, as consul-template offers them to Nomad
//! jobs: the task's environment, the service catalog, Nomad Variables, and a few string and JSON
//! helpers. The data functions read what the template watcher fetched last.

use api::gotemplate::{Func, Funcs};
use api::variable::Variable;
use api::ServiceRegistration;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// What the functions read: the task's environment, its namespace's services, and the variables
/// its workload identity may read.
#[derive(Default, Clone)]
pub struct TemplateData {
    pub env: BTreeMap<String, String>,
    pub namespace: String,
    pub services: Vec<ServiceRegistration>,
    pub variables: Vec<Variable>,
}

fn func(f: impl Fn(&[Value]) -> Result<Value, String> + Send + Sync + 'static) -> Func {
    Arc::new(f)
}

fn string_arg<'a>(args: &'a [Value], i: usize, name: &str) -> Result<&'a str, String> {
    args.get(i)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{name} expects a string as argument {}", i + 1))
}

fn arity(args: &[Value], n: usize, name: &str) -> Result<(), String> {
    if args.len() == n {
        Ok(())
    } else {
        Err(format!("{name} takes {n} argument(s), got {}", args.len()))
    }
}

/// The count of `nomadService COUNT KEY NAME`: a number, or a string holding one.
fn shard_count(v: &Value) -> Result<usize, String> {
    let n = match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    n.and_then(|n| usize::try_from(n).ok())
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("nomadService: the count must be a positive number, got {v}"))
}

/// Keeps the `count` instances that rendezvous hashing gives `key`: each caller with its own
/// key (an allocation id) sees a stable subset, and the subsets spread evenly over the
/// instances; an instance that goes away moves only the callers that had it.
fn pick_shard(list: &mut Vec<&ServiceRegistration>, count: usize, key: &str) {
    use sha2::{Digest, Sha256};
    let weight = |s: &ServiceRegistration| {
        let h = Sha256::new()
            .chain_update(key.as_bytes())
            .chain_update([0u8])
            .chain_update(s.id.as_bytes())
            .finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&h[..8]);
        u64::from_be_bytes(first)
    };
    list.sort_by_key(|s| std::cmp::Reverse(weight(s)));
    list.truncate(count);
}

/// Go's builtins plus the template functions, reading `data`.
pub fn funcs(data: Arc<TemplateData>) -> Funcs {
    let mut f = Funcs::builtin();
    let d = data.clone();
    f.insert(
        "env",
        func(move |a| {
            arity(a, 1, "env")?;
            let key = string_arg(a, 0, "env")?;
            Ok(Value::String(d.env.get(key).cloned().unwrap_or_default()))
        }),
    );
    let d = data.clone();
    f.insert(
        "nomadService",
        func(move |a| {
            let (name, shard) = match a.len() {
                1 => (string_arg(a, 0, "nomadService")?, None),
                3 => {
                    let count = shard_count(&a[0])?;
                    let key = string_arg(a, 1, "nomadService")?;
                    (string_arg(a, 2, "nomadService")?, Some((count, key)))
                }
                n => {
                    return Err(format!(
                        "nomadService takes the service name, or a count, a key and the name \
                         (its sharding form); got {n} arguments"
                    ))
                }
            };
            let mut list: Vec<&ServiceRegistration> = d
                .services
                .iter()
                .filter(|s| s.service_name == name && s.namespace == d.namespace)
                .collect();
            if let Some((count, key)) = shard {
                pick_shard(&mut list, count, key);
            }
            list.sort_by(|x, y| (&x.address, x.port, &x.id).cmp(&(&y.address, y.port, &y.id)));
            Ok(Value::Array(list.into_iter().map(service_json).collect()))
        }),
    );
    let d = data.clone();
    f.insert(
        "nomadServices",
        func(move |a| {
            arity(a, 0, "nomadServices")?;
            let mut by_name: BTreeMap<&str, Vec<String>> = BTreeMap::new();
            for s in d.services.iter().filter(|s| s.namespace == d.namespace) {
                let tags = by_name.entry(&s.service_name).or_default();
                for t in &s.tags {
                    if !tags.contains(t) {
                        tags.push(t.clone());
                    }
                }
            }
            Ok(Value::Array(
                by_name
                    .into_iter()
                    .map(|(name, tags)| json!({"Name": name, "Namespace": d.namespace, "Tags": tags}))
                    .collect(),
            ))
        }),
    );
    let d = data.clone();
    f.insert(
        "nomadVar",
        func(move |a| {
            arity(a, 1, "nomadVar")?;
            let path = string_arg(a, 0, "nomadVar")?;
            let v = d.variables.iter().find(|v| v.path == path).ok_or_else(|| {
                format!(
                    "nomadVar {path:?}: no such variable this task may read (a task reads nomad/jobs/<job>, nomad/jobs/<job>/<group> and nomad/jobs/<job>/<group>/<task>)"
                )
            })?;
            Ok(json!(v.items))
        }),
    );
    let d = data.clone();
    f.insert(
        "nomadVarExists",
        func(move |a| {
            arity(a, 1, "nomadVarExists")?;
            let path = string_arg(a, 0, "nomadVarExists")?;
            Ok(Value::Bool(d.variables.iter().any(|v| v.path == path)))
        }),
    );
    let d = data;
    f.insert(
        "nomadVarList",
        func(move |a| {
            let prefix = match a {
                [] => "",
                [p] => p.as_str().ok_or("nomadVarList expects a path prefix")?,
                _ => return Err("nomadVarList takes at most one argument, a path prefix".into()),
            };
            Ok(Value::Array(
                d.variables
                    .iter()
                    .filter(|v| v.path.starts_with(prefix))
                    .map(|v| json!({"Path": v.path, "Namespace": v.namespace}))
                    .collect(),
            ))
        }),
    );
    add_helpers(&mut f);
    f
}

fn service_json(s: &ServiceRegistration) -> Value {
    json!({
        "ID": s.id,
        "Name": s.service_name,
        "Namespace": s.namespace,
        "NodeID": s.node_id,
        "Datacenter": s.datacenter,
        "JobID": s.job_id,
        "AllocID": s.alloc_id,
        "Tags": s.tags,
        "Address": s.address,
        "Port": s.port,
    })
}

/// consul-template's string and JSON helpers that job files use most.
fn add_helpers(f: &mut Funcs) {
    f.insert(
        "toJSON",
        func(|a| {
            arity(a, 1, "toJSON")?;
            serde_json::to_string(&a[0])
                .map(Value::String)
                .map_err(|e| e.to_string())
        }),
    );
    f.insert(
        "toJSONPretty",
        func(|a| {
            arity(a, 1, "toJSONPretty")?;
            serde_json::to_string_pretty(&a[0])
                .map(Value::String)
                .map_err(|e| e.to_string())
        }),
    );
    f.insert(
        "parseJSON",
        func(|a| {
            arity(a, 1, "parseJSON")?;
            serde_json::from_str(string_arg(a, 0, "parseJSON")?)
                .map_err(|e| format!("parseJSON: {e}"))
        }),
    );
    f.insert(
        "toUpper",
        func(|a| Ok(Value::String(string_arg(a, 0, "toUpper")?.to_uppercase()))),
    );
    f.insert(
        "toLower",
        func(|a| Ok(Value::String(string_arg(a, 0, "toLower")?.to_lowercase()))),
    );
    f.insert(
        "trimSpace",
        func(|a| {
            Ok(Value::String(
                string_arg(a, 0, "trimSpace")?.trim().to_string(),
            ))
        }),
    );
    f.insert(
        "split",
        func(|a| {
            arity(a, 2, "split")?;
            let (sep, s) = (string_arg(a, 0, "split")?, string_arg(a, 1, "split")?);
            Ok(Value::Array(
                s.split(sep).map(|p| Value::String(p.to_string())).collect(),
            ))
        }),
    );
    f.insert(
        "join",
        func(|a| {
            arity(a, 2, "join")?;
            let sep = string_arg(a, 0, "join")?;
            let items = a[1].as_array().ok_or("join expects a list as argument 2")?;
            let parts: Vec<String> = items
                .iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                .collect();
            Ok(Value::String(parts.join(sep)))
        }),
    );
    f.insert(
        "replaceAll",
        func(|a| {
            arity(a, 3, "replaceAll")?;
            let (from, to, s) = (
                string_arg(a, 0, "replaceAll")?,
                string_arg(a, 1, "replaceAll")?,
                string_arg(a, 2, "replaceAll")?,
            );
            Ok(Value::String(s.replace(from, to)))
        }),
    );
    f.insert(
        "contains",
        func(|a| {
            arity(a, 2, "contains")?;
            Ok(Value::Bool(match &a[1] {
                Value::Array(items) => items.contains(&a[0]),
                Value::String(s) => s.contains(string_arg(a, 0, "contains")?),
                _ => false,
            }))
        }),
    );
}
