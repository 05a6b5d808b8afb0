//! Scheduler throughput: 5,000 synthetic nodes, one service job with a group of count 1,000 and a
//! `${attr.kernel.name} = linux` constraint. Prints placements per second and the time of one full
//! evaluation (min / median). Then `job plan` as the server answers it (a copy of the state, the
//! job registered in it, the scheduler, annotations and the diff) for that job new, and for a new
//! version of it once its 1,000 allocations run. The evaluation is timed a second time with an
//! affinity and a spread, which score every candidate node. Run with
//! `cargo bench -p agent --bench scheduler`.

use agent::scheduler::{schedule, MemState, SchedulerContext};
use agent::server::plan_dry_run;
use agent::state::{Command, Tables};
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
            n.node_resources.disk.disk_mb = 100_000;
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

const NOW: i64 = 1_700_000_000_000_000_000;

fn eval_for(job: &Job, id: &str) -> Evaluation {
    Evaluation {
        id: id.into(),
        namespace: job.namespace.clone(),
        priority: job.priority,
        eval_type: job.job_type.clone(),
        job_id: job.id.clone(),
        status: "pending".into(),
        ..Evaluation::default()
    }
}

/// Times `RUNS` plans of `job` against `state`: (min, median), and the last response's summary.
fn time_plans(state: &Tables, job: &Job) -> (Duration, Duration, String) {
    let mut times = Vec::with_capacity(RUNS);
    let mut summary = String::new();
    for _ in 0..RUNS {
        let snap = state.clone();
        let start = Instant::now();
        let resp = match plan_dry_run(snap, job.clone(), NOW, true) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("plan failed: {e}");
                std::process::exit(1);
            }
        };
        times.push(start.elapsed());
        let u = resp
            .annotations
            .as_ref()
            .and_then(|a| a.desired_tg_updates.get("web").cloned())
            .unwrap_or_default();
        summary = format!(
            "place {}, destructive {}, ignore {}, failed groups {}",
            u.place,
            u.destructive_update,
            u.ignore,
            resp.failed_tg_allocs.len()
        );
    }
    times.sort();
    (times[0], times[times.len() / 2], summary)
}

/// The plan benchmark: the job new on 5,000 nodes, then a new version of it with its 1,000
/// allocations running.
fn plans() {
    let mut state = Tables::default();
    let mut index = 0;
    let mut apply = |state: &mut Tables, cmd: Command| {
        index += 1;
        state.apply(index, &cmd);
    };
    for n in nodes() {
        let cmd = Command::NodeRegister {
            node: Box::new(n),
            evals: vec![],
            now: NOW,
            secret_hash: String::new(),
        };
        apply(&mut state, cmd);
    }
    let job = job();
    let (min, median, summary) = time_plans(&state, &job);
    println!("plan of a new job: {NODES} nodes, {COUNT} allocations, {RUNS} runs");
    println!(
        "  min {:.2} ms, median {:.2} ms ({summary})",
        min.as_secs_f64() * 1e3,
        median.as_secs_f64() * 1e3
    );

    // Run it: register, schedule and apply the plan, so 1,000 allocations exist.
    let eval = eval_for(&job, "bench-register");
    apply(
        &mut state,
        Command::JobRegister {
            job: Box::new(job.clone()),
            eval: Some(eval.clone()),
            now: NOW,
        },
    );
    let ctx = SchedulerContext::new(NOW, 1);
    let out = schedule(&eval, &state, &ctx);
    let placed: Vec<_> = out.plan.node_allocation.into_values().flatten().collect();
    apply(
        &mut state,
        Command::PlanApply {
            jobs: vec![],
            updated: vec![],
            placed,
            evals: vec![],
            now: NOW,
            deployments: out.plan.deployment.into_iter().collect(),
            deployment_updates: vec![],
        },
    );
    let mut v2 = job.clone();
    v2.task_groups[0].tasks[0]
        .config
        .insert("args".into(), serde_json::json!(["v2"]));
    let (min, median, summary) = time_plans(&state, &v2);
    println!("plan of a new version: {COUNT} running allocations on {NODES} nodes, {RUNS} runs");
    println!(
        "  min {:.2} ms, median {:.2} ms ({summary})",
        min.as_secs_f64() * 1e3,
        median.as_secs_f64() * 1e3
    );
}

/// The same job with soft preferences: an affinity for `large` nodes and a spread over the four
/// datacenters. Every candidate node is then scored, not the first few that fit.
fn job_with_preferences() -> Job {
    let mut j = job();
    j.affinities.push(api::Affinity {
        l_target: "${node.class}".into(),
        operand: "=".into(),
        r_target: "large".into(),
        weight: 50,
    });
    j.spreads.push(api::Spread {
        attribute: "${node.datacenter}".into(),
        weight: 50,
        ..Default::default()
    });
    j
}

fn main() {
    time_evals(&job(), "scheduler");
    time_evals(&job_with_preferences(), "with an affinity and a spread");
    plans();
}

fn time_evals(job: &Job, what: &str) {
    let mut state = MemState::new();
    for n in nodes() {
        state.upsert_node(n);
    }
    let job = job.clone();
    state.upsert_job(job.clone());
    let mut times: Vec<Duration> = Vec::with_capacity(RUNS);
    let mut placed = 0;
    for run in 0..RUNS {
        let eval = eval_for(&job, &format!("bench-eval-{run}"));
        let ctx = SchedulerContext::new(NOW, run as u64);
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
    println!("{what}: {NODES} nodes, 1 group x {COUNT} allocations, {RUNS} runs");
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
