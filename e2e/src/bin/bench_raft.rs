//! Raft write figures for BENCHMARKS.md, on three real server processes on loopback with their
//! durable logs:
//! - job registrations per second and POST /v1/jobs latency (p50, p99) with 1 and 32 concurrent
//!   writers at the leader, and 32 writers at a follower (which forwards to the leader); and how
//!   fast the scheduler kept up: registrations per second until the last evaluation was done;
//! - failover: while writes flow, kill -9 the leader and time until a surviving server
//!   acknowledges a write; the killed server is restarted and caught up between rounds.
//!
//! Run: `cargo build --release --bins && ./target/release/bench_raft [--writes N] [--failovers K]`
//! (`--failovers 0 --only-concurrent` runs just the 32-writer loads, for a profiler;
//! `--server-config 'raft_snapshot_interval = "1s"'` adds settings to every server; `--tls` runs
//! the servers with mutual TLS on rpc and HTTPS with client certificates, and the writers over
//! HTTPS).

use anyhow::{anyhow, bail, ensure, Context, Result};
use e2e::cluster::{job_json, Cluster};
use e2e::wait_for;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const ELECTION: Duration = Duration::from_secs(60);
/// Longer than a server's bounded wait for a quorum, so a request always ends in an answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const USAGE: &str =
    "usage: bench_raft [--writes N] [--failovers K] [--only-concurrent] [--server-config HCL] [--tls]";

struct Args {
    /// Registrations per load configuration.
    writes: usize,
    failovers: usize,
    /// Skip the single-writer run: for profiling the concurrent path on its own.
    only_concurrent: bool,
    /// Extra settings for every server's `server { }` block, e.g. `raft_snapshot_interval = "1s"`.
    server_config: String,
    /// Mutual TLS everywhere (the cost of TLS is this run against one without).
    tls: bool,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        writes: 2000,
        failovers: 5,
        only_concurrent: false,
        server_config: String::new(),
        tls: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut number = |name: &str| e2e::flag_number(&mut it, name, USAGE);
        match flag.as_str() {
            "--writes" => {
                args.writes = number("--writes")?;
                ensure!(args.writes > 0, "--writes must be at least 1");
            }
            "--only-concurrent" => args.only_concurrent = true,
            "--tls" => args.tls = true,
            "--server-config" => {
                args.server_config = it
                    .next()
                    .with_context(|| format!("--server-config needs a value\n{USAGE}"))?;
            }
            "--failovers" => args.failovers = number("--failovers")?,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    Ok(args)
}

/// The writers' TLS settings with `--tls` (set once in main).
static WRITER_TLS: std::sync::OnceLock<Option<ureq::tls::TlsConfig>> = std::sync::OnceLock::new();

/// One keep-alive connection pool per writer, so writers do not queue behind each other. The
/// timeouts are per phase, not global: with a global one ureq resolves every request's address
/// on a thread of its own (to bound the lookup), and the load generator spent more CPU on those
/// threads than on sending.
fn http_agent(timeout: Duration) -> ureq::Agent {
    let config = ureq::Agent::config_builder();
    let config = match WRITER_TLS.get().and_then(Option::as_ref) {
        Some(tls) => config.tls_config(tls.clone()),
        None => config,
    };
    config
        .http_status_as_error(false)
        .timeout_connect(Some(timeout))
        .timeout_send_request(Some(timeout))
        .timeout_send_body(Some(timeout))
        .timeout_recv_response(Some(timeout))
        .timeout_recv_body(Some(timeout))
        .build()
        .into()
}

/// POST /v1/jobs of a small service job: Ok(()) on a 2xx, the status and body otherwise.
fn post_job(agent: &ureq::Agent, base: &str, id: &str) -> Result<()> {
    let mut resp = agent
        .post(&format!("{base}/v1/jobs"))
        .header("Content-Type", "application/json")
        .send(job_json(id).as_str())?;
    let status = resp.status().as_u16();
    // Read to the end: only then does the connection go back to the pool for the next request
    // (otherwise every registration would pay for a new TCP connection on both sides).
    let body = resp.body_mut().read_to_string().unwrap_or_default();
    if !(200..300).contains(&status) {
        bail!("POST /v1/jobs {id}: {status} {body}");
    }
    Ok(())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

struct LoadRun {
    target: &'static str,
    writers: usize,
    writes: usize,
    elapsed: Duration,
    /// From the first registration until the leader had scheduled every evaluation.
    scheduled: Duration,
    /// Sorted.
    latencies: Vec<Duration>,
}

/// `total` registrations through server `target`, split over `writers` threads; every one must
/// be acknowledged.
fn write_load(
    cluster: &Cluster,
    target: usize,
    writers: usize,
    total: usize,
    tag: &str,
) -> Result<(Duration, Vec<Duration>)> {
    let base = cluster.address(target);
    let started = Instant::now();
    let per_writer: Vec<Result<Vec<Duration>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..writers)
            .map(|w| {
                let base = &base;
                // The first `total % writers` writers take one more, so exactly `total` go out.
                let count = total / writers + usize::from(w < total % writers);
                s.spawn(move || -> Result<Vec<Duration>> {
                    let agent = http_agent(REQUEST_TIMEOUT);
                    let mut times = Vec::with_capacity(count);
                    for k in 0..count {
                        let t = Instant::now();
                        post_job(&agent, base, &format!("{tag}-{w}-{k}"))?;
                        times.push(t.elapsed());
                    }
                    Ok(times)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().map_err(|_| anyhow!("a writer thread panicked"))?)
            .collect()
    });
    let elapsed = started.elapsed();
    let mut all = Vec::with_capacity(total);
    for times in per_writer {
        all.extend(times?);
    }
    all.sort();
    Ok((elapsed, all))
}

/// Evaluations waiting in the leader's broker or being scheduled, from its metrics.
fn evals_outstanding(cluster: &Cluster, leader: usize) -> Result<u64> {
    let metrics = cluster.http(leader, "GET", "/v1/metrics", None)?.json()?;
    let gauges = metrics["Gauges"]
        .as_array()
        .context("metrics without Gauges")?;
    let mut outstanding = 0.0;
    for g in gauges {
        let name = g["Name"].as_str().unwrap_or_default();
        if name.ends_with("broker.total_ready") || name.ends_with("broker.total_unacked") {
            outstanding += g["Value"].as_f64().unwrap_or_default();
        }
    }
    Ok(outstanding as u64)
}

/// Kills the leader while a writer keeps it busy and returns the time from the kill to the
/// first write a surviving server acknowledges; then restarts the killed server and waits until
/// it holds everything written.
fn failover_round(cluster: &mut Cluster, round: usize) -> Result<Duration> {
    let leader = cluster.wait_leader(ELECTION)?;
    let leader_addr = cluster.address(leader);
    let survivors: Vec<String> = cluster
        .live()
        .into_iter()
        .filter(|&i| i != leader)
        .map(|i| cluster.address(i))
        .collect();
    ensure!(!survivors.is_empty(), "no server besides the leader");
    let (stop_flow, flowed) = (&AtomicBool::new(false), &AtomicUsize::new(0));
    let acknowledged = &AtomicBool::new(false);
    let gap: &Mutex<Option<Duration>> = &Mutex::new(None);

    std::thread::scope(|s| -> Result<()> {
        let leader_addr = &leader_addr;
        s.spawn(move || {
            // Errors are expected once the leader is dead; this thread only keeps writes flowing.
            let agent = http_agent(Duration::from_secs(2));
            let mut k = 0;
            while !stop_flow.load(Ordering::Relaxed) {
                if post_job(&agent, leader_addr, &format!("flow-{round}-{k}")).is_ok() {
                    flowed.fetch_add(1, Ordering::Relaxed);
                } else {
                    // Refused connections come back at once: do not spin on the cores the
                    // election needs.
                    std::thread::sleep(Duration::from_millis(5));
                }
                k += 1;
            }
        });
        let flowing = wait_for("writes to flow", Duration::from_secs(30), || {
            (flowed.load(Ordering::Relaxed) >= 20).then_some(())
        });
        if let Err(e) = flowing {
            stop_flow.store(true, Ordering::Relaxed);
            return Err(e);
        }

        cluster.kill(leader);
        let killed_at = Instant::now();
        // Both survivors are tried at once: whichever acknowledges first ends the round.
        for (n, base) in survivors.iter().enumerate() {
            s.spawn(move || {
                let agent = http_agent(REQUEST_TIMEOUT);
                let mut k = 0;
                while !acknowledged.load(Ordering::Relaxed) && killed_at.elapsed() < ELECTION {
                    if post_job(&agent, base, &format!("probe-{round}-{n}-{k}")).is_ok() {
                        let took = killed_at.elapsed();
                        if let Ok(mut g) = gap.lock() {
                            g.get_or_insert(took);
                        }
                        acknowledged.store(true, Ordering::Relaxed);
                    } else {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    k += 1;
                }
                stop_flow.store(true, Ordering::Relaxed);
            });
        }
        Ok(())
    })?;
    let gap = gap
        .lock()
        .map_err(|_| anyhow!("a probe thread panicked"))?
        .with_context(|| {
            format!(
                "no surviving server acknowledged a write within {ELECTION:?}\n{}",
                cluster.report()
            )
        })?;

    cluster.restart(leader)?;
    // The log is ordered: once the restarted server holds this write it holds every earlier one.
    let marker = format!("caught-up-{round}");
    let survivor = cluster.follower_of(leader)?;
    cluster.register_job_until_ok(survivor, &marker, ELECTION)?;
    let path = format!("/v1/job/{marker}?stale=true");
    wait_for("the restarted server to catch up", ELECTION, || {
        let reply = cluster.http(leader, "GET", &path, None).ok()?;
        reply.is_success().then_some(())
    })
    .map_err(|e| anyhow!("{e}\n{}", cluster.report()))?;
    cluster.wait_leader(ELECTION)?;
    Ok(gap)
}

fn main() -> Result<()> {
    let args = parse_args()?;
    let command: Vec<String> = std::env::args().collect();
    // The certificates live as long as the cluster.
    let tls_dir = tempfile::tempdir()?;
    let mut cluster = if args.tls {
        ensure!(
            args.server_config.is_empty(),
            "--tls and --server-config cannot be combined"
        );
        let tls = e2e::tls::TlsFiles::create(tls_dir.path())?;
        let _ = WRITER_TLS.set(Some(tls.cli_tls_config()?));
        Cluster::start_tls(3, tls).context("starting three TLS servers")?
    } else {
        let _ = WRITER_TLS.set(None);
        Cluster::start(3, &args.server_config).context("starting three servers")?
    };
    let leader = cluster.wait_leader(ELECTION)?;
    let follower = cluster.follower_of(leader)?;
    // Warm-up, not measured: first connections, first allocations of the state store.
    write_load(&cluster, leader, 4, 100, "warmup")?;

    let mut runs = Vec::new();
    for (target, index, writers) in [
        ("leader", leader, 1),
        ("leader", leader, 32),
        ("follower (forwarded)", follower, 32),
    ] {
        if args.only_concurrent && writers == 1 {
            continue;
        }
        let tag = format!("w{writers}-{}", target.split(' ').next().unwrap_or(target));
        let started = Instant::now();
        let (elapsed, latencies) = write_load(&cluster, index, writers, args.writes, &tag)
            .with_context(|| format!("{writers} writers at the {target}"))?;
        // Registrations are acknowledged once committed; scheduling follows. A run is over when
        // the scheduler caught up, so the next one does not inherit its backlog.
        wait_for("the scheduler to catch up", ELECTION, || {
            (evals_outstanding(&cluster, leader).ok()? == 0).then_some(())
        })?;
        runs.push(LoadRun {
            target,
            writers,
            writes: args.writes,
            elapsed,
            scheduled: started.elapsed(),
            latencies,
        });
    }

    // CPU time so far, a figure that the machine's noise moves much less than the rates.
    let servers_cpu: Duration = cluster
        .servers
        .iter()
        .filter_map(|s| s.pid())
        .map(process_cpu_time)
        .sum::<Result<Duration>>()?;
    let generator_cpu = self_cpu_time();
    let registrations: usize = 100 + runs.iter().map(|r| r.writes).sum::<usize>();

    let mut gaps = Vec::new();
    for round in 0..args.failovers {
        let gap = failover_round(&mut cluster, round)
            .with_context(|| format!("failover round {}", round + 1))?;
        eprintln!("failover round {}: {}", round + 1, ms(gap));
        gaps.push(gap);
    }

    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "Raft writes: three `nomad-agent` servers on loopback, durable redb log, {cores} cores."
    );
    println!("Command: `{}`\n", command.join(" "));
    println!(
        "| POST /v1/jobs to | Writers | Registrations | Registrations/s | p50 (ms) | p99 (ms) | Scheduled/s |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for r in &runs {
        println!(
            "| {} | {} | {} | {:.0} | {} | {} | {:.0} |",
            r.target,
            r.writers,
            r.writes,
            r.writes as f64 / r.elapsed.as_secs_f64(),
            ms(percentile(&r.latencies, 0.5)),
            ms(percentile(&r.latencies, 0.99)),
            r.writes as f64 / r.scheduled.as_secs_f64(),
        );
    }
    println!();
    println!("| Failover (kill -9 of the leader, writes flowing) | Kill to next acknowledged write (ms) |");
    println!("|---|---:|");
    for (i, g) in gaps.iter().enumerate() {
        println!("| round {} | {} |", i + 1, ms(*g));
    }
    gaps.sort();
    if !gaps.is_empty() {
        println!("| **median** | **{}** |", ms(percentile(&gaps, 0.5)));
    }
    println!();
    println!(
        "CPU time of the three servers from their start to the end of the loads: {:.1} s, \
         {:.0} µs per registration ({registrations} with the warm-up, scheduling included); \
         of the load generator: {:.1} s",
        servers_cpu.as_secs_f64(),
        servers_cpu.as_secs_f64() * 1e6 / registrations as f64,
        generator_cpu.as_secs_f64(),
    );
    Ok(())
}

/// User plus system CPU time of a running process, from /proc/<pid>/stat.
fn process_cpu_time(pid: u32) -> Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // The command name may hold spaces; the fields after it do not. utime and stime are the
    // 14th and 15th fields, the 12th and 13th after the name.
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("no command name in /proc/<pid>/stat")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| -> Result<u64> {
        let f = fields.get(i).context("short /proc/<pid>/stat")?;
        Ok(f.parse()?)
    };
    // SAFETY: sysconf only reads its argument.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Ok(Duration::from_secs_f64(
        (ticks(11)? + ticks(12)?) as f64 / per_second,
    ))
}

/// User plus system CPU time of this process.
fn self_cpu_time() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes one rusage into the buffer we own.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    if rc != 0 {
        return Duration::ZERO;
    }
    // SAFETY: getrusage succeeded, so the struct is initialised.
    let usage = unsafe { usage.assume_init() };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}
