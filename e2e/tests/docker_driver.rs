//! Scenario: the dev agent runs a docker job (count 2, busybox httpd on a mapped port) from a
//! locally imported image. The test reaches each container on its allocated host port, reads the
//! task's log through `nomadctl alloc logs`, finds its services registered (one at the container's
//! own address, one with a script check that runs inside the container), restarts the agent and
//! finds the same containers re-attached (no second copy started) and still registered, then
//! `job stop` removes them.

use agent::drivers::docker::container::LABEL_ALLOC_ID;
use agent::drivers::docker::testing::{ensure_busybox_image, require_docker_engine, BUSYBOX_INDEX};
use e2e::*;
use std::io::{Read, Write};
use std::process::Command;
use std::time::Duration;

const JOB: &str = "e2e-hello-docker";

/// Removes the job's containers even when an assertion fails half-way.
struct ContainerGuard(Vec<String>);
impl Drop for ContainerGuard {
    fn drop(&mut self) {
        for alloc in &self.0 {
            agent::drivers::docker::testing::remove_alloc_containers(alloc);
        }
    }
}

fn job_file(image: &str) -> String {
    format!(
        r#"job "{JOB}" {{
  datacenters = ["dc1"]
  group "web" {{
    count = 2
    network {{
      port "http" {{ to = 8080 }}
    }}
    task "httpd" {{
      driver = "docker"
      config {{
        image   = "{image}"
        command = "sh"
        args    = ["-c", "echo serving alloc $NOMAD_ALLOC_INDEX; exec httpd -f -p 8080 -h /www"]
        ports   = ["http"]
      }}
      service {{
        name = "e2e-docker-host"
        port = "http"
        check {{
          name     = "in-container"
          type     = "script"
          command  = "/bin/sh"
          args     = ["-c", "test -d /www && echo inside $HOSTNAME"]
          interval = "1s"
          timeout  = "5s"
        }}
      }}
      service {{
        name         = "e2e-docker-driver"
        port         = "http"
        address_mode = "driver"
      }}
      kill_timeout = "1s"
      resources {{
        cpu    = 50
        memory = 32
      }}
    }}
  }}
}}
"#
    )
}

/// (alloc id, host port) of each running allocation.
fn running(agent: &Agent) -> Vec<(String, u16)> {
    let Ok(list) = agent.get(&format!("/v1/job/{JOB}/allocations")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for a in list.as_array().cloned().unwrap_or_default() {
        if a["ClientStatus"] != "running" || a["DesiredStatus"] != "run" {
            continue;
        }
        let id = a["ID"].as_str().unwrap_or_default().to_string();
        let Ok(full) = agent.get(&format!("/v1/allocation/{id}")) else {
            continue;
        };
        let port = full["AllocatedResources"]["Shared"]["Ports"]
            .as_array()
            .and_then(|ports| ports.iter().find(|p| p["Label"] == "http"))
            .and_then(|p| p["Value"].as_u64())
            .and_then(|p| u16::try_from(p).ok());
        if let Some(port) = port {
            out.push((id, port));
        }
    }
    out.sort();
    out
}

fn http_get(port: u16) -> Option<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n").ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    body.contains(BUSYBOX_INDEX.trim()).then_some(body)
}

/// Container ids of an allocation, running or not.
fn containers(alloc: &str) -> Vec<String> {
    let out = Command::new("docker")
        .args(["ps", "-aq", "--no-trunc", "--filter"])
        .arg(format!("label={LABEL_ALLOC_ID}={alloc}"))
        .output()
        .expect("docker ps");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn docker_job_serves_logs_survives_an_agent_restart_and_stops() {
    require_docker_engine("docker_driver e2e");
    let image = ensure_busybox_image().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut agent = Agent::dev(dir.path()).unwrap();
    let file = dir.path().join("hello-docker.nomad.hcl");
    std::fs::write(&file, job_file(&image)).unwrap();

    let out = agent.ctl(&["job", "run", file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "run: {} {}",
        stdout(&out),
        stderr(&out)
    );
    let allocs = wait_for(
        "two running docker allocations",
        Duration::from_secs(60),
        || {
            let r = running(&agent);
            (r.len() == 2).then_some(r)
        },
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log()));
    let mut guard = ContainerGuard(allocs.iter().map(|(a, _)| a.clone()).collect());

    // Each container answers on its own allocated host port.
    for (alloc, port) in &allocs {
        wait_for("the container's httpd", Duration::from_secs(30), || {
            http_get(*port)
        })
        .unwrap_or_else(|e| panic!("{alloc} on {port}: {e}\n{}", agent.log()));
    }
    // The container's stdout reaches the task's log, read like any driver's.
    let (alloc, _) = &allocs[0];
    let logs = wait_for("the task's stdout", Duration::from_secs(30), || {
        let out = agent.ctl(&["alloc", "logs", &alloc[..8], "httpd"]);
        let text = stdout(&out);
        text.contains("serving alloc").then_some(text)
    });
    assert!(logs.is_ok(), "{logs:?}\n{}", agent.log());

    let before: Vec<Vec<String>> = allocs.iter().map(|(a, _)| containers(a)).collect();
    assert!(before.iter().all(|c| c.len() == 1), "{before:?}");
    registered_inside_the_containers(&agent, &allocs, &before);

    // Restart the agent on the same data dir: it re-attaches to the running containers.
    agent.stop().unwrap();
    agent.start().unwrap();
    let again = wait_for(
        "the same allocations running again",
        Duration::from_secs(60),
        || {
            let r = running(&agent);
            (r.len() == 2).then_some(r)
        },
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log()));
    assert_eq!(again, allocs, "the restarted agent placed new allocations");
    let after: Vec<Vec<String>> = allocs.iter().map(|(a, _)| containers(a)).collect();
    assert_eq!(after, before, "the restart started other containers");
    for (_, port) in &allocs {
        assert!(http_get(*port).is_some(), "port {port} stopped answering");
    }
    registered_inside_the_containers(&agent, &allocs, &before);
    exec_inside_the_container(&agent, alloc);

    // Stop removes the containers.
    let out = agent.ctl(&["job", "stop", JOB]);
    assert!(
        out.status.success(),
        "stop: {} {}",
        stdout(&out),
        stderr(&out)
    );
    wait_for(
        "the containers to be removed",
        Duration::from_secs(60),
        || {
            allocs
                .iter()
                .all(|(a, _)| containers(a).is_empty())
                .then_some(())
        },
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log()));
    guard.0.clear();
}

/// `alloc exec` runs in the container (its hostname, its /www): stdin in, output and the exit
/// code out, and a terminal resized before the command reads its size.
fn exec_inside_the_container(agent: &Agent, alloc: &str) {
    let addr = format!("127.0.0.1:{}", agent.http_port);
    let r = e2e::exec_ws::exec(
        &addr,
        alloc,
        "httpd",
        &[
            "/bin/sh",
            "-c",
            "read x; test -d /www && echo inside $x; echo err >&2; exit 4",
        ],
        false,
        None,
        b"hi\n",
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log()));
    assert_eq!(r.exit_code, 4, "{r:?}");
    assert_eq!(r.stdout, "inside hi\n", "{r:?}");
    assert_eq!(r.stderr, "err\n", "{r:?}");
    let r = e2e::exec_ws::exec(
        &addr,
        alloc,
        "httpd",
        &["/bin/sh", "-c", "read x; stty size"],
        true,
        Some((40, 120)),
        b"go\n",
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log()));
    assert_eq!(r.exit_code, 0, "{r:?}");
    assert!(r.stdout.contains("40 120"), "{r:?}");
    let out = agent.ctl(&[
        "alloc",
        "exec",
        "-i=false",
        "-t=false",
        alloc,
        "cat",
        "/www/index.html",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stdout(&out).is_empty());
}

/// Both services of each allocation are in the catalog: the script check passed inside the
/// container (its output names the container's hostname and /www exists only there), and the
/// driver-mode service advertises the container's own address and port 8080.
fn registered_inside_the_containers(
    agent: &Agent,
    allocs: &[(String, u16)],
    containers: &[Vec<String>],
) {
    let regs = |name: &str| {
        agent
            .get(&format!("/v1/service/{name}"))
            .ok()
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
    };
    wait_for("two passing script checks", Duration::from_secs(60), || {
        let r = regs("e2e-docker-host");
        (r.len() == 2 && r.iter().all(|r| r["CheckStatus"] == "passing")).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{:#?}", regs("e2e-docker-host")));
    for ((alloc, port), ids) in allocs.iter().zip(containers) {
        let checks = agent
            .get(&format!("/v1/client/allocation/{alloc}/checks"))
            .unwrap();
        let outputs: Vec<String> = checks
            .as_object()
            .unwrap()
            .values()
            .map(|c| c["Output"].as_str().unwrap_or_default().trim().to_string())
            .collect();
        assert_eq!(outputs, vec![format!("inside {}", &ids[0][..12])]);
        let host = regs("e2e-docker-host");
        let host = host
            .iter()
            .find(|r| r["AllocID"] == alloc.as_str())
            .unwrap();
        assert_eq!(host["Port"], *port);
        let driver = regs("e2e-docker-driver");
        let driver = driver
            .iter()
            .find(|r| r["AllocID"] == alloc.as_str())
            .unwrap();
        assert_eq!(driver["Port"], 8080);
        assert_ne!(driver["Address"], "127.0.0.1", "{driver}");
    }
}
