//! What a docker task may take from its host, as the client's operator allows it. Everything is
//! off until `plugin "docker" { config { ... } }` turns it on: binding host paths
//! (`volumes { enabled = true }`), privileged containers (`allow_privileged = true`), and
//! capabilities beyond Docker's defaults (`allow_caps = [...]`).

use super::config::{ConfigError, DockerTaskConfig};
use std::collections::BTreeSet;
use std::path::Path;

/// The capabilities Docker grants a container by default; also Nomad's default `allow_caps`.
pub const DEFAULT_CAPS: &[&str] = &[
    "audit_write",
    "chown",
    "dac_override",
    "fowner",
    "fsetid",
    "kill",
    "mknod",
    "net_bind_service",
    "net_raw",
    "setfcap",
    "setgid",
    "setpcap",
    "setuid",
    "sys_chroot",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostAccess {
    /// Tasks may bind any host path, not only paths inside their allocation.
    pub volumes: bool,
    pub privileged: bool,
    /// Capabilities a task may add, normalized ("net_admin"); "all" allows every one.
    pub allow_caps: BTreeSet<String>,
}

impl Default for HostAccess {
    /// Closed: no host paths, no privilege, Docker's default capabilities only.
    fn default() -> Self {
        HostAccess {
            volumes: false,
            privileged: false,
            allow_caps: DEFAULT_CAPS.iter().map(|c| c.to_string()).collect(),
        }
    }
}

/// "CAP_NET_ADMIN", "NET_ADMIN" and "net_admin" all name one capability.
pub fn normalize_cap(cap: &str) -> String {
    let lower = cap.trim().to_ascii_lowercase();
    lower
        .strip_prefix("cap_")
        .map(str::to_string)
        .unwrap_or(lower)
}

fn refused(key: &str, reason: String) -> ConfigError {
    ConfigError::BadValue {
        key: key.to_string(),
        reason,
    }
}

impl HostAccess {
    /// Refuses what `dc` asks beyond what this client allows, naming the setting that would
    /// allow it.
    pub fn check(&self, dc: &DockerTaskConfig, task_dir: &Path) -> Result<(), ConfigError> {
        if !self.volumes {
            dc.check_volumes_inside(task_dir)?;
        }
        if dc.privileged && !self.privileged {
            return Err(refused(
                "privileged",
                "privileged containers are off on this client; its operator can allow them \
                 with plugin \"docker\" { config { allow_privileged = true } }"
                    .into(),
            ));
        }
        if self.allow_caps.contains("all") {
            return Ok(());
        }
        for cap in &dc.cap_add {
            let cap = normalize_cap(cap);
            if !self.allow_caps.contains(&cap) {
                let allowed: Vec<&str> = self.allow_caps.iter().map(String::as_str).collect();
                return Err(refused(
                    "cap_add",
                    format!(
                        "capability {cap:?} is not allowed on this client (allow_caps: {}); its \
                         operator can add it to plugin \"docker\" {{ config {{ allow_caps = \
                         [...] }} }}",
                        allowed.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn task(config: serde_json::Value) -> DockerTaskConfig {
        let m = config
            .as_object()
            .expect("an object")
            .clone()
            .into_iter()
            .collect();
        DockerTaskConfig::parse(&m, Path::new("/alloc/t")).expect("a valid config")
    }

    #[test]
    fn privilege_and_extra_capabilities_need_the_operator() {
        let closed = HostAccess::default();
        let dir = Path::new("/alloc/t");
        assert!(closed.check(&task(json!({"image": "a"})), dir).is_ok());
        // Docker's defaults, in any spelling, are fine.
        let defaults = task(json!({"image": "a", "cap_add": ["CAP_CHOWN", "NET_RAW"]}));
        assert!(closed.check(&defaults, dir).is_ok());

        let privileged = task(json!({"image": "a", "privileged": true}));
        let err = closed.check(&privileged, dir).unwrap_err().to_string();
        assert!(err.contains("allow_privileged = true"), "{err}");
        let admin = task(json!({"image": "a", "cap_add": ["NET_ADMIN"]}));
        let err = closed.check(&admin, dir).unwrap_err().to_string();
        assert!(
            err.contains("\"net_admin\"") && err.contains("allow_caps"),
            "{err}"
        );
        let bind = task(json!({"image": "a", "volumes": ["/var/run/docker.sock:/s"]}));
        assert!(closed.check(&bind, dir).is_err());

        let open = HostAccess {
            volumes: true,
            privileged: true,
            allow_caps: BTreeSet::from(["net_admin".to_string()]),
        };
        assert!(open.check(&privileged, dir).is_ok());
        assert!(open.check(&admin, dir).is_ok());
        assert!(open.check(&bind, dir).is_ok());
        // A list that replaces the defaults drops them.
        assert!(open.check(&defaults, dir).is_err());
        let all = HostAccess {
            allow_caps: BTreeSet::from(["all".to_string()]),
            ..HostAccess::default()
        };
        assert!(all.check(&admin, dir).is_ok());
    }
}
