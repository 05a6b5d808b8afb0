//! One task's container: how it is described to the engine (image, command, env, ports, mounts,
//! limits, labels), and creating, starting, inspecting and removing it.

use super::config::DockerTaskConfig;
use super::engine::has_status;
use crate::drivers::{DriverError, ExitResult, TaskConfig};
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerState, HostConfig, HostConfigLogConfig,
    PortBinding, PortMap,
};
use bollard::query_parameters::{CreateContainerOptions, RemoveContainerOptions};
use bollard::Docker;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Labels that tie a container to its allocation and task, so it can be found again.
pub const LABEL_ALLOC_ID: &str = "com.nomad-rs.alloc_id";
pub const LABEL_TASK: &str = "com.nomad-rs.task";

/// Where the task sees its directories, as in Nomad's docker driver.
pub const ALLOC_MOUNT: &str = "/alloc";
pub const LOCAL_MOUNT: &str = "/local";
pub const SECRETS_MOUNT: &str = "/secrets";

/// The engine's log files are a buffer only (the agent copies the output into its own rotated
/// logs), so they are kept small; json-file is a driver the logs API can always read back.
const ENGINE_LOG_MAX_SIZE: &str = "10m";
const ENGINE_LOG_MAX_FILES: &str = "2";

/// `<task>-<alloc_id>`, with characters the engine refuses in names replaced.
pub fn container_name(task: &str, alloc_id: &str) -> String {
    format!("{task}-{alloc_id}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// The client's env names a port label this way (see client::taskenv).
fn env_label(label: &str) -> String {
    label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Published ports: every label of `ports` and `port_map`, read from the NOMAD_* variables the
/// client set for the group's network. The container side is the `port_map` entry, else the
/// port's `to` (NOMAD_PORT_<label>, which the client sets to the host port when there is no `to`).
struct Published {
    exposed: Vec<String>,
    bindings: PortMap,
    /// NOMAD_PORT_<label> as the container must see it.
    env: BTreeMap<String, String>,
}

fn publish_ports(tc: &TaskConfig, dc: &DockerTaskConfig) -> Result<Published, DriverError> {
    let labels: BTreeSet<&str> = dc
        .ports
        .iter()
        .map(String::as_str)
        .chain(dc.port_map.keys().map(String::as_str))
        .collect();
    let mut out = Published {
        exposed: Vec::new(),
        bindings: HashMap::new(),
        env: BTreeMap::new(),
    };
    for label in labels {
        let key = env_label(label);
        let host_port = tc
            .env
            .get(&format!("NOMAD_HOST_PORT_{key}"))
            .ok_or_else(|| {
                DriverError::Config(format!(
                    "docker: port {label:?} is not a port of the group's network block"
                ))
            })?;
        let container_port = match dc.port_map.get(label) {
            Some(p) => p.to_string(),
            None => tc
                .env
                .get(&format!("NOMAD_PORT_{key}"))
                .cloned()
                .unwrap_or_else(|| host_port.clone()),
        };
        let host_ip = tc
            .env
            .get(&format!("NOMAD_HOST_IP_{key}"))
            .or_else(|| tc.env.get(&format!("NOMAD_IP_{key}")))
            .cloned()
            .unwrap_or_default();
        out.env
            .insert(format!("NOMAD_PORT_{key}"), container_port.clone());
        for proto in ["tcp", "udp"] {
            let port = format!("{container_port}/{proto}");
            if !out.exposed.contains(&port) {
                out.exposed.push(port.clone());
            }
            out.bindings
                .entry(port)
                .or_insert_with(|| Some(Vec::new()))
                .get_or_insert_with(Vec::new)
                .push(PortBinding {
                    host_ip: Some(host_ip.clone()),
                    host_port: Some(host_port.clone()),
                });
        }
    }
    Ok(out)
}

/// Bind mounts: the task's directories at Nomad's paths, the job's `volumes`, then the group's
/// host volumes.
fn binds(tc: &TaskConfig, dc: &DockerTaskConfig) -> Vec<String> {
    let dirs = [
        (tc.alloc_dir.clone(), ALLOC_MOUNT),
        (tc.task_dir.join("local"), LOCAL_MOUNT),
        (tc.task_dir.join("secrets"), SECRETS_MOUNT),
    ];
    let mut out: Vec<String> = dirs
        .iter()
        // The engine would create a missing source as an empty root-owned directory.
        .filter(|(host, _)| host.is_dir())
        .map(|(host, inside)| format!("{}:{inside}", host.display()))
        .collect();
    out.extend(dc.volumes.iter().map(|v| {
        let mode = if v.read_only { ":ro" } else { "" };
        format!("{}:{}{mode}", v.host.display(), v.container)
    }));
    // Host volumes of the group, at their destination from the container's root.
    out.extend(tc.volume_mounts.iter().map(|m| {
        let mode = if m.read_only { ":ro" } else { "" };
        format!("{}:/{}{mode}", m.source.display(), m.destination.display())
    }));
    out
}

/// The create request for one task.
pub fn create_body(
    tc: &TaskConfig,
    dc: &DockerTaskConfig,
) -> Result<ContainerCreateBody, DriverError> {
    let host_network = dc.network_mode.as_deref() == Some("host");
    let published = if host_network {
        // The container shares the host's ports: there is nothing to publish.
        Published {
            exposed: Vec::new(),
            bindings: HashMap::new(),
            env: BTreeMap::new(),
        }
    } else {
        publish_ports(tc, dc)?
    };
    let mut env = tc.env.clone();
    env.insert("NOMAD_ALLOC_DIR".into(), ALLOC_MOUNT.into());
    env.insert("NOMAD_TASK_DIR".into(), LOCAL_MOUNT.into());
    env.insert("NOMAD_SECRETS_DIR".into(), SECRETS_MOUNT.into());
    env.extend(published.env);
    let cmd = match &dc.command {
        Some(c) => Some(std::iter::once(c.clone()).chain(dc.args.clone()).collect()),
        None if !dc.args.is_empty() => Some(dc.args.clone()),
        None => None,
    };
    let mut labels: HashMap<String, String> = dc
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    labels.insert(LABEL_ALLOC_ID.into(), tc.alloc_id.clone());
    labels.insert(LABEL_TASK.into(), tc.task_name.clone());
    let memory = (tc.memory_mb > 0).then(|| tc.memory_mb * 1024 * 1024);
    let host_config = HostConfig {
        memory,
        // No swap beyond the limit, so the limit means what the scheduler reserved.
        memory_swap: memory,
        // Nomad passes the task's MHz as shares; the kernel's minimum is 2.
        cpu_shares: (tc.cpu_mhz > 0).then(|| tc.cpu_mhz.max(2)),
        binds: Some(binds(tc, dc)),
        port_bindings: (!published.bindings.is_empty()).then_some(published.bindings),
        network_mode: dc.network_mode.clone(),
        privileged: dc.privileged.then_some(true),
        cap_add: (!dc.cap_add.is_empty()).then(|| dc.cap_add.clone()),
        cap_drop: (!dc.cap_drop.is_empty()).then(|| dc.cap_drop.clone()),
        log_config: Some(HostConfigLogConfig {
            typ: Some("json-file".into()),
            config: Some(HashMap::from([
                ("max-size".to_string(), ENGINE_LOG_MAX_SIZE.to_string()),
                ("max-file".to_string(), ENGINE_LOG_MAX_FILES.to_string()),
            ])),
        }),
        ..Default::default()
    };
    Ok(ContainerCreateBody {
        image: Some(dc.image.clone()),
        cmd,
        entrypoint: dc.entrypoint.clone(),
        working_dir: dc.work_dir.clone(),
        user: (!tc.user.is_empty()).then(|| tc.user.clone()),
        env: Some(env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        labels: Some(labels),
        exposed_ports: (!published.exposed.is_empty()).then_some(published.exposed),
        attach_stdout: Some(false),
        attach_stderr: Some(false),
        tty: Some(false),
        host_config: Some(host_config),
        ..Default::default()
    })
}

/// Creates the container. A container of the same name is a leftover of an earlier attempt of
/// this task (the agent died between creating and recording it): it is removed and creation
/// retried once.
pub async fn create(
    docker: &Docker,
    name: &str,
    body: ContainerCreateBody,
) -> Result<String, DriverError> {
    let options = || CreateContainerOptions {
        name: Some(name.to_string()),
        ..Default::default()
    };
    let first = docker.create_container(Some(options()), body.clone()).await;
    let created = match first {
        Err(e) if has_status(&e, 409) => {
            tracing::warn!(container = %name, "removing a leftover container of the same name");
            remove(docker, name).await?;
            docker.create_container(Some(options()), body).await
        }
        other => other,
    };
    created
        .map(|r| r.id)
        .map_err(|e| DriverError::Start(format!("cannot create container {name}: {e}")))
}

pub async fn inspect(
    docker: &Docker,
    id: &str,
) -> Result<Option<ContainerInspectResponse>, bollard::errors::Error> {
    match docker.inspect_container(id, None).await {
        Ok(info) => Ok(Some(info)),
        Err(e) if has_status(&e, 404) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Removes a container and its anonymous volumes; one that is already gone is not an error.
pub async fn remove(docker: &Docker, id: &str) -> Result<(), DriverError> {
    let options = RemoveContainerOptions {
        v: true,
        force: true,
        ..Default::default()
    };
    match docker.remove_container(id, Some(options)).await {
        Ok(()) => Ok(()),
        Err(e) if has_status(&e, 404) => Ok(()),
        Err(e) => Err(DriverError::Other(format!(
            "cannot remove container {id}: {e}"
        ))),
    }
}

pub fn is_running(state: Option<&ContainerState>) -> bool {
    state.is_some_and(|s| s.running == Some(true) || s.restarting == Some(true))
}

/// How a stopped container ended. The engine reports a signal death as 128+signal in the exit
/// code, as a shell does, and that is passed on unchanged.
pub fn exit_result(state: &ContainerState) -> ExitResult {
    ExitResult {
        exit_code: state.exit_code.and_then(|c| i32::try_from(c).ok()),
        signal: None,
        oom_killed: state.oom_killed.unwrap_or(false),
        err: state.error.clone().filter(|e| !e.is_empty()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn task(dir: &Path) -> TaskConfig {
        std::fs::create_dir_all(dir.join("alloc")).unwrap();
        std::fs::create_dir_all(dir.join("web/local")).unwrap();
        TaskConfig {
            alloc_id: "a1".into(),
            task_name: "web".into(),
            task_dir: dir.join("web"),
            alloc_dir: dir.join("alloc"),
            memory_mb: 64,
            cpu_mhz: 250,
            env: BTreeMap::from([
                ("NOMAD_PORT_http".to_string(), "8080".to_string()),
                ("NOMAD_HOST_PORT_http".to_string(), "23456".to_string()),
                ("NOMAD_IP_http".to_string(), "127.0.0.1".to_string()),
                ("NOMAD_PORT_my_db".to_string(), "25000".to_string()),
                ("NOMAD_HOST_PORT_my_db".to_string(), "25000".to_string()),
                ("NOMAD_ALLOC_DIR".to_string(), "/host/alloc".to_string()),
            ]),
            ..Default::default()
        }
    }

    fn docker_cfg(v: serde_json::Value, task_dir: &Path) -> DockerTaskConfig {
        let m = serde_json::from_value(v).unwrap();
        DockerTaskConfig::parse(&m, task_dir).unwrap()
    }

    #[test]
    fn describes_the_task() {
        let dir = tempfile::tempdir().unwrap();
        let tc = task(dir.path());
        let dc = docker_cfg(
            serde_json::json!({
                "image": "img", "command": "httpd", "args": ["-f"],
                "ports": ["http"], "port_map": {"my-db": 5432},
                "volumes": ["data:/data:ro"], "labels": {"team": "x"},
            }),
            &tc.task_dir,
        );
        let body = create_body(&tc, &dc).unwrap();
        assert_eq!(body.cmd.unwrap(), ["httpd", "-f"]);
        let env = body.env.unwrap();
        assert!(env.contains(&"NOMAD_ALLOC_DIR=/alloc".to_string()));
        assert!(env.contains(&"NOMAD_PORT_my_db=5432".to_string()));
        assert!(env.contains(&"NOMAD_PORT_http=8080".to_string()));
        let hc = body.host_config.unwrap();
        assert_eq!(hc.memory, Some(64 * 1024 * 1024));
        assert_eq!(hc.cpu_shares, Some(250));
        let ports = hc.port_bindings.unwrap();
        let http = ports["8080/tcp"].as_ref().unwrap();
        assert_eq!(http[0].host_port.as_deref(), Some("23456"));
        assert_eq!(http[0].host_ip.as_deref(), Some("127.0.0.1"));
        let db = ports["5432/udp"].as_ref().unwrap();
        assert_eq!(db[0].host_port.as_deref(), Some("25000"));
        let binds = hc.binds.unwrap();
        let alloc = format!("{}:/alloc", tc.alloc_dir.display());
        assert!(binds.contains(&alloc), "{binds:?}");
        assert!(binds.iter().any(|b| b.ends_with("/web/local:/local")));
        assert!(!binds.iter().any(|b| b.ends_with(":/secrets")));
        let data = format!("{}:/data:ro", tc.task_dir.join("data").display());
        assert!(binds.contains(&data), "{binds:?}");
        let labels = body.labels.unwrap();
        assert_eq!(labels[LABEL_ALLOC_ID], "a1");
        assert_eq!(labels["team"], "x");
    }

    #[test]
    fn args_alone_keep_the_image_entrypoint_and_unknown_ports_fail() {
        let dir = tempfile::tempdir().unwrap();
        let tc = task(dir.path());
        let dc = docker_cfg(
            serde_json::json!({"image": "i", "args": ["a"]}),
            &tc.task_dir,
        );
        let body = create_body(&tc, &dc).unwrap();
        assert_eq!(body.cmd.unwrap(), ["a"]);
        assert!(body.entrypoint.is_none());
        assert!(body.host_config.unwrap().port_bindings.is_none());
        let dc = docker_cfg(
            serde_json::json!({"image": "i", "ports": ["nope"]}),
            &tc.task_dir,
        );
        let err = create_body(&tc, &dc).unwrap_err();
        assert!(err.to_string().contains("\"nope\""), "{err}");
        assert!(!err.recoverable());
    }

    #[test]
    fn names_are_valid_for_the_engine() {
        assert_eq!(container_name("web", "ab-12"), "web-ab-12");
        assert_eq!(container_name("my task/x", "1"), "my-task-x-1");
    }
}
