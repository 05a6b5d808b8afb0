//! Scenario: placement failures are reported in Nomad's shape and wait for capacity. A job for a
//! driver no node has fails with "missing drivers"; on a node with 600 MB, a second 400 MB job is
//! blocked with "memory exhausted" and runs as soon as the first job stops.

use e2e::*;
use std::time::Duration;

fn job(name: &str, driver: &str, memory: u32, marker: &str) -> String {
    format!(
        r#"job "{name}" {{
  group "g" {{
    task "t" {{
      driver = "{driver}"
      config {{
        command = "/bin/sleep"
        args    = ["{marker}"]
      }}
      resources {{
        cpu    = 20
        memory = {memory}
      }}
    }}
  }}
}}
"#
    )
}

#[test]
fn failed_placements_are_explained_and_blocked_jobs_run_when_capacity_frees() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("small.hcl");
    std::fs::write(&cfg, "client {\n  memory_total_mb = 600\n}\n").unwrap();
    let agent = Agent::dev_with(dir.path(), &["--config", cfg.to_str().unwrap()]).unwrap();
    let marker = format!("{}", 6_000_000 + std::process::id());
    let _guard = TaskGuard(format!("sleep {marker}"));

    // No node has the driver.
    let f = dir.path().join("nodriver.hcl");
    std::fs::write(&f, job("nodriver", "nosuchdriver", 32, &marker)).unwrap();
    let out = agent.ctl(&["job", "run", f.to_str().unwrap()]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(2), "{text} {}", stderr(&out));
    assert!(text.contains("failed to place"), "{text}");
    assert!(text.contains("missing drivers"), "{text}");

    // The first job takes most of the memory; the second cannot fit.
    let a = dir.path().join("a.hcl");
    std::fs::write(&a, job("big-a", "raw_exec", 400, &marker)).unwrap();
    let out = agent.ctl(&["job", "run", a.to_str().unwrap()]);
    assert!(out.status.success(), "{} {}", stdout(&out), stderr(&out));
    let b = dir.path().join("b.hcl");
    std::fs::write(&b, job("big-b", "raw_exec", 400, &marker)).unwrap();
    let out = agent.ctl(&["job", "run", b.to_str().unwrap()]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("Dimension \"memory\" exhausted on 1 nodes"),
        "{text}"
    );
    let evals = agent.get("/v1/job/big-b/evaluations").unwrap();
    let evals = evals.as_array().unwrap();
    assert!(
        evals.iter().any(|e| e["Status"] == "blocked"),
        "a blocked evaluation waits for capacity: {evals:?}"
    );
    let failed = evals
        .iter()
        .find(|e| e["FailedTGAllocs"]["g"].is_object())
        .expect("an evaluation with FailedTGAllocs");
    assert_eq!(
        failed["FailedTGAllocs"]["g"]["DimensionExhausted"]["memory"],
        1
    );
    assert_eq!(processes_with(&format!("sleep {marker}")).len(), 1);

    // Capacity frees: the blocked job runs without anyone resubmitting it.
    let out = agent.ctl(&["job", "stop", "big-a"]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_for(
        "big-b to run once big-a stopped",
        Duration::from_secs(30),
        || {
            let allocs = agent.get("/v1/job/big-b/allocations").ok()?;
            allocs
                .as_array()?
                .iter()
                .any(|a| a["ClientStatus"] == "running")
                .then_some(())
        },
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log()));
    let out = agent.ctl(&["job", "status", "big-b"]);
    assert!(stdout(&out).contains("running"), "{}", stdout(&out));
}
