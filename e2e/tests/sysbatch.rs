//! sysbatch jobs through the whole path: once on every node, each run to completion, and once
//! more on a node that joins later.

use e2e::cluster::Cluster;
use e2e::*;
use serde_json::Value;
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(60);

const JOB: &str = r#"
job "sweep" {
  type = "sysbatch"
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/true"
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
"#;

fn complete(c: &Cluster) -> Option<Vec<Value>> {
    let list = c.http(0, "GET", "/v1/job/sweep/allocations", None).ok()?;
    let list = list.json().ok()?.as_array()?.clone();
    Some(
        list.into_iter()
            .filter(|a| a["ClientStatus"] == "complete")
            .collect(),
    )
}

#[test]
fn a_sysbatch_job_completes_on_every_node_and_on_a_new_one() {
    // Scenario: two clients; the job completes once on each and the job is dead. A third
    // client joins: the job runs there too, and only there.
    let mut c = Cluster::start(1, "").unwrap();
    c.wait_leader(SETTLE).unwrap();
    c.add_client_with("a", &[], "").unwrap();
    c.add_client_with("b", &[], "").unwrap();
    c.wait_ready_nodes(2, "Name", SETTLE).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sweep.nomad.hcl");
    std::fs::write(&file, JOB).unwrap();
    let out = c.ctl(0, &["job", "run", "-detach", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_for("two complete runs and a dead job", SETTLE, || {
        let job = c.http(0, "GET", "/v1/job/sweep", None).ok()?.json().ok()?;
        (complete(&c)?.len() == 2 && job["Status"] == "dead").then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", c.report()));

    c.add_client_with("late", &[], "").unwrap();
    let runs = wait_for("a third run on the new node", SETTLE, || {
        complete(&c).filter(|l| l.len() == 3)
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", c.report()));
    let mut nodes: Vec<&str> = runs.iter().filter_map(|a| a["NodeID"].as_str()).collect();
    nodes.sort();
    nodes.dedup();
    assert_eq!(nodes.len(), 3, "one run per node");
}
