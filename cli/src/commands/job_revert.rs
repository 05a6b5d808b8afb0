//! `job revert JOB VERSION`: registers an earlier version's spec again, then monitors it.

use crate::monitor::{self, MonitorOptions};
use anyhow::{anyhow, Context, Result};
use api::client::Client;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The job's id
    pub job: String,
    /// The version to go back to
    pub version: u64,
    /// Return after submitting instead of monitoring
    #[arg(long)]
    pub detach: bool,
    /// Show full ids
    #[arg(long)]
    pub verbose: bool,
}

pub fn run(client: &Client, args: &Args) -> Result<i32> {
    let resp = client
        .revert_job(&args.job, args.version, None)
        .map_err(|e| anyhow!("Error reverting job: {e}"))?;
    if args.detach {
        print!(
            "{}",
            crate::commands::job_run::detach_message(&resp.eval_id)
        );
        return Ok(0);
    }
    let opts = MonitorOptions {
        verbose: args.verbose,
        follow_allocs: true,
        timeout: std::time::Duration::from_secs(300),
    };
    monitor::monitor(client, &resp.eval_id, &opts).context("Error monitoring the job")
}
