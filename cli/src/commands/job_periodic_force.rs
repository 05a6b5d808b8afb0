//! `job periodic force [-detach] JOB`: launches a child of a periodic job now, whatever its
//! schedule and `prohibit_overlap`.

use super::job_run::{detach_message, parse_timeout};
use crate::monitor::{self, MonitorOptions};
use anyhow::{anyhow, Context, Result};
use api::client::{seg, Client};
use api::JobRegisterResponse;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Return after the launch, printing the evaluation id, instead of monitoring
    #[arg(long)]
    pub detach: bool,
    #[arg(long)]
    pub verbose: bool,
    /// How long to monitor before giving up (Go duration)
    #[arg(long, default_value = "5m", value_parser = parse_timeout)]
    pub timeout: std::time::Duration,
    /// The periodic job
    pub job: String,
}

pub fn run(client: &Client, args: &Args) -> Result<i32> {
    let resp: JobRegisterResponse = client
        .post(
            &format!("/v1/job/{}/periodic/force", seg(&args.job)),
            &[],
            &serde_json::json!({}),
        )
        .map_err(|e| anyhow!("Error forcing periodic job {:?}: {e}", args.job))?;
    if args.detach {
        println!("Job {:?} launched", args.job);
        print!("{}", detach_message(&resp.eval_id));
        return Ok(0);
    }
    let opts = MonitorOptions {
        verbose: args.verbose,
        follow_allocs: true,
        timeout: args.timeout,
    };
    monitor::monitor(client, &resp.eval_id, &opts).context("Error monitoring the launched job")
}
