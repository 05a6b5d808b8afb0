//! Memory under churn, for BENCHMARKS.md: one dev agent (server + client) runs a stream of
//! short batch jobs, each a new job id (count 3, raw_exec `/bin/true`), for the given minutes.
//! Garbage collection runs with thresholds of 5 minutes (`job_gc_threshold`,
//! `eval_gc_threshold`, `batch_eval_gc_threshold`; collected every minute), so that within an
//! hour the state reaches the steady size it would reach over days with the default hours. Every
//! minute it prints the agent's RSS and the state's job, allocation and evaluation counts.
//!
//! Run: `cargo build --release --bins && ./target/release/bench_churn [minutes] [jobs_per_minute]`

use anyhow::{ensure, Context, Result};
use e2e::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const CONFIG: &str = r#"
server {
  job_gc_interval         = "1m"
  job_gc_threshold        = "5m"
  eval_gc_threshold       = "5m"
  batch_eval_gc_threshold = "5m"
}
client {
  gc_interval = "1m"
}
"#;

fn gauge(metrics: &Value, name: &str) -> u64 {
    metrics["Gauges"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|g| g["Name"] == name)
        .and_then(|g| g["Value"].as_f64())
        .map_or(0, |v| v as u64)
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let minutes: u64 = args
        .next()
        .map_or(Ok(60), |s| s.parse())
        .context("minutes")?;
    let per_minute: u64 = args
        .next()
        .map_or(Ok(30), |s| s.parse())
        .context("jobs per minute")?;
    ensure!(per_minute > 0, "jobs per minute must be at least 1");
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("churn.hcl");
    std::fs::write(&config, CONFIG)?;
    let agent = Agent::dev_with(dir.path(), &["--config", &config.display().to_string()])?;
    let pid = agent.pid().context("agent pid")?;
    let base = agent.address();
    println!("| minute | RSS (MiB) | jobs | allocations | evaluations | jobs submitted |");
    println!("|---|---|---|---|---|---|");
    let start = Instant::now();
    let gap = Duration::from_secs(60) / u32::try_from(per_minute).unwrap_or(1);
    let mut submitted = 0u64;
    let mut next_report = 0u64;
    while start.elapsed() < Duration::from_secs(60 * minutes) {
        let minute = start.elapsed().as_secs() / 60;
        if minute >= next_report {
            let metrics = get_json(&base, "/v1/metrics")?;
            let rss = rss_kib(pid).unwrap_or(0) as f64 / 1024.0;
            println!(
                "| {minute} | {rss:.1} | {} | {} | {} | {submitted} |",
                gauge(&metrics, "nomad.state.jobs"),
                gauge(&metrics, "nomad.state.allocations"),
                gauge(&metrics, "nomad.state.evals"),
            );
            next_report = minute + 1;
        }
        let id = format!("churn-{submitted:06}");
        let job = json!({"Job": {
            "ID": id, "Name": id, "Type": "batch", "Datacenters": ["dc1"],
            "TaskGroups": [{"Name": "g", "Count": 3, "Tasks": [{
                "Name": "t", "Driver": "raw_exec", "Config": {"command": "/bin/true"},
                "Resources": {"CPU": 20, "MemoryMB": 16}}]}]}});
        let (status, body) = request("POST", &format!("{base}/v1/jobs"), Some(&job.to_string()))?;
        ensure!(status == 200, "POST {id}: {status} {body}");
        submitted += 1;
        std::thread::sleep(gap);
    }
    let rss = rss_kib(pid).unwrap_or(0) as f64 / 1024.0;
    println!("end: RSS {rss:.1} MiB after {submitted} jobs");
    Ok(())
}
