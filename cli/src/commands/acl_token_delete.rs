//! `acl token delete ACCESSOR`.

use anyhow::{Context, Result};
use api::client::Client;

#[derive(clap::Args, Debug)]
pub struct Args {
    pub accessor_id: String,
}

pub fn run(client: &Client, args: &Args) -> Result<i32> {
    client
        .acl_token_delete(&args.accessor_id)
        .context("Error deleting token")?;
    println!("Token {} successfully deleted", args.accessor_id);
    Ok(0)
}
