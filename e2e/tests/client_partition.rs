//! Scenario: one server and two clients run as containers on private Docker networks. A count-1
//! job runs on one client; that client is cut off the network the servers are on (`docker
//! network disconnect`) for longer than its heartbeat TTL, its task still running inside. The
//! server marks the node down and runs the allocation on the other client. When the network
//! returns, the client learns its copy was replaced and stops it: one copy remains.

use anyhow::{ensure, Context, Result};
use e2e::docker::{self, DockerCluster};
use e2e::wait_for;
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(90);

fn running_nodes(c: &DockerCluster) -> Vec<String> {
    c.get_array(0, "/v1/job/partitioned/allocations")
        .iter()
        .filter(|a| a["ClientStatus"] == "running" && a["DesiredStatus"] == "run")
        .map(|a| a["NodeID"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn a_partitioned_client_is_replaced_and_stops_its_copy_when_it_returns() -> Result<()> {
    docker::require_docker("client_partition")?;
    let mut c = DockerCluster::start(1)?;
    let result = scenario(&mut c);
    result.map_err(|e| {
        let logs: Vec<String> = (0..c.clients.len()).map(|i| c.client_logs(i)).collect();
        e.context(format!("{}\n{}", c.all_logs(), logs.join("\n")))
    })
}

fn scenario(c: &mut DockerCluster) -> Result<()> {
    c.wait_leader(SETTLE)?;
    for n in ["client-a", "client-b"] {
        c.add_client(n)?;
    }
    wait_for("two ready nodes", SETTLE, || {
        (c.get_array(0, "/v1/nodes")
            .iter()
            .filter(|n| n["Status"] == "ready")
            .count()
            == 2)
            .then_some(())
    })?;
    let marker = "4242424";
    let job = serde_json::json!({"Job": {
        "ID": "partitioned", "Name": "partitioned", "Type": "service", "Datacenters": ["dc1"],
        "TaskGroups": [{"Name": "g", "Count": 1, "Tasks": [{
            "Name": "t", "Driver": "raw_exec",
            "Config": {"command": "/bin/sleep", "args": [marker]},
            "Resources": {"CPU": 50, "MemoryMB": 32}}]}]}});
    let (code, body) = c.post(0, "/v1/jobs", &job.to_string())?;
    ensure!((200..300).contains(&code), "registering: {code} {body}");
    let node = wait_for("the allocation running", SETTLE, || {
        running_nodes(c).first().cloned()
    })?;
    let nodes = c.get_array(0, "/v1/nodes");
    let name = nodes
        .iter()
        .find(|n| n["ID"] == node.as_str())
        .and_then(|n| n["Name"].as_str())
        .context("the node of the allocation")?
        .to_string();
    let cut = c
        .clients
        .iter()
        .position(|x| x.node == name)
        .context("the client container")?;
    ensure!(
        c.client_processes(cut, marker)? == 1,
        "the task is not running in {name}"
    );

    c.disconnect_client(cut)?;
    wait_for("the copy to run on the other client", SETTLE, || {
        let n = running_nodes(c);
        (n.len() == 1 && n[0] != node).then_some(())
    })?;
    let down = c
        .get_array(0, "/v1/nodes")
        .iter()
        .any(|n| n["ID"] == node.as_str() && n["Status"] == "down");
    ensure!(down, "the cut-off node is not down");
    // Cut off, the client cannot know: its copy still runs.
    ensure!(
        c.client_processes(cut, marker)? == 1,
        "the cut-off copy stopped on its own"
    );

    c.reconnect_client(cut)?;
    wait_for("the returning client to stop its copy", SETTLE, || {
        (c.client_processes(cut, marker).ok()? == 0).then_some(())
    })?;
    wait_for("the returning node to be ready", SETTLE, || {
        c.get_array(0, "/v1/nodes")
            .iter()
            .any(|n| n["ID"] == node.as_str() && n["Status"] == "ready")
            .then_some(())
    })?;
    ensure!(running_nodes(c).len() == 1, "not exactly one copy runs");
    Ok(())
}
