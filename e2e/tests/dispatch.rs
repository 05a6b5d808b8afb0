//! Parameterized jobs and `job dispatch`: the parent never runs, each dispatch runs a child with
//! its meta in the environment and its payload in the task's `dispatch_payload` file.

use e2e::cluster::send;
use e2e::*;
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(60);

const JOB: &str = r#"job "report" {
  datacenters = ["*"]
  type        = "batch"
  parameterized {
    payload       = "required"
    meta_required = ["user"]
    meta_optional = ["note"]
  }
  group "g" {
    task "t" {
      driver = "raw_exec"
      dispatch_payload {
        file = "input.txt"
      }
      config {
        command = "/bin/sh"
        args    = ["-c", "echo user=$NOMAD_META_user; cat $NOMAD_TASK_DIR/input.txt"]
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
"#;

#[test]
fn dispatches_run_children_with_meta_and_payload() {
    // Scenario: a dev agent registers a parameterized batch job: it stays "running" with no
    // allocation. A dispatch with -meta user=ana and a payload from stdin runs a child named
    // report/dispatch-..., whose task prints the meta and the payload file. Dispatches that
    // miss required meta, carry unknown meta, lack the required payload, or target a job that
    // is not parameterized are refused with what is wrong, and register nothing.
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::dev(dir.path()).unwrap();
    let file = dir.path().join("report.nomad.hcl");
    std::fs::write(&file, JOB).unwrap();
    let out = agent.ctl(&["job", "run", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let parent = agent.get("/v1/job/report").unwrap();
    assert_eq!(parent["Status"], "running");
    assert_eq!(parent["ParameterizedJob"]["MetaRequired"][0], "user");
    assert!(agent
        .get("/v1/job/report/allocations")
        .unwrap()
        .as_array()
        .unwrap()
        .is_empty());

    let payload = dir.path().join("payload.txt");
    std::fs::write(&payload, "quarterly-numbers\n").unwrap();
    let out = agent.ctl(&[
        "job",
        "dispatch",
        "-meta",
        "user=ana",
        "-detach",
        "report",
        payload.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let child = text
        .lines()
        .find_map(|l| l.strip_prefix("Dispatched Job ID = "))
        .unwrap_or_else(|| panic!("{text}"))
        .trim()
        .to_string();
    assert!(child.starts_with("report/dispatch-"), "{child}");
    let encoded: String = child.replace('/', "%2F");
    let alloc = wait_for("the child's allocation to complete", SETTLE, || {
        let list = agent.get(&format!("/v1/job/{encoded}/allocations")).ok()?;
        list.as_array()?
            .iter()
            .find(|a| a["ClientStatus"] == "complete")
            .cloned()
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log()));
    let id = alloc["ID"].as_str().unwrap();
    let log = send(
        "GET",
        &format!(
            "{}/v1/client/fs/cat/{id}?path=alloc/logs/t.stdout.0",
            agent.address()
        ),
        None,
    )
    .unwrap()
    .body;
    assert_eq!(log, "user=ana\nquarterly-numbers\n");
    let child_job = agent.get(&format!("/v1/job/{encoded}")).unwrap();
    assert_eq!(child_job["ParentID"], "report");
    assert_eq!(child_job["Dispatched"], true);

    for (args, want) in [
        (
            vec!["report", payload.to_str().unwrap()],
            "missing required meta",
        ),
        (
            vec![
                "-meta",
                "user=a",
                "-meta",
                "x=1",
                "report",
                payload.to_str().unwrap(),
            ],
            "neither required nor optional",
        ),
        (vec!["-meta", "user=a", "report"], "requires a payload"),
    ] {
        let mut full = vec!["job", "dispatch", "-detach"];
        full.extend(args);
        let out = agent.ctl(&full);
        assert!(!out.status.success());
        assert!(stderr(&out).contains(want), "{want}: {}", stderr(&out));
    }
    let plain = dir.path().join("plain.nomad.hcl");
    std::fs::write(&plain, JOB.replace("job \"report\"", "job \"plain\"").replace("  parameterized {\n    payload       = \"required\"\n    meta_required = [\"user\"]\n    meta_optional = [\"note\"]\n  }\n", "").replace("      dispatch_payload {\n        file = \"input.txt\"\n      }\n", "")).unwrap();
    let out = agent.ctl(&["job", "run", "-detach", plain.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = agent.ctl(&["job", "dispatch", "-detach", "plain"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("not a parameterized job"),
        "{}",
        stderr(&out)
    );
    let jobs = agent.get("/v1/jobs").unwrap();
    assert_eq!(
        jobs.as_array().unwrap().len(),
        3,
        "parent, one child, plain: {jobs}"
    );
}
