//! `acl policy list`.

use crate::format::{or_none, table_with};
use anyhow::{Context, Result};
use api::acl::AclPolicyListStub;
use api::client::Client;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub output: crate::output_flags::OutputFlags,
}

pub fn run(client: &Client, args: &Args) -> Result<i32> {
    let policies = client
        .acl_policies()
        .context("Error listing ACL policies")?;
    if !args.output.print(&policies)? {
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
