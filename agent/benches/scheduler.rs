//! Scheduler throughput: 5,000 synthetic nodes, one service job with a group of count 1,000 and a
//! `${attr.kernel.name} = linux` constraint. Prints placements per second and the time of one full
//! evaluation (min / median). Run with `cargo bench -p agent --bench scheduler`.

use agent::scheduler::{schedule, MemState, SchedulerContext};
use api::{Constraint, DriverInfo, Evaluation, Job, Node, Task, TaskGroup};
use std::time::{Duration, Instant};

const NODES: usize = 5_000;
const COUNT: i32 = 1_000;
const RUNS: usize = 30;

fn nodes() -> Vec<Node> {
    (0..NODES)
        .map(|i| {
            let mut n = Node {
                id: format!("{:08x}-0000-4000-8000-{:012x}", i, i),
                name: format!("client-{i}"),
                datacenter: format!("dc{}", i % 4 + 1),
                node_class: if i % 3 == 0 {
                    "large".into()
                } else {
                    String::new()
                },
                status: "ready".into(),
                scheduling_eligibility: "eligible".into(),
                ..Node::default()
            };
            n.node_resources.cpu.cpu_shares = 4_000 + (i as i64 % 4) * 4_000;
            n.node_resources.memory.memory_mb = 8_192 * (1 + i as i64 % 8);
            n.reserved_resources.cpu_shares = 100;
            n.reserved_resources.memory_mb = 256;
            // One node in ten runs another kernel and is filtered by the constraint.
            let kernel = if i % 10 == 7 { "windows" } else { "linux" };
            n.attributes.insert("kernel.name".into(), kernel.into());
            n.attributes.insert("cpu.arch".into(), "amd64".into());
            n.attributes.insert(
                "unique.network.ip-address".into(),
                format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255),
            );
            for d in ["docker", "raw_exec"] {
                let info = DriverInfo {
                    detected: true,
                    healthy: true,
                    ..DriverInfo::default()
                };
                n.drivers.insert(d.into(), info);
            }
            n
        })
        .collect()
}

fn job() -> Job {
    let mut task = Task {
        name: "server".into(),
        driver: "docker".into(),
        ..Task::default()
    };
    task.resources.cpu = 250;
    task.resources.memory_mb = 512;
    let mut j = Job {
        id: "bench".into(),
        datacenters: vec!["dc*".into()],
        constraints: vec![Constraint {
            l_target: "${attr.kernel.name}".into(),
            operand: "=".into(),
            r_target: "linux".into(),
        }],
        task_groups: vec![TaskGroup {
            name: "web".into(),
            count: COUNT,
            tasks: vec![task],
            ..TaskGroup::default()
        }],
        ..Job::default()
    };
    j.canonicalize();
    j
}

fn main() {
    let mut state = MemState::new();
    for n in nodes() {
        state.upsert_node(n);
    }
    let job = job();
    state.upsert_job(job.clone());
    let mut times: Vec<Duration> = Vec::with_capacity(RUNS);
    let mut placed = 0;
    for run in 0..RUNS {
        let eval = Evaluation {
            id: format!("bench-eval-{run}"),
            namespace: job.namespace.clone(),
            priority: job.priority,
            eval_type: job.job_type.clone(),
            job_id: job.id.clone(),
            status: "pending".into(),
            ..Evaluation::default()
        };
        let ctx = SchedulerContext {
            now: 1_700_000_000_000_000_000,
            seed: run as u64,
        };
        let start = Instant::now();
        let out = schedule(&eval, &state, &ctx);
        times.push(start.elapsed());
        placed = out
            .plan
            .node_allocation
            .values()
            .map(Vec::len)
            .sum::<usize>();
        if !out.eval.failed_tg_allocs.is_empty() {
            eprintln!(
                "unexpected placement failures: {:?}",
                out.eval.failed_tg_allocs
            );
            std::process::exit(1);
        }
    }
    times.sort();
    let min = times[0];
    let median = times[times.len() / 2];
    let per_sec = |d: Duration| placed as f64 / d.as_secs_f64();
    println!("scheduler: {NODES} nodes, 1 group x {COUNT} allocations, {RUNS} runs");
    println!(
        "  full eval: min {:.2} ms, median {:.2} ms",
        min.as_secs_f64() * 1e3,
        median.as_secs_f64() * 1e3
    );
    println!(
        "  placements/s: {:.0} (median), {:.0} (best)",
        per_sec(median),
        per_sec(min)
    );
}
