//! `acl policy info NAME`.

use crate::format::{kv, or_none};
use anyhow::{Context, Result};
use api::acl::AclPolicy;
use api::client::Client;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub output: crate::output_flags::OutputFlags,
    pub name: String,
}

pub fn run(client: &Client, args: &Args) -> Result<i32> {
    let policy = client
        .acl_policy(&args.name)
        .context("Error reading ACL policy")?;
    if !args.output.print(&policy)? {
        print!("{}", render(&policy));
    }
    Ok(0)
}

pub fn render(p: &AclPolicy) -> String {
    let mut out = kv(&[
        ("Name", p.name.clone()),
        ("Description", or_none(&p.description)),
        ("CreateIndex", p.create_index.to_string()),
        ("ModifyIndex", p.modify_index.to_string()),
    ]);
    out.push_str("\nRules\n\n");
    out.push_str(p.rules.trim_end());
    out.push('\n');
    out
}
