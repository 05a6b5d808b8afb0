//! Service figures for BENCHMARKS.md, on a release dev agent and a real nginx:
//!
//! - `latency [rounds]`: from a task starting to nginx serving it, and from a copy being stopped
//!   (or its process killed) to nginx no longer routing to it, through the agent's template
//!   renderer with its default `wait`.
//! - `checks [seconds] [http|http-close|tcp]`: the agent's CPU with 1,000 checks at a 1 s
//!   interval (10 allocations of 100 checks) against a small HTTP server of this process that
//!   keeps connections open (`http`) or closes each one (`http-close`), minus the same allocations
//!   without checks.
//! - `renderer [seconds]`: the agent's CPU while 1,000 services of 3 instances each change 10
//!   times a second (a registration deleted through the API each time), with a template block
//!   rendering the nginx template and without one; and nginx's check and reload, which run as the
//!   agent's children.
//!
//! Run: `cargo build --release --bins && ./target/release/bench_services latency 30`

use anyhow::{anyhow, bail, ensure, Context, Result};
use e2e::nginx::{self, Nginx};
use e2e::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const SETTLE: Duration = Duration::from_secs(180);

fn unix_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn report(what: &str, mut v: Vec<Duration>) {
    v.sort();
    println!(
        "{what:<34} n={:<3} min {:>7.1} ms  p50 {:>7.1} ms  p90 {:>7.1} ms  p99 {:>7.1} ms  max {:>7.1} ms",
        v.len(),
        v[0].as_secs_f64() * 1e3,
        percentile(&v, 0.5).as_secs_f64() * 1e3,
        percentile(&v, 0.9).as_secs_f64() * 1e3,
        percentile(&v, 0.99).as_secs_f64() * 1e3,
        v[v.len() - 1].as_secs_f64() * 1e3,
    );
}

/// (own, waited-for children) CPU time of a process, from /proc/<pid>/stat.
fn cpu(pid: u32) -> Result<(Duration, Duration)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let rest = &stat[stat.rfind(')').ok_or_else(|| anyhow!("bad stat"))? + 2..];
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // Fields 14-17 of stat are utime, stime, cutime, cstime: indexes 11-14 after the state.
    let tick = Duration::from_millis(10);
    Ok((tick * (f[11] + f[12]) as u32, tick * (f[13] + f[14]) as u32))
}

/// The agent's CPU over `secs`, as a share of one core: (own, children).
fn cpu_share(pid: u32, secs: u64) -> Result<(f64, f64)> {
    let (a0, c0) = cpu(pid)?;
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(secs));
    let (a1, c1) = cpu(pid)?;
    let wall = t0.elapsed().as_secs_f64();
    Ok((
        (a1 - a0).as_secs_f64() / wall,
        (c1 - c0).as_secs_f64() / wall,
    ))
}

fn run_job(agent: &Agent, job: &Value) -> Result<()> {
    let (status, body) = request(
        "POST",
        &format!("{}/v1/jobs", agent.address()),
        Some(&job.to_string()),
    )?;
    ensure!(status == 200, "registering the job: {status} {body}");
    Ok(())
}

/// A dev agent with the nginx template rendered for `nginx`, nginx listening on `listen`.
fn agent_with_renderer(dir: &Path, nginx: &Nginx, listen: &str) -> Result<Agent> {
    let config = dir.join("renderer.hcl");
    std::fs::write(
        &config,
        nginx::renderer_config(nginx, &nginx::repo_template(), listen),
    )?;
    Agent::dev_with(dir, &["--config", &config.display().to_string()])
}

// ---- latency -------------------------------------------------------------------------------

fn httpd_job(count: usize, marker: &str) -> Value {
    let script = format!(
        "mkdir -p local/www && echo \"instance $NOMAD_ALLOC_ID\" > local/www/index.html && \
         exec busybox httpd -f -r {marker} -p 127.0.0.1:$NOMAD_PORT_http -h local/www"
    );
    json!({"Job": {
        "ID": "bench", "Name": "bench", "Type": "service", "Datacenters": ["dc1"],
        "TaskGroups": [{
            "Name": "web", "Count": count,
            "RestartPolicy": {"Attempts": 100, "Interval": 600_000_000_000u64,
                              "Delay": 3_000_000_000u64, "Mode": "delay"},
            "Networks": [{"DynamicPorts": [{"Label": "http"}]}],
            "Services": [{"Name": "bench", "PortLabel": "http",
                          "Checks": [{"Type": "http", "Path": "/",
                                      "Interval": 1_000_000_000u64,
                                      "Timeout": 1_000_000_000u64}]}],
            "Tasks": [{"Name": "httpd", "Driver": "raw_exec",
                       "Config": {"command": "/bin/sh", "args": ["-c", script]},
                       "Resources": {"CPU": 10, "MemoryMB": 16}}]
        }]
    }})
}

/// Allocation ids that are meant to run.
fn live_allocs(agent: &Agent) -> BTreeSet<String> {
    agent
        .get("/v1/job/bench/allocations")
        .ok()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter(|a| a["DesiredStatus"] == "run" && a["ClientStatus"] != "failed")
        .filter_map(|a| a["ID"].as_str().map(str::to_string))
        .collect()
}

fn parent(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 2..]
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn started_at(agent: &Agent, alloc: &str) -> Option<i64> {
    let a = agent.get(&format!("/v1/allocation/{alloc}")).ok()?;
    a["TaskStates"]["httpd"]["Events"]
        .as_array()?
        .iter()
        .find(|e| e["Type"] == "Started")
        .and_then(|e| e["Time"].as_i64())
}

fn port_of(agent: &Agent, alloc: &str) -> Option<i64> {
    agent
        .service_instances("bench")
        .iter()
        .find(|r| r["AllocID"] == alloc)
        .and_then(|r| r["Port"].as_i64())
}

/// Waits until the rendered config no longer routes to `port` and nginx was reloaded after
/// `since`; returns when the reload finished (unix nanos).
fn unrouted_at(agent: &Agent, nginx: &Nginx, port: i64, since: i64) -> Result<i64> {
    wait_for("nginx to stop routing to it", SETTLE, || {
        let conf = std::fs::read_to_string(nginx.services_conf()).ok()?;
        if conf.contains(&format!(":{port} ")) {
            return None;
        }
        let t = agent.get("/v1/agent/templates").ok()?[0]["LastCommand"]["Time"].as_i64()?;
        (t > since).then_some(t)
    })
}

fn latency(rounds: usize) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let nginx = Nginx::start(&dir.path().join("nginx"))?;
    let listen = format!("127.0.0.1:{}", free_port());
    let agent = agent_with_renderer(dir.path(), &nginx, &listen)?;
    let marker = format!("{}", 9_300_000 + std::process::id());
    let url = format!("http://{listen}/bench/");
    let (mut starts, mut stops, mut kills) = (Vec::new(), Vec::new(), Vec::new());
    let mut count = 1;
    run_job(&agent, &httpd_job(count, &marker))?;
    wait_for("the first copy", SETTLE, || {
        (agent.service_instances("bench").len() == 1).then_some(())
    })?;
    for round in 0..rounds {
        // Start: scale up by one and time until nginx answers from the new copy.
        let before = live_allocs(&agent);
        count += 1;
        run_job(&agent, &httpd_job(count, &marker))?;
        let new = wait_for("the new allocation", SETTLE, || {
            live_allocs(&agent).difference(&before).next().cloned()
        })?;
        // A tight loop, not wait_for: its growing pauses would be counted as latency.
        let deadline = Instant::now() + SETTLE;
        let served = loop {
            if let Ok((200, body)) = nginx::get(&url) {
                if body.contains(&new) {
                    break unix_nanos();
                }
            }
            ensure!(
                Instant::now() < deadline,
                "nginx never served {new}: {}\n{:#?}\n{}",
                agent.get(&format!("/v1/allocation/{new}"))?["TaskStates"],
                agent.service_instances("bench"),
                std::fs::read_to_string(nginx.services_conf())?
            );
            std::thread::sleep(Duration::from_millis(1));
        };
        let started = wait_for("the start event", SETTLE, || started_at(&agent, &new))?;
        starts.push(Duration::from_nanos((served - started).max(0) as u64));
        if std::env::var("BENCH_BREAKDOWN").is_ok() {
            let passing = agent
                .service_instances("bench")
                .iter()
                .find(|r| r["AllocID"] == new.as_str())
                .and_then(|r| r["Checks"][0]["Timestamp"].as_i64())
                .unwrap_or(0);
            let t = agent.get("/v1/agent/templates")?;
            let change = t[0]["LastChange"].as_i64().unwrap_or(0);
            let reload = t[0]["LastCommand"]["Time"].as_i64().unwrap_or(0);
            let ms = |a: i64| (a - started) as f64 / 1e6;
            eprintln!(
                "passing +{:.0} ms, rendered +{:.0} ms, reloaded +{:.0} ms, served +{:.0} ms",
                ms(passing),
                ms(change),
                ms(reload),
                ms(served)
            );
        }

        // Stop: an operator stops a copy.
        let victim = new.clone();
        let port = wait_for("its port", SETTLE, || port_of(&agent, &victim))?;
        let t0 = unix_nanos();
        let (status, body) = request(
            "POST",
            &format!("{}/v1/allocation/{victim}/stop", agent.address()),
            None,
        )?;
        ensure!(status == 200, "alloc stop: {body}");
        let t1 = unrouted_at(&agent, &nginx, port, t0)?;
        stops.push(Duration::from_nanos((t1 - t0).max(0) as u64));
        // The stop places a replacement: let it settle into nginx before the next kill.
        wait_for("the replacement in nginx", SETTLE, || {
            let conf = std::fs::read_to_string(nginx.services_conf()).ok()?;
            (conf.matches("    server ").count() == count).then_some(())
        })?;

        // Kill: a copy's process dies: its services go at once (the task restarts 3 s later).
        let victim = live_allocs(&agent)
            .into_iter()
            .next()
            .ok_or_else(|| anyhow!("no copy"))?;
        let port = wait_for("its port", SETTLE, || port_of(&agent, &victim))?;
        // httpd forks per connection: the task is the one whose parent is no httpd of the port.
        let httpds = processes_with(&format!("-p 127.0.0.1:{port} "));
        let pid = httpds
            .iter()
            .copied()
            .find(|p| parent(*p).is_some_and(|pp| !httpds.contains(&pp)))
            .ok_or_else(|| anyhow!("no httpd on port {port}"))?;
        let t0 = unix_nanos();
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        if std::env::var("BENCH_BREAKDOWN").is_ok() {
            let deadline = Instant::now() + SETTLE;
            while port_of(&agent, &victim).is_some() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            eprintln!(
                "kill: deregistered +{:.0} ms",
                (unix_nanos() - t0) as f64 / 1e6
            );
        }
        let t1 = unrouted_at(&agent, &nginx, port, t0)?;
        kills.push(Duration::from_nanos((t1 - t0).max(0) as u64));
        wait_for("the killed copy back after its restart", SETTLE, || {
            let conf = std::fs::read_to_string(nginx.services_conf()).ok()?;
            (conf.matches("    server ").count() == count
                && agent.service_instances("bench").len() == count)
                .then_some(())
        })?;
        eprintln!("round {}/{rounds}", round + 1);
    }
    report("task started -> nginx serves it", starts);
    report("alloc stop -> nginx stops routing", stops);
    report("process killed -> nginx stops", kills);
    kill_processes_with(&marker);
    Ok(())
}

// ---- checks --------------------------------------------------------------------------------

/// Answers "200 OK" to every request, one thread per connection; with `keep_alive` it serves
/// further requests on the same connection, as most application servers do, else it closes each
/// connection after one answer, as busybox httpd does. Returns the port.
fn ok_server(keep_alive: bool) -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    let port = l.local_addr()?.port();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut s = s;
                let mut buf = [0u8; 4096];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 {
                        return;
                    }
                    let reply: &[u8] = if keep_alive {
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
                    } else {
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                    };
                    if s.write_all(reply).is_err() || !keep_alive {
                        return;
                    }
                }
            });
        }
    });
    Ok(port)
}

fn sleepers(allocs: usize, checks_per_alloc: usize, kind: &str, port: u16, marker: &str) -> Value {
    let checks: Vec<Value> = (0..checks_per_alloc)
        .map(|i| {
            json!({"Name": format!("c{i}"), "Type": kind, "Path": "/", "PortLabel": port.to_string(),
                   "Interval": 1_000_000_000u64, "Timeout": 1_000_000_000u64})
        })
        .collect();
    json!({"Job": {
        "ID": "checks", "Name": "checks", "Type": "service", "Datacenters": ["dc1"],
        "TaskGroups": [{
            "Name": "g", "Count": allocs,
            "Services": [{"Name": "checked", "Checks": checks}],
            "Tasks": [{"Name": "t", "Driver": "raw_exec",
                       "Config": {"command": "/bin/sleep", "args": [marker]},
                       "Resources": {"CPU": 10, "MemoryMB": 16}}]
        }]
    }})
}

fn checks(secs: u64, mode: &str) -> Result<()> {
    let (kind, keep_alive) = match mode {
        "http" => ("http", true),
        "http-close" => ("http", false),
        "tcp" => ("tcp", false),
        other => bail!("unknown check kind {other:?}: http, http-close or tcp"),
    };
    let port = ok_server(keep_alive)?;
    let marker = format!("{}", 9_400_000 + std::process::id());
    let measure = |with_checks: usize| -> Result<f64> {
        let dir = tempfile::tempdir()?;
        let agent = Agent::dev(dir.path())?;
        let pid = agent.pid().ok_or_else(|| anyhow!("no agent pid"))?;
        run_job(&agent, &sleepers(10, with_checks, kind, port, &marker))?;
        wait_for("10 registrations", SETTLE, || {
            let r = agent.service_instances("checked");
            (r.len() == 10 && (with_checks == 0 || r.iter().all(|r| r["CheckStatus"] == "passing")))
                .then_some(())
        })?;
        std::thread::sleep(Duration::from_secs(3));
        let (own, _) = cpu_share(pid, secs)?;
        kill_processes_with(&format!("sleep {marker}"));
        Ok(own)
    };
    let base = measure(0)?;
    let with = measure(100)?;
    println!(
        "1,000 {mode} checks at 1 s: agent CPU {:.1}% of a core (without checks {:.1}%, so the checks cost {:.1}%), over {secs} s",
        with * 100.0,
        base * 100.0,
        (with - base) * 100.0
    );
    Ok(())
}

// ---- renderer ------------------------------------------------------------------------------

/// 10 groups of 3 allocations, each group registering 100 service names: 1,000 services of 3
/// instances.
fn many_services(marker: &str) -> Value {
    let groups: Vec<Value> = (0..10)
        .map(|g| {
            let services: Vec<Value> = (0..100)
                .map(|s| json!({"Name": format!("svc-{g}-{s}"), "PortLabel": "p"}))
                .collect();
            json!({
                "Name": format!("g{g}"), "Count": 3,
                "Networks": [{"DynamicPorts": [{"Label": "p"}]}],
                "Services": services,
                "Tasks": [{"Name": "t", "Driver": "raw_exec",
                           "Config": {"command": "/bin/sleep", "args": [marker]},
                           "Resources": {"CPU": 10, "MemoryMB": 16}}]
            })
        })
        .collect();
    json!({"Job": {"ID": "many", "Name": "many", "Type": "service", "Datacenters": ["dc1"],
                   "TaskGroups": groups}})
}

fn renderer(secs: u64) -> Result<()> {
    let marker = format!("{}", 9_500_000 + std::process::id());
    let measure = |render: bool| -> Result<(f64, f64, u64)> {
        let dir = tempfile::tempdir()?;
        let nginx = Nginx::start(&dir.path().join("nginx"))?;
        let listen = format!("127.0.0.1:{}", free_port());
        let agent = if render {
            agent_with_renderer(dir.path(), &nginx, &listen)?
        } else {
            Agent::dev(dir.path())?
        };
        let pid = agent.pid().ok_or_else(|| anyhow!("no agent pid"))?;
        run_job(&agent, &many_services(&marker))?;
        let count = || -> usize {
            agent
                .get("/v1/services")
                .ok()
                .and_then(|v| v[0]["Services"].as_array().map(Vec::len))
                .unwrap_or(0)
        };
        wait_for("1,000 services", SETTLE, || (count() == 1000).then_some(()))?;
        wait_for("3,000 instances", SETTLE, || {
            (0..10)
                .all(|g| agent.service_instances(&format!("svc-{g}-99")).len() == 3)
                .then_some(())
        })?;
        let all: Vec<(String, String)> = (0..10)
            .flat_map(|g| (0..100).map(move |s| format!("svc-{g}-{s}")))
            .flat_map(|name| {
                agent
                    .service_instances(&name)
                    .iter()
                    .filter_map(|r| r["ID"].as_str().map(|id| (name.clone(), id.to_string())))
                    .collect::<Vec<_>>()
            })
            .collect();
        ensure!(all.len() == 3000, "{} instances", all.len());
        std::thread::sleep(Duration::from_secs(3));
        let renders0 = agent.get("/v1/agent/templates")?[0]["Renders"]
            .as_u64()
            .unwrap_or(0);
        // 10 changes a second: delete one registration every 100 ms, from another thread.
        let addr = agent.address();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let changer = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut next = Instant::now();
                for (name, id) in all {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                    let _ = request("DELETE", &format!("{addr}/v1/service/{name}/{id}"), None);
                    next += Duration::from_millis(100);
                    std::thread::sleep(next.saturating_duration_since(Instant::now()));
                }
            })
        };
        let (own, children) = cpu_share(pid, secs)?;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = changer.join();
        let renders = agent.get("/v1/agent/templates")?[0]["Renders"]
            .as_u64()
            .unwrap_or(0)
            - renders0;
        kill_processes_with(&format!("sleep {marker}"));
        drop(nginx);
        Ok((own, children, renders))
    };
    let (base, _, _) = measure(false)?;
    let (with, children, renders) = measure(true)?;
    println!(
        "1,000 services x 3, 10 changes/s, over {secs} s: agent CPU {:.1}% with the renderer, {:.1}% without (renderer {:.1}%), {renders} renders; nginx -t and reload as its children {:.1}%",
        with * 100.0,
        base * 100.0,
        (with - base) * 100.0,
        children * 100.0
    );
    Ok(())
}

fn main() -> Result<()> {
    nginx::nginx_bin()?;
    let args: Vec<String> = std::env::args().collect();
    let n = |i: usize, d: u64| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    match args.get(1).map(String::as_str) {
        Some("latency") => latency(n(2, 30) as usize),
        Some("checks") => checks(n(2, 30), args.get(3).map_or("http", String::as_str)),
        Some("renderer") => renderer(n(2, 30)),
        _ => bail!("usage: bench_services latency [rounds] | checks [seconds] [http|http-close|tcp] | renderer [seconds]"),
    }
    .context("bench_services")
}
