//! Scenario: a newcomer's walkthrough on the dev agent. `job init` writes a job that validates;
//! a raw_exec job with count 2 runs; status and logs show it; the agent restarts (SIGTERM, then
//! SIGKILL) and the job survives with its tasks neither lost nor duplicated; the count goes up and
//! down; `job stop` ends every task.

use e2e::*;
use std::time::Duration;

fn job_file(name: &str, count: u32, marker: &str) -> String {
    format!(
        r#"job "{name}" {{
  datacenters = ["dc1"]
  type = "service"
  group "web" {{
    count = {count}
    network {{
      port "http" {{}}
    }}
    restart {{
      attempts = 1
      delay    = "1s"
      interval = "1m"
      mode     = "fail"
    }}
    task "srv" {{
      driver = "raw_exec"
      config {{
        command = "/bin/sh"
        args    = ["-c", "echo started index=$NOMAD_ALLOC_INDEX port=$NOMAD_PORT_http; exec sleep {marker}"]
      }}
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

fn running_allocs(agent: &Agent, job: &str) -> usize {
    agent
        .get(&format!("/v1/job/{job}/allocations"))
        .ok()
        .and_then(|v| v.as_array().cloned())
        .map(|a| {
            a.iter()
                .filter(|x| x["ClientStatus"] == "running" && x["DesiredStatus"] == "run")
                .count()
        })
        .unwrap_or(0)
}

fn wait_tasks(agent: &Agent, job: &str, marker: &str, n: usize) {
    let r = wait_for(
        &format!("{n} running allocations and processes"),
        Duration::from_secs(30),
        || (running_allocs(agent, job) == n && processes_with(marker).len() == n).then_some(()),
    );
    if let Err(e) = r {
        panic!(
            "{e}: allocs running {}, processes {}\n{}",
            running_allocs(agent, job),
            processes_with(marker).len(),
            agent.log()
        );
    }
}

#[test]
fn init_run_status_logs_restart_scale_stop() {
    let dir = tempfile::tempdir().unwrap();
    let marker = format!("{}", 7_000_000 + std::process::id());
    let _guard = TaskGuard(format!("sleep {marker}"));
    let marker = format!("sleep {marker}");
    let mut agent = Agent::dev(dir.path()).unwrap();

    // job init writes a job that validates as it is.
    let out = agent.ctl_in(&["job", "init"], Some(dir.path()));
    assert!(out.status.success(), "init: {}", stderr(&out));
    let example = dir.path().join("example.nomad.hcl");
    assert!(example.exists());
    let out = agent.ctl(&["job", "validate", example.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "validate: {} {}",
        stdout(&out),
        stderr(&out)
    );
    // A second init refuses to overwrite.
    let out = agent.ctl_in(&["init"], Some(dir.path()));
    assert!(!out.status.success());

    // Run with count 2 and watch it come up.
    let job = "e2e-web";
    let file = dir.path().join("web.nomad.hcl");
    std::fs::write(&file, job_file(job, 2, marker.trim_start_matches("sleep "))).unwrap();
    let out = agent.ctl(&["job", "run", file.to_str().unwrap()]);
    let text = stdout(&out);
    assert!(out.status.success(), "run: {text} {}", stderr(&out));
    assert!(text.contains("Monitoring evaluation"), "{text}");
    assert!(text.contains("finished with status \"complete\""), "{text}");
    wait_tasks(&agent, job, &marker, 2);

    // Status: the summary and allocation tables.
    let out = agent.ctl(&["job", "status", job]);
    let text = stdout(&out);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        text.contains("Summary") && text.contains("Allocations"),
        "{text}"
    );
    let web_row = text
        .lines()
        .find(|l| l.starts_with("web "))
        .unwrap_or_else(|| panic!("no summary row for group web in:\n{text}"));
    let cols: Vec<&str> = web_row.split_whitespace().collect();
    assert_eq!(cols.get(3), Some(&"2"), "Running column in {web_row:?}");
    let out = agent.ctl(&["status"]);
    assert!(stdout(&out).contains(job));

    // Logs of one allocation, by id prefix.
    let allocs = agent.get(&format!("/v1/job/{job}/allocations")).unwrap();
    let alloc_id = allocs[0]["ID"].as_str().unwrap().to_string();
    let logs = wait_for(
        "the task's first line in its logs",
        Duration::from_secs(10),
        || {
            let out = agent.ctl(&["alloc", "logs", &alloc_id[..8]]);
            let t = stdout(&out);
            t.contains("started index=").then_some(t)
        },
    )
    .unwrap();
    assert!(logs.contains("port="), "{logs}");
    let out = agent.ctl(&["alloc", "status", &alloc_id[..8]]);
    assert!(stdout(&out).contains("Recent Events"), "{}", stdout(&out));

    // Restart the agent cleanly, then after a crash: the job survives, tasks are not duplicated.
    let pids_before = processes_with(&marker);
    agent.stop().unwrap();
    assert_eq!(
        processes_with(&marker).len(),
        2,
        "tasks keep running while the agent is down"
    );
    agent.start().unwrap();
    wait_tasks(&agent, job, &marker, 2);
    agent.kill();
    agent.start().unwrap();
    wait_tasks(&agent, job, &marker, 2);
    let mut pids_after = processes_with(&marker);
    let mut before = pids_before.clone();
    before.sort();
    pids_after.sort();
    assert_eq!(
        before, pids_after,
        "the same tasks were re-attached, none restarted"
    );
    assert!(
        agent.get(&format!("/v1/job/{job}")).is_ok(),
        "job survives restarts"
    );

    // Scale up and down.
    std::fs::write(&file, job_file(job, 3, marker.trim_start_matches("sleep "))).unwrap();
    let out = agent.ctl(&["job", "run", file.to_str().unwrap()]);
    assert!(out.status.success(), "{} {}", stdout(&out), stderr(&out));
    wait_tasks(&agent, job, &marker, 3);
    std::fs::write(&file, job_file(job, 1, marker.trim_start_matches("sleep "))).unwrap();
    let out = agent.ctl(&["job", "run", "-detach", file.to_str().unwrap()]);
    assert!(out.status.success(), "{} {}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("Evaluation ID"), "{}", stdout(&out));
    wait_tasks(&agent, job, &marker, 1);

    // Stop: every task ends and the job is dead.
    let out = agent.ctl(&["job", "stop", job]);
    assert!(out.status.success(), "{} {}", stdout(&out), stderr(&out));
    wait_for("all tasks to stop", Duration::from_secs(30), || {
        processes_with(&marker).is_empty().then_some(())
    })
    .unwrap();
    wait_for("the job to be dead", Duration::from_secs(10), || {
        (agent.get(&format!("/v1/job/{job}")).ok()?["Status"] == "dead").then_some(())
    })
    .unwrap();
    agent.stop().unwrap();
}
