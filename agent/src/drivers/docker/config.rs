//! The docker task's `config` block, parsed and checked before anything touches the engine, so a
//! mistake in a job file fails at once with a message that names the option.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

/// Options this driver implements.
const SUPPORTED: &[&str] = &[
    "image",
    "command",
    "args",
    "entrypoint",
    "work_dir",
    "ports",
    "port_map",
    "labels",
    "volumes",
    "network_mode",
    "force_pull",
    "load",
    "auth",
    "logging",
    "privileged",
    "cap_add",
    "cap_drop",
];

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error("docker: missing {0:?} in the task's config block")]
    Missing(&'static str),
    #[error("docker: {key:?} must be {expected}")]
    WrongType { key: String, expected: &'static str },
    #[error("docker: {key:?}: {reason}")]
    BadValue { key: String, reason: String },
    #[error("docker: unknown option {key:?} in the task's config block (supported: {supported})")]
    Unknown { key: String, supported: String },
}

/// One `volumes` entry: `host:container[:ro|rw]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeSpec {
    /// Absolute; a relative host path in the job is resolved against the task directory.
    pub host: PathBuf,
    pub container: String,
    pub read_only: bool,
}

/// Registry credentials of the `auth` block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryAuth {
    pub username: String,
    pub password: String,
    pub server_address: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct DockerTaskConfig {
    pub image: String,
    pub command: Option<String>,
    pub args: Vec<String>,
    pub entrypoint: Option<Vec<String>>,
    pub work_dir: Option<String>,
    /// Labels of the group's network ports to publish.
    pub ports: Vec<String>,
    /// The older form: label -> container port.
    pub port_map: BTreeMap<String, u16>,
    pub labels: BTreeMap<String, String>,
    pub volumes: Vec<VolumeSpec>,
    pub network_mode: Option<String>,
    pub force_pull: bool,
    /// An image tarball (`docker save` format) inside the task directory.
    pub load: Option<String>,
    pub auth: Option<RegistryAuth>,
    /// Checked against the client's `allow_privileged` (see `host_access`).
    pub privileged: bool,
    /// Checked against the client's `allow_caps`.
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
}

fn wrong(key: &str, expected: &'static str) -> ConfigError {
    ConfigError::WrongType {
        key: key.to_string(),
        expected,
    }
}

fn bad(key: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::BadValue {
        key: key.to_string(),
        reason: reason.into(),
    }
}

/// Scalars as the job file wrote them; interpolation may have turned numbers into strings or not.
fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn opt_string(m: &BTreeMap<String, Value>, key: &str) -> Result<Option<String>, ConfigError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(wrong(key, "a string")),
    }
}

fn string_list(m: &BTreeMap<String, Value>, key: &str) -> Result<Option<Vec<String>>, ConfigError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| scalar_string(v).ok_or_else(|| wrong(key, "a list of strings")))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(wrong(key, "a list of strings")),
    }
}

fn bool_value(m: &BTreeMap<String, Value>, key: &str) -> Result<bool, ConfigError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) => match s.as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(wrong(key, "true or false")),
        },
        Some(_) => Err(wrong(key, "true or false")),
    }
}

/// A map written as one block (an object) or as repeated blocks (a list of objects).
fn string_map(
    m: &BTreeMap<String, Value>,
    key: &str,
) -> Result<BTreeMap<String, String>, ConfigError> {
    let mut out = BTreeMap::new();
    let mut add = |obj: &serde_json::Map<String, Value>| -> Result<(), ConfigError> {
        for (k, v) in obj {
            let s = scalar_string(v).ok_or_else(|| wrong(key, "a map of strings"))?;
            out.insert(k.clone(), s);
        }
        Ok(())
    };
    match m.get(key) {
        None | Some(Value::Null) => {}
        Some(Value::Object(obj)) => add(obj)?,
        Some(Value::Array(items)) => {
            for item in items {
                match item {
                    Value::Object(obj) => add(obj)?,
                    _ => return Err(wrong(key, "a map of strings")),
                }
            }
        }
        Some(_) => return Err(wrong(key, "a map of strings")),
    }
    Ok(out)
}

fn parse_port_map(m: &BTreeMap<String, Value>) -> Result<BTreeMap<String, u16>, ConfigError> {
    string_map(m, "port_map")?
        .into_iter()
        .map(|(label, port)| match port.parse::<u16>() {
            Ok(p) if p > 0 => Ok((label, p)),
            _ => Err(bad(
                "port_map",
                format!("port of {label:?} must be a number from 1 to 65535, not {port:?}"),
            )),
        })
        .collect()
}

fn parse_volume(spec: &str, task_dir: &Path) -> Result<VolumeSpec, ConfigError> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (host, container, mode) = match parts.as_slice() {
        [h, c] => (*h, *c, None),
        [h, c, m] => (*h, *c, Some(*m)),
        _ => {
            return Err(bad(
                "volumes",
                format!("{spec:?} is not of the form host_path:container_path[:ro]"),
            ))
        }
    };
    if host.is_empty() || !container.starts_with('/') {
        return Err(bad(
            "volumes",
            format!(
                "{spec:?}: the host path must not be empty and the container path must be absolute"
            ),
        ));
    }
    let read_only = match mode {
        None | Some("rw") => false,
        Some("ro") => true,
        Some(other) => {
            return Err(bad(
                "volumes",
                format!("{spec:?}: mode {other:?} must be \"ro\" or \"rw\""),
            ))
        }
    };
    let host = Path::new(host);
    let host = if host.is_absolute() {
        host.to_path_buf()
    } else {
        task_dir.join(host)
    };
    Ok(VolumeSpec {
        host,
        container: container.to_string(),
        read_only,
    })
}

fn parse_auth(m: &BTreeMap<String, Value>) -> Result<Option<RegistryAuth>, ConfigError> {
    if m.get("auth").is_none_or(Value::is_null) {
        return Ok(None);
    }
    let fields = string_map(m, "auth")?;
    let field = |k: &str| fields.get(k).cloned().unwrap_or_default();
    Ok(Some(RegistryAuth {
        username: field("username"),
        password: field("password"),
        server_address: field("server_address"),
    }))
}

/// `load` must stay inside the task directory: the job author must not read the host's files
/// through it.
fn check_load(load: &str) -> Result<(), ConfigError> {
    let p = Path::new(load);
    let escapes = p
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir));
    if escapes {
        return Err(bad(
            "load",
            format!("{load:?} must be a relative path inside the task directory"),
        ));
    }
    Ok(())
}

impl DockerTaskConfig {
    /// Without the client's `volumes { enabled = true }`, a task binds only paths inside its own
    /// directory: an absolute host path, or a relative one that climbs out with `..`, is refused.
    pub fn check_volumes_inside(&self, task_dir: &Path) -> Result<(), ConfigError> {
        for v in &self.volumes {
            if !crate::client::allocdir::lexically_inside(&v.host, task_dir) {
                return Err(bad(
                    "volumes",
                    format!(
                        "{:?} is outside the allocation: binding host paths is off on this \
                         client; its operator can allow it with plugin \"docker\" {{ config {{ \
                         volumes {{ enabled = true }} }} }}",
                        v.host
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Parses the config block; `task_dir` anchors relative volume paths.
    pub fn parse(m: &BTreeMap<String, Value>, task_dir: &Path) -> Result<Self, ConfigError> {
        if let Some(key) = m.keys().find(|k| !SUPPORTED.contains(&k.as_str())) {
            return Err(ConfigError::Unknown {
                key: key.clone(),
                supported: SUPPORTED.join(", "),
            });
        }
        let image = opt_string(m, "image")?.ok_or(ConfigError::Missing("image"))?;
        if image.chars().any(char::is_whitespace) {
            return Err(bad("image", format!("{image:?} contains whitespace")));
        }
        let volumes = string_list(m, "volumes")?
            .unwrap_or_default()
            .iter()
            .map(|v| parse_volume(v, task_dir))
            .collect::<Result<Vec<_>, _>>()?;
        let load = opt_string(m, "load")?;
        if let Some(l) = &load {
            check_load(l)?;
        }
        Ok(DockerTaskConfig {
            image,
            command: opt_string(m, "command")?,
            args: string_list(m, "args")?.unwrap_or_default(),
            entrypoint: string_list(m, "entrypoint")?,
            work_dir: opt_string(m, "work_dir")?,
            ports: string_list(m, "ports")?.unwrap_or_default(),
            port_map: parse_port_map(m)?,
            labels: string_map(m, "labels")?,
            volumes,
            network_mode: opt_string(m, "network_mode")?,
            force_pull: bool_value(m, "force_pull")?,
            privileged: bool_value(m, "privileged")?,
            cap_add: string_list(m, "cap_add")?.unwrap_or_default(),
            cap_drop: string_list(m, "cap_drop")?.unwrap_or_default(),
            load,
            auth: parse_auth(m)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<DockerTaskConfig, ConfigError> {
        let m: BTreeMap<String, Value> = serde_json::from_value(v).unwrap();
        DockerTaskConfig::parse(&m, Path::new("/alloc/a1/web"))
    }

    #[test]
    fn parses_every_option() {
        let c = parse(json!({
            "image": "redis:7",
            "command": "redis-server",
            "args": ["--port", 6379],
            "entrypoint": ["/bin/sh", "-c"],
            "work_dir": "/data",
            "ports": ["db"],
            "port_map": [{"db": 6379}, {"admin": "8080"}],
            "labels": {"team": "core"},
            "volumes": ["data:/data", "/etc/ssl:/etc/ssl:ro"],
            "network_mode": "bridge",
            "force_pull": "true",
            "load": "local/redis.tar",
            "auth": {"username": "u", "password": "p"},
            "logging": {"type": "json-file"},
        }))
        .unwrap();
        assert_eq!(c.args, ["--port", "6379"]);
        assert_eq!(c.port_map["db"], 6379);
        assert_eq!(c.port_map["admin"], 8080);
        assert_eq!(c.labels["team"], "core");
        assert_eq!(c.volumes[0].host, Path::new("/alloc/a1/web/data"));
        assert!(!c.volumes[0].read_only);
        assert!(c.volumes[1].read_only);
        assert!(c.force_pull);
        assert_eq!(c.auth.unwrap().username, "u");
    }

    #[test]
    fn errors_name_the_option() {
        assert_eq!(parse(json!({})).unwrap_err(), ConfigError::Missing("image"));
        let cases = [
            (json!({"image": 3}), "\"image\""),
            (json!({"image": "a", "args": "x"}), "\"args\""),
            (json!({"image": "a", "port_map": {"http": 0}}), "\"http\""),
            (json!({"image": "a", "volumes": ["a"]}), "host_path"),
            (json!({"image": "a", "volumes": ["a:rel"]}), "absolute"),
            (json!({"image": "a", "volumes": ["a:/b:rx"]}), "\"rx\""),
            (json!({"image": "a", "load": "../x.tar"}), "inside the task"),
            (
                json!({"image": "a", "load": "/etc/x.tar"}),
                "inside the task",
            ),
            (json!({"image": "a", "force_pull": "yes"}), "true or false"),
            (json!({"image": "a", "privileged": "yes"}), "\"privileged\""),
        ];
        for (input, needle) in cases {
            let err = parse(input.clone()).unwrap_err().to_string();
            assert!(err.contains(needle), "{input}: {err}");
        }
    }

    #[test]
    fn host_paths_outside_the_allocation_need_the_client_to_allow_volumes() {
        let dir = Path::new("/alloc/a1/web");
        let inside =
            parse(json!({"image": "a", "volumes": ["data:/data", "./x/y:/y:ro"]})).unwrap();
        inside.check_volumes_inside(dir).unwrap();
        for spec in [
            "/etc:/host-etc",
            "/var/run/docker.sock:/s",
            "../../..:/up",
            "a/../../b:/b",
        ] {
            let c = parse(json!({"image": "a", "volumes": [spec]})).unwrap();
            let err = c.check_volumes_inside(dir).unwrap_err().to_string();
            assert!(err.contains("volumes { enabled = true }"), "{spec}: {err}");
        }
    }
}
