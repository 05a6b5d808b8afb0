//! `deployment status ID`: one deployment and its groups.

use crate::deployments;
use anyhow::{bail, Context, Result};
use api::client::Client;
use api::Deployment;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// A deployment id or unique prefix
    pub deployment: String,
    /// Show full ids
    #[arg(long)]
    pub verbose: bool,
    #[command(flatten)]
    pub output: crate::output_flags::OutputFlags,
}

/// Resolves an id or prefix to one deployment.
pub fn lookup(client: &Client, given: &str) -> Result<Deployment> {
    let list = client
        .deployments(given)
        .context("Error retrieving deployments")?;
    match list.as_slice() {
        [] => bail!("No deployment(s) with prefix or id {given:?} found"),
        [one] => Ok(one.clone()),
        many => {
            if let Some(exact) = many.iter().find(|d| d.id == given) {
                return Ok(exact.clone());
            }
            bail!(
                "Prefix matched multiple deployments\n\n{}",
                deployments::list(many, false)
            )
        }
    }
}

pub fn run(client: &Client, args: &Args) -> Result<i32> {
    let d = lookup(client, &args.deployment)?;
    if args.output.print(&d)? {
        return Ok(0);
    }
    print!("{}", deployments::status(&d, args.verbose));
    Ok(0)
}
