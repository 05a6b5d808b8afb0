//! Periodic jobs: children launched by the leader on a cron schedule, overlap prohibited,
//! forced launches, and `job status` for the parent.

use e2e::*;
use serde_json::Value;
use std::time::{Duration, Instant};

const SETTLE: Duration = Duration::from_secs(60);

fn job(name: &str, cron: &str, script: &str) -> String {
    format!(
        r#"job "{name}" {{
  datacenters = ["*"]
  type        = "batch"
  periodic {{
    cron             = "{cron}"
    prohibit_overlap = true
  }}
  group "g" {{
    task "t" {{
      driver = "raw_exec"
      config {{
        command = "/bin/sh"
        args    = ["-c", "{script}"]
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

/// The parent's children, oldest first.
fn children(agent: &Agent, parent: &str) -> Vec<Value> {
    let list = agent
        .get(&format!("/v1/jobs?prefix={parent}/"))
        .unwrap_or(Value::Null);
    let mut out: Vec<Value> = list
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|j| j["ParentID"] == parent)
        .collect();
    out.sort_by_key(|j| j["ID"].as_str().unwrap_or("").to_string());
    out
}

fn alloc_of(agent: &Agent, child: &str) -> Option<Value> {
    let enc = child.replace('/', "%2F");
    let list = agent.get(&format!("/v1/job/{enc}/allocations")).ok()?;
    list.as_array()?.first().cloned()
}

/// A task time as Unix nanoseconds; `None` until it is set.
fn task_time(a: &Value, field: &str) -> Option<i64> {
    api::time::parse_rfc3339(a["TaskStates"]["t"][field].as_str()?).filter(|t| *t > 0)
}

fn finished_at(a: &Value) -> Option<i64> {
    task_time(a, "FinishedAt")
}

#[test]
fn children_launch_on_schedule_without_overlap_and_can_be_forced() {
    // Scenario: a periodic batch job fires every 2 seconds (a 7-field cron with seconds) but
    // its task takes 3: with overlap prohibited each child starts only after the previous one
    // finished. Children are named <job>/periodic-<unix time>, the parent stays running and
    // never gets an allocation of its own, job status shows the next launch and the children,
    // and job periodic force launches one at once. Once the parent is stopped no child
    // follows.
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::dev(dir.path()).unwrap();
    let file = dir.path().join("tick.nomad.hcl");
    std::fs::write(&file, job("tick", "*/2 * * * * * *", "sleep 3")).unwrap();
    let out = agent.ctl(&["job", "run", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("Job registration successful"));

    let done = wait_for("three children to finish", SETTLE, || {
        let kids = children(&agent, "tick");
        let finished: Vec<Value> = kids
            .iter()
            .filter_map(|c| alloc_of(&agent, c["ID"].as_str()?))
            .filter(|a| finished_at(a).is_some())
            .collect();
        (finished.len() >= 3).then_some(finished)
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log()));
    let kids = children(&agent, "tick");
    for c in &kids {
        let id = c["ID"].as_str().unwrap();
        let secs: i64 = id
            .strip_prefix("tick/periodic-")
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("child id {id:?}"));
        assert_eq!(secs % 2, 0, "{id} is on the schedule");
    }
    // Each child started after its predecessor finished.
    let mut allocs: Vec<&Value> = done.iter().collect();
    allocs.sort_by_key(|a| a["JobID"].as_str().unwrap_or("").to_string());
    for pair in allocs.windows(2) {
        let prev_end = finished_at(pair[0]).unwrap();
        let next_start = task_time(pair[1], "StartedAt").unwrap();
        assert!(
            next_start > prev_end,
            "{} started at {next_start}, before {} finished at {prev_end}",
            pair[1]["JobID"],
            pair[0]["JobID"]
        );
    }
    assert_eq!(
        agent.get("/v1/job/tick/allocations").unwrap(),
        Value::Array(vec![]),
        "the parent never runs itself"
    );
    assert_eq!(agent.get("/v1/job/tick").unwrap()["Status"], "running");

    let status = stdout(&agent.ctl(&["job", "status", "tick"]));
    assert!(status.contains("Periodic             = true"), "{status}");
    assert!(status.contains("Next Periodic Launch = "), "{status}");
    assert!(status.contains("Previously Launched Jobs"), "{status}");
    assert!(status.contains("tick/periodic-"), "{status}");

    let before = children(&agent, "tick").len();
    let out = agent.ctl(&["job", "periodic", "force", "-detach", "tick"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(children(&agent, "tick").len() > before);
    let out = agent.ctl(&["job", "periodic", "force", "-detach", "nope"]);
    assert!(!out.status.success());

    let out = agent.ctl(&["job", "stop", "-detach", "tick"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stopped = children(&agent, "tick").len();
    // Two schedule periods (and the leader's tick) pass with no new child: this waits on
    // the clock on purpose, since what is checked is that nothing happens.
    let until = Instant::now() + Duration::from_secs(5);
    wait_for("two schedule periods to pass", SETTLE, || {
        (Instant::now() >= until).then_some(())
    })
    .unwrap();
    assert_eq!(children(&agent, "tick").len(), stopped);
    let out = agent.ctl(&["job", "periodic", "force", "tick"]);
    assert!(stderr(&out).contains("is stopped"), "{}", stderr(&out));
}

#[test]
fn a_bad_schedule_is_refused_at_its_line() {
    // Scenario: job validate points at the cron expression that cannot be read, and at an
    // unknown time zone.
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::dev(dir.path()).unwrap();
    let file = dir.path().join("bad.nomad.hcl");
    std::fs::write(&file, job("bad", "*/2 * *", "true")).unwrap();
    let out = agent.ctl(&["job", "validate", file.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        stderr(&out)
            .contains(":5:24: periodic cron \"*/2 * *\": a cron expression has 5, 6 or 7 fields"),
        "{}",
        stderr(&out)
    );
    let tz = job("bad", "@daily", "true").replace(
        "prohibit_overlap = true",
        "prohibit_overlap = true\n    time_zone = \"Mars/Olympus\"",
    );
    std::fs::write(&file, tz).unwrap();
    let out = agent.ctl(&["job", "validate", file.to_str().unwrap()]);
    assert!(
        stderr(&out).contains(":7:17: periodic time_zone: unknown time zone \"Mars/Olympus\""),
        "{}",
        stderr(&out)
    );
}

/// The periodic children every live server knows, by launch time.
fn launch_times(c: &e2e::cluster::Cluster, i: usize, parent: &str) -> Vec<i64> {
    let mut out: Vec<i64> = c
        .jobs_list(i, true)
        .unwrap_or_default()
        .iter()
        .filter(|j| j["ParentID"] == parent)
        .filter_map(|j| {
            j["ID"]
                .as_str()?
                .strip_prefix(&format!("{parent}/periodic-"))?
                .parse()
                .ok()
        })
        .collect();
    out.sort();
    out
}

#[test]
fn a_new_leader_takes_the_timers_over_without_a_double_launch() {
    // Scenario: three servers run a periodic job that fires every 2 seconds (no clients: the
    // children only need to exist). The leader is killed -9 after two launches; the survivors
    // elect a new leader, which keeps launching on the same grid. Every launch time has one
    // child, registered once (version 0), and launches resume after the failover.
    let mut c = e2e::cluster::Cluster::start(3, "").unwrap();
    let old = c.wait_leader(SETTLE).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("beat.nomad.hcl");
    let spec = job("beat", "*/2 * * * * * *", "true").replace("prohibit_overlap = true", "");
    std::fs::write(&file, spec).unwrap();
    let out = c.ctl(old, &["job", "run", "-detach", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));

    let survivor = c.follower_of(old).unwrap();
    wait_for("two launches before the failover", SETTLE, || {
        (launch_times(&c, survivor, "beat").len() >= 2).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", c.report()));
    c.kill(old);
    let killed_at = api::time::now_nanos() / 1_000_000_000;
    let new = c.wait_leader(SETTLE).unwrap();
    assert_ne!(new, old);
    let times = wait_for("two launches after the failover", SETTLE, || {
        let t = launch_times(&c, new, "beat");
        (t.iter().filter(|s| **s > killed_at).count() >= 2).then_some(t)
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", c.report()));
    let mut unique = times.clone();
    unique.dedup();
    assert_eq!(unique, times);
    assert!(times.iter().all(|s| s % 2 == 0), "{times:?}");
    for j in c.jobs_list(new, false).unwrap() {
        if j["ParentID"] == "beat" {
            assert_eq!(j["Version"], 0, "{} was registered more than once", j["ID"]);
        }
    }
    let out = c.ctl(new, &["job", "stop", "-detach", "beat"]);
    assert!(out.status.success(), "{}", stderr(&out));
}
