//! `deployment list`: every deployment, newest first.

use crate::deployments;
use anyhow::{Context, Result};
use api::client::Client;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Show full ids
    #[arg(long)]
    pub verbose: bool,
    #[command(flatten)]
    pub output: crate::output_flags::OutputFlags,
}

pub fn run(client: &Client, args: &Args) -> Result<i32> {
    let list = client
        .deployments("")
        .context("Error retrieving deployments")?;
    if args.output.print(&list)? {
        return Ok(0);
    }
    if list.is_empty() {
        println!("No deployments found");
    } else {
        print!("{}", deployments::list(&list, args.verbose));
    }
    Ok(0)
}
