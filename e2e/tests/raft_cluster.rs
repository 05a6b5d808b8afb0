//! Scenario: three server-only agents, each its own process, replicate the cluster state with
//! Raft. They elect one leader, accept writes through any server, survive the leader's crash
//! without losing an acknowledged write, catch a restarted server up by log or by snapshot, refuse
//! to commit without a quorum, and let an operator retire a dead server and add a new one.

use e2e::cluster::{parse_table, Cluster, Reply};
use e2e::*;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::mpsc;
use std::time::Duration;

/// Deadlines, generous for a loaded 2-core machine; nothing asserts how fast things happen.
const ELECTION: Duration = Duration::from_secs(60);
const CONVERGE: Duration = Duration::from_secs(120);
const WRITE: Duration = Duration::from_secs(60);
/// A snapshot every 50 entries, checked for every 100-200 ms, with 10 entries kept behind it: a
/// server that misses a few dozen writes can only catch up from a snapshot.
const SNAPSHOT_OFTEN: &str =
    "raft_snapshot_threshold = 50\n  raft_snapshot_interval = \"100ms\"\n  raft_trailing_logs = 10";

fn ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|k| format!("{prefix}-{k:03}")).collect()
}

fn set(ids: &[String]) -> BTreeSet<String> {
    ids.iter().cloned().collect()
}

fn register_all(c: &Cluster, via: usize, ids: &[String]) {
    for id in ids {
        c.register_job_until_ok(via, id, WRITE).unwrap();
    }
}

/// Runs `nomadctl` on server `i` until `accept` likes its table (membership and raft changes
/// reach every view a little after they happen).
fn wait_table(
    c: &Cluster,
    i: usize,
    args: &[&str],
    what: &str,
    accept: impl Fn(&[BTreeMap<String, String>]) -> bool,
) -> Vec<BTreeMap<String, String>> {
    let mut last = String::new();
    let found = wait_for(what, ELECTION, || {
        let out = c.ctl(i, args);
        last = format!("{}{}", stdout(&out), stderr(&out));
        let rows = parse_table(&stdout(&out));
        (out.status.success() && accept(&rows)).then_some(rows)
    });
    match found {
        Ok(rows) => rows,
        Err(e) => panic!("{e}\nnomadctl {args:?}:\n{last}\n{}", c.report()),
    }
}

fn peers_table(
    c: &Cluster,
    i: usize,
    what: &str,
    accept: impl Fn(&[BTreeMap<String, String>]) -> bool,
) -> Vec<BTreeMap<String, String>> {
    wait_table(c, i, &["operator", "raft", "list-peers"], what, accept)
}

fn count(rows: &[BTreeMap<String, String>], column: &str, value: &str) -> usize {
    rows.iter().filter(|r| r[column] == value).count()
}

#[test]
fn three_servers_elect_exactly_one_leader_that_the_cli_shows() {
    // Scenario: three servers bootstrap together; all agree on one leader; a follower's
    // `server members` and `operator raft list-peers` show three servers and one leader.
    let c = Cluster::start(3, "").unwrap();
    let leader = c.wait_leader(ELECTION).unwrap();
    let follower = c.follower_of(leader).unwrap();

    let leader_name = format!("server-{}.global", leader + 1);
    let rows = wait_table(
        &c,
        follower,
        &["server", "members"],
        "three alive members and one leader",
        |rows| {
            rows.len() == 3
                && count(rows, "Status", "alive") == 3
                && count(rows, "Leader", "true") == 1
        },
    );
    let marked: Vec<&String> = rows
        .iter()
        .filter(|r| r["Leader"] == "true")
        .map(|r| &r["Name"])
        .collect();
    assert_eq!(marked, [&leader_name], "{rows:?}");

    let rows = peers_table(&c, follower, "three voters, one leader", |rows| {
        rows.len() == 3 && count(rows, "Voter", "true") == 3 && count(rows, "State", "leader") == 1
    });
    let leading: Vec<&String> = rows
        .iter()
        .filter(|r| r["State"] == "leader")
        .map(|r| &r["Address"])
        .collect();
    assert_eq!(leading, [&c.rpc_address(leader)], "{rows:?}");
    assert_eq!(count(&rows, "State", "follower"), 2, "{rows:?}");
    let addresses: BTreeSet<String> = rows.iter().map(|r| r["Address"].clone()).collect();
    let expected: BTreeSet<String> = (0..3).map(|i| c.rpc_address(i)).collect();
    assert_eq!(addresses, expected);

    // The stale view of a follower answers the same configuration.
    let out = c.ctl(follower, &["operator", "raft", "list-peers", "-stale"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(parse_table(&stdout(&out)).len(), 3, "{}", stdout(&out));

    // /v1/status/peers names the three voters on every server.
    for i in c.live() {
        let reply = c.http(i, "GET", "/v1/status/peers", None).unwrap();
        assert!(reply.is_success(), "{reply:?}");
        let peers: BTreeSet<String> = reply
            .json()
            .unwrap()
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|p| p.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(peers, expected, "server {i}");
    }
}

#[test]
fn every_server_reports_a_known_leader_and_its_last_contact() {
    // Scenario: once a leader exists, every server's answers carry X-Nomad-KnownLeader: true and
    // an X-Nomad-LastContact in milliseconds, on local (stale) and forwarded reads alike.
    let c = Cluster::start(3, "").unwrap();
    c.wait_leader(ELECTION).unwrap();
    for i in c.live() {
        for path in ["/v1/jobs?stale=true", "/v1/jobs", "/v1/status/leader"] {
            let mut last: Option<Reply> = None;
            let reply = wait_for(
                &format!("server {i} to know the leader on {path}"),
                ELECTION,
                || {
                    let reply = c.http(i, "GET", path, None).ok()?;
                    last = Some(reply.clone());
                    (reply.is_success() && reply.header("X-Nomad-KnownLeader") == Some("true"))
                        .then_some(reply)
                },
            )
            .unwrap_or_else(|e| panic!("{e}: last answer {last:?}"));
            let contact = reply.header("X-Nomad-LastContact");
            assert!(
                contact.is_some_and(|v| v.parse::<u64>().is_ok()),
                "server {i} {path}: X-Nomad-LastContact {contact:?}"
            );
        }
    }
}

#[test]
fn a_write_through_a_follower_lands_on_every_server() {
    // Scenario: a job registered through a follower is forwarded to the leader, committed, and
    // then readable from every server's own state.
    let c = Cluster::start(3, "").unwrap();
    let leader = c.wait_leader(ELECTION).unwrap();
    let follower = c.follower_of(leader).unwrap();

    let (status, body) = c.register_job(follower, "via-follower").unwrap();
    assert!((200..300).contains(&status), "{status}: {body}");
    let want = set(&["via-follower".to_string()]);
    for i in c.live() {
        c.wait_jobs_on(i, &want, CONVERGE).unwrap();
    }
    // A fresh (forwarded) read through the follower sees it at once: the write was committed.
    let reply = c
        .http(follower, "GET", "/v1/job/via-follower", None)
        .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json().unwrap()["ID"], "via-follower");
}

#[test]
fn killing_the_leader_elects_another_and_keeps_every_acknowledged_write() {
    // Scenario: a writer registers 20 jobs through a follower while the leader is killed -9
    // part-way. The other two elect a new leader, writes resume, and every registration that was
    // acknowledged with a 2xx is still there, on both survivors.
    let mut c = Cluster::start(3, "").unwrap();
    let old = c.wait_leader(ELECTION).unwrap();
    let writer = c.follower_of(old).unwrap();
    let url = format!("{}/v1/jobs", c.address(writer));

    let (acked_tx, acked_rx) = mpsc::channel();
    let acked: Vec<String> = std::thread::scope(|s| {
        let handle = s.spawn(move || {
            let mut acked = Vec::new();
            for id in ids("acked", 20) {
                let body = e2e::cluster::job_json(&id);
                if e2e::cluster::send("POST", &url, Some(&body)).is_ok_and(|r| r.is_success()) {
                    acked.push(id);
                    let _ = acked_tx.send(());
                }
            }
            acked
        });
        // Crash the leader once some writes are in, while the rest are still coming.
        for _ in 0..5 {
            acked_rx.recv_timeout(WRITE).unwrap_or_else(|e| {
                panic!(
                    "the first writes were not acknowledged: {e}\n{}",
                    c.report()
                )
            });
        }
        c.kill(old);
        handle.join().unwrap_or_default()
    });
    assert!(acked.len() >= 5, "{acked:?}");

    let new = c.wait_leader(ELECTION).unwrap();
    assert_ne!(new, old);
    c.register_job_until_ok(writer, "after-failover", WRITE)
        .unwrap();

    let mut want = set(&acked);
    want.insert("after-failover".to_string());
    // A fresh read goes through the new leader: a committed write must be in it already.
    let have = set(&c.jobs_on(writer, false).unwrap());
    let lost: Vec<&String> = want.difference(&have).collect();
    assert!(
        lost.is_empty(),
        "acknowledged but lost: {lost:?}\n{}",
        c.report()
    );
    for i in c.live() {
        c.wait_jobs_on(i, &want, CONVERGE).unwrap();
    }
}

#[test]
fn a_restarted_leader_catches_up_by_log() {
    // Scenario: the leader is killed, the others elect a new one and take more writes; the old
    // leader restarts on its data dir, rejoins as a follower and replays the missing log entries
    // (snapshots are far away), ending with the same job list.
    let mut c = Cluster::start(3, "raft_snapshot_threshold = 100000").unwrap();
    let old = c.wait_leader(ELECTION).unwrap();
    let before = ids("before", 5);
    register_all(&c, old, &before);
    c.wait_jobs_on(old, &set(&before), CONVERGE).unwrap();

    c.kill(old);
    let new = c.wait_leader(ELECTION).unwrap();
    let after = ids("after", 10);
    register_all(&c, new, &after);

    c.restart(old).unwrap();
    c.wait_leader(ELECTION).unwrap();
    let mut want = set(&before);
    want.extend(after);
    c.wait_jobs_on(old, &want, CONVERGE).unwrap();
    let jobs = c.wait_same_jobs(CONVERGE).unwrap();
    assert_eq!(jobs.len(), want.len());
    assert_eq!(set(&c.jobs_on(old, true).unwrap()), want);
}

#[test]
fn a_far_behind_follower_catches_up_by_snapshot() {
    // Scenario: with a snapshot every 50 entries and 10 trailing entries kept, a follower is
    // killed while 150 jobs are written, so the entries it misses are compacted away; restarted,
    // it is sent a snapshot and ends with every job.
    let mut c = Cluster::start(3, SNAPSHOT_OFTEN).unwrap();
    let leader = c.wait_leader(ELECTION).unwrap();
    let follower = c.follower_of(leader).unwrap();
    let early = ids("early", 3);
    register_all(&c, leader, &early);
    c.wait_jobs_on(follower, &set(&early), CONVERGE).unwrap();

    c.kill(follower);
    let via = c.follower_of(follower).unwrap();
    // Jobs carrying 1 MiB of incompressible meta each make the snapshot larger than one of the
    // 8 MiB pieces it is sent in. They go first, so that every snapshot after the bulk has them.
    let ballast = ids("ballast", 12);
    for (k, id) in ballast.iter().enumerate() {
        let reply = c
            .http(via, "POST", "/v1/jobs", Some(&ballast_job(id, k as u64)))
            .unwrap();
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    let bulk = ids("bulk", 150);
    register_all(&c, via, &bulk);
    // The leader purges once its snapshot covers the entries, which can lag the writes: restart
    // the follower only once the entries it missed are gone, or it may catch up by log.
    e2e::wait_for(
        "the leader purging the entries the follower missed",
        CONVERGE,
        || (c.purged_upto(leader) >= 100).then_some(()),
    )
    .unwrap();

    c.restart(follower).unwrap();
    let mut want = set(&early);
    want.extend(bulk);
    want.extend(ballast);
    c.wait_jobs_on(follower, &want, CONVERGE).unwrap();
    assert_eq!(set(&c.jobs_on(follower, true).unwrap()), want);
    c.wait_same_jobs(CONVERGE).unwrap();
    // The entries it missed were compacted away on the others, so it can only have caught up
    // from a snapshot (the agent logs each one it installs).
    assert!(
        c.log(follower)
            .contains("raft: installed snapshot from the leader"),
        "the restarted follower caught up without a snapshot\n{}",
        c.report()
    );
    let installed = c.logged_max(
        follower,
        "raft: installed snapshot from the leader",
        "bytes",
    );
    assert!(
        installed > 8 << 20,
        "the snapshot ({installed} bytes) went in one piece, not several"
    );
}

/// A job like `job_json`'s with 1 MiB of pseudo-random hex in its meta (LZ4 finds nothing to
/// shorten in it).
fn ballast_job(id: &str, seed: u64) -> String {
    let mut job: serde_json::Value = serde_json::from_str(&e2e::cluster::job_json(id)).unwrap();
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let blob: String = (0..(1 << 20) / 16)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            format!("{x:016x}")
        })
        .collect();
    job["Job"]["Meta"] = serde_json::json!({ "blob": blob });
    job.to_string()
}

/// Waits until server `i`'s /v1/agent/health answers `status`; returns its body.
fn wait_health(c: &Cluster, i: usize, status: u16) -> serde_json::Value {
    wait_for(
        &format!("server {i}'s health to answer {status}"),
        ELECTION,
        || {
            let reply = c.http(i, "GET", "/v1/agent/health", None).ok()?;
            (reply.status == status)
                .then(|| reply.json().ok())
                .flatten()
        },
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", c.report()))
}

#[test]
fn one_server_of_three_cannot_commit_alone() {
    // Scenario: both followers are killed; the lone server still answers stale reads but refuses
    // a write with an error instead of acknowledging it, and its /v1/agent/health turns 500 with
    // the reason in the server part. When one follower comes back, the two have a quorum, writes
    // succeed again and health is 200 again.
    let mut c = Cluster::start(3, "").unwrap();
    let survivor = c.wait_leader(ELECTION).unwrap();
    c.register_job_until_ok(survivor, "before-loss", WRITE)
        .unwrap();
    wait_health(&c, survivor, 200);
    let others: Vec<usize> = c.live().into_iter().filter(|&i| i != survivor).collect();
    for &i in &others {
        c.wait_jobs_on(i, &set(&["before-loss".to_string()]), CONVERGE)
            .unwrap();
        c.kill(i);
    }

    assert!(c
        .jobs_on(survivor, true)
        .unwrap()
        .contains(&"before-loss".to_string()));
    let (status, body) = c
        .register_job(survivor, "without-quorum")
        .unwrap_or_else(|e| {
            panic!(
                "the write must be refused with an answer, not left hanging: {e:#}\n{}",
                c.report()
            )
        });
    assert!(
        !(200..300).contains(&status),
        "a write without a quorum was acknowledged: {status} {body}"
    );
    let sick = wait_health(&c, survivor, 500);
    assert_eq!(sick["server"]["ok"], false, "{sick}");
    assert_ne!(sick["server"]["message"], "ok", "{sick}");

    c.restart(others[0]).unwrap();
    c.wait_leader(ELECTION).unwrap();
    c.register_job_until_ok(survivor, "quorum-back", WRITE)
        .unwrap();
    wait_health(&c, survivor, 200);
    let want = set(&["before-loss".to_string(), "quorum-back".to_string()]);
    for i in c.live() {
        c.wait_jobs_on(i, &want, CONVERGE).unwrap();
    }
}

#[test]
fn all_servers_end_with_the_same_state() {
    // Scenario: a mix of the above - a follower misses writes past a snapshot, a job is purged,
    // the leader crashes, more writes land, everyone restarts - and in the end the three servers
    // answer identical job lists (same jobs, same content) from their own state.
    let mut c = Cluster::start(3, SNAPSHOT_OFTEN).unwrap();
    let leader = c.wait_leader(ELECTION).unwrap();
    let first = ids("first", 10);
    register_all(&c, leader, &first);

    let lagging = c.follower_of(leader).unwrap();
    c.kill(lagging);
    let second = ids("second", 40);
    register_all(&c, leader, &second);
    let purge = c
        .http(leader, "DELETE", "/v1/job/first-000?purge=true", None)
        .unwrap();
    assert!(purge.is_success(), "{purge:?}");
    c.restart(lagging).unwrap();

    let leader = c.wait_leader(ELECTION).unwrap();
    c.kill(leader);
    let next = c.wait_leader(ELECTION).unwrap();
    let third = ids("third", 10);
    register_all(&c, next, &third);
    c.restart(leader).unwrap();
    c.wait_leader(ELECTION).unwrap();

    let mut want: BTreeSet<String> = first.iter().chain(&second).chain(&third).cloned().collect();
    want.remove("first-000");
    for i in c.live() {
        c.wait_jobs_on(i, &want, CONVERGE).unwrap();
    }
    let jobs = c.wait_same_jobs(CONVERGE).unwrap();
    let listed: BTreeSet<String> = jobs
        .iter()
        .filter_map(|j| j["ID"].as_str().map(String::from))
        .collect();
    assert_eq!(
        listed, want,
        "the purged job is gone, every other job is there"
    );
    // A whole job reads the same from each server's own state.
    let bodies: Vec<serde_json::Value> = c
        .live()
        .into_iter()
        .map(|i| {
            let r = c
                .http(i, "GET", "/v1/job/third-009?stale=true", None)
                .unwrap();
            assert!(r.is_success(), "server {i}: {r:?}");
            r.json().unwrap()
        })
        .collect();
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "{bodies:?}");
}

#[test]
fn an_operator_retires_a_dead_server_and_adds_a_new_one() {
    // Scenario: a follower dies for good; `operator raft remove-peer` on the leader takes it out
    // of the configuration (list-peers shows two); a new server with an empty data dir joins and
    // becomes the third voter, with the cluster's data.
    let mut c = Cluster::start(3, "").unwrap();
    let leader = c.wait_leader(ELECTION).unwrap();
    let dead = c.follower_of(leader).unwrap();
    let jobs = ids("kept", 5);
    register_all(&c, leader, &jobs);
    c.kill(dead);

    // Naming the peer both ways, or neither, is a usage error.
    let out = c.ctl(leader, &["operator", "raft", "remove-peer"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stderr(&out).contains("-peer-address"), "{}", stderr(&out));
    let out = c.ctl(
        leader,
        &[
            "operator",
            "raft",
            "remove-peer",
            "-peer-address=127.0.0.1:1",
            "-peer-id=1",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));

    let dead_address = c.rpc_address(dead);
    let flag = format!("-peer-address={dead_address}");
    let out = c.ctl(leader, &["operator", "raft", "remove-peer", &flag]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        format!("Removed peer with address {dead_address:?}")
    );
    let rows = peers_table(&c, leader, "two peers after the removal", |rows| {
        rows.len() == 2
    });
    assert!(
        rows.iter().all(|r| r["Address"] != dead_address),
        "{rows:?}"
    );
    assert_eq!(count(&rows, "State", "leader"), 1, "{rows:?}");

    let added = c.add_server().unwrap();
    let added_address = c.rpc_address(added);
    let rows = peers_table(&c, leader, "the new server as the third voter", |rows| {
        rows.len() == 3
            && count(rows, "Voter", "true") == 3
            && rows.iter().any(|r| r["Address"] == added_address)
    });
    assert!(
        rows.iter().all(|r| r["Address"] != dead_address),
        "{rows:?}"
    );
    c.wait_leader(ELECTION).unwrap();
    c.wait_jobs_on(added, &set(&jobs), CONVERGE).unwrap();
}

#[test]
fn evaluations_in_flight_when_the_leader_dies_run_on_the_next_leader() {
    // Scenario: 30 jobs are registered and the leader is killed at once, while many of their
    // evaluations are still pending in its broker. The new leader rebuilds its broker from the
    // replicated state: every evaluation ends processed (no nodes exist, so each job ends with
    // exactly one blocked evaluation waiting for capacity), none stays pending, none runs twice.
    let mut c = Cluster::start(3, "").unwrap();
    let old = c.wait_leader(ELECTION).unwrap();
    let jobs = ids("inflight", 30);
    register_all(&c, old, &jobs);
    c.kill(old);
    let new = c.wait_leader(ELECTION).unwrap();

    let evals = wait_for("every evaluation to be processed", CONVERGE, || {
        let reply = c.http(new, "GET", "/v1/evaluations", None).ok()?;
        let evals = reply.json().ok()?.as_array()?.clone();
        let pending = evals.iter().any(|e| e["Status"] == "pending");
        (!pending && evals.len() >= jobs.len()).then_some(evals)
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", c.report()));
    for job in &jobs {
        let blocked = evals
            .iter()
            .filter(|e| e["JobID"] == job.as_str() && e["Status"] == "blocked")
            .count();
        assert_eq!(
            blocked, 1,
            "{job}: {blocked} blocked evaluations\n{evals:#?}"
        );
    }
}

#[test]
fn force_leave_removes_a_failed_server_and_join_adds_a_new_one() {
    // Scenario: a follower dies; `server force-leave` (sent to the other follower, which relays
    // it to the leader) removes it from the configuration, while a live server is refused. A
    // new server that knows no other starts alone, and `server join` pointed at a member's rpc
    // address makes it the third voter, with the cluster's data.
    let mut c = Cluster::start(3, "").unwrap();
    let leader = c.wait_leader(ELECTION).unwrap();
    let dead = c.follower_of(leader).unwrap();
    let other = (0..3).find(|i| *i != leader && *i != dead).unwrap();
    let jobs = ids("joined", 3);
    register_all(&c, leader, &jobs);
    c.kill(dead);

    let live_name = format!("server-{}", leader + 1);
    let out = c.ctl(other, &["server", "force-leave", &live_name]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stderr(&out).contains("is alive"), "{}", stderr(&out));
    let out = c.ctl(other, &["server", "force-leave", "no-such-server"]);
    assert_eq!(out.status.code(), Some(1));

    let dead_name = format!("server-{}.global", dead + 1);
    let out = c.ctl(other, &["server", "force-leave", &dead_name]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert_eq!(stdout(&out), "");
    let dead_address = c.rpc_address(dead);
    peers_table(&c, leader, "two peers after force-leave", |rows| {
        rows.len() == 2 && rows.iter().all(|r| r["Address"] != dead_address)
    });

    let added = c.add_lone_server().unwrap();
    let leader_rpc = c.rpc_address(leader);
    let out = c.ctl(added, &["server", "join", "127.0.0.1:1", &leader_rpc]);
    // One address answered, one did not: the error is shown and the join still counts.
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert_eq!(stdout(&out).trim(), "Joined 1 servers successfully");
    assert!(stderr(&out).contains("127.0.0.1:1"), "{}", stderr(&out));
    let added_address = c.rpc_address(added);
    peers_table(&c, leader, "the joined server as the third voter", |rows| {
        rows.len() == 3
            && count(rows, "Voter", "true") == 3
            && rows.iter().any(|r| r["Address"] == added_address)
    });
    c.wait_jobs_on(added, &set(&jobs), CONVERGE).unwrap();
    // Joining nothing is a usage error.
    let r = c.http(added, "PUT", "/v1/agent/join", None).unwrap();
    assert_eq!(r.status, 400, "{}", r.body);
}
