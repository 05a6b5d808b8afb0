//! Scenario: servers and three client agents, each its own process on loopback. A count-2 job
//! lands on two clients. One client is killed -9 (its task keeps running, orphaned, as on a
//! machine cut off from the cluster): the servers miss its heartbeats, mark the node down and
//! its allocation lost, and a replacement runs on the third client. When the dead client comes
//! back, it is told to stop the allocation that was replaced: no duplicate task remains.

use e2e::cluster::Cluster;
use e2e::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(90);

/// A service job `id` of one group "g" with `count` copies of `task`.
fn service_job(id: &str, count: u32, task: Value) -> Value {
    serde_json::json!({"Job": {
        "ID": id, "Name": id, "Type": "service", "Datacenters": ["dc1"],
        "TaskGroups": [{"Name": "g", "Count": count, "Tasks": [task]}]}})
}

/// A raw_exec task `sleeper` that sleeps `marker` seconds (the marker finds its processes).
fn sleeper(marker: &str) -> Value {
    serde_json::json!({
        "Name": "sleeper", "Driver": "raw_exec",
        "Config": {"command": "/bin/sleep", "args": [marker]},
        "Resources": {"CPU": 50, "MemoryMB": 32}})
}

fn job_json(marker: &str) -> Value {
    service_job("kill-a-client", 2, sleeper(marker))
}

/// Registers `job` through server `via`.
fn register(c: &Cluster, via: usize, job: &Value) {
    let reply = c
        .http(via, "POST", "/v1/jobs", Some(&job.to_string()))
        .unwrap();
    assert!(reply.is_success(), "{}", reply.body);
}

fn allocs(c: &Cluster, job: &str) -> Vec<Value> {
    c.http(0, "GET", &format!("/v1/job/{job}/allocations"), None)
        .ok()
        .and_then(|r| r.json().ok())
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
}

/// Node ids of a job's allocations that are meant to run and do.
fn running_nodes_of(c: &Cluster, job: &str) -> Vec<String> {
    allocs(c, job)
        .iter()
        .filter(|a| a["DesiredStatus"] == "run" && a["ClientStatus"] == "running")
        .map(|a| a["NodeID"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn node_ids_by_name(c: &Cluster) -> Vec<(String, String, String)> {
    c.http(0, "GET", "/v1/nodes", None)
        .ok()
        .and_then(|r| r.json().ok())
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .map(|n| {
            (
                n["Name"].as_str().unwrap_or_default().to_string(),
                n["ID"].as_str().unwrap_or_default().to_string(),
                n["Status"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// `servers` servers and one client agent per name, every client's node ready.
/// Adds client-b and waits until both clients are ready.
fn add_second_client(c: &mut Cluster) {
    c.add_client("client-b").unwrap();
    wait_for("client-b ready", SETTLE, || {
        (node_ids_by_name(c)
            .iter()
            .filter(|n| n.2 == "ready")
            .count()
            == 2)
            .then_some(())
    })
    .unwrap();
}

fn cluster_with_clients(servers: usize, clients: &[&str]) -> Cluster {
    let mut c = Cluster::start(servers, "").unwrap();
    c.wait_leader(SETTLE).unwrap();
    for n in clients {
        c.add_client(n).unwrap();
    }
    let want = clients.len();
    wait_for(&format!("{want} ready nodes"), SETTLE, || {
        let ready = node_ids_by_name(&c)
            .iter()
            .filter(|n| n.2 == "ready")
            .count();
        (ready == want).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", c.clients[0].log()));
    c
}

#[test]
fn a_dead_clients_work_is_replaced_and_its_return_leaves_no_duplicate() {
    let names = ["client-a", "client-b", "client-c"];
    let mut c = cluster_with_clients(1, &names);

    let marker = format!("{}", 8_100_000 + std::process::id());
    let _guard = TaskGuard(format!("sleep {marker}"));
    register(&c, 0, &job_json(&marker));
    let first = wait_for("two allocations running", SETTLE, || {
        let nodes = running_nodes_of(&c, "kill-a-client");
        (nodes.len() == 2 && processes_with(&format!("sleep {marker}")).len() == 2).then_some(nodes)
    })
    .unwrap();
    let distinct: BTreeSet<&String> = first.iter().collect();
    assert_eq!(distinct.len(), 2, "both copies on one node: {first:?}");

    // Kill the agent of a client that runs a copy.
    let nodes = node_ids_by_name(&c);
    let victim_id = first[0].clone();
    let victim = names
        .iter()
        .position(|n| {
            nodes
                .iter()
                .any(|(name, id, _)| name == n && *id == victim_id)
        })
        .expect("the victim's node among the clients");
    c.kill_client(victim);

    let after = wait_for("the lost copy to be replaced elsewhere", SETTLE, || {
        let nodes = running_nodes_of(&c, "kill-a-client");
        (nodes.len() == 2 && !nodes.contains(&victim_id)).then_some(nodes)
    })
    .unwrap_or_else(|e| panic!("{e}\n{:#?}", allocs(&c, "kill-a-client")));
    let down = node_ids_by_name(&c)
        .into_iter()
        .find(|(_, id, _)| *id == victim_id)
        .map(|n| n.2);
    assert_eq!(down.as_deref(), Some("down"));
    let lost: Vec<Value> = allocs(&c, "kill-a-client")
        .into_iter()
        .filter(|a| a["NodeID"] == victim_id.as_str())
        .collect();
    assert!(
        lost.iter().all(|a| a["ClientStatus"] == "lost"),
        "{lost:#?}"
    );
    assert_eq!(BTreeSet::from_iter(after.iter()).len(), 2, "{after:?}");
    // The orphaned copy still runs until its client returns: three processes for now.
    assert_eq!(processes_with(&format!("sleep {marker}")).len(), 3);

    // The client comes back: it stops the replaced copy; two remain.
    c.restart_client(victim).unwrap();
    wait_for(
        "the returning client to stop its replaced copy",
        SETTLE,
        || (processes_with(&format!("sleep {marker}")).len() == 2).then_some(()),
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", c.clients[victim].log()));
    wait_for("the returning node to be ready", SETTLE, || {
        node_ids_by_name(&c)
            .iter()
            .any(|(_, id, st)| *id == victim_id && st == "ready")
            .then_some(())
    })
    .unwrap();
    assert_eq!(running_nodes_of(&c, "kill-a-client").len(), 2);
}

#[test]
fn killing_the_server_leader_disturbs_no_running_task() {
    // Scenario: three servers and two clients run a count-2 job. The leader is killed -9: the
    // clients fail over to the surviving servers, the new leader gives every node the failover
    // TTL instead of marking it down, and the same two tasks keep running, untouched.
    let mut c = Cluster::start(3, "").unwrap();
    let leader = c.wait_leader(SETTLE).unwrap();
    for n in ["client-a", "client-b"] {
        c.add_client(n).unwrap();
    }
    let via = c.follower_of(leader).unwrap();
    let get = |c: &Cluster, i: usize, path: &str| -> Vec<Value> {
        c.http(i, "GET", path, None)
            .ok()
            .and_then(|r| r.json().ok())
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
    };
    wait_for("two ready nodes", SETTLE, || {
        (get(&c, via, "/v1/nodes")
            .iter()
            .filter(|n| n["Status"] == "ready")
            .count()
            == 2)
            .then_some(())
    })
    .unwrap();
    let marker = format!("{}", 8_300_000 + std::process::id());
    let _guard = TaskGuard(format!("sleep {marker}"));
    register(&c, via, &job_json(&marker));
    let pids = wait_for("two running tasks", SETTLE, || {
        let p = processes_with(&format!("sleep {marker}"));
        (p.len() == 2).then_some(p)
    })
    .unwrap();
    let allocs_before: BTreeSet<String> = get(&c, via, "/v1/job/kill-a-client/allocations")
        .iter()
        .map(|a| a["ID"].as_str().unwrap_or_default().to_string())
        .collect();

    c.kill(leader);
    let new = c.wait_leader(SETTLE).unwrap();
    // A write through the new leader proves the cluster works again. Then, for three client
    // heartbeat periods, every node must stay ready: a node wrongly expired by the new leader
    // would show up as down within that window.
    c.register_job_until_ok(new, "after-failover", SETTLE)
        .unwrap();
    let window = std::time::Instant::now() + Duration::from_secs(6);
    while std::time::Instant::now() < window {
        let nodes = get(&c, new, "/v1/nodes");
        assert!(
            nodes.len() == 2 && nodes.iter().all(|n| n["Status"] == "ready"),
            "a node went down across the failover: {nodes:#?}"
        );
        // Polling pace of a condition that must hold throughout, not a wait for an event.
        std::thread::sleep(Duration::from_millis(200));
    }
    let allocs = get(&c, new, "/v1/job/kill-a-client/allocations");
    let running: BTreeSet<String> = allocs
        .iter()
        .filter(|a| a["ClientStatus"] == "running" && a["DesiredStatus"] == "run")
        .map(|a| a["ID"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(running, allocs_before, "{allocs:#?}");
    assert_eq!(
        processes_with(&format!("sleep {marker}")),
        pids,
        "the tasks were restarted"
    );
}

#[test]
fn logs_of_a_remote_clients_task_are_read_through_a_server() {
    // Scenario: a task runs on a client agent; `nomadctl alloc logs` pointed at a server (which
    // runs no tasks) streams the task's output from that client, and `alloc status` names it.
    // `alloc fs`, `alloc signal`, `alloc exec`, the allocation's stats and `node status -stats`
    // reach the client through the server as well.
    let c = cluster_with_clients(1, &["client-logs"]);
    let marker = format!("{}", 8_400_000 + std::process::id());
    let _guard = TaskGuard(format!("sleep {marker}"));
    let mut talker = sleeper(&marker);
    talker["Name"] = "talker".into();
    talker["Config"] = serde_json::json!({"command": "/bin/sh",
        "args": ["-c", format!("echo hello-from-the-client; exec sleep {marker}")]});
    let job = service_job("remote-logs", 1, talker);
    register(&c, 0, &job);
    let alloc = wait_for("the task running", SETTLE, || {
        let list = c
            .http(0, "GET", "/v1/job/remote-logs/allocations", None)
            .ok()?
            .json()
            .ok()?;
        let a = list.as_array()?.first()?.clone();
        (a["ClientStatus"] == "running").then(|| a["ID"].as_str().unwrap_or_default().to_string())
    })
    .unwrap();
    let text = wait_for("the task's output through the server", SETTLE, || {
        let out = c.ctl(0, &["alloc", "logs", &alloc[..8], "talker"]);
        let text = stdout(&out);
        text.contains("hello-from-the-client").then_some(text)
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", c.servers[0].log()));
    assert!(!text.is_empty());
    let out = c.ctl(0, &["alloc", "status", &alloc[..8]]);
    assert!(stdout(&out).contains("client-logs"), "{}", stdout(&out));

    // The allocation's files, signals and usage, through the server too.
    let out = c.ctl(0, &["alloc", "fs", &alloc, "alloc/logs"]);
    assert!(
        stdout(&out).contains("talker.stdout.0"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let r = c
        .http(
            0,
            "GET",
            &format!("/v1/client/fs/cat/{alloc}?path=alloc/logs/talker.stdout.0"),
            None,
        )
        .unwrap();
    assert_eq!(r.body, "hello-from-the-client\n");
    let r = c
        .http(
            0,
            "GET",
            &format!("/v1/client/fs/cat/{alloc}?path=../../etc/shadow"),
            None,
        )
        .unwrap();
    assert_eq!(r.status, 403, "{}", r.body);
    let out = c.ctl(0, &["alloc", "signal", "-s", "SIGCONT", &alloc, "talker"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let r = c
        .http(
            0,
            "GET",
            &format!("/v1/client/allocation/{alloc}/stats"),
            None,
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.json().unwrap()["Tasks"]["talker"].is_object(),
        "{}",
        r.body
    );
    let server_http = c.address(0).trim_start_matches("http://").to_string();
    let r = e2e::exec_ws::exec(
        &server_http,
        &alloc,
        "talker",
        &["/bin/sh", "-c", "read x; echo relayed $x; exit 2"],
        false,
        None,
        b"in\n",
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", c.servers[0].log()));
    assert_eq!(
        (r.exit_code, r.stdout.as_str()),
        (2, "relayed in\n"),
        "{r:?}"
    );
    let node = node_ids_by_name(&c)[0].1.clone();
    let out = c.ctl(0, &["node", "status", "-stats", &node]);
    assert!(
        stdout(&out).contains("Host Resource Utilization"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
}

#[test]
fn draining_a_node_moves_its_work_and_leaves_it_ineligible() {
    // Scenario: one server, two clients, one allocation. `node drain -enable` on the node that
    // runs it returns once the node's work has stopped; the allocation now runs on the other
    // node, and `node status` shows the drained node ineligible. `node drain -disable` and
    // `node eligibility` take it back into service.
    let c = cluster_with_clients(1, &["client-a", "client-b"]);
    let marker = format!("{}", 8_500_000 + std::process::id());
    let _guard = TaskGuard(format!("sleep {marker}"));
    let job = service_job("drain-me", 1, sleeper(&marker));
    register(&c, 0, &job);
    let node = wait_for("the allocation running", SETTLE, || {
        running_nodes_of(&c, "drain-me").first().cloned()
    })
    .unwrap();

    let out = c.ctl(0, &["node", "drain", "-enable", "-yes", &node[..8]]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(text.contains("drain strategy set"), "{text}");
    assert!(text.contains("have stopped"), "{text}");
    let moved = wait_for("the allocation running elsewhere", SETTLE, || {
        let nodes = running_nodes_of(&c, "drain-me");
        (nodes.len() == 1 && nodes[0] != node).then_some(nodes)
    })
    .unwrap();
    assert_ne!(moved[0], node);
    let status = stdout(&c.ctl(0, &["node", "status"]));
    let row = status
        .lines()
        .find(|l| l.starts_with(&node[..8]))
        .unwrap_or_else(|| panic!("{status}"));
    assert!(row.contains("true") && row.contains("ineligible"), "{row}");

    let out = c.ctl(0, &["node", "drain", "-disable", &node[..8]]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = c.ctl(0, &["node", "eligibility", "-disable", &node[..8]]);
    assert!(
        stdout(&out).contains("ineligible for scheduling"),
        "{}",
        stdout(&out)
    );
    let out = c.ctl(0, &["node", "eligibility", "-enable", &node[..8]]);
    assert!(
        stdout(&out).contains("eligible for scheduling"),
        "{}",
        stdout(&out)
    );
    let n = c
        .http(0, "GET", &format!("/v1/node/{node}"), None)
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(n["SchedulingEligibility"], "eligible");
    assert_eq!(n["Drain"], false);
}

#[test]
fn a_client_silent_past_its_ttl_is_replaced_and_stops_its_copy_when_it_returns() {
    // Scenario: a client agent is frozen (SIGSTOP) longer than its heartbeat TTL, as if cut off
    // from the servers while its task keeps running. The servers mark its node down and run the
    // allocation elsewhere; when the agent thaws (SIGCONT) it learns its copy was replaced and
    // stops it, leaving exactly one running copy. (The network version of this runs the agents in
    // containers; this one needs nothing but processes.)
    let c = cluster_with_clients(1, &["client-a", "client-b"]);
    let marker = format!("{}", 8_600_000 + std::process::id());
    let _guard = TaskGuard(format!("sleep {marker}"));
    let job = service_job("kill-a-client", 1, sleeper(&marker));
    register(&c, 0, &job);
    let node = wait_for("the allocation running", SETTLE, || {
        running_nodes_of(&c, "kill-a-client").first().cloned()
    })
    .unwrap();
    let nodes = node_ids_by_name(&c);
    let frozen = ["client-a", "client-b"]
        .iter()
        .position(|n| nodes.iter().any(|(name, id, _)| name == n && *id == node))
        .unwrap();
    let pid = c.clients[frozen].pid().unwrap() as i32;
    // SAFETY: plain signals to a child process this test started.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    let thaw = scopeguard(pid);

    wait_for("the copy to run on the other node", SETTLE, || {
        let n = running_nodes_of(&c, "kill-a-client");
        (n.len() == 1 && n[0] != node).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{:#?}", allocs(&c, "kill-a-client")));
    assert_eq!(processes_with(&format!("sleep {marker}")).len(), 2);

    drop(thaw);
    wait_for(
        "the returning client to stop its replaced copy",
        SETTLE,
        || (processes_with(&format!("sleep {marker}")).len() == 1).then_some(()),
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", c.clients[frozen].log()));
    wait_for("the thawed node to be ready again", SETTLE, || {
        node_ids_by_name(&c)
            .iter()
            .any(|(_, id, st)| *id == node && st == "ready")
            .then_some(())
    })
    .unwrap();
    assert_eq!(running_nodes_of(&c, "kill-a-client").len(), 1);
}

/// Sends SIGCONT to `pid` when dropped, so a failing test never leaves a frozen agent behind.
fn scopeguard(pid: i32) -> impl Drop {
    struct Thaw(i32);
    impl Drop for Thaw {
        fn drop(&mut self) {
            // SAFETY: a plain signal to a child process of this test.
            unsafe { libc::kill(self.0, libc::SIGCONT) };
        }
    }
    Thaw(pid)
}

#[test]
fn a_job_for_a_driver_no_node_has_waits_and_runs_when_one_joins() {
    // Scenario: the only client cannot reach a Docker Engine (DOCKER_HOST points nowhere), so a
    // docker job fails placement with "missing drivers" and waits, blocked. A second client with
    // a working engine joins, and the job is placed there at once.
    agent::drivers::docker::testing::require_docker_engine("driver placement");
    let image = agent::drivers::docker::testing::ensure_busybox_image().unwrap();
    let mut c = Cluster::start(1, "").unwrap();
    c.wait_leader(SETTLE).unwrap();
    c.add_client_with_env(
        "no-docker",
        &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")],
    )
    .unwrap();
    wait_for("the docker-less node", SETTLE, || {
        (node_ids_by_name(&c)
            .iter()
            .filter(|n| n.2 == "ready")
            .count()
            == 1)
            .then_some(())
    })
    .unwrap();
    let mut task = sleeper("300");
    task["Driver"] = "docker".into();
    task["KillTimeout"] = 1_000_000_000u64.into();
    task["Config"] = serde_json::json!({"image": image, "command": "sleep", "args": ["300"]});
    let job = service_job("needs-docker", 1, task);
    register(&c, 0, &job);
    let failed = wait_for("a failed placement naming the driver", SETTLE, || {
        let evals = c
            .http(0, "GET", "/v1/job/needs-docker/evaluations", None)
            .ok()?
            .json()
            .ok()?;
        evals.as_array()?.iter().find_map(|e| {
            let m = &e["FailedTGAllocs"]["g"]["ConstraintFiltered"]["missing drivers"];
            (m.as_u64()? >= 1).then_some(())
        })
    });
    assert!(failed.is_ok(), "{failed:?}");
    let blocked = c
        .http(0, "GET", "/v1/job/needs-docker/evaluations", None)
        .unwrap()
        .json()
        .unwrap();
    assert!(
        blocked
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["Status"] == "blocked"),
        "{blocked:#}"
    );

    c.add_client("with-docker").unwrap();
    let alloc = wait_for("the job placed on the new node", SETTLE, || {
        let list = c
            .http(0, "GET", "/v1/job/needs-docker/allocations", None)
            .ok()?
            .json()
            .ok()?;
        let a = list.as_array()?.first()?.clone();
        (a["ClientStatus"] == "running").then_some(a)
    })
    .unwrap();
    let id = alloc["ID"].as_str().unwrap().to_string();
    let node = node_ids_by_name(&c)
        .into_iter()
        .find(|(_, nid, _)| alloc["NodeID"] == nid.as_str())
        .map(|n| n.0);
    assert_eq!(node.as_deref(), Some("with-docker"));
    let r = c.http(0, "DELETE", "/v1/job/needs-docker", None).unwrap();
    assert!(r.is_success());
    e2e::docker::wait_containers_gone(&id, SETTLE).unwrap();
}

#[test]
fn a_drain_deadline_stops_what_the_migration_pace_left_behind() {
    // Scenario: two copies on client-a, migrate.max_parallel = 1. The copies' artifact is
    // fetched from a loopback server that answers for client-a and never for client-b, so a
    // replacement on client-b stays pending and the drain cannot move the second copy at its
    // pace. With -deadline 3s the server stops what is left once the deadline passes.
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut first = String::new();
            let _ = reader.read_line(&mut first);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let mut s = reader.into_inner();
            if first.contains("client-a") {
                let _ = s.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                );
            } else {
                held.push(s); // never answered
            }
        }
    });
    let mut c = cluster_with_clients(1, &["client-a"]);
    let marker = format!("{}", 8_700_000 + std::process::id());
    let _guard = TaskGuard(format!("sleep {marker}"));
    let mut task = sleeper(&marker);
    task["Artifacts"] = serde_json::json!([{
        "GetterSource": format!("http://127.0.0.1:{port}/${{node.unique.name}}"),
        "RelativeDest": "local/marker", "GetterMode": "file"}]);
    let mut job = service_job("slow-drain", 2, task);
    job["Job"]["TaskGroups"][0]["Migrate"] = serde_json::json!({"MaxParallel": 1});
    register(&c, 0, &job);
    wait_for("two copies running on client-a", SETTLE, || {
        (running_nodes_of(&c, "slow-drain").len() == 2).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", c.clients[0].log()));
    let node_a = running_nodes_of(&c, "slow-drain")[0].clone();
    add_second_client(&mut c);

    let out = c.ctl(
        0,
        &[
            "node",
            "drain",
            "-enable",
            "-yes",
            "-detach",
            "-deadline",
            "3s",
            &node_a[..8],
        ],
    );
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    wait_for("nothing left running on client-a", SETTLE, || {
        (running_nodes_of(&c, "slow-drain")
            .iter()
            .all(|n| *n != node_a)
            && processes_with(&format!("sleep {marker}")).is_empty())
        .then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", c.servers[0].log()));
    // The replacements never got their artifact: the second copy left only because of the
    // deadline, not because the first replacement ran.
    assert!(running_nodes_of(&c, "slow-drain").is_empty());
    assert!(
        c.servers[0].log().contains("drain deadline reached"),
        "the copies left without the deadline's help"
    );
}

#[test]
fn a_drain_moves_the_next_copy_once_the_last_replacement_is_healthy() {
    // Scenario: two copies on client-a, migrate { max_parallel = 1, min_healthy_time = 2s }.
    // Draining client-a moves one copy to client-b; the second moves only once client-b has
    // judged the first replacement healthy (running for 2 s), as the allocations' times show.
    let mut c = cluster_with_clients(1, &["client-a"]);
    let marker = format!("{}", 8_900_000 + std::process::id());
    let _guard = TaskGuard(format!("sleep {marker}"));
    let mut job = service_job("paced-drain", 2, sleeper(&marker));
    let second = 1_000_000_000u64;
    job["Job"]["TaskGroups"][0]["Update"] =
        serde_json::json!({"MaxParallel": 2, "HealthCheck": "task_states", "MinHealthyTime": 0});
    job["Job"]["TaskGroups"][0]["Migrate"] = serde_json::json!({
        "MaxParallel": 1, "HealthCheck": "task_states",
        "MinHealthyTime": 2 * second, "HealthyDeadline": 60 * second});
    register(&c, 0, &job);
    wait_for("the first deployment to succeed", SETTLE, || {
        let d = c
            .http(0, "GET", "/v1/job/paced-drain/deployment", None)
            .ok()?
            .json()
            .ok()?;
        (d["Status"] == "successful").then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", c.servers[0].log()));
    let node_a = running_nodes_of(&c, "paced-drain")[0].clone();
    add_second_client(&mut c);
    let out = c.ctl(0, &["node", "drain", "-enable", "-yes", &node_a[..8]]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    wait_for("both copies on client-b", SETTLE, || {
        let nodes = running_nodes_of(&c, "paced-drain");
        (nodes.len() == 2 && nodes.iter().all(|n| *n != node_a)).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", c.servers[0].log()));
    let mut moved: Vec<Value> = allocs(&c, "paced-drain")
        .into_iter()
        .filter(|a| a["PreviousAllocation"] != "" && a["ClientStatus"] == "running")
        .collect();
    moved.sort_by_key(|a| a["CreateTime"].as_i64());
    assert_eq!(moved.len(), 2, "{moved:#?}");
    let judged = wait_for("the first replacement's health", SETTLE, || {
        let a = allocs(&c, "paced-drain")
            .into_iter()
            .find(|a| a["ID"] == moved[0]["ID"])?;
        let ts = a["DeploymentStatus"]["Timestamp"].as_str()?.to_string();
        (a["DeploymentStatus"]["Healthy"] == true).then_some(ts)
    })
    .unwrap();
    let healthy_at = api::time::parse_rfc3339(&judged).unwrap();
    let second_placed = moved[1]["CreateTime"].as_i64().unwrap();
    assert!(
        second_placed >= healthy_at,
        "the second copy moved at {second_placed}, before the first replacement was healthy at {healthy_at}"
    );
    let first_placed = moved[0]["CreateTime"].as_i64().unwrap();
    assert!(
        healthy_at - first_placed >= 2 * second as i64,
        "healthy at {healthy_at}, less than min_healthy_time after {first_placed}"
    );
}

#[test]
fn a_client_cut_off_from_its_servers_reports_itself_unhealthy() {
    // Scenario: a client-only agent answers /v1/agent/health 200 while its server answers its
    // heartbeats. The server is killed: once the heartbeat TTL the server gave has passed
    // without an answer, the client's health turns 500 with the reason in the client part, and
    // turns 200 again when the server is back.
    let mut c = Cluster::start(1, "").unwrap();
    c.wait_leader(SETTLE).unwrap();
    c.add_client("client-a").unwrap();
    let health = |c: &Cluster| -> Option<(u16, Value)> {
        let url = format!("{}/v1/agent/health", c.clients[0].address());
        let (status, body) = request("GET", &url, None).ok()?;
        Some((status, serde_json::from_str(&body).ok()?))
    };
    let wait_status = |c: &Cluster, want: u16| -> Value {
        wait_for(
            &format!("the client's health to answer {want}"),
            SETTLE,
            || health(c).and_then(|(s, body)| (s == want).then_some(body)),
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", c.report()))
    };
    let ok = wait_status(&c, 200);
    assert_eq!(ok["client"]["ok"], true, "{ok}");
    assert!(
        ok.get("server").is_none(),
        "a client-only agent has no server part: {ok}"
    );

    c.kill(0);
    let sick = wait_status(&c, 500);
    assert_eq!(sick["client"]["ok"], false, "{sick}");
    assert!(
        sick["client"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("no contact with a server")),
        "{sick}"
    );
    c.restart(0).unwrap();
    wait_status(&c, 200);
}
