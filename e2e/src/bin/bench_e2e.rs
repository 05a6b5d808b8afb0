//! End-to-end figures for BENCHMARKS.md, on the real binaries:
//! - time from `nomadctl job run` to the allocation running (one raw_exec task), on a dev agent;
//! - the dev agent's resident memory when idle, fresh and after those runs.
//!
//! Run: `cargo build --release --bins && ./target/release/bench_e2e [runs]`

use anyhow::{Context, Result};
use e2e::*;
use std::time::{Duration, Instant};

fn idle_rss(agent: &Agent) -> Option<u64> {
    // Let start-up work settle (first registrations, allocator arenas) before reading.
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut last = rss_kib(agent.pid()?)?;
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        last = rss_kib(agent.pid()?)?;
    }
    Some(last)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() -> Result<()> {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let dir = tempfile::tempdir()?;
    let agent = Agent::dev(dir.path()).context("starting the dev agent")?;
    let fresh = idle_rss(&agent).unwrap_or(0);

    let marker = format!("{}", 9_000_000 + std::process::id());
    let mut times = Vec::with_capacity(runs);
    for i in 0..runs {
        let file = dir.path().join(format!("bench{i}.nomad.hcl"));
        std::fs::write(
            &file,
            format!(
                r#"job "bench{i}" {{
  group "g" {{
    task "t" {{
      driver = "raw_exec"
      config {{
        command = "/bin/sleep"
        args    = ["{marker}"]
      }}
      resources {{
        cpu    = 10
        memory = 16
      }}
    }}
  }}
}}
"#
            ),
        )?;
        let start = Instant::now();
        let out = agent.ctl(&["job", "run", file.to_str().unwrap_or_default()]);
        let took = start.elapsed();
        anyhow::ensure!(out.status.success(), "job run failed: {}", stderr(&out));
        times.push(took);
    }
    let after = idle_rss(&agent).unwrap_or(0);
    for i in 0..runs {
        let _ = agent.ctl(&["job", "stop", "-detach", &format!("bench{i}")]);
    }
    let _ = wait_for("bench tasks to stop", Duration::from_secs(30), || {
        processes_with(&format!("sleep {marker}"))
            .is_empty()
            .then_some(())
    });
    kill_processes_with(&format!("sleep {marker}"));

    times.sort();
    println!(
        "job run -> running, one raw_exec allocation, {runs} runs (includes nomadctl start-up):"
    );
    println!(
        "  min {:?}  p50 {:?}  p90 {:?}  max {:?}",
        times[0],
        percentile(&times, 0.5),
        percentile(&times, 0.9),
        times[times.len() - 1]
    );
    println!(
        "dev agent RSS: idle after start {fresh} KiB, idle with {runs} jobs running {after} KiB"
    );
    Ok(())
}
