//! Node pools through the whole path: a client's config puts its node in a pool, the pool
//! appears by itself, a job's `node_pool` keeps it on those nodes, and `nomadctl node pool`
//! applies, lists, shows and deletes pools.

use e2e::cluster::Cluster;
use e2e::*;
use std::collections::BTreeSet;
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(60);

const JOB: &str = r#"
job "train" {
  type      = "batch"
  node_pool = "gpu"

  group "g" {
    count = 3

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

#[test]
fn a_pool_from_client_config_holds_its_jobs() {
    // Scenario: one server, a client in the default pool and one with node_pool = "gpu". The
    // gpu pool exists as soon as its node registers; a job in it runs only on that node; a job
    // in a pool nobody created is refused at plan and at run; a pool in use cannot be deleted,
    // an empty one can.
    let mut c = Cluster::start(1, "").unwrap();
    c.wait_leader(SETTLE).unwrap();
    c.add_client_with("plain", &[], "").unwrap();
    c.add_client_with("gpu1", &[], "client {\n  node_pool = \"gpu\"\n}\n")
        .unwrap();
    let gpu_node = wait_for("two ready nodes", SETTLE, || {
        let nodes = c.http(0, "GET", "/v1/node/pool/gpu/nodes", None).ok()?;
        let nodes = nodes.json().ok()?;
        let all = c.http(0, "GET", "/v1/nodes", None).ok()?.json().ok()?;
        let ready = all.as_array()?.iter().filter(|n| n["Status"] == "ready");
        (ready.count() == 2 && nodes.as_array()?.len() == 1)
            .then(|| nodes[0]["ID"].as_str().map(str::to_string))?
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", c.report()));

    let out = c.ctl(0, &["node", "pool", "list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let names: Vec<String> = stdout(&out)
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect();
    assert_eq!(names, ["all", "default", "gpu"], "{}", stdout(&out));
    let out = c.ctl(0, &["node", "status"]);
    assert!(stdout(&out).contains("Node Pool"), "{}", stdout(&out));

    let dir = tempfile::tempdir().unwrap();
    let pool_file = dir.path().join("gpu.hcl");
    std::fs::write(
        &pool_file,
        "node_pool \"gpu\" {\n  description = \"Nodes with GPUs\"\n  meta {\n    team = \"ml\"\n  }\n}\n",
    )
    .unwrap();
    let out = c.ctl(0, &["node", "pool", "apply", pool_file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = c.ctl(0, &["node", "pool", "info", "gpu"]);
    assert!(stdout(&out).contains("Nodes with GPUs"), "{}", stdout(&out));
    assert!(stdout(&out).contains("team"), "{}", stdout(&out));

    let job_file = dir.path().join("train.nomad.hcl");
    std::fs::write(&job_file, JOB).unwrap();
    let out = c.ctl(0, &["job", "run", "-detach", job_file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let nodes: BTreeSet<String> = wait_for("three allocations placed", SETTLE, || {
        let list = c.http(0, "GET", "/v1/job/train/allocations", None).ok()?;
        let list = list.json().ok()?;
        let list = list.as_array()?;
        (list.len() == 3).then(|| {
            list.iter()
                .filter_map(|a| a["NodeID"].as_str().map(str::to_string))
                .collect()
        })
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", c.report()));
    assert_eq!(nodes, BTreeSet::from([gpu_node]));
    let out = c.ctl(0, &["node", "pool", "jobs", "gpu"]);
    assert!(stdout(&out).contains("train"), "{}", stdout(&out));

    let out = c.ctl(0, &["node", "pool", "delete", "gpu"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("still has 1 node"),
        "{}",
        stderr(&out)
    );

    let elsewhere = JOB.replace("\"gpu\"", "\"tpu\"");
    std::fs::write(&job_file, elsewhere).unwrap();
    for verb in ["plan", "run"] {
        let out = c.ctl(0, &["job", verb, job_file.to_str().unwrap()]);
        assert!(!out.status.success(), "job {verb} accepted a missing pool");
        assert!(
            stderr(&out).contains("nonexistent node pool \"tpu\""),
            "job {verb}: {}",
            stderr(&out)
        );
    }

    std::fs::write(
        &pool_file,
        "node_pool \"spare\" {\n  scheduler_config {}\n}\n",
    )
    .unwrap();
    let out = c.ctl(0, &["node", "pool", "apply", pool_file.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("gpu.hcl:2:3") && err.contains("not supported"),
        "{err}"
    );
    std::fs::write(&pool_file, "node_pool \"spare\" {}\n").unwrap();
    let out = c.ctl(0, &["node", "pool", "apply", pool_file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = c.ctl(0, &["node", "pool", "delete", "spare"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let reply = c.http(0, "GET", "/v1/node/pool/spare", None).unwrap();
    assert_eq!(reply.status, 404);
}
