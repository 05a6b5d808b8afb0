//! Large work on a real three-server cluster, with SIMULATED client nodes (`e2e::sim`: real
//! registration, heartbeats and allocation queries over the rpc port; no task is started).

use e2e::cluster::Cluster;
use e2e::sim::{FleetConfig, SimulatedFleet};
use e2e::wait_for;
use serde_json::{json, Value};
use std::time::Duration;

const ELECTION: Duration = Duration::from_secs(60);
const PLACE: Duration = Duration::from_secs(240);

fn get(c: &Cluster, i: usize, path: &str) -> Value {
    c.http(i, "GET", path, None)
        .ok()
        .filter(|r| r.is_success())
        .and_then(|r| r.json().ok())
        .unwrap_or(Value::Null)
}

/// Each live server's raft term.
fn terms(c: &Cluster) -> Vec<u64> {
    c.live()
        .into_iter()
        .map(|i| {
            get(c, i, "/v1/agent/self")["stats"]["raft"]["term"]
                .as_str()
                .and_then(|t| t.parse().ok())
                .unwrap_or(0)
        })
        .collect()
}

/// Three servers with a leader, and `nodes` simulated nodes registered with them.
fn cluster_with_fleet(nodes: usize, groups: usize) -> (Cluster, usize, SimulatedFleet) {
    let c = Cluster::start(3, "").unwrap();
    let leader = c.wait_leader(ELECTION).unwrap();
    let rpc: Vec<String> = (0..3).map(|i| c.rpc_address(i)).collect();
    let cfg = FleetConfig {
        nodes,
        groups,
        ..FleetConfig::default()
    };
    let fleet = SimulatedFleet::start(&rpc, &cfg).unwrap();
    wait_for("the simulated nodes registered", ELECTION, || {
        (fleet.registered() == nodes).then_some(())
    })
    .unwrap();
    (c, leader, fleet)
}

/// Registers a service job of `count` raw_exec allocations that simulated nodes only report.
fn register(c: &Cluster, leader: usize, id: &str, count: u64) {
    let job = json!({"Job": {
        "ID": id, "Name": id, "Type": "service", "Datacenters": ["dc1"],
        "TaskGroups": [{"Name": "g", "Count": count, "Tasks": [{
            "Name": "t", "Driver": "raw_exec", "Config": {"command": "/bin/true"},
            "Resources": {"CPU": 10, "MemoryMB": 10}}]}]}});
    let reply = c
        .http(leader, "POST", "/v1/jobs", Some(&job.to_string()))
        .unwrap();
    assert!(reply.is_success(), "{}", reply.body);
}

#[test]
fn a_huge_job_never_starves_raft_heartbeats() {
    // Scenario: 300 simulated nodes, then one job of 20,000 allocations, the largest kind of
    // plan. Its placements commit as many raft entries, replicated over the bulk connection
    // while heartbeats take their own; the followers keep hearing the leader throughout. No
    // election happens (the term never moves), no node is marked down, and every allocation
    // ends reported running.
    let (c, leader, fleet) = cluster_with_fleet(300, 8);
    let before = terms(&c);
    assert!(
        before.iter().all(|t| *t > 0 && *t == before[0]),
        "terms {before:?}"
    );
    register(&c, leader, "huge", 20_000);

    wait_for("20,000 allocations running", PLACE, || {
        let s = get(&c, leader, "/v1/job/huge/summary");
        (s["Summary"]["g"]["Running"].as_u64() == Some(20_000)).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", c.report()));

    assert_eq!(terms(&c), before, "an election happened\n{}", c.report());
    assert_eq!(c.wait_leader(ELECTION).unwrap(), leader);
    let nodes = get(&c, leader, "/v1/nodes");
    let down: Vec<&Value> = nodes
        .as_array()
        .into_iter()
        .flatten()
        .filter(|n| n["Status"] != "ready")
        .collect();
    assert!(down.is_empty(), "nodes marked down: {down:?}");
    assert_eq!(
        fleet
            .stats
            .unknown_node
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
}

#[test]
fn allocations_are_listed_in_pages_that_follow_the_next_token() {
    // Scenario: 25 allocations on simulated nodes. `/v1/allocations?per_page=10` answers 10
    // stubs and `X-Nomad-NextToken`; following the token gives the next 10, then the last 5
    // without a token. The pages hold every allocation once, in id order. A bad per_page is a
    // 400 that says what to send.
    let (c, leader, _fleet) = cluster_with_fleet(5, 1);
    register(&c, leader, "paged", 25);
    wait_for("25 allocations", ELECTION, || {
        (get(&c, leader, "/v1/allocations").as_array()?.len() == 25).then_some(())
    })
    .unwrap();

    let mut ids: Vec<String> = Vec::new();
    let mut sizes = Vec::new();
    let mut path = "/v1/allocations?per_page=10".to_string();
    loop {
        let r = c.http(leader, "GET", &path, None).unwrap();
        assert!(r.is_success(), "{}", r.body);
        let page = r.json().unwrap();
        let page = page.as_array().unwrap();
        sizes.push(page.len());
        ids.extend(page.iter().map(|a| a["ID"].as_str().unwrap().to_string()));
        match r.header("x-nomad-nexttoken") {
            Some(token) => path = format!("/v1/allocations?per_page=10&next_token={token}"),
            None => break,
        }
    }
    assert_eq!(sizes, [10, 10, 5]);
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(ids, sorted, "every allocation once, in id order");

    let bad = c
        .http(leader, "GET", "/v1/allocations?per_page=ten", None)
        .unwrap();
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("per_page"), "{}", bad.body);
}
