//! `job periodic force [-detach] JOB`: launches a child of a periodic job now, whatever its
//! schedule and `prohibit_overlap`.

use crate::monitor::EvalFlags;
use anyhow::{anyhow, Result};
use api::client::{seg, Client};
use api::JobRegisterResponse;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub eval: EvalFlags,
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
    let launched = format!("Job {:?} launched\n", args.job);
    args.eval
        .follow(client, &resp.eval_id, &launched, "the launched job")
}
