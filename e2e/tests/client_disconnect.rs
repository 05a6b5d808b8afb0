//! Scenario: as in client_partition.rs, one server and two clients run as containers, and the
//! client of a count-1 job is cut off the servers' network. This group has `disconnect {
//! lost_after = "1h"  reconcile = "keep_original" }`: the node turns `disconnected` rather than
//! `down`, its allocation `unknown` rather than `lost`, and a replacement runs on the other
//! client. When the network returns, the original reports again and is kept; the replacement
//! stops. Exactly one copy runs at the end, the original, which never stopped.

use anyhow::{ensure, Context, Result};
use e2e::docker::{self, DockerCluster};
use e2e::wait_for;
use serde_json::Value;
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(90);
const HOUR_NS: i64 = 3_600_000_000_000;

fn alloc(c: &DockerCluster, id: &str) -> Option<Value> {
    c.get_array(0, "/v1/job/held/allocations")
        .into_iter()
        .find(|a| a["ID"] == id)
}

fn node_status(c: &DockerCluster, id: &str) -> Option<String> {
    c.get_array(0, "/v1/nodes")
        .iter()
        .find(|n| n["ID"] == id)
        .and_then(|n| n["Status"].as_str().map(str::to_string))
}

#[test]
fn a_disconnected_client_keeps_its_copy_and_the_replacement_stops() -> Result<()> {
    docker::require_docker("client_disconnect")?;
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
    let marker = "4343434";
    let job = serde_json::json!({"Job": {
        "ID": "held", "Name": "held", "Type": "service", "Datacenters": ["dc1"],
        "TaskGroups": [{"Name": "g", "Count": 1,
            "Disconnect": {"LostAfter": HOUR_NS, "Reconcile": "keep_original"},
            "Tasks": [{
            "Name": "t", "Driver": "raw_exec",
            "Config": {"command": "/bin/sleep", "args": [marker]},
            "Resources": {"CPU": 50, "MemoryMB": 32}}]}]}});
    let (code, body) = c.post(0, "/v1/jobs", &job.to_string())?;
    ensure!((200..300).contains(&code), "registering: {code} {body}");
    let (orig, node) = wait_for("the allocation running", SETTLE, || {
        c.get_array(0, "/v1/job/held/allocations")
            .iter()
            .find(|a| a["ClientStatus"] == "running")
            .map(|a| {
                (
                    a["ID"].as_str().unwrap_or_default().to_string(),
                    a["NodeID"].as_str().unwrap_or_default().to_string(),
                )
            })
    })?;
    let name = c
        .get_array(0, "/v1/nodes")
        .iter()
        .find(|n| n["ID"] == node.as_str())
        .and_then(|n| n["Name"].as_str().map(str::to_string))
        .context("the node of the allocation")?;
    let cut = c
        .clients
        .iter()
        .position(|x| x.node == name)
        .context("the client container")?;

    c.disconnect_client(cut)?;
    let repl = wait_for("a replacement running elsewhere", SETTLE, || {
        c.get_array(0, "/v1/job/held/allocations")
            .iter()
            .find(|a| a["ID"] != orig.as_str() && a["ClientStatus"] == "running")
            .and_then(|a| a["ID"].as_str().map(str::to_string))
    })?;
    ensure!(
        node_status(c, &node).as_deref() == Some("disconnected"),
        "the cut-off node is {:?}, not disconnected",
        node_status(c, &node)
    );
    let o = alloc(c, &orig).context("the original")?;
    ensure!(
        o["ClientStatus"] == "unknown" && o["DesiredStatus"] == "run",
        "the original is {} / {}",
        o["ClientStatus"],
        o["DesiredStatus"]
    );
    let summary = c
        .get_json(0, "/v1/job/held/summary")
        .context("the summary")?;
    ensure!(
        summary["Summary"]["g"]["Unknown"] == 1,
        "summary: {summary}"
    );
    ensure!(
        c.client_processes(cut, marker)? == 1,
        "the cut-off copy stopped on its own"
    );

    c.reconnect_client(cut)?;
    wait_for(
        "the original kept and the replacement stopped",
        SETTLE,
        || {
            let o = alloc(c, &orig)?;
            let r = alloc(c, &repl)?;
            (o["ClientStatus"] == "running"
                && o["DesiredStatus"] == "run"
                && r["DesiredStatus"] == "stop")
                .then_some(())
        },
    )?;
    wait_for("the node ready again", SETTLE, || {
        (node_status(c, &node).as_deref() == Some("ready")).then_some(())
    })?;
    let running: Vec<Value> = c
        .get_array(0, "/v1/job/held/allocations")
        .into_iter()
        .filter(|a| a["DesiredStatus"] == "run" && a["ClientStatus"] == "running")
        .collect();
    ensure!(
        running.len() == 1 && running[0]["ID"] == orig.as_str(),
        "running copies: {running:?}"
    );
    ensure!(
        c.client_processes(cut, marker)? == 1,
        "the original's task is not running on its client"
    );
    Ok(())
}
