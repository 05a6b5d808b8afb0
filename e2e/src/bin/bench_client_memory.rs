//! A client agent's memory with 50 running containers: one server and one client-only agent
//! (`--client --servers ...`, no raft in its process) on loopback; a count-50 docker job.
//!
//! Needs `scripts/build-local-images` (the busybox image).
//! Run: `cargo build --release --bins && ./target/release/bench_client_memory [containers]`

use anyhow::{ensure, Context, Result};
use e2e::cluster::Cluster;
use e2e::*;
use std::time::Duration;

fn running(c: &Cluster) -> usize {
    c.http(0, "GET", "/v1/job/fifty/allocations", None)
        .ok()
        .and_then(|r| r.json().ok())
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter(|a| a["ClientStatus"] == "running")
        .count()
}

fn containers() -> usize {
    std::process::Command::new("docker")
        .args(["ps", "-q", "--filter", "label=com.nomad-rs.alloc_id"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).lines().count())
        .unwrap_or(0)
}

fn main() -> Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    let mut c = Cluster::start(1, "")?;
    c.wait_leader(Duration::from_secs(60))?;
    c.add_client("bench-client")?;
    wait_for("the node", Duration::from_secs(60), || {
        let nodes = c.http(0, "GET", "/v1/nodes", None).ok()?.json().ok()?;
        (nodes.as_array()?.iter().any(|n| n["Status"] == "ready")).then_some(())
    })?;
    let pid = c.clients[0].pid().context("client pid")?;
    std::thread::sleep(Duration::from_secs(2));
    let idle = rss_kib(pid).unwrap_or(0);
    let job = serde_json::json!({"Job": {
        "ID": "fifty", "Name": "fifty", "Type": "service", "Datacenters": ["dc1"],
        "TaskGroups": [{"Name": "g", "Count": n, "Tasks": [{
            "Name": "t", "Driver": "docker", "KillTimeout": 1_000_000_000u64,
            "Config": {"image": "local/busybox:e2e", "command": "sleep", "args": ["3600"]},
            "Resources": {"CPU": 10, "MemoryMB": 16}}]}]}});
    let reply = c.http(0, "POST", "/v1/jobs", Some(&job.to_string()))?;
    ensure!(reply.is_success(), "{}", reply.body);
    wait_for("all containers running", Duration::from_secs(180), || {
        (running(&c) == n).then_some(())
    })?;
    // Let the log copiers and allocator arenas settle before reading.
    std::thread::sleep(Duration::from_secs(5));
    let with = rss_kib(pid).unwrap_or(0);
    let threads = std::fs::read_dir(format!("/proc/{pid}/task"))?.count();
    let _ = c.http(0, "DELETE", "/v1/job/fifty", None);
    let gone = wait_for(
        "the containers to be removed",
        Duration::from_secs(180),
        || (containers() == 0).then_some(()),
    );
    println!(
        "client-only agent: RSS {idle} KiB idle, {with} KiB with {n} containers running; {threads} threads"
    );
    gone?;
    Ok(())
}
