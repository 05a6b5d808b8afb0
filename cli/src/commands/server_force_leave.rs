//! `server force-leave NAME`: remove a failed server from the cluster. Prints nothing when it
//! worked, like Nomad's.

use anyhow::{anyhow, Result};
use api::client::Client;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The server's name, as `server members` shows it
    pub node: String,
}

pub fn run(client: &Client, args: &Args) -> Result<i32> {
    client
        .put_no_content("/v1/agent/force-leave", &[("node", args.node.as_str())])
        .map_err(|e| anyhow!("Error force-leaving server {}: {e}", args.node))?;
    Ok(0)
}
