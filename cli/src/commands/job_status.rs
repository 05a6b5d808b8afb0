//! `job status [JOB]` (and `status`): list jobs, or show one job with its summary and allocations.

use crate::commands::lookup;
use crate::format::{self, kv, table_with};
use crate::tables;
use anyhow::{anyhow, Context, Result};
use api::client::Client;
use api::{Allocation, Job, JobSummary};

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
    if args.short {
        print!("{}", header(&job));
        return Ok(0);
    }
    let summary = client
        .job_summary(&job.id)
        .map_err(|e| anyhow!("Error querying job summary: {e}"))?;
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
            format::now_nanos()
        )
    );
    Ok(0)
}

pub fn header(job: &Job) -> String {
    kv(&[
        ("ID", job.id.clone()),
        ("Name", job.name.clone()),
        ("Submit Date", format::rfc3339(job.submit_time)),
        ("Type", job.job_type.clone()),
        ("Priority", job.priority.to_string()),
        ("Datacenters", job.datacenters.join(",")),
        ("Namespace", job.namespace.clone()),
        ("Status", tables::job_status(&job.status, job.stop)),
        ("Periodic", "false".into()),
        ("Parameterized", "false".into()),
    ])
}

pub fn render(
    job: &Job,
    summary: &JobSummary,
    deployment: Option<&api::Deployment>,
    allocs: &[Allocation],
    verbose: bool,
    now: i64,
) -> String {
    let mut out = header(job);
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
}
