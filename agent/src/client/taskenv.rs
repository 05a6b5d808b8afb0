//! The task environment: Nomad's NOMAD_* variables, the task's `env` block, and `${...}`
//! interpolation of env values and driver config strings.

use api::{Allocation, Task};
use std::collections::BTreeMap;
use std::path::Path;

/// What interpolation may read of the node (`${attr.x}`, `${node.x}`, `${meta.x}`).
#[derive(Debug, Clone, Default)]
pub struct NodeInfo {
    pub id: String,
    pub name: String,
    pub datacenter: String,
    pub class: String,
    pub attributes: BTreeMap<String, String>,
    pub meta: BTreeMap<String, String>,
}

impl NodeInfo {
    fn lookup(&self, key: &str) -> Option<String> {
        if let Some(a) = key.strip_prefix("attr.") {
            return self.attributes.get(a).cloned();
        }
        if let Some(m) = key.strip_prefix("meta.") {
            return self.meta.get(m).cloned();
        }
        match key {
            "node.unique.id" => Some(self.id.clone()),
            "node.unique.name" => Some(self.name.clone()),
            "node.datacenter" => Some(self.datacenter.clone()),
            "node.class" => Some(self.class.clone()),
            _ => key
                .strip_prefix("node.meta.")
                .and_then(|m| self.meta.get(m).cloned()),
        }
    }
}

/// Environment variable names may not contain '-' or '.': Nomad turns them into '_'.
fn env_name(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Directories the task sees.
pub struct TaskDirs<'a> {
    pub alloc_dir: &'a Path,
    pub task_dir: &'a Path,
    pub secrets_dir: &'a Path,
}

/// Builds the task's environment: NOMAD_* first, then the task's env block interpolated against it.
pub fn build_env(
    alloc: &Allocation,
    task: &Task,
    node: &NodeInfo,
    dirs: &TaskDirs<'_>,
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    let mut set = |k: &str, v: String| {
        env.insert(k.to_string(), v);
    };
    let job = alloc.job.as_deref();
    set("NOMAD_ALLOC_ID", alloc.id.clone());
    set("NOMAD_SHORT_ALLOC_ID", api::short_id(&alloc.id).to_string());
    set("NOMAD_ALLOC_NAME", alloc.name.clone());
    set("NOMAD_ALLOC_INDEX", alloc.index().to_string());
    set("NOMAD_JOB_ID", alloc.job_id.clone());
    set(
        "NOMAD_JOB_NAME",
        job.map(|j| j.name.clone())
            .unwrap_or_else(|| alloc.job_id.clone()),
    );
    set("NOMAD_GROUP_NAME", alloc.task_group.clone());
    set("NOMAD_TASK_NAME", task.name.clone());
    set(
        "NOMAD_NAMESPACE",
        if alloc.namespace.is_empty() {
            "default".into()
        } else {
            alloc.namespace.clone()
        },
    );
    set(
        "NOMAD_REGION",
        job.map(|j| j.region.clone())
            .unwrap_or_else(|| "global".into()),
    );
    set("NOMAD_DC", node.datacenter.clone());
    set("NOMAD_ALLOC_DIR", dirs.alloc_dir.display().to_string());
    set("NOMAD_TASK_DIR", dirs.task_dir.display().to_string());
    set("NOMAD_SECRETS_DIR", dirs.secrets_dir.display().to_string());
    let (cpu, mem) = alloc
        .allocated_resources
        .tasks
        .get(&task.name)
        .map(|r| (r.cpu.cpu_shares, r.memory.memory_mb))
        .unwrap_or((task.resources.cpu, task.resources.memory_mb));
    set("NOMAD_CPU_LIMIT", cpu.to_string());
    set("NOMAD_MEMORY_LIMIT", mem.to_string());
    let node_ip = node
        .attributes
        .get("unique.network.ip-address")
        .cloned()
        .unwrap_or_default();
    for p in &alloc.allocated_resources.shared.ports {
        let label = env_name(&p.label);
        let ip = if p.host_ip.is_empty() {
            node_ip.clone()
        } else {
            p.host_ip.clone()
        };
        let inside = if p.to > 0 { p.to } else { p.value };
        set(&format!("NOMAD_PORT_{label}"), inside.to_string());
        set(&format!("NOMAD_HOST_PORT_{label}"), p.value.to_string());
        set(&format!("NOMAD_IP_{label}"), ip.clone());
        set(&format!("NOMAD_ADDR_{label}"), format!("{ip}:{}", p.value));
        set(&format!("NOMAD_HOST_IP_{label}"), ip.clone());
        set(
            &format!("NOMAD_HOST_ADDR_{label}"),
            format!("{ip}:{}", p.value),
        );
    }
    // Meta: job, then group, then task, the most specific winning.
    let mut meta = BTreeMap::new();
    if let Some(j) = job {
        meta.extend(j.meta.clone());
        if let Some(g) = j.lookup_group(&alloc.task_group) {
            meta.extend(g.meta.clone());
        }
    }
    meta.extend(task.meta.clone());
    for (k, v) in meta {
        set(&format!("NOMAD_META_{}", env_name(&k)), v.clone());
        set(
            &format!("NOMAD_META_{}", env_name(&k).to_ascii_uppercase()),
            v,
        );
    }
    for (k, v) in &task.env {
        let value = interpolate(v, &env, node);
        env.insert(k.clone(), value);
    }
    env
}

/// Replaces `${NAME}`, `${env.NAME}`, `${attr.x}`, `${node.x}` and `${meta.x}`. Unknown references
/// are left as written, so a typo stays visible in the task's output.
pub fn interpolate(s: &str, env: &BTreeMap<String, String>, node: &NodeInfo) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let key = after[..end].trim();
        let value = match key.strip_prefix("env.") {
            Some(name) => env.get(name).cloned().or_else(|| std::env::var(name).ok()),
            None => env.get(key).cloned().or_else(|| node.lookup(key)),
        };
        match value {
            Some(v) => out.push_str(&v),
            None => out.push_str(&rest[start..start + 2 + end + 1]),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Interpolates every string inside a driver config value.
pub fn interpolate_value(
    v: &serde_json::Value,
    env: &BTreeMap<String, String>,
    node: &NodeInfo,
) -> serde_json::Value {
    match v {
        serde_json::Value::String(s) => serde_json::Value::String(interpolate(s, env, node)),
        serde_json::Value::Array(items) => serde_json::Value::Array(
            items
                .iter()
                .map(|i| interpolate_value(i, env, node))
                .collect(),
        ),
        serde_json::Value::Object(m) => serde_json::Value::Object(
            m.iter()
                .map(|(k, i)| (k.clone(), interpolate_value(i, env, node)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::{AllocatedPort, Job};

    #[test]
    fn builds_nomad_env_and_interpolates() {
        let mut alloc = Allocation {
            id: "0123456789abcdef".into(),
            name: "web.front[2]".into(),
            job_id: "web".into(),
            task_group: "front".into(),
            job: Some(std::sync::Arc::new(Job {
                id: "web".into(),
                name: "web".into(),
                ..Default::default()
            })),
            ..Default::default()
        };
        std::sync::Arc::make_mut(&mut alloc.allocated_resources)
            .shared
            .ports = vec![
            AllocatedPort {
                label: "http".into(),
                value: 23456,
                to: 8080,
                host_ip: String::new(),
            },
            AllocatedPort {
                label: "my-db".into(),
                value: 25000,
                to: 0,
                host_ip: "10.1.1.1".into(),
            },
        ];
        let task = Task {
            name: "srv".into(),
            env: BTreeMap::from([
                (
                    "LISTEN".to_string(),
                    "0.0.0.0:${NOMAD_PORT_http}".to_string(),
                ),
                (
                    "ARCH".to_string(),
                    "${attr.cpu.arch}/${node.datacenter}/${meta.rack}".to_string(),
                ),
                ("KEEP".to_string(), "${nope}".to_string()),
            ]),
            ..Default::default()
        };
        let node = NodeInfo {
            datacenter: "dc1".into(),
            attributes: BTreeMap::from([
                ("cpu.arch".to_string(), "amd64".to_string()),
                (
                    "unique.network.ip-address".to_string(),
                    "127.0.0.1".to_string(),
                ),
            ]),
            meta: BTreeMap::from([("rack".to_string(), "r1".to_string())]),
            ..Default::default()
        };
        let p = Path::new("/x");
        let env = build_env(
            &alloc,
            &task,
            &node,
            &TaskDirs {
                alloc_dir: p,
                task_dir: p,
                secrets_dir: p,
            },
        );
        assert_eq!(env["NOMAD_ALLOC_INDEX"], "2");
        assert_eq!(env["NOMAD_PORT_http"], "8080");
        assert_eq!(env["NOMAD_HOST_PORT_http"], "23456");
        assert_eq!(env["NOMAD_ADDR_http"], "127.0.0.1:23456");
        assert_eq!(env["NOMAD_PORT_my_db"], "25000");
        assert_eq!(env["NOMAD_IP_my_db"], "10.1.1.1");
        assert_eq!(env["NOMAD_SHORT_ALLOC_ID"], "01234567");
        assert_eq!(env["LISTEN"], "0.0.0.0:8080");
        assert_eq!(env["ARCH"], "amd64/dc1/r1");
        assert_eq!(env["KEEP"], "${nope}");
        assert_eq!(
            interpolate("${env.LISTEN} ${", &env, &node),
            "0.0.0.0:8080 ${"
        );
        let v = interpolate_value(
            &serde_json::json!(["-p", "${NOMAD_PORT_http}", 3]),
            &env,
            &node,
        );
        assert_eq!(v, serde_json::json!(["-p", "8080", 3]));
    }
}
