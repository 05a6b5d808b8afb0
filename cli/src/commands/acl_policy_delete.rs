//! `acl policy delete NAME`.

use anyhow::{Context, Result};
use api::client::Client;

#[derive(clap::Args, Debug)]
pub struct Args {
    pub name: String,
}

pub fn run(client: &Client, args: &Args) -> Result<i32> {
    client
        .acl_policy_delete(&args.name)
        .context("Error deleting ACL policy")?;
    println!("Successfully deleted {:?} ACL policy!", args.name);
    Ok(0)
}
