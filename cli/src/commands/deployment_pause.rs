//! `deployment pause ID` and `deployment resume ID`: a paused rollout places nothing more until
//! it is resumed.

use crate::commands::deployment_status::lookup;
use anyhow::{anyhow, Result};
use api::client::Client;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// A deployment id or unique prefix
    pub deployment: String,
}

/// Pauses (`pause`) or resumes the deployment.
pub fn run(client: &Client, args: &Args, pause: bool) -> Result<i32> {
    let d = lookup(client, &args.deployment)?;
    let verb = if pause { "pausing" } else { "resuming" };
    client
        .pause_deployment(&d.id, pause)
        .map_err(|e| anyhow!("Error {verb} deployment: {e}"))?;
    println!(
        "Deployment {:?} {}",
        d.id,
        if pause { "paused" } else { "resumed" }
    );
    Ok(0)
}
