//! `system gc`: collects every terminal evaluation, allocation, deployment, dead job and down
//! node now, whatever its age. Like Nomad's, it prints nothing when it worked.

use anyhow::{Context, Result};
use api::client::Client;

#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(client: &Client, _args: &Args) -> Result<i32> {
    client
        .put::<_, serde_json::Value>("/v1/system/gc", &[], &serde_json::json!({}))
        .context("Error running system garbage-collection")?;
    Ok(0)
}
