//! `job stop JOB` (and `stop`): deregister a job and monitor the evaluation that stops it.

use crate::commands::lookup;
use crate::monitor::{self, MonitorOptions};
use anyhow::{anyhow, Context, Result};
use api::client::Client;
use std::io::BufRead;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The job id (or a unique prefix)
    pub job: String,
    /// Remove the job from the servers' state at once instead of leaving it dead until GC
    #[arg(long)]
    pub purge: bool,
    /// Return after submitting, printing the evaluation id
    #[arg(long)]
    pub detach: bool,
    /// Do not ask for confirmation when the id was matched by prefix
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Show full ids
    #[arg(long)]
    pub verbose: bool,
    /// How long to monitor before giving up
    #[arg(long, default_value = "5m", value_parser = crate::commands::job_run::parse_timeout)]
    pub timeout: std::time::Duration,
}

pub fn run(client: &Client, args: &Args) -> Result<i32> {
    let job = lookup::job(client, &args.job)?;
    // Nomad asks before stopping a job the user named only by prefix.
    if job.id != args.job && !args.yes && !confirm(&job.id)? {
        println!("Cancelling job stop");
        return Ok(0);
    }
    let resp = client
        .deregister_job(&job.id, args.purge)
        .map_err(|e| anyhow!("Error deregistering job: {e}"))?;
    if resp.eval_id.is_empty() {
        return Ok(0);
    }
    if args.detach {
        println!("{}", resp.eval_id);
        return Ok(0);
    }
    let opts = MonitorOptions {
        verbose: args.verbose,
        follow_allocs: false,
        timeout: args.timeout,
    };
    monitor::monitor(client, &resp.eval_id, &opts).context("Error monitoring the job")
}

fn confirm(job_id: &str) -> Result<bool> {
    println!("Are you sure you want to stop job {job_id:?}? [y/N]");
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("Failed to read answer")?;
    Ok(matches!(line.trim().to_lowercase().as_str(), "y" | "yes"))
}
