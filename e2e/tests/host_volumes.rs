//! Host volumes: a client's `host_volume`, a group's `volume` and a task's `volume_mount`, with
//! the exec, raw_exec and docker drivers writing into (or only reading from) a host directory.

use agent::drivers::docker::testing::{ensure_busybox_image, require_docker_engine};
use e2e::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(60);

fn task(name: &str, driver: &str, config: &str, dest: &str, read_only: bool) -> String {
    format!(
        r#"    task "{name}" {{
      driver = "{driver}"
      config {{
{config}
      }}
      volume_mount {{
        volume      = "shared"
        destination = "{dest}"
        read_only   = {read_only}
      }}
      resources {{
        cpu    = 20
        memory = 32
      }}
    }}
"#
    )
}

fn job(name: &str, source: &str, tasks: &[String]) -> String {
    format!(
        r#"job "{name}" {{
  datacenters = ["*"]
  type        = "batch"
  group "g" {{
    volume "shared" {{
      type   = "host"
      source = "{source}"
    }}
{}  }}
}}
"#,
        tasks.concat()
    )
}

fn sh(script: &str) -> String {
    format!("        command = \"/bin/sh\"\n        args    = [\"-c\", \"{script}\"]")
}

fn run_to_end(agent: &Agent, dir: &Path, name: &str, text: &str) -> serde_json::Value {
    let file = dir.join(format!("{name}.nomad.hcl"));
    std::fs::write(&file, text).unwrap();
    let out = agent.ctl(&["job", "run", "-detach", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_for("the allocation to finish", SETTLE, || {
        let list = agent.get(&format!("/v1/job/{name}/allocations")).ok()?;
        let a = list.as_array()?.first()?.clone();
        matches!(a["ClientStatus"].as_str(), Some("complete" | "failed")).then_some(a)
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log()))
}

#[test]
fn tasks_read_and_write_a_host_directory_through_their_drivers() {
    // Scenario: the dev agent offers the host directory "shared". An exec task writes a file
    // into it at /data, a raw_exec task through the link at data/, a docker task at /data; an
    // exec task that mounts it read-only reads the exec task's file and cannot write. A job
    // asking for a volume no node has is not placed, with Nomad's reason.
    require_docker_engine("host volumes with docker");
    let image = ensure_busybox_image().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let shared = dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    // exec tasks run as nobody.
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
    let cfg = dir.path().join("volumes.hcl");
    std::fs::write(
        &cfg,
        format!(
            "client {{\n  host_volume \"shared\" {{\n    path = \"{}\"\n  }}\n}}\n",
            shared.display()
        ),
    )
    .unwrap();
    let agent = Agent::dev_with(dir.path(), &["--config", cfg.to_str().unwrap()]).unwrap();
    let node = agent.get("/v1/nodes").unwrap()[0]["ID"]
        .as_str()
        .unwrap()
        .to_string();
    let n = agent.get(&format!("/v1/node/{node}")).unwrap();
    assert_eq!(
        n["HostVolumes"]["shared"]["Path"],
        shared.display().to_string()
    );

    let writers = job(
        "writers",
        "shared",
        &[
            task(
                "exec",
                "exec",
                &sh("echo from-exec > /data/exec.txt"),
                "/data",
                false,
            ),
            task(
                "raw",
                "raw_exec",
                &sh("echo from-raw > data/raw.txt"),
                "data",
                false,
            ),
            task(
                "docker",
                "docker",
                &format!(
                    "        image   = \"{image}\"\n        command = \"sh\"\n        args    = [\"-c\", \"echo from-docker > /data/docker.txt\"]"
                ),
                "/data",
                false,
            ),
        ],
    );
    let a = run_to_end(&agent, dir.path(), "writers", &writers);
    assert_eq!(a["ClientStatus"], "complete", "{:#}", a["TaskStates"]);
    for (file, text) in [
        ("exec.txt", "from-exec\n"),
        ("raw.txt", "from-raw\n"),
        ("docker.txt", "from-docker\n"),
    ] {
        assert_eq!(
            std::fs::read_to_string(shared.join(file)).unwrap_or_default(),
            text,
            "{file}"
        );
    }

    let reader = job(
        "reader",
        "shared",
        &[task(
            "ro",
            "exec",
            &sh("cat /data/exec.txt; if echo x > /data/ro.txt; then exit 3; fi"),
            "/data",
            true,
        )],
    );
    let a = run_to_end(&agent, dir.path(), "reader", &reader);
    assert_eq!(a["ClientStatus"], "complete", "{:#}", a["TaskStates"]);
    assert!(!shared.join("ro.txt").exists());
    let id = a["ID"].as_str().unwrap();
    let logs = stdout(&agent.ctl(&["alloc", "logs", id, "ro"]));
    assert_eq!(logs, "from-exec\n");

    let file = dir.path().join("nowhere.nomad.hcl");
    std::fs::write(
        &file,
        job(
            "nowhere",
            "missing",
            &[task("t", "raw_exec", &sh("true"), "data", false)],
        ),
    )
    .unwrap();
    let out = agent.ctl(&["job", "run", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("missing compatible host volumes"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn csi_volumes_and_bad_mounts_are_refused_with_what_to_fix() {
    // Scenario: job validate refuses a CSI volume by name, and a mount of a volume the group
    // does not declare.
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::dev(dir.path()).unwrap();
    let file = dir.path().join("csi.nomad.hcl");
    let csi = job(
        "csi",
        "db",
        &[task("t", "raw_exec", &sh("true"), "data", false)],
    )
    .replace("type   = \"host\"", "type   = \"csi\"");
    std::fs::write(&file, csi).unwrap();
    let out = agent.ctl(&["job", "validate", file.to_str().unwrap()]);
    assert!(
        stderr(&out).contains("type \"csi\" is not supported (CSI volumes)"),
        "{}",
        stderr(&out)
    );
    let other = job(
        "other",
        "db",
        &[task("t", "raw_exec", &sh("true"), "data", false)],
    )
    .replace("volume      = \"shared\"", "volume      = \"nope\"");
    std::fs::write(&file, other).unwrap();
    let out = agent.ctl(&["job", "validate", file.to_str().unwrap()]);
    assert!(
        stderr(&out).contains("mounts volume \"nope\", which group \"g\" does not declare"),
        "{}",
        stderr(&out)
    );
}
