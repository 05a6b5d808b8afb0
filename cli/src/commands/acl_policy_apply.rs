//! `acl policy apply [-description D] NAME FILE`: writes a policy from its HCL rules (`-` reads
//! stdin). The servers parse the rules; a mistake comes back with its line and column.

use anyhow::{Context, Result};
use api::acl::AclPolicy;
use api::client::Client;
use std::io::Read;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// What the policy is for
    #[arg(long, default_value = "")]
    pub description: String,
    /// The policy's name
    pub name: String,
    /// The rules file, or `-` for stdin
    pub path: String,
}

pub fn run(client: &Client, args: &Args) -> Result<i32> {
    let rules = if args.path == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("Error reading the policy from stdin")?;
        s
    } else {
        std::fs::read_to_string(&args.path)
            .with_context(|| format!("Error reading policy file {}", args.path))?
    };
    let policy = AclPolicy {
        name: args.name.clone(),
        description: args.description.clone(),
        rules,
        ..AclPolicy::default()
    };
    client
        .acl_policy_apply(&policy)
        .context("Error writing ACL policy")?;
    println!("Successfully wrote {:?} ACL policy!", args.name);
    Ok(0)
}
