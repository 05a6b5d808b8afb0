//! `deployment fail ID`: ends a rollout (rolling back when its groups say `auto_revert`).

use crate::commands::deployment_status::lookup;
use crate::monitor;
use anyhow::{anyhow, Result};
use api::client::Client;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// A deployment id or unique prefix
    pub deployment: String,
    /// Return at once instead of monitoring a rollback
    #[arg(long)]
    pub detach: bool,
    /// Show full ids
    #[arg(long)]
    pub verbose: bool,
}

pub fn run(client: &Client, args: &Args) -> Result<i32> {
    let d = lookup(client, &args.deployment)?;
    let resp = client
        .fail_deployment(&d.id)
        .map_err(|e| anyhow!("Error failing deployment: {e}"))?;
    println!("Deployment {:?} failed", d.id);
    if let Some(v) = resp.reverted_job_version {
        println!("Rolling back to job version {v}");
    }
    if args.detach || resp.eval_id.is_empty() {
        return Ok(0);
    }
    monitor::follow_deployment_eval(client, &resp.eval_id, args.verbose)
}
