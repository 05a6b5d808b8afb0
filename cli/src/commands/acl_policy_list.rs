//! `acl policy list`.

use crate::format::{or_none, table_with};
use anyhow::{Context, Result};
use api::acl::AclPolicyListStub;
use api::client::Client;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Print the policies as JSON
    #[arg(long)]
    pub json: bool,
}

pub fn run(client: &Client, args: &Args) -> Result<i32> {
    let policies = client
        .acl_policies()
        .context("Error listing ACL policies")?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&policies)?);
    } else {
        print!("{}", render(&policies));
    }
    Ok(0)
}

pub fn render(policies: &[AclPolicyListStub]) -> String {
    if policies.is_empty() {
        return "No policies found\n".into();
    }
    let rows = policies
        .iter()
        .map(|p| vec![p.name.clone(), or_none(&p.description)])
        .collect();
    table_with(&["Name", "Description"], rows)
}
