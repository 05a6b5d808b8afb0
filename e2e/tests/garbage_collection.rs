//! Scenario: three servers and one client, each its own process. Two batch jobs run to
//! completion and one service job keeps running. `nomadctl system gc` forces a collection: the
//! finished batch jobs, their evaluations and allocations are gone from every server, and their
//! directories from the client; the running service, its allocation and its task survive. Every
//! server ends with the same jobs, allocations and evaluations.

use e2e::cluster::Cluster;
use e2e::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(90);

fn job(id: &str, job_type: &str, command: &str, args: &[&str]) -> String {
    serde_json::json!({"Job": {
        "ID": id, "Name": id, "Type": job_type, "Datacenters": ["dc1"],
        "TaskGroups": [{"Name": "g", "Count": 1,
            "RestartPolicy": {"Attempts": 0, "Mode": "fail"},
            "Tasks": [{"Name": "t", "Driver": "raw_exec",
                "Config": {"command": command, "args": args},
                "Resources": {"CPU": 50, "MemoryMB": 32}}]}]}})
    .to_string()
}

fn list(c: &Cluster, i: usize, path: &str) -> Vec<Value> {
    c.http(i, "GET", &format!("{path}?stale=true"), None)
        .ok()
        .and_then(|r| r.json().ok())
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
}

fn ids(c: &Cluster, i: usize, path: &str) -> BTreeSet<String> {
    list(c, i, path)
        .iter()
        .filter_map(|v| v["ID"].as_str().map(String::from))
        .collect()
}

#[test]
fn forced_gc_removes_finished_batch_work_everywhere_and_keeps_the_running_service() {
    let mut c = Cluster::start(3, "").unwrap();
    let leader = c.wait_leader(SETTLE).unwrap();
    c.add_client("client-a").unwrap();
    // `sleep` takes the marker as its seconds: a number no other test uses finds the task.
    let marker = format!("{}", 8_300_000 + std::process::id());
    let _guard = TaskGuard(format!("sleep {marker}"));
    for (id, body) in [
        ("report-1", job("report-1", "batch", "/bin/true", &[])),
        ("report-2", job("report-2", "batch", "/bin/true", &[])),
        ("web", job("web", "service", "/bin/sleep", &[&marker])),
    ] {
        let r = c.http(leader, "POST", "/v1/jobs", Some(&body)).unwrap();
        assert!(r.is_success(), "{id}: {}", r.body);
    }
    let status = |job: &str| -> Vec<String> {
        list(&c, leader, &format!("/v1/job/{job}/allocations"))
            .iter()
            .map(|a| a["ClientStatus"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    wait_for("both batch jobs complete and web running", SETTLE, || {
        (status("report-1") == ["complete"]
            && status("report-2") == ["complete"]
            && status("web") == ["running"])
        .then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", c.report()));
    let web_alloc = list(&c, leader, "/v1/job/web/allocations")[0]["ID"]
        .as_str()
        .unwrap()
        .to_string();
    let batch_allocs: Vec<String> = ["report-1", "report-2"]
        .iter()
        .map(|j| {
            list(&c, leader, &format!("/v1/job/{j}/allocations"))[0]["ID"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let evals_before = ids(&c, leader, "/v1/evaluations");

    // Through a follower: the write is relayed to the leader.
    let follower = c.follower_of(leader).unwrap();
    let out = Command::new(nomadctl_bin())
        .args(["system", "gc"])
        .env("NOMAD_ADDR", c.address(follower))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "system gc: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let want_jobs = BTreeSet::from(["web".to_string()]);
    for i in c.live() {
        wait_for(
            &format!("server {i} to drop the batch jobs"),
            SETTLE,
            || (ids(&c, i, "/v1/jobs") == want_jobs).then_some(()),
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", c.report()));
    }
    let allocs: Vec<BTreeSet<String>> = c
        .live()
        .iter()
        .map(|&i| ids(&c, i, "/v1/allocations"))
        .collect();
    assert_eq!(allocs[0], BTreeSet::from([web_alloc.clone()]));
    let evals: Vec<BTreeSet<String>> = c
        .live()
        .iter()
        .map(|&i| ids(&c, i, "/v1/evaluations"))
        .collect();
    assert!(
        evals[0].len() < evals_before.len(),
        "{evals:?} vs {evals_before:?}"
    );
    for i in 1..evals.len() {
        assert_eq!(allocs[i], allocs[0], "server {i}'s allocations differ");
        assert_eq!(evals[i], evals[0], "server {i}'s evaluations differ");
    }
    for a in &batch_allocs {
        let r = c
            .http(leader, "GET", &format!("/v1/allocation/{a}"), None)
            .unwrap();
        assert_eq!(r.status, 404, "{a} survived: {}", r.body);
    }
    // The client destroys the directories of the allocations the servers forgot.
    let alloc_root = c.clients[0].data_dir.join("alloc");
    wait_for("the batch allocations' directories removed", SETTLE, || {
        batch_allocs
            .iter()
            .all(|a| !alloc_root.join(a).exists())
            .then_some(())
    })
    .unwrap();
    assert!(alloc_root.join(&web_alloc).exists());
    assert_eq!(status("web"), ["running"], "the service survives");
    let pids = Command::new("pgrep")
        .args(["-f", &format!("sleep {marker}")])
        .output()
        .unwrap();
    assert!(pids.status.success(), "web's task was killed");
}
