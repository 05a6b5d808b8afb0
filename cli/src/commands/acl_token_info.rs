//! `acl token info ACCESSOR` and `acl token self`.

use super::acl_token_format::render;
use anyhow::{Context, Result};
use api::client::Client;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub output: crate::output_flags::OutputFlags,
    pub accessor_id: String,
}

#[derive(clap::Args, Debug)]
pub struct SelfArgs {
    #[command(flatten)]
    pub output: crate::output_flags::OutputFlags,
}

pub fn run(client: &Client, args: &Args) -> Result<i32> {
    let token = client
        .acl_token(&args.accessor_id)
        .context("Error fetching token")?;
    print_token(&token, &args.output)
}

pub fn run_self(client: &Client, args: &SelfArgs) -> Result<i32> {
    let token = client
        .acl_token_self()
        .context("Error fetching self token")?;
    print_token(&token, &args.output)
}

pub(super) fn print_token(
    token: &api::acl::AclToken,
    output: &crate::output_flags::OutputFlags,
) -> Result<i32> {
    if !output.print(token)? {
        print!("{}", render(token));
    }
    Ok(0)
}
