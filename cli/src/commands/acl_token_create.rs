//! `acl token create [-name N] [-type client|management] [-policy P ...] [-global]`. The
//! secret is printed here and never again.

use anyhow::{Context, Result};
use api::acl::{AclToken, AclTokenType};
use api::client::Client;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// A name for the token
    #[arg(long, default_value = "")]
    pub name: String,
    /// client (the union of its policies) or management (everything)
    #[arg(long = "type", default_value = "client", value_parser = ["client", "management"])]
    pub token_type: String,
    /// A policy the token holds; repeat for more
    #[arg(long = "policy")]
    pub policies: Vec<String>,
    /// Replicate the token to every region
    #[arg(long)]
    pub global: bool,
    #[command(flatten)]
    pub output: crate::output_flags::OutputFlags,
}

pub fn run(client: &Client, args: &Args) -> Result<i32> {
    let token = AclToken {
        name: args.name.clone(),
        r#type: if args.token_type == "management" {
            AclTokenType::Management
        } else {
            AclTokenType::Client
        },
        policies: args.policies.clone(),
        global: args.global,
        ..AclToken::default()
    };
    let made = client
        .acl_token_create(&token)
        .context("Error creating token")?;
    super::acl_token_info::print_token(&made, &args.output)
}
