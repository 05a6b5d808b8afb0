//! `job inspect [-version N] [-json] [-t T] JOB`: the job as the API holds it, `{"Job": ...}`,
//! ready for `job run` of a JSON file or for a template.

use super::lookup;
use anyhow::{anyhow, bail, Result};
use api::client::Client;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Show this version of the job instead of the newest
    #[arg(long)]
    pub version: Option<u64>,
    #[command(flatten)]
    pub output: crate::output_flags::OutputFlags,
    /// The job's id (or a unique prefix)
    pub job: String,
}

pub fn run(client: &Client, args: &Args) -> Result<i32> {
    let stub = lookup::job(client, &args.job)?;
    let job = match args.version {
        None => client
            .job(&stub.id)
            .map_err(|e| anyhow!("Error inspecting job: {e}"))?,
        Some(v) => {
            let versions = client
                .job_versions(&stub.id, false)
                .map_err(|e| anyhow!("Error inspecting job: {e}"))?;
            match versions.versions.into_iter().find(|j| j.version == v) {
                Some(j) => j,
                None => bail!("Error inspecting job: job {:?} has no version {v}", stub.id),
            }
        }
    };
    // The template sees the job itself, `-json` and the default print it wrapped as Nomad does.
    if args.output.template.is_some() {
        args.output.print(&job)?;
    } else {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "Job": job }))?
        );
    }
    Ok(0)
}
