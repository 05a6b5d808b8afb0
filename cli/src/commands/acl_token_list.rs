//! `acl token list`.

use crate::format::{or_none, table_with};
use anyhow::{Context, Result};
use api::acl::AclTokenListStub;
use api::client::Client;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub output: crate::output_flags::OutputFlags,
}

pub fn run(client: &Client, args: &Args) -> Result<i32> {
    let tokens = client.acl_tokens().context("Error listing tokens")?;
    if !args.output.print(&tokens)? {
        print!("{}", render(&tokens));
    }
    Ok(0)
}

pub fn render(tokens: &[AclTokenListStub]) -> String {
    if tokens.is_empty() {
        return "No tokens found\n".into();
    }
    let rows = tokens
        .iter()
        .map(|t| {
            vec![
                or_none(&t.name),
                t.r#type.to_string(),
                t.global.to_string(),
                t.accessor_id.clone(),
                "false".into(),
            ]
        })
        .collect();
    table_with(&["Name", "Type", "Global", "Accessor ID", "Expired"], rows)
}
