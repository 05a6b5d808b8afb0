//! A C1M-style run for BENCHMARKS.md: three real server processes on loopback (raft with
//! durable redb logs), N SIMULATED client nodes in this process (`e2e::sim`: real registration,
//! heartbeats and allocation watches over the rpc port; nothing is started, each allocation is
//! reported running), and jobs totalling M allocations submitted by parallel writers.
//!
//! It reports the time until every allocation is placed and until every one is reported
//! running, placements/s, each server's peak RSS and CPU time, the raft snapshots' sizes, the
//! p99 of heartbeat round trips, whether any node was marked down, how long a follower killed
//! mid-run took to catch up (and whether by snapshot), and the latency of `/v1/allocations`
//! whole and paged (`per_page`, `next_token`).
//!
//! The follower killed when half is placed (`--kill-at`) comes back once the leader's log is
//! compacted past it, or, with the default settings (where the leader rarely compacts during a
//! run), once everything runs. `--snapshot-threshold` makes the servers compact during the run,
//! and the follower then always waits for the compaction: it can only catch up by snapshot.
//!
//! Run: `cargo build --release --bins && ./target/release/bench_c1m [--nodes N] [--allocs M]
//! [--jobs J] [--writers W] [--no-restart] [--kill-at PERCENT] [--full-list]
//! [--snapshot-threshold ENTRIES]`

use anyhow::{bail, ensure, Context, Result};
use e2e::cluster::{Cluster, Reply};
use e2e::sim::{FleetConfig, SimulatedFleet};
use e2e::wait_for;
use serde_json::json;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The agent's allocator: the simulated fleet's decoding and bookkeeping take a good share of
/// the two cores the servers also need, and glibc's malloc made that share larger.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const USAGE: &str = "usage: bench_c1m [--nodes N] [--allocs M] [--jobs J] [--writers W] \
                     [--no-restart] [--kill-at PERCENT] [--full-list] [--keep-logs DIR] \
                     [--snapshot-threshold ENTRIES]";
const ELECTION: Duration = Duration::from_secs(60);
/// How long placement and reporting may take before the run is called failed.
const RUN_LIMIT: Duration = Duration::from_secs(1800);

struct Args {
    nodes: usize,
    allocs: usize,
    jobs: usize,
    writers: usize,
    restart_follower: bool,
    /// The share of the allocations placed (in percent) when the follower is killed.
    kill_at: usize,
    full_list: bool,
    /// Copy each server's log here at the end.
    keep_logs: Option<std::path::PathBuf>,
    /// The servers' `raft_snapshot_threshold`, checked every 5 s with as many entries kept as
    /// trailing logs (enough for a follower installing a snapshot to go on from the log after
    /// it), so that a run compacts its log while placing (None: the defaults, which check
    /// every 120 s).
    snapshot_threshold: Option<usize>,
}

/// When the slow heartbeats were sent, by second of the run (submission starts the run), with
/// the slowest of each second: lined up with the kill, the restart and the servers' logs.
fn print_slow_heartbeats(fleet: &SimulatedFleet, t0: Instant) {
    let slow = std::mem::take(
        &mut *fleet
            .stats
            .slow_heartbeats
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    let mut by_second: std::collections::BTreeMap<Option<u64>, (usize, Duration)> =
        Default::default();
    for (sent, took) in slow {
        // Heartbeats sent while the fleet registered, before the run, go in one bucket.
        let second = sent.checked_duration_since(t0).map(|d| d.as_secs());
        let e = by_second.entry(second).or_default();
        e.0 += 1;
        e.1 = e.1.max(took);
    }
    let line: Vec<String> = by_second
        .iter()
        .map(|(second, (n, max))| {
            let at = second.map_or("before".to_string(), |s| format!("{s} s"));
            format!("{at}: {n} (max {:.0} ms)", max.as_secs_f64() * 1000.0)
        })
        .collect();
    println!(
        "answered heartbeats slower than {} ms, by second sent: {}",
        e2e::sim::SLOW_HEARTBEAT.as_millis(),
        if line.is_empty() {
            "none".to_string()
        } else {
            line.join(", ")
        }
    );
}

fn parse_args() -> Result<Args> {
    let mut a = Args {
        nodes: 5_000,
        allocs: 1_000_000,
        jobs: 0,
        writers: 8,
        restart_follower: true,
        kill_at: 50,
        full_list: false,
        keep_logs: None,
        snapshot_threshold: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut number = |name: &str| -> Result<usize> {
            let n = e2e::flag_number(&mut it, name, USAGE)?;
            ensure!(n > 0, "{name} must be at least 1");
            Ok(n)
        };
        match flag.as_str() {
            "--nodes" => a.nodes = number("--nodes")?,
            "--allocs" => a.allocs = number("--allocs")?,
            "--jobs" => a.jobs = number("--jobs")?,
            "--writers" => a.writers = number("--writers")?,
            "--no-restart" => a.restart_follower = false,
            "--kill-at" => a.kill_at = number("--kill-at")?,
            "--snapshot-threshold" => a.snapshot_threshold = Some(number("--snapshot-threshold")?),
            "--full-list" => a.full_list = true,
            "--keep-logs" => {
                let dir = it
                    .next()
                    .with_context(|| format!("--keep-logs needs a dir\n{USAGE}"))?;
                a.keep_logs = Some(dir.into());
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    ensure!(a.kill_at < 100, "--kill-at is a percentage below 100");
    if a.jobs == 0 {
        // 10,000 allocations per job, as C1M's jobs were large.
        a.jobs = a.allocs.div_ceil(10_000);
    }
    ensure!(
        a.allocs.is_multiple_of(a.jobs),
        "--allocs must be a multiple of --jobs"
    );
    Ok(a)
}

/// Thousands of rpc connections and HTTP polls: more descriptors than the default 1,024.
fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

fn job_body(id: &str, count: usize) -> String {
    json!({"Job": {
        "ID": id, "Name": id, "Type": "service", "Datacenters": ["dc1"],
        "Meta": {"bench": "c1m"},
        "TaskGroups": [{"Name": "g", "Count": count, "Tasks": [{
            "Name": "t", "Driver": "raw_exec",
            "Config": {"command": "/bin/true"},
            "Resources": {"CPU": 10, "MemoryMB": 10}}]}]}})
    .to_string()
}

fn get(c: &Cluster, i: usize, path: &str) -> Result<Reply> {
    let r = c.http(i, "GET", path, None)?;
    ensure!(r.is_success(), "GET {path}: {} {}", r.status, r.body);
    Ok(r)
}

/// (placed, running, lost) summed over the jobs' summaries.
fn counts(c: &Cluster, i: usize) -> Result<(u64, u64, u64)> {
    let jobs = get(c, i, "/v1/jobs?stale")?.json()?;
    let (mut placed, mut running, mut lost) = (0, 0, 0);
    for j in jobs.as_array().into_iter().flatten() {
        for g in j["JobSummary"]["Summary"]
            .as_object()
            .into_iter()
            .flat_map(|m| m.values())
        {
            let n = |k: &str| g[k].as_u64().unwrap_or(0);
            placed += n("Starting") + n("Running");
            running += n("Running");
            lost += n("Lost");
        }
    }
    Ok((placed, running, lost))
}

/// The raft index a server has applied (`stats.raft.applied_index` of `/v1/agent/self`).
fn applied_index(c: &Cluster, i: usize) -> Option<u64> {
    let v = c.http(i, "GET", "/v1/agent/self", None).ok()?.json().ok()?;
    v["stats"]["raft"]["applied_index"].as_str()?.parse().ok()
}

/// (peak RSS in MiB, CPU seconds) of a live process.
fn peak_and_cpu(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let hwm_kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command's closing parenthesis; utime and stime are the 12th and 13th.
    let ticks: f64 = stat
        .rsplit_once(')')
        .map(|(_, rest)| {
            rest.split_whitespace()
                .skip(11)
                .take(2)
                .filter_map(|t| t.parse::<f64>().ok())
                .sum()
        })
        .unwrap_or(0.0);
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    (hwm_kib / 1024.0, ticks / hz)
}

/// Sizes in MiB of the raft snapshot files under a server's data dir (the newest snapshot; the
/// agent also logs each snapshot's size as it builds it).
fn snapshot_sizes(dir: &Path) -> Vec<f64> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n == "snapshot.bin") {
                let len = e.metadata().map(|m| m.len()).unwrap_or(0);
                out.push(len as f64 / (1024.0 * 1024.0));
            }
        }
    }
    out
}

fn submit(c: &Cluster, leader: usize, args: &Args) -> Result<()> {
    let per_job = args.allocs / args.jobs;
    let next = AtomicUsize::new(0);
    let base = c.address(leader);
    std::thread::scope(|s| -> Result<()> {
        let writers: Vec<_> = (0..args.writers)
            .map(|_| {
                s.spawn(|| -> Result<()> {
                    loop {
                        let j = next.fetch_add(1, Ordering::Relaxed);
                        if j >= args.jobs {
                            return Ok(());
                        }
                        let id = format!("c1m-{j:05}");
                        let (status, body) = e2e::request(
                            "POST",
                            &format!("{base}/v1/jobs"),
                            Some(&job_body(&id, per_job)),
                        )?;
                        ensure!((200..300).contains(&status), "POST {id}: {status} {body}");
                    }
                })
            })
            .collect();
        for w in writers {
            w.join()
                .map_err(|_| anyhow::anyhow!("a writer panicked"))??;
        }
        Ok(())
    })
}

/// Latency of `/v1/allocations`: the first page, ten pages followed by `next_token`, and with
/// `full`, the whole list.
fn list_latency(c: &Cluster, leader: usize, full: bool) -> Result<()> {
    let t = Instant::now();
    let first = get(c, leader, "/v1/allocations?per_page=1000")?;
    let first_ms = t.elapsed().as_secs_f64() * 1000.0;
    let mut token = first.header("x-nomad-nexttoken").map(str::to_string);
    let n: usize = first.json()?.as_array().map_or(0, Vec::len);
    let t = Instant::now();
    let mut pages = 0;
    while let Some(tok) = token.take().filter(|_| pages < 10) {
        let r = get(
            c,
            leader,
            &format!("/v1/allocations?per_page=1000&next_token={tok}"),
        )?;
        token = r.header("x-nomad-nexttoken").map(str::to_string);
        pages += 1;
    }
    let per_page = t.elapsed().as_secs_f64() * 1000.0 / f64::from(pages.max(1));
    println!(
        "/v1/allocations?per_page=1000: first page {first_ms:.1} ms ({n} stubs), \
         next pages {per_page:.1} ms each ({pages} followed)"
    );
    if full {
        let t = Instant::now();
        let r = get(c, leader, "/v1/allocations")?;
        println!(
            "/v1/allocations whole: {:.2} s, {:.1} MiB",
            t.elapsed().as_secs_f64(),
            r.body.len() as f64 / (1024.0 * 1024.0)
        );
    }
    Ok(())
}

fn main() -> Result<()> {
    let args = parse_args()?;
    raise_fd_limit();
    println!(
        "bench_c1m: 3 servers, {} simulated client nodes, {} jobs x {} = {} allocations, {} writers",
        args.nodes,
        args.jobs,
        args.allocs / args.jobs,
        args.allocs,
        args.writers
    );
    let server_config = args
        .snapshot_threshold
        .map(|n| {
            format!(
                "raft_snapshot_threshold = {n}\nraft_trailing_logs = {n}\n\
                 raft_snapshot_interval = \"5s\""
            )
        })
        .unwrap_or_default();
    let mut c = Cluster::start(3, &server_config)?;
    let leader = c.wait_leader(ELECTION)?;
    let rpc: Vec<String> = (0..3).map(|i| c.rpc_address(i)).collect();
    let cfg = FleetConfig {
        nodes: args.nodes,
        groups: 64.min(args.nodes),
        threads: 1,
        ..FleetConfig::default()
    };
    let t = Instant::now();
    let fleet = SimulatedFleet::start(&rpc, &cfg)?;
    wait_for("every simulated node registered", RUN_LIMIT, || {
        (fleet.registered() == args.nodes).then_some(())
    })?;
    println!(
        "{} nodes registered in {:.1} s",
        args.nodes,
        t.elapsed().as_secs_f64()
    );

    let t0 = Instant::now();
    submit(&c, leader, &args)?;
    let submitted = t0.elapsed();
    println!(
        "{} jobs submitted in {:.1} s",
        args.jobs,
        submitted.as_secs_f64()
    );

    let follower = c.follower_of(leader)?;
    let total = args.allocs as u64;
    let (mut placed_at, mut running_at) = (None, None);
    let mut restart: Option<(Instant, u64)> = None;
    // The follower's applied index when it was killed.
    let mut killed: Option<u64> = None;
    let mut caught_up: Option<Duration> = None;
    let mut last_print = Instant::now();
    while running_at.is_none() || (killed.is_some() && (restart.is_none() || caught_up.is_none())) {
        ensure!(
            t0.elapsed() < RUN_LIMIT,
            "the run took longer than {RUN_LIMIT:?}\n{}",
            c.report()
        );
        let (placed, running, _) = counts(&c, leader).unwrap_or((0, 0, 0));
        let reported = fleet.stats.reported_running.load(Ordering::Relaxed);
        if placed_at.is_none() && placed + running >= total && placed >= total {
            placed_at = Some(t0.elapsed());
        }
        if running_at.is_none() && running >= total {
            running_at = Some(t0.elapsed());
        }
        // A follower dies when half (`--kill-at`) is placed, and comes back once the leader has
        // compacted past it: it can only catch up by snapshot.
        if args.restart_follower && killed.is_none() && placed >= total * args.kill_at as u64 / 100
        {
            killed = Some(applied_index(&c, follower).unwrap_or(0));
            c.kill(follower);
            println!(
                "follower {follower} killed at {:.1} s",
                t0.elapsed().as_secs_f64()
            );
        }
        // With a snapshot threshold given, the run is about catching up by snapshot: the
        // follower waits for the leader's compaction even once everything runs.
        let compacted = killed.is_some_and(|at| c.purged_upto(leader) > at);
        let waited = running_at.is_some() && args.snapshot_threshold.is_none();
        if killed.is_some() && restart.is_none() && (waited || compacted) {
            let target = applied_index(&c, leader).unwrap_or(0);
            c.restart(follower)?;
            restart = Some((Instant::now(), target));
            println!(
                "follower {follower} restarted at {:.1} s",
                t0.elapsed().as_secs_f64()
            );
        }
        if let Some((at, target)) = restart {
            if caught_up.is_none() && applied_index(&c, follower).is_some_and(|i| i >= target) {
                caught_up = Some(at.elapsed());
            }
        }
        if last_print.elapsed() >= Duration::from_secs(2) {
            last_print = Instant::now();
            println!(
                "  {:>5.1} s: placed {placed}, running {running} (fleet reported {reported})",
                t0.elapsed().as_secs_f64()
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let placed_at = placed_at.unwrap_or_default();
    let running_at = running_at.unwrap_or_default();

    let (_, _, lost) = counts(&c, leader)?;
    let nodes = get(&c, leader, "/v1/nodes")?.json()?;
    let down = nodes
        .as_array()
        .into_iter()
        .flatten()
        .filter(|n| n["Status"] != "ready")
        .count();
    let (p50, n_beats) = fleet.stats.heartbeat_quantile(0.5);
    let (p99, _) = fleet.stats.heartbeat_quantile(0.99);
    println!();
    println!(
        "placed: {:.1} s ({:.0} placements/s)",
        placed_at.as_secs_f64(),
        total as f64 / placed_at.as_secs_f64().max(1e-9)
    );
    println!("running: {:.1} s", running_at.as_secs_f64());
    for i in c.live() {
        if let Some(pid) = c.servers[i].pid() {
            let (peak, cpu) = peak_and_cpu(pid);
            let snaps: Vec<String> = snapshot_sizes(&c.data_dir(i))
                .iter()
                .map(|s| format!("{s:.1} MiB"))
                .collect();
            println!(
                "server {i}{}: peak RSS {peak:.0} MiB, CPU {cpu:.1} s, snapshot file {}",
                if i == leader { " (leader)" } else { "" },
                if snaps.is_empty() {
                    "none".into()
                } else {
                    snaps.join(", ")
                }
            );
        }
    }
    println!(
        "heartbeats: {n_beats}, p50 {:.1} ms, p99 {:.1} ms; errors {}, answered unknown-node {}",
        p50.as_secs_f64() * 1000.0,
        p99.as_secs_f64() * 1000.0,
        fleet.stats.heartbeat_errors.load(Ordering::Relaxed),
        fleet.stats.unknown_node.load(Ordering::Relaxed)
    );
    print_slow_heartbeats(&fleet, t0);
    println!("nodes not ready at the end: {down}; allocations lost: {lost}");
    println!(
        "simulated clients: allocation query errors {}, report errors {}",
        fleet.stats.watch_errors.load(Ordering::Relaxed),
        fleet.stats.update_errors.load(Ordering::Relaxed)
    );
    match (restart, caught_up) {
        (Some(_), Some(d)) => println!(
            "follower caught up in {:.1} s after its restart ({})",
            d.as_secs_f64(),
            if c.log(follower)
                .contains("raft: installed snapshot from the leader")
            {
                "by snapshot"
            } else {
                "by log"
            }
        ),
        _ => println!("follower not restarted"),
    }
    list_latency(&c, leader, args.full_list)?;
    drop(fleet);
    if let Some(dir) = &args.keep_logs {
        std::fs::create_dir_all(dir)?;
        for i in 0..c.servers.len() {
            std::fs::write(dir.join(format!("server-{i}.log")), c.log(i))?;
        }
    }
    Ok(())
}
