//! `job scale JOB [GROUP] COUNT`: a new count for one group, registered as a new version of the
//! job and monitored like `job run`.

use crate::commands::lookup;
use crate::monitor::MonitorFlags;
use anyhow::{anyhow, bail, Result};
use api::client::Client;
use api::{JobRegisterResponse, ScalingRequest};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The job id (or a unique prefix)
    pub job: String,
    /// The group, then the count; the group may be left out when the job has one
    #[arg(required = true, num_args = 1..=2)]
    pub rest: Vec<String>,
    #[command(flatten)]
    pub monitor: MonitorFlags,
}

pub fn run(client: &Client, args: &Args) -> Result<i32> {
    let stub = lookup::job(client, &args.job)?;
    let job = client
        .job(&stub.id)
        .map_err(|e| anyhow!("Error querying job: {e}"))?;
    let (group, count) = match args.rest.as_slice() {
        [count] => match job.task_groups.as_slice() {
            [only] => (only.name.clone(), count),
            _ => bail!(
                "Job {:?} has {} groups: name the group to scale",
                job.id,
                job.task_groups.len()
            ),
        },
        [group, count] => (group.clone(), count),
        _ => bail!("give the count, or the group and the count"),
    };
    let count: i64 = count
        .parse()
        .map_err(|_| anyhow!("Failed to parse count {count:?}: a whole number is expected"))?;
    let req = ScalingRequest {
        count: Some(count),
        target: [
            ("Job".to_string(), job.id.clone()),
            ("Group".to_string(), group),
        ]
        .into(),
        message: "submitted using the Nomad CLI".into(),
        ..Default::default()
    };
    let resp: JobRegisterResponse = client
        .post(&format!("/v1/job/{}/scale", job.id), &[], &req)
        .map_err(|e| anyhow!("Error submitting scaling request: {e}"))?;
    let detached = format!(
        "Job registration successful\nEvaluation ID: {}",
        resp.eval_id
    );
    args.monitor
        .monitor_or_print(client, &resp.eval_id, true, &detached)
}
