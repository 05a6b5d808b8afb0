//! Driver figures for BENCHMARKS.md, on a dev agent with the real Docker Engine and JDK:
//! - time from `nomadctl job run` to the allocation reported running, for a docker task (image
//!   present) and a java task (the lab's jar, jobs/artifacts/hello-java.jar);
//! - the agent's resident memory with 50 running containers (no helper process per task).
//!
//! Needs `scripts/build-local-images` (the busybox image).
//! Run: `cargo build --release --bins && ./target/release/bench_drivers [runs]`

use anyhow::{ensure, Context, Result};
use e2e::*;
use std::path::Path;
use std::time::{Duration, Instant};

fn running(agent: &Agent, job: &str) -> usize {
    agent
        .get(&format!("/v1/job/{job}/allocations"))
        .ok()
        .and_then(|v| v.as_array().cloned())
        .map(|a| a.iter().filter(|x| x["ClientStatus"] == "running").count())
        .unwrap_or(0)
}

/// Runs `spec` as job `name` and returns the time until `count` allocations run.
fn time_to_running(
    agent: &Agent,
    dir: &Path,
    name: &str,
    spec: &str,
    count: usize,
) -> Result<Duration> {
    let file = dir.join(format!("{name}.nomad.hcl"));
    std::fs::write(&file, spec)?;
    let start = Instant::now();
    let out = agent.ctl(&["job", "run", "-detach", file.to_str().unwrap_or_default()]);
    ensure!(out.status.success(), "job run {name}: {}", stderr(&out));
    wait_for(&format!("{name} running"), Duration::from_secs(120), || {
        (running(agent, name) >= count).then_some(())
    })?;
    Ok(start.elapsed())
}

/// Stops the job and waits until its containers are gone, so none outlives the bench.
fn stop(agent: &Agent, name: &str) {
    let ids: Vec<String> = agent
        .get(&format!("/v1/job/{name}/allocations"))
        .ok()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|a| a["ID"].as_str().map(str::to_string))
        .collect();
    let _ = agent.ctl(&["job", "stop", name]);
    let left = || {
        ids.iter()
            .filter(|id| {
                std::process::Command::new("docker")
                    .args(["ps", "-aq", "--filter"])
                    .arg(format!("label=com.nomad-rs.alloc_id={id}"))
                    .output()
                    .is_ok_and(|o| !o.stdout.is_empty())
            })
            .count()
    };
    if let Err(e) = wait_for(
        "the job's containers to be removed",
        Duration::from_secs(120),
        || (left() == 0).then_some(()),
    ) {
        eprintln!("warning: {e}");
    }
}

fn docker_job(name: &str, count: usize) -> String {
    format!(
        r#"job "{name}" {{
  group "g" {{
    count = {count}
    task "t" {{
      driver = "docker"
      config {{
        image   = "local/busybox:e2e"
        command = "sleep"
        args    = ["3600"]
      }}
      kill_timeout = "1s"
      resources {{
        cpu    = 10
        memory = 16
      }}
    }}
  }}
}}
"#
    )
}

fn java_job(name: &str, jar: &Path) -> String {
    format!(
        r#"job "{name}" {{
  group "g" {{
    network {{
      port "http" {{}}
    }}
    task "t" {{
      driver = "java"
      config {{
        jar_path = "{}"
      }}
      resources {{
        cpu    = 100
        memory = 128
      }}
    }}
  }}
}}
"#,
        jar.display()
    )
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() -> Result<()> {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let jar_src = Path::new("jobs/artifacts/hello-java.jar");
    ensure!(
        jar_src.exists(),
        "run from the repository root (jobs/artifacts/hello-java.jar is committed)"
    );
    let dir = tempfile::tempdir()?;
    // The java task runs as nobody: its jar must be readable on a traversable path.
    let shared = tempfile::Builder::new()
        .prefix("bench-jar")
        .tempdir_in("/tmp")?;
    std::fs::set_permissions(
        shared.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )?;
    let jar = shared.path().join("hello-java.jar");
    std::fs::copy(jar_src, &jar).context("copying the jar")?;

    let agent = Agent::dev(dir.path()).context("starting the dev agent")?;
    let mut docker = Vec::new();
    let mut java = Vec::new();
    for i in 0..runs {
        let name = format!("docker{i}");
        docker.push(time_to_running(
            &agent,
            dir.path(),
            &name,
            &docker_job(&name, 1),
            1,
        )?);
        stop(&agent, &name);
        let name = format!("java{i}");
        java.push(time_to_running(
            &agent,
            dir.path(),
            &name,
            &java_job(&name, &jar),
            1,
        )?);
        stop(&agent, &name);
    }
    let pid = agent.pid().context("agent pid")?;
    let before = rss_kib(pid).unwrap_or(0);
    let fifty = time_to_running(&agent, dir.path(), "fifty", &docker_job("fifty", 50), 50)?;
    // Let the log copiers and allocator arenas settle before reading.
    std::thread::sleep(Duration::from_secs(3));
    let with50 = rss_kib(pid).unwrap_or(0);
    let threads = std::fs::read_dir(format!("/proc/{pid}/task"))?.count();
    stop(&agent, "fifty");

    println!("job run -> allocation running, dev agent, {runs} runs each (median, then all):");
    println!(
        "  docker (image present): {:?}  {docker:?}",
        median(docker.clone())
    );
    println!(
        "  java (jar on disk):     {:?}  {java:?}",
        median(java.clone())
    );
    println!(
        "50 containers: running after {fifty:?}; agent RSS {before} KiB before, {with50} KiB with 50 running; {threads} threads"
    );
    Ok(())
}
