//! `node eligibility -enable|-disable [-self] ID`: whether the node takes new work.

use crate::commands::lookup;
use anyhow::{anyhow, bail, Result};
use api::client::Client;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Let the scheduler place new work on the node
    #[arg(long, conflicts_with = "disable")]
    pub enable: bool,
    /// Keep new work off the node; what runs there stays
    #[arg(long)]
    pub disable: bool,
    /// The node of the agent NOMAD_ADDR points at
    #[arg(long = "self")]
    pub own: bool,
    /// The node id or unique prefix
    pub node: Option<String>,
}

pub fn run(client: &Client, args: &Args) -> Result<i32> {
    if !args.enable && !args.disable {
        bail!("Either the '-enable' or '-disable' flag must be set");
    }
    let id = lookup::node_or_self(client, args.node.as_deref(), args.own)?;
    client
        .node_eligibility(&id, args.enable)
        .map_err(|e| anyhow!("Error updating scheduling eligibility: {e}"))?;
    let what = if args.enable {
        "eligible"
    } else {
        "ineligible"
    };
    println!("Node {id:?} scheduling eligibility set: {what} for scheduling");
    Ok(0)
}
