//! Task lifecycle hooks, in the order Nomad runs them, read from what the tasks wrote.

use e2e::cluster::send;
use e2e::*;
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(60);

fn task(name: &str, hook: Option<(&str, bool)>, script: &str) -> String {
    let lifecycle = hook
        .map(|(h, sidecar)| format!("      lifecycle {{\n        hook    = \"{h}\"\n        sidecar = {sidecar}\n      }}\n"))
        .unwrap_or_default();
    format!(
        r#"    task "{name}" {{
      driver = "raw_exec"
{lifecycle}      config {{
        command = "/bin/sh"
        args    = ["-c", "{script}"]
      }}
      resources {{
        cpu    = 20
        memory = 16
      }}
    }}
"#
    )
}

#[test]
fn prestart_sidecar_main_poststart_and_poststop_run_in_order() {
    // Scenario: a batch job whose group has a prestart task, a prestart sidecar, a main task, a
    // poststart task and a poststop task, each appending its name to a file in the shared
    // allocation directory. The main task starts only after the prestart task finished and the
    // sidecar runs; the poststart task after the main task started; the poststop task after the
    // main task ended, by when the sidecar was stopped. The allocation completes.
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::dev(dir.path()).unwrap();
    let log = "$NOMAD_ALLOC_DIR/order";
    let tasks = [
        task(
            "init",
            Some(("prestart", false)),
            &format!("sleep 1; echo init >> {log}"),
        ),
        task(
            "side",
            Some(("prestart", true)),
            &format!("echo side >> {log}; exec sleep 3604"),
        ),
        task(
            "main",
            None,
            &format!("echo main >> {log}; sleep 2; echo main-done >> {log}"),
        ),
        task(
            "post",
            Some(("poststart", false)),
            &format!("echo post >> {log}"),
        ),
        task(
            "cleanup",
            Some(("poststop", false)),
            &format!("echo cleanup >> {log}"),
        ),
    ];
    let job = format!(
        "job \"hooks\" {{\n  datacenters = [\"*\"]\n  type = \"batch\"\n  group \"g\" {{\n{}  }}\n}}\n",
        tasks.concat()
    );
    let file = dir.path().join("hooks.nomad.hcl");
    std::fs::write(&file, job).unwrap();
    let out = agent.ctl(&["job", "run", "-detach", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let alloc = wait_for("the allocation to complete", SETTLE, || {
        let list = agent.get("/v1/job/hooks/allocations").ok()?;
        list.as_array()?
            .iter()
            .find(|a| a["ClientStatus"] == "complete")
            .cloned()
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log()));
    let id = alloc["ID"].as_str().unwrap();
    let order = send(
        "GET",
        &format!("{}/v1/client/fs/cat/{id}?path=alloc/order", agent.address()),
        None,
    )
    .unwrap()
    .body;
    let lines: Vec<&str> = order.lines().collect();
    let at = |name: &str| {
        lines
            .iter()
            .position(|l| *l == name)
            .unwrap_or_else(|| panic!("{name} never ran: {lines:?}"))
    };
    assert!(
        at("init") < at("main") && at("side") < at("main"),
        "{lines:?}"
    );
    assert!(at("main") < at("post"), "{lines:?}");
    assert!(at("main-done") < at("cleanup"), "{lines:?}");
    assert_eq!(lines.len(), 6, "each task ran once: {lines:?}");
    let side = &alloc["TaskStates"]["side"];
    assert_eq!(side["State"], "dead");
    assert_eq!(side["Failed"], false);
    let events: Vec<&str> = side["Events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["Type"].as_str())
        .collect();
    assert!(
        events.contains(&"Killed"),
        "the sidecar was stopped: {events:?}"
    );
    for t in ["init", "main", "post", "cleanup"] {
        assert_eq!(alloc["TaskStates"][t]["State"], "dead", "{t}");
        assert_eq!(alloc["TaskStates"][t]["Failed"], false, "{t}");
    }
}

#[test]
fn a_poststop_task_runs_when_the_allocation_is_stopped() {
    // Scenario: a service job's main task runs until the job is stopped; its poststop task
    // then runs, after the main task was killed, and the allocation ends without failure.
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::dev(dir.path()).unwrap();
    let log = "$NOMAD_ALLOC_DIR/order";
    let tasks = [
        task(
            "main",
            None,
            &format!("echo main >> {log}; exec sleep 3605"),
        ),
        task(
            "cleanup",
            Some(("poststop", false)),
            &format!("echo cleanup >> {log}"),
        ),
    ];
    let job = format!(
        "job \"stopped\" {{\n  datacenters = [\"*\"]\n  group \"g\" {{\n{}  }}\n}}\n",
        tasks.concat()
    );
    let file = dir.path().join("stopped.nomad.hcl");
    std::fs::write(&file, job).unwrap();
    let out = agent.ctl(&["job", "run", "-detach", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let id = wait_for("the main task running", SETTLE, || {
        let list = agent.get("/v1/job/stopped/allocations").ok()?;
        let a = list.as_array()?.first()?.clone();
        (a["TaskStates"]["main"]["State"] == "running")
            .then(|| a["ID"].as_str().map(String::from))?
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log()));
    assert_eq!(
        agent.get(&format!("/v1/allocation/{id}")).unwrap()["TaskStates"]["cleanup"]["State"],
        "pending",
        "the poststop task waits"
    );
    let out = agent.ctl(&["job", "stop", "-detach", "stopped"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let alloc = wait_for("every task to end", SETTLE, || {
        let a = agent.get(&format!("/v1/allocation/{id}")).ok()?;
        let s = &a["TaskStates"];
        (s["main"]["State"] == "dead" && s["cleanup"]["State"] == "dead").then_some(a)
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log()));
    assert_eq!(alloc["TaskStates"]["cleanup"]["Failed"], false);
    assert!(!alloc["TaskStates"]["cleanup"]["StartedAt"]
        .as_str()
        .unwrap_or("")
        .is_empty());
    let order = send(
        "GET",
        &format!("{}/v1/client/fs/cat/{id}?path=alloc/order", agent.address()),
        None,
    )
    .unwrap()
    .body;
    assert_eq!(order, "main\ncleanup\n");
}
