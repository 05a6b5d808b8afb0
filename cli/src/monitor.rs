//! The evaluation monitor of `job run` / `job stop`: follows an evaluation (and then the
//! allocations it created) with blocking queries and prints what changes, as Nomad does.
//!
//! `MonitorState` is pure (data in, lines out) so its text can be tested; `monitor` does the IO.

use crate::format;
use crate::placement;
use anyhow::Context;
use api::client::{Client, ClientError, QueryOptions};
use api::{Allocation, Evaluation};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// One line of monitor output; the caller adds the time stamp.
#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    /// `==> <time>: text`
    Header(String),
    /// `    <time>: text`
    Info(String),
    /// Printed as is (the "      * reason" lines).
    Raw(String),
}

impl Line {
    pub fn render(&self, stamp: &str) -> String {
        match self {
            Line::Header(t) => format!("==> {stamp}: {t}"),
            Line::Info(t) => format!("    {stamp}: {t}"),
            Line::Raw(t) => t.clone(),
        }
    }
}

#[derive(Debug)]
pub struct MonitorState {
    verbose: bool,
    eval_status: Option<String>,
    /// Client status last printed, per allocation id.
    allocs: BTreeMap<String, String>,
    deployment_seen: bool,
}

impl MonitorState {
    pub fn new(verbose: bool) -> Self {
        MonitorState {
            verbose,
            eval_status: None,
            allocs: BTreeMap::new(),
            deployment_seen: false,
        }
    }

    fn id(&self, s: &str) -> String {
        format::id(s, self.verbose)
    }

    /// Lines for what changed since the last call, in Nomad's order: trigger, allocations,
    /// evaluation status.
    pub fn update(&mut self, eval: &Evaluation, allocs: &[Allocation]) -> Vec<Line> {
        let mut out = Vec::new();
        let previous = match &self.eval_status {
            None => {
                if !eval.node_id.is_empty() && eval.job_id.is_empty() {
                    out.push(Line::Info(format!(
                        "Evaluation triggered by node {:?}",
                        self.id(&eval.node_id)
                    )));
                } else {
                    out.push(Line::Info(format!(
                        "Evaluation triggered by job {:?}",
                        eval.job_id
                    )));
                }
                // Every evaluation is born pending; a fast scheduler may finish it before our
                // first look, and Nomad users expect to see the transition anyway.
                api::EVAL_STATUS_PENDING.to_string()
            }
            Some(s) => s.clone(),
        };
        if !eval.deployment_id.is_empty() && !self.deployment_seen {
            self.deployment_seen = true;
            out.push(Line::Info(format!(
                "Evaluation within deployment: {:?}",
                self.id(&eval.deployment_id)
            )));
        }
        out.extend(self.alloc_lines(allocs));
        if previous != eval.status {
            out.push(Line::Info(format!(
                "Evaluation status changed: {:?} -> {:?}",
                previous, eval.status
            )));
        }
        self.eval_status = Some(eval.status.clone());
        out
    }

    fn alloc_lines(&mut self, allocs: &[Allocation]) -> Vec<Line> {
        let mut sorted: Vec<&Allocation> = allocs.iter().collect();
        sorted.sort_by(|a, b| (a.create_index, &a.name).cmp(&(b.create_index, &b.name)));
        let mut out = Vec::new();
        for a in sorted {
            let before = match self.allocs.get(&a.id) {
                Some(s) => s.clone(),
                None => {
                    out.push(Line::Info(format!(
                        "Allocation {:?} created: node {:?}, group {:?}",
                        self.id(&a.id),
                        self.id(&a.node_id),
                        a.task_group
                    )));
                    api::ALLOC_CLIENT_PENDING.to_string()
                }
            };
            if before != a.client_status {
                let desc = if a.client_description.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", a.client_description)
                };
                out.push(Line::Info(format!(
                    "Allocation {:?} status changed: {:?} -> {:?}{desc}",
                    self.id(&a.id),
                    before,
                    a.client_status
                )));
            }
            self.allocs.insert(a.id.clone(), a.client_status.clone());
        }
        out
    }

    /// The closing lines once the evaluation is terminal.
    pub fn finish_lines(&self, eval: &Evaluation) -> Vec<Line> {
        let id = self.id(&eval.id);
        if eval.failed_tg_allocs.is_empty() {
            return vec![Line::Header(format!(
                "Evaluation {id:?} finished with status {:?}",
                eval.status
            ))];
        }
        let mut out = vec![Line::Header(format!(
            "Evaluation {id:?} finished with status {:?} but failed to place all allocations:",
            eval.status
        ))];
        for (group, metric) in &eval.failed_tg_allocs {
            out.push(Line::Info(placement::group_header(group, metric)));
            for l in placement::metric_lines(metric) {
                out.push(Line::Raw(format!("      {l}")));
            }
        }
        if let Some(l) = placement::blocked_line(eval, self.verbose) {
            out.push(Line::Info(l));
        }
        out
    }
}

/// Whether the allocations this evaluation placed are settled, and how.
#[derive(Debug, PartialEq)]
pub enum AllocsOutcome {
    Waiting,
    AllRunning,
    Failed(Vec<String>),
}

/// Service tasks are done when running; batch tasks may also have completed. Any failed or lost
/// allocation fails the run.
pub fn allocs_outcome(allocs: &[Allocation]) -> AllocsOutcome {
    let wanted: Vec<&Allocation> = allocs
        .iter()
        .filter(|a| a.desired_status == api::ALLOC_DESIRED_RUN)
        .collect();
    let failed: Vec<String> = wanted
        .iter()
        .filter(|a| {
            a.client_status == api::ALLOC_CLIENT_FAILED || a.client_status == api::ALLOC_CLIENT_LOST
        })
        .map(|a| a.id.clone())
        .collect();
    if !failed.is_empty() {
        return AllocsOutcome::Failed(failed);
    }
    let settled = wanted.iter().all(|a| {
        a.client_status == api::ALLOC_CLIENT_RUNNING
            || a.client_status == api::ALLOC_CLIENT_COMPLETE
    });
    if settled {
        AllocsOutcome::AllRunning
    } else {
        AllocsOutcome::Waiting
    }
}

/// The flags of every command that submits something and then monitors its evaluation.
#[derive(clap::Args, Debug, Clone)]
pub struct MonitorFlags {
    /// Return after submitting, printing the evaluation id
    #[arg(long)]
    pub detach: bool,
    /// Show full ids
    #[arg(long)]
    pub verbose: bool,
    /// How long to monitor before giving up
    #[arg(long, default_value = "5m", value_parser = crate::commands::job_run::parse_timeout)]
    pub timeout: Duration,
}

impl MonitorFlags {
    /// Monitors `eval_id` (following its allocations or not), or with `-detach` prints
    /// `detached` and returns 0.
    pub fn monitor_or_print(
        &self,
        client: &Client,
        eval_id: &str,
        follow_allocs: bool,
        detached: &str,
    ) -> anyhow::Result<i32> {
        if self.detach {
            println!("{detached}");
            return Ok(0);
        }
        let opts = MonitorOptions {
            verbose: self.verbose,
            follow_allocs,
            timeout: self.timeout,
        };
        monitor(client, eval_id, &opts).context("Error monitoring the evaluation")
    }
}

pub struct MonitorOptions {
    pub verbose: bool,
    /// After the evaluation, wait for its allocations to run (job run) or not (job stop).
    pub follow_allocs: bool,
    pub timeout: Duration,
}

/// Longest single blocking query; short enough to notice the overall deadline promptly.
const MAX_WAIT: Duration = Duration::from_secs(10);

/// Follows `eval_id`, printing as it goes. Returns Nomad's exit code: 0 success, 2 placement
/// failures, 1 failed allocations or errors.
pub fn monitor(client: &Client, eval_id: &str, opts: &MonitorOptions) -> anyhow::Result<i32> {
    let print = |lines: Vec<Line>| {
        let stamp = format::now_stamp();
        for l in lines {
            println!("{}", l.render(&stamp));
        }
    };
    let deadline = Instant::now() + opts.timeout;
    let mut state = MonitorState::new(opts.verbose);
    print(vec![Line::Header(format!(
        "Monitoring evaluation {:?}",
        format::id(eval_id, opts.verbose)
    ))]);

    let mut index = 0;
    let eval = loop {
        let wait = wait_time(deadline)
            .with_context(|| format!("timed out waiting for evaluation {eval_id:?}"))?;
        let started = Instant::now();
        let (eval, meta) =
            match client.evaluation_blocking(eval_id, &QueryOptions::blocking(index, wait)) {
                Ok(v) => v,
                // A follower may not have applied the eval yet: look again.
                Err(ClientError::Http { status: 404, .. }) if Instant::now() < deadline => {
                    pace(started);
                    continue;
                }
                Err(e) => return Err(e).context("Error reading evaluation"),
            };
        let allocs = client
            .eval_allocations(eval_id)
            .context("Error reading evaluation allocations")?;
        print(state.update(&eval, &allocs));
        if eval.terminal() {
            break eval;
        }
        if meta.last_index == index {
            pace(started);
        }
        index = meta.last_index;
    };
    print(state.finish_lines(&eval));
    let placement_failed = !eval.failed_tg_allocs.is_empty();
    if eval.status != api::EVAL_STATUS_COMPLETE {
        return Ok(2);
    }
    // A deployment that could not place everything waits for capacity: nothing to follow.
    if !opts.follow_allocs || placement_failed {
        return Ok(if placement_failed { 2 } else { 0 });
    }
    if !eval.deployment_id.is_empty() {
        return monitor_deployment(client, &eval.deployment_id, deadline, opts.verbose);
    }

    let mut index = 0;
    loop {
        let Some(wait) = wait_time(deadline) else {
            eprintln!(
                "Timed out after {} waiting for allocations to start",
                api::duration::format_duration(opts.timeout)
            );
            return Ok(1);
        };
        let started = Instant::now();
        let (allocs, meta) = client
            .eval_allocations_blocking(eval_id, &QueryOptions::blocking(index, wait))
            .context("Error reading evaluation allocations")?;
        print(state.update(&eval, &allocs));
        match allocs_outcome(&allocs) {
            AllocsOutcome::Waiting => {}
            AllocsOutcome::AllRunning => return Ok(if placement_failed { 2 } else { 0 }),
            AllocsOutcome::Failed(ids) => {
                let ids: Vec<String> = ids.iter().map(|i| format::id(i, opts.verbose)).collect();
                eprintln!(
                    "Allocation(s) {} failed; see `nomadctl alloc status <id>`",
                    ids.join(", ")
                );
                return Ok(1);
            }
        }
        if meta.last_index == index {
            pace(started);
        }
        index = meta.last_index;
    }
}

/// Follows the evaluation a deployment command created (a promotion, a rollback), then the
/// deployment it belongs to.
pub fn follow_deployment_eval(
    client: &Client,
    eval_id: &str,
    verbose: bool,
) -> anyhow::Result<i32> {
    let opts = MonitorOptions {
        verbose,
        follow_allocs: true,
        timeout: Duration::from_secs(600),
    };
    monitor(client, eval_id, &opts)
}

/// Follows a deployment until it ends (or waits for a manual promotion), printing its status
/// whenever it changes: 0 when it succeeded or waits for promotion, 1 when it failed.
pub fn monitor_deployment(
    client: &Client,
    id: &str,
    deadline: Instant,
    verbose: bool,
) -> anyhow::Result<i32> {
    println!(
        "==> {}: Monitoring deployment {:?}",
        format::now_stamp(),
        format::id(id, verbose)
    );
    let mut index = 0;
    let mut last = String::new();
    loop {
        let Some(wait) = wait_time(deadline) else {
            eprintln!(
                "Timed out waiting for deployment {:?}",
                format::id(id, verbose)
            );
            return Ok(1);
        };
        let started = Instant::now();
        let (d, meta) = client
            .deployment_blocking(id, &QueryOptions::blocking(index, wait))
            .context("Error reading deployment")?;
        let block = crate::deployments::status(&d, verbose);
        if block != last {
            println!("\n    {}", format::now_stamp());
            for line in block.lines() {
                println!("    {line}");
            }
            last = block;
        }
        let shown = format::id(&d.id, verbose);
        match d.status.as_str() {
            api::DEPLOYMENT_STATUS_SUCCESSFUL => {
                println!("\n  \u{2713} Deployment {shown:?} successful");
                return Ok(0);
            }
            api::DEPLOYMENT_STATUS_FAILED | api::DEPLOYMENT_STATUS_CANCELLED => {
                println!(
                    "\n  ! Deployment {shown:?} {}: {}",
                    d.status, d.status_description
                );
                return Ok(1);
            }
            _ if waits_for_promotion(&d) => {
                println!(
                    "\n  Deployment {shown:?} waits for its canaries to be promoted: \
                     nomadctl deployment promote {}",
                    d.id
                );
                return Ok(0);
            }
            _ => {}
        }
        if meta.last_index == index {
            pace(started);
        }
        index = meta.last_index;
    }
}

/// Every canary is placed and healthy, and someone must promote them.
fn waits_for_promotion(d: &api::Deployment) -> bool {
    let waiting: Vec<&api::DeploymentState> = d
        .task_groups
        .values()
        .filter(|g| g.desired_canaries > 0 && !g.promoted)
        .collect();
    !waiting.is_empty()
        && waiting.iter().all(|g| {
            !g.auto_promote
                && g.placed_canaries.len() as i64 >= g.desired_canaries
                && g.healthy_allocs >= g.desired_canaries
        })
}

fn wait_time(deadline: Instant) -> Option<Duration> {
    let left = deadline.checked_duration_since(Instant::now())?;
    if left.is_zero() {
        return None;
    }
    Some(left.min(MAX_WAIT))
}

/// If a query came back at once without news (a server without blocking queries, or a 404
/// race), wait a little before asking again rather than spinning.
fn pace(started: Instant) {
    let min = Duration::from_millis(250);
    if let Some(rest) = min.checked_sub(started.elapsed()) {
        std::thread::sleep(rest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::placement::tests::sample_failed_eval;

    fn alloc(id: &str, status: &str, desc: &str) -> Allocation {
        Allocation {
            id: id.into(),
            node_id: "7c3b1e7f-aaaa".into(),
            task_group: "web".into(),
            desired_status: "run".into(),
            client_status: status.into(),
            client_description: desc.into(),
            ..Default::default()
        }
    }

    fn render(lines: &[Line]) -> Vec<String> {
        lines.iter().map(|l| l.render("T")).collect()
    }

    #[test]
    fn first_look_prints_trigger_allocs_then_status_change() {
        let mut st = MonitorState::new(false);
        let eval = Evaluation {
            id: "4b1f4b2c-1".into(),
            job_id: "example".into(),
            status: "complete".into(),
            ..Default::default()
        };
        let lines = st.update(&eval, &[alloc("8ba85cef-1", "pending", "")]);
        assert_eq!(
            render(&lines),
            vec![
                "    T: Evaluation triggered by job \"example\"",
                "    T: Allocation \"8ba85cef\" created: node \"7c3b1e7f\", group \"web\"",
                "    T: Evaluation status changed: \"pending\" -> \"complete\"",
            ]
        );
        let lines = st.update(
            &eval,
            &[alloc("8ba85cef-1", "running", "Tasks are running")],
        );
        assert_eq!(
            render(&lines),
            vec!["    T: Allocation \"8ba85cef\" status changed: \"pending\" -> \"running\" (Tasks are running)"]
        );
        assert!(st
            .update(&eval, &[alloc("8ba85cef-1", "running", "")])
            .is_empty());
        assert_eq!(
            render(&st.finish_lines(&eval)),
            vec!["==> T: Evaluation \"4b1f4b2c\" finished with status \"complete\""]
        );
    }

    #[test]
    fn failed_placements_block() {
        let st = MonitorState::new(false);
        assert_eq!(
            render(&st.finish_lines(&sample_failed_eval())),
            vec![
                "==> T: Evaluation \"4b1f4b2c\" finished with status \"complete\" but failed to place all allocations:",
                "    T: Task Group \"web\" (failed to place 1 allocation):",
                "      * Constraint \"missing drivers\": 1 nodes excluded by filter",
                "      * Resources exhausted on 1 nodes",
                "      * Dimension \"memory\" exhausted on 1 nodes",
                "    T: Evaluation \"9e0a7c11\" waiting for additional capacity to place remainder",
            ]
        );
    }

    #[test]
    fn outcome_of_allocations() {
        assert_eq!(
            allocs_outcome(&[alloc("a", "pending", "")]),
            AllocsOutcome::Waiting
        );
        assert_eq!(
            allocs_outcome(&[alloc("a", "running", ""), alloc("b", "complete", "")]),
            AllocsOutcome::AllRunning
        );
        assert_eq!(
            allocs_outcome(&[alloc("a", "running", ""), alloc("b", "failed", "")]),
            AllocsOutcome::Failed(vec!["b".into()])
        );
        let mut stopped = alloc("c", "failed", "");
        stopped.desired_status = "stop".into();
        assert_eq!(allocs_outcome(&[stopped]), AllocsOutcome::AllRunning);
    }
}
