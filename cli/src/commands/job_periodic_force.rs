//! `job periodic force [-detach] JOB`: launches a child of a periodic job now, whatever its
//! schedule and `prohibit_overlap`.

use crate::monitor::MonitorFlags;
use anyhow::{anyhow, Result};
use api::client::{seg, Client};
use api::JobRegisterResponse;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub monitor: MonitorFlags,
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
    let detached = format!(
        "Job {:?} launched
Evaluation ID: {}",
        args.job, resp.eval_id
    );
    args.monitor
        .monitor_or_print(client, &resp.eval_id, true, &detached)
}
