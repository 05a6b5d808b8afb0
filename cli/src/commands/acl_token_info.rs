//! `acl token info ACCESSOR` and `acl token self`.

use super::acl_token_format::render;
use anyhow::{Context, Result};
use api::client::Client;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Print the token as JSON
    #[arg(long)]
    pub json: bool,
    pub accessor_id: String,
}

#[derive(clap::Args, Debug)]
pub struct SelfArgs {
    /// Print the token as JSON
    #[arg(long)]
    pub json: bool,
}

pub fn run(client: &Client, args: &Args) -> Result<i32> {
    let token = client
        .acl_token(&args.accessor_id)
        .context("Error fetching token")?;
    print_token(&token, args.json)
}

pub fn run_self(client: &Client, args: &SelfArgs) -> Result<i32> {
    let token = client
        .acl_token_self()
        .context("Error fetching self token")?;
    print_token(&token, args.json)
}

fn print_token(token: &api::acl::AclToken, json: bool) -> Result<i32> {
    if json {
        println!("{}", serde_json::to_string_pretty(token)?);
    } else {
        print!("{}", render(token));
    }
    Ok(0)
}
