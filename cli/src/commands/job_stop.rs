//! `job stop JOB` (and `stop`): deregister a job and monitor the evaluation that stops it.

use crate::commands::lookup;
use crate::monitor::MonitorFlags;
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
    /// Do not ask for confirmation when the id was matched by prefix
    #[arg(long, short = 'y')]
    pub yes: bool,
    #[command(flatten)]
    pub monitor: MonitorFlags,
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
    args.monitor
        .monitor_or_print(client, &resp.eval_id, false, &resp.eval_id)
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
