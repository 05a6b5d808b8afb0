//! `job status [JOB]` (and `status`): list jobs, or show one job with its summary and allocations.

use crate::commands::lookup;
use crate::format::{self, kv, table_with};
use crate::tables;
use anyhow::{anyhow, Context, Result};
use api::client::Client;
use api::{Allocation, Job, JobListStub, JobSummary};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// A job id or prefix; without it, list all jobs
    pub job: Option<String>,
    /// Show full ids and exact times
    #[arg(long)]
    pub verbose: bool,
    /// Show allocations of earlier instances of the job too
    #[arg(long = "all-allocs")]
    pub all_allocs: bool,
    /// Show only the job's header
    #[arg(long)]
    pub short: bool,
    #[command(flatten)]
    pub output: crate::output_flags::OutputFlags,
}

pub fn run(client: &Client, args: &Args) -> Result<i32> {
    let Some(given) = &args.job else {
        let jobs = client.jobs("").context("Error querying jobs")?;
        if args.output.print(&jobs)? {
            return Ok(0);
        }
        if jobs.is_empty() {
            println!("No running jobs");
        } else {
            print!("{}", tables::jobs(&jobs));
        }
        return Ok(0);
    };
    let stub = lookup::job(client, given)?;
    let job = client
        .job(&stub.id)
        .map_err(|e| anyhow!("Error querying job: {e}"))?;
    if args.output.print(&job)? {
        return Ok(0);
    }
    let now = format::now_nanos();
    if args.short {
        print!("{}", header(&job, now));
        return Ok(0);
    }
    let summary = client
        .job_summary(&job.id)
        .map_err(|e| anyhow!("Error querying job summary: {e}"))?;
    if job.is_parent() {
        let children: Vec<JobListStub> = client
            .jobs(&format!("{}/", job.id))
            .map_err(|e| anyhow!("Error querying child jobs: {e}"))?
            .into_iter()
            .filter(|c| c.parent_id == job.id)
            .collect();
        print!("{}", render_parent(&job, &summary, &children, now));
        return Ok(0);
    }
    let allocs = client
        .job_allocations(&job.id, args.all_allocs)
        .map_err(|e| anyhow!("Error querying job allocations: {e}"))?;
    let deployment = client
        .job_latest_deployment(&job.id)
        .map_err(|e| anyhow!("Error querying latest deployment: {e}"))?;
    print!(
        "{}",
        render(
            &job,
            &summary,
            deployment.as_ref(),
            &allocs,
            args.verbose,
            now
        )
    );
    Ok(0)
}

pub fn header(job: &Job, now: i64) -> String {
    let mut pairs = vec![
        ("ID", job.id.clone()),
        ("Name", job.name.clone()),
        ("Submit Date", format::rfc3339(job.submit_time)),
        ("Type", job.job_type.clone()),
        ("Priority", job.priority.to_string()),
        ("Datacenters", job.datacenters.join(",")),
        ("Namespace", job.namespace.clone()),
        // Jobs registered before node pools existed are in `default`.
        (
            "Node Pool",
            if job.node_pool.is_empty() {
                api::node_pool::NODE_POOL_DEFAULT.to_string()
            } else {
                job.node_pool.clone()
            },
        ),
        ("Status", tables::job_status(&job.status, job.stop)),
        ("Periodic", job.periodic.is_some().to_string()),
        ("Parameterized", job.is_parameterized_parent().to_string()),
    ];
    if let Some(p) = &job.periodic {
        // Computed here from the schedule, as Nomad's CLI does.
        let sec = 1_000_000_000;
        let next = match p.next_launch(now.div_euclid(sec)) {
            _ if job.stop => "none (the job is stopped)".to_string(),
            Some(at) => format!(
                "{} ({})",
                format::rfc3339(at * sec),
                format::ago(at * sec, now)
            ),
            None if !p.enabled => "none (disabled)".to_string(),
            None => "none".to_string(),
        };
        pairs.push(("Next Periodic Launch", next));
    }
    kv(&pairs)
}

/// A periodic or parameterized job: its children instead of groups and allocations.
pub fn render_parent(
    job: &Job,
    summary: &JobSummary,
    children: &[JobListStub],
    now: i64,
) -> String {
    let mut out = header(job, now);
    out.push_str("\nChildren Job Summary\n");
    let c = &summary.children;
    out.push_str(&table_with(
        &["Pending", "Running", "Dead"],
        vec![vec![
            c.pending.to_string(),
            c.running.to_string(),
            c.dead.to_string(),
        ]],
    ));
    out.push_str(if job.periodic.is_some() {
        "\nPreviously Launched Jobs\n"
    } else {
        "\nDispatched Jobs\n"
    });
    if children.is_empty() {
        out.push_str("No child jobs\n");
    } else {
        let rows = children
            .iter()
            .map(|j| vec![j.id.clone(), j.status.clone()])
            .collect();
        out.push_str(&table_with(&["ID", "Status"], rows));
    }
    out
}

pub fn render(
    job: &Job,
    summary: &JobSummary,
    deployment: Option<&api::Deployment>,
    allocs: &[Allocation],
    verbose: bool,
    now: i64,
) -> String {
    let mut out = header(job, now);
    out.push_str("\nSummary\n");
    // Groups in job order, like Nomad; groups missing from the summary read as zeros.
    let rows = job
        .task_groups
        .iter()
        .map(|tg| {
            let s = summary.summary.get(&tg.name).cloned().unwrap_or_default();
            vec![
                tg.name.clone(),
                s.queued.to_string(),
                s.starting.to_string(),
                s.running.to_string(),
                s.failed.to_string(),
                s.complete.to_string(),
                s.lost.to_string(),
                s.unknown.to_string(),
            ]
        })
        .collect();
    out.push_str(&table_with(
        &[
            "Task Group",
            "Queued",
            "Starting",
            "Running",
            "Failed",
            "Complete",
            "Lost",
            "Unknown",
        ],
        rows,
    ));
    if let Some(d) = deployment {
        out.push_str("\nLatest Deployment\n");
        out.push_str(&kv(&[
            ("ID", format::id(&d.id, verbose)),
            ("Status", d.status.clone()),
            ("Description", d.status_description.clone()),
        ]));
        out.push_str("\nDeployed\n");
        out.push_str(&crate::deployments::groups(d));
    }
    out.push_str("\nAllocations\n");
    if allocs.is_empty() {
        out.push_str("No allocations placed\n");
    } else {
        out.push_str(&tables::allocs(allocs, verbose, now));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::{TaskGroup, TaskGroupSummary};
    use std::collections::BTreeMap;

    #[test]
    fn job_status_looks_like_nomad() {
        let sec = 1_000_000_000;
        let now = 1_704_103_260 * sec;
        let job = Job {
            id: "example".into(),
            name: "example".into(),
            submit_time: 1_704_103_200 * sec,
            datacenters: vec!["dc1".into()],
            status: "running".into(),
            task_groups: vec![TaskGroup {
                name: "web".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let summary = JobSummary {
            summary: BTreeMap::from([(
                "web".to_string(),
                TaskGroupSummary {
                    running: 2,
                    ..Default::default()
                },
            )]),
            ..Default::default()
        };
        let alloc = Allocation {
            id: "8ba85cef-1111".into(),
            node_id: "7c3b1e7f-2222".into(),
            task_group: "web".into(),
            desired_status: "run".into(),
            client_status: "running".into(),
            create_time: now - 10 * sec,
            modify_time: now - 8 * sec,
            ..Default::default()
        };
        let expected = "\
ID            = example
Name          = example
Submit Date   = 2024-01-01T10:00:00Z
Type          = service
Priority      = 50
Datacenters   = dc1
Namespace     = default
Node Pool     = default
Status        = running
Periodic      = false
Parameterized = false

Summary
Task Group  Queued  Starting  Running  Failed  Complete  Lost  Unknown
web         0       0         2        0       0         0     0

Allocations
ID        Node ID   Task Group  Version  Desired  Status   Created  Modified
8ba85cef  7c3b1e7f  web         0        run      running  10s ago  8s ago
";
        assert_eq!(render(&job, &summary, None, &[alloc], false, now), expected);
    }

    #[test]
    fn a_periodic_job_shows_its_next_launch_and_children() {
        let sec = 1_000_000_000;
        // 2026-12-07T11:07:00Z
        let now = 1_796_641_620 * sec;
        let job = Job {
            id: "report".into(),
            name: "report".into(),
            job_type: "batch".into(),
            status: "running".into(),
            submit_time: now,
            periodic: Some(api::PeriodicConfig {
                spec: "*/15 * * * *".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut summary = JobSummary::default();
        summary.children.dead = 1;
        let child = JobListStub {
            id: "report/periodic-1796641200".into(),
            status: "dead".into(),
            ..Default::default()
        };
        let out = render_parent(&job, &summary, &[child], now);
        assert!(out.contains("Periodic             = true\n"), "{out}");
        assert!(
            out.contains("Next Periodic Launch = 2026-12-07T11:15:00Z (8m from now)\n"),
            "{out}"
        );
        assert!(
            out.ends_with(
                "Children Job Summary\nPending  Running  Dead\n0        0        1\n\n\
             Previously Launched Jobs\nID                          Status\n\
             report/periodic-1796641200  dead\n"
            ),
            "{out}"
        );
    }
}
