//! Host access is switched on by the client's operator, never by a job.
//!
//! Scenario: on a dev agent with default settings, a docker task that binds a host path and a
//! task whose artifact is a file of the client itself both fail, with a task event that names
//! the client setting that would allow them. On an agent whose config allows each, the same job
//! runs to completion. Privileged containers and capabilities beyond Docker's defaults work the
//! same way.

use agent::drivers::docker::testing::{ensure_busybox_image, require_docker_engine};
use e2e::*;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// Waits for the job's only allocation to end; returns it.
fn finished_alloc(agent: &Agent, job: &str) -> Value {
    wait_for("the allocation to finish", Duration::from_secs(60), || {
        let list = agent.get(&format!("/v1/job/{job}/allocations")).ok()?;
        let a = list.as_array()?.first()?.clone();
        let status = a["ClientStatus"].as_str()?.to_string();
        if status != "complete" && status != "failed" {
            return None;
        }
        agent
            .get(&format!("/v1/allocation/{}", a["ID"].as_str()?))
            .ok()
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log()))
}

fn run(agent: &Agent, dir: &Path, name: &str, hcl: &str) {
    let file = dir.join(format!("{name}.nomad.hcl"));
    std::fs::write(&file, hcl).unwrap();
    let out = agent.ctl(&["job", "run", "-detach", file.to_str().unwrap()]);
    assert!(out.status.success(), "{} {}", stdout(&out), stderr(&out));
}

/// A batch job of one task `t` that must succeed at its first try: no restart, no reschedule.
fn batch_job(name: &str, task_body: &str) -> String {
    format!(
        r#"job "{name}" {{
  datacenters = ["dc1"]
  type        = "batch"
  group "g" {{
    restart {{
      attempts = 0
      mode     = "fail"
    }}
    reschedule {{
      attempts  = 0
      unlimited = false
    }}
    task "t" {{
{task_body}
      resources {{
        cpu    = 20
        memory = 16
      }}
    }}
  }}
}}
"#
    )
}

fn agent_with_config(dir: &Path, config: &str) -> Agent {
    let path = dir.join("host-access.hcl");
    std::fs::write(&path, config).unwrap();
    Agent::dev_with(dir, &["--config", path.to_str().unwrap()]).unwrap()
}

#[test]
fn a_docker_host_volume_needs_the_client_to_enable_volumes() {
    require_docker_engine("host_access e2e");
    let image = ensure_busybox_image().unwrap();
    let job = |name: &str| {
        let task = format!(
            r#"      driver = "docker"
      config {{
        image   = "{image}"
        command = "cat"
        args    = ["/host-etc/hostname"]
        volumes = ["/etc:/host-etc:ro"]
      }}"#
        );
        batch_job(name, &task)
    };

    let off = tempfile::tempdir().unwrap();
    let agent = Agent::dev(off.path()).unwrap();
    run(&agent, off.path(), "vol-off", &job("vol-off"));
    let a = finished_alloc(&agent, "vol-off");
    let _guard = ContainersOf(a["ID"].as_str().unwrap_or_default().to_string());
    assert_eq!(a["ClientStatus"], "failed");
    let states = a["TaskStates"].to_string();
    assert!(
        states.contains("volumes { enabled = true }"),
        "the event names the setting: {states}"
    );
    drop(agent);

    let on = tempfile::tempdir().unwrap();
    let agent = agent_with_config(
        on.path(),
        "plugin \"docker\" {\n  config {\n    volumes {\n      enabled = true\n    }\n  }\n}\n",
    );
    run(&agent, on.path(), "vol-on", &job("vol-on"));
    let a = finished_alloc(&agent, "vol-on");
    let _guard = ContainersOf(a["ID"].as_str().unwrap_or_default().to_string());
    assert_eq!(a["ClientStatus"], "complete", "{}", a["TaskStates"]);
}

#[test]
fn privileged_containers_and_extra_capabilities_need_the_client_to_allow_them() {
    // Scenario: on a default dev agent, a privileged docker task and one that adds NET_ADMIN
    // both fail with a task event naming allow_privileged / allow_caps. On an agent that allows
    // net_admin, the task changes the loopback MTU, which needs the capability, and completes.
    require_docker_engine("host_access e2e");
    let image = ensure_busybox_image().unwrap();
    let job = |name: &str, extra: &str| {
        let task = format!(
            r#"      driver = "docker"
      config {{
        image   = "{image}"
        command = "ip"
        args    = ["link", "set", "lo", "mtu", "1280"]
        {extra}
      }}"#
        );
        batch_job(name, &task)
    };
    let off = tempfile::tempdir().unwrap();
    let agent = Agent::dev(off.path()).unwrap();
    for (name, extra, setting) in [
        ("priv-off", "privileged = true", "allow_privileged = true"),
        ("cap-off", "cap_add = [\"NET_ADMIN\"]", "allow_caps"),
    ] {
        run(&agent, off.path(), name, &job(name, extra));
        let a = finished_alloc(&agent, name);
        let _guard = ContainersOf(a["ID"].as_str().unwrap_or_default().to_string());
        assert_eq!(a["ClientStatus"], "failed", "{name}");
        let states = a["TaskStates"].to_string();
        assert!(
            states.contains(setting),
            "{name}: the event names {setting}: {states}"
        );
    }
    drop(agent);

    let on = tempfile::tempdir().unwrap();
    let agent = agent_with_config(
        on.path(),
        "plugin \"docker\" {\n  config {\n    allow_caps = [\"net_admin\", \"chown\", \"setuid\", \"setgid\"]\n  }\n}\n",
    );
    run(
        &agent,
        on.path(),
        "cap-on",
        &job("cap-on", "cap_add = [\"NET_ADMIN\"]"),
    );
    let a = finished_alloc(&agent, "cap-on");
    let _guard = ContainersOf(a["ID"].as_str().unwrap_or_default().to_string());
    assert_eq!(a["ClientStatus"], "complete", "{}", a["TaskStates"]);
}

/// Removes an allocation's containers, whatever the test's outcome.
struct ContainersOf(String);
impl Drop for ContainersOf {
    fn drop(&mut self) {
        agent::drivers::docker::testing::remove_alloc_containers(&self.0);
    }
}

#[test]
fn an_artifact_from_the_clients_own_files_needs_the_client_to_allow_it() {
    let host = tempfile::tempdir().unwrap();
    let secret = host.path().join("host-secret.txt");
    std::fs::write(&secret, "only on the host\n").unwrap();
    let job = |name: &str| {
        let task = format!(
            r#"      driver = "raw_exec"
      artifact {{
        source      = "{}"
        destination = "local/"
        mode        = "file"
      }}
      config {{
        command = "/bin/cat"
        args    = ["local/host-secret.txt"]
      }}"#,
            secret.display()
        );
        batch_job(name, &task)
    };

    let off = tempfile::tempdir().unwrap();
    let agent = Agent::dev(off.path()).unwrap();
    run(&agent, off.path(), "local-off", &job("local-off"));
    let a = finished_alloc(&agent, "local-off");
    assert_eq!(a["ClientStatus"], "failed");
    let states = a["TaskStates"].to_string();
    assert!(
        states.contains("artifact.allow_local"),
        "the event names the setting: {states}"
    );
    drop(agent);

    let on = tempfile::tempdir().unwrap();
    let agent = agent_with_config(
        on.path(),
        "client {\n  options = {\n    \"artifact.allow_local\" = \"true\"\n  }\n}\n",
    );
    run(&agent, on.path(), "local-on", &job("local-on"));
    let a = finished_alloc(&agent, "local-on");
    assert_eq!(a["ClientStatus"], "complete", "{}", a["TaskStates"]);
}
