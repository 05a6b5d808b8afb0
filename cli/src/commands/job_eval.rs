//! `job eval JOB`: ask the scheduler to look at a job again without changing it, optionally
//! rescheduling its failed allocations now (`-force-reschedule`).

use crate::commands::lookup;
use crate::monitor::MonitorFlags;
use anyhow::{anyhow, Result};
use api::client::Client;
use api::{EvalOptions, JobEvaluateRequest, JobRegisterResponse};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The job id (or a unique prefix)
    pub job: String,
    /// Reschedule the job's failed allocations now, even when their reschedule policy would not
    #[arg(long = "force-reschedule")]
    pub force_reschedule: bool,
    #[command(flatten)]
    pub monitor: MonitorFlags,
}

pub fn run(client: &Client, args: &Args) -> Result<i32> {
    let job = lookup::job(client, &args.job)?;
    let req = JobEvaluateRequest {
        job_id: job.id.clone(),
        eval_options: EvalOptions {
            force_reschedule: args.force_reschedule,
        },
    };
    let resp: JobRegisterResponse = client
        .post(&format!("/v1/job/{}/evaluate", job.id), &[], &req)
        .map_err(|e| anyhow!("Error evaluating job: {e}"))?;
    let detached = format!("Created eval ID: {:?}", api::short_id(&resp.eval_id));
    args.monitor
        .monitor_or_print(client, &resp.eval_id, true, &detached)
}
