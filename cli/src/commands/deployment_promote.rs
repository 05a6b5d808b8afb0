//! `deployment promote ID`: the canaries take over and the rollout goes on.

use crate::commands::deployment_status::lookup;
use crate::monitor;
use anyhow::{anyhow, Result};
use api::client::Client;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// A deployment id or unique prefix
    pub deployment: String,
    /// Promote only this group's canaries (repeatable)
    #[arg(long = "group")]
    pub groups: Vec<String>,
    /// Return after promoting instead of monitoring
    #[arg(long)]
    pub detach: bool,
    /// Show full ids
    #[arg(long)]
    pub verbose: bool,
}

pub fn run(client: &Client, args: &Args) -> Result<i32> {
    let d = lookup(client, &args.deployment)?;
    let groups = (!args.groups.is_empty()).then(|| args.groups.clone());
    let resp = client
        .promote_deployment(&d.id, groups)
        .map_err(|e| anyhow!("Error promoting deployment: {e}"))?;
    if args.detach || resp.eval_id.is_empty() {
        println!("Deployment {:?} promoted", d.id);
        return Ok(0);
    }
    monitor::follow_deployment_eval(client, &resp.eval_id, args.verbose)
}
