//! Client-loss figures for BENCHMARKS.md: one server and three client agents on loopback, default
//! heartbeat settings, a count-2 raw_exec job. Each round kills -9 a client that runs a copy and
//! times until the replacement runs elsewhere; the client then restarts (stopping its replaced
//! copy) before the next round.
//!
//! Run: `cargo build --release --bins && ./target/release/bench_clients [rounds]`

use anyhow::{anyhow, ensure, Context, Result};
use e2e::cluster::Cluster;
use e2e::*;
use serde_json::Value;
use std::time::{Duration, Instant};

const SETTLE: Duration = Duration::from_secs(90);
const NAMES: [&str; 3] = ["client-a", "client-b", "client-c"];

fn get(c: &Cluster, path: &str) -> Vec<Value> {
    c.http(0, "GET", path, None)
        .ok()
        .and_then(|r| r.json().ok())
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
}

fn running_nodes(c: &Cluster) -> Vec<String> {
    get(c, "/v1/job/bench-clients/allocations")
        .iter()
        .filter(|a| a["DesiredStatus"] == "run" && a["ClientStatus"] == "running")
        .map(|a| a["NodeID"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn client_of(c: &Cluster, node_id: &str) -> Option<usize> {
    let nodes = get(c, "/v1/nodes");
    let name = nodes.iter().find(|n| n["ID"] == node_id)?["Name"]
        .as_str()?
        .to_string();
    NAMES.iter().position(|n| *n == name)
}

fn main() -> Result<()> {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let marker = format!("{}", 8_200_000 + std::process::id());
    let mut c = Cluster::start(1, "")?;
    c.wait_leader(SETTLE)?;
    for n in NAMES {
        c.add_client(n)?;
    }
    wait_for("three ready nodes", SETTLE, || {
        (get(&c, "/v1/nodes")
            .iter()
            .filter(|n| n["Status"] == "ready")
            .count()
            == 3)
            .then_some(())
    })?;
    let job = serde_json::json!({"Job": {
        "ID": "bench-clients", "Name": "bench-clients", "Type": "service", "Datacenters": ["dc1"],
        "TaskGroups": [{"Name": "web", "Count": 2, "Tasks": [{
            "Name": "t", "Driver": "raw_exec",
            "Config": {"command": "/bin/sleep", "args": [marker]},
            "Resources": {"CPU": 50, "MemoryMB": 32}}]}]}});
    let reply = c.http(0, "POST", "/v1/jobs", Some(&job.to_string()))?;
    ensure!(reply.is_success(), "registering the job: {}", reply.body);

    let mut times = Vec::new();
    for round in 0..rounds {
        let nodes = wait_for("two running copies", SETTLE, || {
            let n = running_nodes(&c);
            (n.len() == 2 && processes_with(&format!("sleep {marker}")).len() == 2).then_some(n)
        })?;
        let victim_node = nodes[0].clone();
        let victim = client_of(&c, &victim_node).ok_or_else(|| anyhow!("victim's client"))?;
        c.kill_client(victim);
        let killed = Instant::now();
        wait_for("the replacement to run", SETTLE, || {
            let n = running_nodes(&c);
            (n.len() == 2 && !n.contains(&victim_node)).then_some(())
        })?;
        let took = killed.elapsed();
        println!("round {}: {took:?}", round + 1);
        times.push(took);
        c.restart_client(victim).context("restarting the client")?;
    }
    kill_processes_with(&format!("sleep {marker}"));
    times.sort();
    println!(
        "kill -9 of a client -> replacement running, {rounds} rounds: min {:?} median {:?} max {:?}",
        times[0],
        times[times.len() / 2],
        times[times.len() - 1]
    );
    Ok(())
}
