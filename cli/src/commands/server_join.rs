//! `server join ADDRESS...`: the agent's server joins the cluster of the servers at those rpc
//! addresses.

use anyhow::{anyhow, Result};
use api::client::Client;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Rpc addresses (host:port) of servers of the cluster to join
    #[arg(required = true)]
    pub addresses: Vec<String>,
}

#[derive(serde::Deserialize)]
struct JoinResponse {
    num_joined: usize,
    #[serde(default)]
    error: String,
}

pub fn run(client: &Client, args: &Args) -> Result<i32> {
    let query: Vec<(&str, &str)> = args
        .addresses
        .iter()
        .map(|a| ("address", a.as_str()))
        .collect();
    let resp: JoinResponse = client
        .put("/v1/agent/join", &query, &serde_json::json!({}))
        .map_err(|e| anyhow!("Error joining: {e}"))?;
    if !resp.error.is_empty() {
        eprintln!("Error joining: {}", resp.error);
    }
    println!("Joined {} servers successfully", resp.num_joined);
    Ok(if resp.num_joined == 0 { 1 } else { 0 })
}
