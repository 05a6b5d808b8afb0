//! The lab's "change a job" step on real processes: one server agent renders nginx's config from
//! the catalog, three client agents run a count-3 job of busybox httpd instances (raw_exec), each
//! answering with its allocation id and its version. A loop of requests through nginx runs
//! throughout and must never fail.

use e2e::cluster::Cluster;
use e2e::nginx::{self, Nginx};
use e2e::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(120);

/// How one version of the job differs from the others.
struct Version<'a> {
    /// What the instances answer after their allocation id ("v1", "v2").
    label: &'a str,
    /// The task exits at once instead of serving.
    broken: bool,
    canary: u32,
    auto_promote: bool,
}

impl Version<'_> {
    fn serving(label: &str) -> Version<'_> {
        Version {
            label,
            broken: false,
            canary: 0,
            auto_promote: false,
        }
    }
}

/// The job file of `v`: three instances behind the service `hello`, rolled one at a time, a
/// shutdown delay long enough for nginx to stop sending before an old instance goes away.
fn job_file(dir: &Path, marker: &str, count: u32, v: &Version) -> PathBuf {
    let path = dir.join(format!("hello-{}.nomad.hcl", v.label));
    let script = if v.broken {
        "exit 1".to_string()
    } else {
        format!(
            "mkdir -p local/www && echo \\\"instance $NOMAD_ALLOC_ID {}\\\" > local/www/index.html \
             && exec busybox httpd -f -r {marker} -p 127.0.0.1:$NOMAD_PORT_http -h local/www",
            v.label
        )
    };
    let text = format!(
        r#"job "hello" {{
  datacenters = ["*"]

  update {{
    max_parallel      = 1
    min_healthy_time  = "1s"
    healthy_deadline  = "10s"
    progress_deadline = "15s"
    auto_revert       = true
    canary            = {canary}
    auto_promote      = {auto_promote}
  }}

  group "web" {{
    count = {count}

    network {{
      port "http" {{}}
    }}

    restart {{
      attempts = 0
      mode     = "fail"
    }}

    service {{
      name        = "hello"
      port        = "http"
      tags        = ["lab"]
      canary_tags = ["canary"]

      check {{
        type     = "http"
        path     = "/"
        interval = "1s"
        timeout  = "1s"
      }}
    }}

    task "httpd" {{
      driver         = "raw_exec"
      shutdown_delay = "3s"

      config {{
        command = "/bin/sh"
        args    = ["-c", "{script}"]
      }}

      resources {{
        cpu    = 20
        memory = 32
      }}
    }}
  }}
}}
"#,
        canary = v.canary,
        auto_promote = v.auto_promote,
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// Requests through nginx every 20 ms until dropped: what failed, and the versions that answered.
struct Traffic {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<Result<String, String>>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Traffic {
    fn start(url: String) -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (stop2, seen2) = (stop.clone(), seen.clone());
        let thread = std::thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                let outcome = match nginx::get(&url) {
                    Ok((200, body)) => Ok(body.trim().to_string()),
                    Ok((status, body)) => Err(format!("{status}: {}", body.trim())),
                    Err(e) => Err(e.to_string()),
                };
                seen2.lock().unwrap().push(outcome);
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        Traffic {
            stop,
            seen,
            thread: Some(thread),
        }
    }

    /// Stops the loop: (requests, failures, versions that answered).
    fn finish(mut self) -> (usize, Vec<String>, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let seen = self.seen.lock().unwrap();
        let failures = seen.iter().filter_map(|r| r.clone().err()).collect();
        let mut versions: Vec<String> = seen
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .filter_map(|b| b.rsplit(' ').next().map(str::to_string))
            .collect();
        versions.dedup();
        (seen.len(), failures, versions)
    }
}

impl Drop for Traffic {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn get(c: &Cluster, path: &str) -> Value {
    c.http(0, "GET", path, None)
        .and_then(|r| r.json())
        .unwrap_or(Value::Null)
}

/// The job's latest deployment once it has the status `want`.
fn wait_deployment(c: &Cluster, version: u64, want: &str) -> Value {
    wait_for(
        &format!("the deployment of version {version} to be {want}"),
        SETTLE,
        || {
            let d = get(c, "/v1/job/hello/deployment");
            (d["JobVersion"] == version && d["Status"] == want).then_some(d)
        },
    )
    .unwrap_or_else(|e| {
        panic!(
            "{e}: {:#}\n{}",
            get(c, "/v1/job/hello/deployment"),
            c.report()
        )
    })
}

fn ns(rfc3339: &str) -> i64 {
    api::time::parse_rfc3339(rfc3339).unwrap_or_else(|| panic!("bad timestamp {rfc3339:?}"))
}

/// The most allocations of `deployment` that were placed (each replacing an old copy) and not
/// yet healthy at one moment, from their create times and health timestamps.
fn most_unhealthy_in_flight(allocs: &[Value], deployment: &str) -> usize {
    let mut moments: Vec<(i64, i32)> = Vec::new();
    for a in allocs.iter().filter(|a| a["DeploymentID"] == deployment) {
        moments.push((a["CreateTime"].as_i64().unwrap(), 1));
        let healthy = &a["DeploymentStatus"];
        if healthy["Healthy"] == true {
            moments.push((ns(healthy["Timestamp"].as_str().unwrap()), -1));
        }
    }
    // At one instant, a health verdict counts before a placement.
    moments.sort();
    let (mut now, mut most) = (0i32, 0i32);
    for (_, d) in moments {
        now += d;
        most = most.max(now);
    }
    most as usize
}

/// The lab: nginx rendered by the server agent, three clients, and the job's files.
struct Lab {
    _guard: TaskGuard,
    c: Cluster,
    _nginx: Nginx,
    url: String,
    marker: String,
    dir: tempfile::TempDir,
}

impl Lab {
    /// Starts the lab; `base` keeps the task markers of the tests apart.
    fn start(base: u32) -> Lab {
        let dir = tempfile::tempdir().unwrap();
        let nginx = Nginx::start(&dir.path().join("nginx")).unwrap();
        let listen = format!("127.0.0.1:{}", free_port());
        let mut c = Cluster::start_with(
            1,
            "",
            &nginx::renderer_config(&nginx, &nginx::repo_template(), &listen),
        )
        .unwrap();
        c.wait_leader(SETTLE).unwrap();
        for name in ["client-a", "client-b", "client-c"] {
            c.add_client(name).unwrap();
        }
        wait_for("three ready nodes", SETTLE, || {
            let nodes = get(&c, "/v1/nodes");
            let ready = nodes
                .as_array()
                .map_or(0, |n| n.iter().filter(|n| n["Status"] == "ready").count());
            (ready == 3).then_some(())
        })
        .unwrap();
        let marker = format!("{}", base + std::process::id());
        Lab {
            _guard: TaskGuard(marker.clone()),
            c,
            _nginx: nginx,
            url: format!("http://{listen}/hello/"),
            marker,
            dir,
        }
    }

    fn file(&self, count: u32, v: &Version) -> String {
        job_file(self.dir.path(), &self.marker, count, v)
            .display()
            .to_string()
    }

    /// Runs v1's three copies and waits for its deployment to succeed.
    fn run_v1(&self) -> Value {
        let (code, out) = ctl(
            &self.c,
            &["job", "run", &self.file(3, &Version::serving("v1"))],
        );
        assert_eq!(code, 0, "{out}\n{}", self.c.report());
        assert!(out.contains("Monitoring deployment"), "{out}");
        assert!(out.contains("successful"), "{out}");
        wait_deployment(&self.c, 0, "successful")
    }
}

fn ctl(c: &Cluster, args: &[&str]) -> (i32, String) {
    let out = c.ctl(0, args);
    (
        out.status.code().unwrap_or(-1),
        format!("{}{}", stdout(&out), stderr(&out)),
    )
}

#[test]
fn plan_check_index_rolling_update_and_auto_revert() {
    // Scenario: v1 runs three copies. `plan` of v2 shows the changed command and exits 1; a run
    // with a stale -check-index is refused and changes nothing; the right one rolls v2 out one
    // copy at a time while requests through nginx keep succeeding. Then v3, whose task exits at
    // once, makes no progress: its deployment fails at the progress deadline and rolls itself
    // back to v2's spec, v2 serving throughout.
    let lab = Lab::start(8_700_000);
    let (c, url) = (&lab.c, lab.url.clone());
    let file = |count, v: &Version| lab.file(count, v);
    lab.run_v1();
    let versions = get(c, "/v1/job/hello/versions");
    assert_eq!(versions["Versions"][0]["Stable"], true, "{versions:#}");

    // plan: the changed args, a destructive update, and the index to check.
    let v2 = file(3, &Version::serving("v2"));
    let (code, plan) = ctl(c, &["job", "plan", &v2]);
    assert_eq!(code, 1, "{plan}");
    assert!(plan.contains("+/- Job: \"hello\""), "{plan}");
    assert!(
        plan.contains("+/- Task Group: \"web\" (3 create/destroy update)"),
        "{plan}"
    );
    assert!(
        plan.contains("+/- Task: \"httpd\" (forces create/destroy update)"),
        "{plan}"
    );
    assert!(plan.contains("v1") && plan.contains("v2"), "{plan}");
    assert!(plan.contains("All tasks successfully allocated."), "{plan}");
    let index: u64 = plan
        .lines()
        .find_map(|l| l.strip_prefix("Job Modify Index: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Job Modify Index in {plan}"));
    assert!(
        plan.contains(&format!("job run -check-index {index}")),
        "{plan}"
    );

    // A stale index is refused and nothing changes.
    let (code, out) = ctl(
        c,
        &["job", "run", "-check-index", &(index + 1).to_string(), &v2],
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("Enforcing job modify index"), "{out}");
    assert_eq!(get(c, "/v1/job/hello")["Version"], 0);

    // The right index rolls v2 out, one copy at a time, while traffic flows.
    let v1_allocs: Vec<String> = get(c, "/v1/job/hello/allocations")
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["ClientStatus"] == "running")
        .map(|a| a["ID"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(v1_allocs.len(), 3);
    let traffic = Traffic::start(url.clone());
    let (code, out) = ctl(c, &["job", "run", "-check-index", &index.to_string(), &v2]);
    assert_eq!(code, 0, "{out}\n{}", c.report());
    assert!(
        out.contains("==> ") && out.contains("Monitoring deployment"),
        "{out}"
    );
    let d2 = wait_deployment(c, 1, "successful");
    let group = &d2["TaskGroups"]["web"];
    assert_eq!(
        (
            &group["PlacedAllocs"],
            &group["HealthyAllocs"],
            &group["UnhealthyAllocs"]
        ),
        (&3.into(), &3.into(), &0.into()),
        "{d2:#}"
    );
    let allocs = get(c, "/v1/job/hello/allocations");
    let allocs = allocs.as_array().unwrap();
    let id2 = d2["ID"].as_str().unwrap();
    assert_eq!(most_unhealthy_in_flight(allocs, id2), 1, "{allocs:#?}");
    // Every old copy was stopped for a replacement, never before its predecessor was healthy.
    for old in &v1_allocs {
        let a = allocs.iter().find(|a| a["ID"] == old.as_str()).unwrap();
        assert_eq!(a["DesiredStatus"], "stop", "{a:#}");
    }
    wait_for("nginx to reach only v2", SETTLE, || {
        let answers: Vec<String> = (0..6)
            .filter_map(|_| nginx::get(&url).ok())
            .map(|(_, b)| b)
            .collect();
        answers
            .iter()
            .all(|b| b.trim().ends_with(" v2"))
            .then_some(())
    })
    .unwrap();
    let (requests, failures, seen) = traffic.finish();
    assert!(
        failures.is_empty(),
        "{} of {requests} failed: {failures:?}",
        failures.len()
    );
    assert_eq!(seen.first().map(String::as_str), Some("v1"), "{seen:?}");
    assert_eq!(seen.last().map(String::as_str), Some("v2"), "{seen:?}");

    // v3 is broken: its deployment fails and the job goes back to v2's spec as version 3.
    let traffic = Traffic::start(url.clone());
    let broken = Version {
        broken: true,
        ..Version::serving("v3")
    };
    let (code, out) = ctl(c, &["job", "run", &file(3, &broken)]);
    assert_eq!(code, 1, "{out}\n{}", c.report());
    assert!(
        out.contains("Failed due to progress deadline - rolling back to job version 1"),
        "{out}"
    );
    let failed = get(c, "/v1/job/hello/deployments");
    let d3 = failed
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["JobVersion"] == 2)
        .unwrap_or_else(|| panic!("{failed:#}"));
    assert_eq!(d3["Status"], "failed", "{d3:#}");
    wait_deployment(c, 3, "successful");
    let job = get(c, "/v1/job/hello");
    assert_eq!(job["Version"], 3);
    let args = job["TaskGroups"][0]["Tasks"][0]["Config"]["args"].to_string();
    assert!(args.contains(" v2") && !args.contains("exit 1"), "{args}");
    let (requests, failures, seen) = traffic.finish();
    assert!(
        failures.is_empty(),
        "{} of {requests} failed: {failures:?}",
        failures.len()
    );
    assert_eq!(seen, ["v2"], "{seen:?}");

    // History lists the four versions; v3 (the broken one) is not stable.
    let (code, history) = ctl(c, &["job", "history", "hello"]);
    assert_eq!(code, 0, "{history}");
    for v in 0..=3 {
        assert!(history.contains(&format!("Version     = {v}")), "{history}");
    }
    // With -p, each version's diff against the one before: v3 (the rollback) swaps v3's
    // command for v2's.
    let (code, diffs) = ctl(c, &["job", "history", "-p", "hello"]);
    assert_eq!(code, 0, "{diffs}");
    assert!(diffs.contains("Diff"), "{diffs}");
    assert!(diffs.contains("+/- Job: \"hello\""), "{diffs}");
    assert!(diffs.contains("exit 1"), "{diffs}");
    let versions = get(c, "/v1/job/hello/versions");
    let stable: Vec<(u64, bool)> = versions["Versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| (j["Version"].as_u64().unwrap(), j["Stable"] == true))
        .collect();
    assert_eq!(
        stable,
        [(3, true), (2, false), (1, true), (0, true)],
        "{versions:#}"
    );
}

#[test]
fn canaries_wait_for_promotion_then_take_over() {
    // Scenario: v2 with one canary is placed beside v1's three copies, which keep serving; the
    // canary registers with its canary tags. Promoting a deployment without canaries is refused;
    // `deployment promote` finishes the rollout and the promoted canary takes the regular tags.
    // v3 with auto_promote finishes by itself.
    let lab = Lab::start(8_800_000);
    let (c, url) = (&lab.c, lab.url.clone());
    let file = |count, v: &Version| lab.file(count, v);
    let d1 = lab.run_v1();
    let (code, out) = ctl(c, &["deployment", "promote", d1["ID"].as_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("has no canaries to promote"), "{out}");

    let canary = Version {
        canary: 1,
        ..Version::serving("v2")
    };
    let (code, out) = ctl(c, &["job", "run", &file(3, &canary)]);
    assert_eq!(code, 0, "{out}\n{}", c.report());
    assert!(out.contains("deployment promote"), "{out}");
    let d2 = get(c, "/v1/job/hello/deployment");
    let id2 = d2["ID"].as_str().unwrap().to_string();
    assert_eq!(d2["Status"], "running", "{d2:#}");
    assert_eq!(d2["TaskGroups"]["web"]["DesiredCanaries"], 1, "{d2:#}");
    let services = |tag: &str| -> usize {
        let regs = get(c, "/v1/service/hello");
        regs.as_array().map_or(0, |r| {
            r.iter()
                .filter(|r| r["Tags"] == serde_json::json!([tag]))
                .count()
        })
    };
    wait_for(
        "a canary registration beside three regular ones",
        SETTLE,
        || (services("canary") == 1 && services("lab") == 3).then_some(()),
    )
    .unwrap_or_else(|e| panic!("{e}: {:#}", get(c, "/v1/service/hello")));
    let running_v1 = get(c, "/v1/job/hello/allocations")
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["JobVersion"] == 0 && a["DesiredStatus"] == "run")
        .count();
    assert_eq!(running_v1, 3);

    // Paused, it waits; resumed, it waits for its promotion again.
    let (code, out) = ctl(c, &["deployment", "pause", &id2[..8]]);
    assert_eq!(code, 0, "{out}");
    let paused = get(c, &format!("/v1/deployment/{id2}"));
    assert_eq!(
        (&paused["Status"], &paused["StatusDescription"]),
        (&"paused".into(), &"Deployment is paused".into()),
        "{paused:#}"
    );
    let (code, out) = ctl(c, &["deployment", "resume", &id2[..8]]);
    assert_eq!(code, 0, "{out}");
    let resumed = get(c, &format!("/v1/deployment/{id2}"));
    assert_eq!(resumed["Status"], "running", "{resumed:#}");
    assert!(
        resumed["StatusDescription"]
            .as_str()
            .is_some_and(|d| d.contains("promotion")),
        "{resumed:#}"
    );

    let traffic = Traffic::start(url.clone());
    let (code, out) = ctl(c, &["deployment", "promote", &id2]);
    assert_eq!(code, 0, "{out}\n{}", c.report());
    wait_deployment(c, 1, "successful");
    wait_for("three regular v2 registrations", SETTLE, || {
        (services("lab") == 3 && services("canary") == 0).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}: {:#}", get(c, "/v1/service/hello")));
    let (requests, failures, _) = traffic.finish();
    assert!(
        failures.is_empty(),
        "{} of {requests} failed: {failures:?}",
        failures.len()
    );

    let auto = Version {
        canary: 1,
        auto_promote: true,
        ..Version::serving("v3")
    };
    let (code, out) = ctl(c, &["job", "run", &file(3, &auto)]);
    assert_eq!(code, 0, "{out}\n{}", c.report());
    let d3 = wait_deployment(c, 2, "successful");
    assert_eq!(d3["TaskGroups"]["web"]["Promoted"], true, "{d3:#}");
    assert_eq!(d3["TaskGroups"]["web"]["HealthyAllocs"], 3, "{d3:#}");
}
