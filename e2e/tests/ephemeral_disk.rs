//! `ephemeral_disk` end to end on a dev agent: a sticky group's replacement inherits its
//! predecessor's `alloc/data` and `local/`, and a disk larger than the node's is a placement
//! failure on the disk dimension.

use e2e::*;
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(60);

/// A job `name` whose group keeps its data (`keeps` is `sticky` or `migrate`). The task stamps
/// alloc/data on its first run only, always records what it found in local/, then runs
/// `sleep <sleep>`.
fn keeping_job(name: &str, keeps: &str, size_mb: i64, sleep: &str) -> String {
    format!(
        r#"
job "{name}" {{
  datacenters = ["*"]
  group "g" {{
    ephemeral_disk {{
      size    = {size_mb}
      {keeps} = true
    }}
    task "t" {{
      driver = "raw_exec"
      config {{
        command = "/bin/sh"
        args    = ["-c", "test -f $NOMAD_ALLOC_DIR/data/stamp || echo $NOMAD_ALLOC_ID > $NOMAD_ALLOC_DIR/data/stamp; test -f local/seen || echo first > local/seen; cp $NOMAD_ALLOC_DIR/data/stamp local/found; exec sleep {sleep}"]
      }}
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

fn job(version: &str, size_mb: i64) -> String {
    keeping_job("keeper", "sticky", size_mb, &format!("3600 # {version}"))
}

fn running_alloc(agent: &Agent, not: &str) -> Option<String> {
    let list = agent.get("/v1/job/keeper/allocations").ok()?;
    list.as_array()?
        .iter()
        .find(|a| a["ClientStatus"] == "running" && a["DesiredStatus"] == "run" && a["ID"] != not)
        .and_then(|a| a["ID"].as_str().map(str::to_string))
}

#[test]
fn a_sticky_replacement_takes_over_the_data_and_an_oversized_disk_does_not_fit() {
    // Scenario: version 1 writes its alloc id into alloc/data/stamp and a marker into local/.
    // Version 2 (a destructive change) starts after version 1 stopped, on the same node, and
    // finds both: the stamp names version 1's allocation. Then a job asking for more disk than
    // the node has is blocked, with "disk" exhausted in its evaluation.
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::dev(dir.path()).unwrap();
    let file = dir.path().join("keeper.nomad.hcl");
    std::fs::write(&file, job("v1", 200)).unwrap();
    let out = agent.ctl(&["job", "run", "-detach", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let first = wait_for("version 1 running", SETTLE, || running_alloc(&agent, "")).unwrap();
    let alloc_dir = |id: &str| agent.data_dir.join("alloc").join(id);
    wait_for("version 1's stamp", SETTLE, || {
        alloc_dir(&first)
            .join("t/local/found")
            .exists()
            .then_some(())
    })
    .unwrap();
    let a = agent.get(&format!("/v1/allocation/{first}")).unwrap();
    assert_eq!(a["AllocatedResources"]["Shared"]["DiskMB"], 200);

    std::fs::write(&file, job("v2", 200)).unwrap();
    let out = agent.ctl(&["job", "run", "-detach", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let second = wait_for("version 2 running", SETTLE, || {
        running_alloc(&agent, &first)
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log()));
    let found = wait_for("version 2's findings", SETTLE, || {
        std::fs::read_to_string(alloc_dir(&second).join("t/local/found")).ok()
    })
    .unwrap();
    assert_eq!(found.trim(), first, "the stamp did not move with the data");
    let seen = std::fs::read_to_string(alloc_dir(&second).join("t/local/seen")).unwrap();
    assert_eq!(seen.trim(), "first", "local/ did not move");
    let a = agent.get(&format!("/v1/allocation/{second}")).unwrap();
    assert_eq!(a["PreviousAllocation"], first.as_str());

    let huge = job("v3", 1_000_000_000).replace("\"keeper\"", "\"huge\"");
    std::fs::write(&file, huge).unwrap();
    let out = agent.ctl(&["job", "run", "-detach", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let exhausted = wait_for("the placement failure", SETTLE, || {
        let evals = agent.get("/v1/job/huge/evaluations").ok()?;
        evals.as_array()?.iter().find_map(|e| {
            let m = &e["FailedTGAllocs"]["g"];
            (!m.is_null()).then(|| m["DimensionExhausted"]["disk"].clone())
        })
    })
    .unwrap();
    assert_eq!(exhausted, 1);
}

#[test]
fn a_migrating_group_carries_its_data_to_another_node_over_mutual_tls() {
    // Scenario: one server and two clients, all on mutual TLS. A group with `ephemeral_disk {
    // migrate = true }` runs on one node and writes a stamp into alloc/data and a marker into
    // local/. Draining that node places the replacement on the other node, which waits for the
    // original to stop, fetches its snapshot over HTTPS with the migrate token the server gave,
    // and starts with both files. The old node refuses its snapshot to a forged token.
    use e2e::cluster::Cluster;
    let dir = tempfile::tempdir().unwrap();
    let certs = e2e::tls::TlsFiles::create(&dir.path().join("tls")).unwrap();
    let mut c = Cluster::start_tls(1, certs).unwrap();
    c.wait_leader(SETTLE).unwrap();
    c.add_client("mig-a").unwrap();
    c.add_client("mig-b").unwrap();
    let names = c.wait_ready_nodes(2, "Name", SETTLE).unwrap();
    let marker = format!("{}", 8_700_000 + std::process::id());
    let _guard = TaskGuard(format!("sleep {marker}"));
    let file = dir.path().join("mover.nomad.hcl");
    std::fs::write(&file, keeping_job("mover", "migrate", 100, &marker)).unwrap();
    let out = c.ctl(0, &["job", "run", "-detach", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));

    let running = |not: &str| -> Option<(String, String)> {
        let list = c.http(0, "GET", "/v1/job/mover/allocations", None).ok()?;
        let list = list.json().ok()?;
        list.as_array()?
            .iter()
            .find(|a| {
                a["ClientStatus"] == "running" && a["DesiredStatus"] == "run" && a["ID"] != not
            })
            .map(|a| {
                let id = a["ID"].as_str().unwrap_or("").to_string();
                (id, a["NodeID"].as_str().unwrap_or("").to_string())
            })
    };
    let client_of = |node: &str| -> usize {
        match names.get(node).map(String::as_str) {
            Some("mig-a") => 0,
            Some("mig-b") => 1,
            other => panic!("node {node} is {other:?}"),
        }
    };
    let (first, first_node) = wait_for("the first allocation running", SETTLE, || running(""))
        .unwrap_or_else(|e| panic!("{e}\n{}", c.report()));
    let old = client_of(&first_node);
    let old_dir = c.clients[old].data_dir.join("alloc").join(&first);
    wait_for("the first allocation's stamp", SETTLE, || {
        old_dir.join("t/local/found").exists().then_some(())
    })
    .unwrap();

    let snapshot = format!("/v1/client/allocation/{first}/snapshot");
    let (status, body) = c.client_get(old, &snapshot, &"ab".repeat(32)).unwrap();
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));

    let out = c.ctl(0, &["node", "drain", "-enable", "-yes", &first_node]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let (second, second_node) = wait_for("the replacement running", SETTLE, || running(&first))
        .unwrap_or_else(|e| panic!("{e}\n{}", c.clients[1 - old].log()));
    assert_ne!(
        second_node, first_node,
        "the drain did not move the allocation"
    );
    let new_dir = c.clients[client_of(&second_node)]
        .data_dir
        .join("alloc")
        .join(&second);
    let found = wait_for("the replacement's findings", SETTLE, || {
        std::fs::read_to_string(new_dir.join("t/local/found")).ok()
    })
    .unwrap();
    assert_eq!(
        found.trim(),
        first,
        "the stamp did not travel:\n{}",
        c.clients[1 - old].log()
    );
    let seen = std::fs::read_to_string(new_dir.join("t/local/seen")).unwrap();
    assert_eq!(seen.trim(), "first", "local/ did not travel");
    let a = c
        .http(0, "GET", &format!("/v1/allocation/{second}"), None)
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(a["PreviousAllocation"], first.as_str());
}
