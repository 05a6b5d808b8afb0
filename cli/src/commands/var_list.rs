//! `var list [-per-page N] [-page-token T] [-filter EXPR] [-out FORMAT] [PREFIX]`.

use super::var_output::{choose, render_list, Out};
use anyhow::{anyhow, Result};
use api::client::Client;
use api::variable::{PageMeta, PagedVariables, VariableMetadata};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// How many variables to show per page
    #[arg(long = "per-page")]
    pub per_page: Option<usize>,
    /// Where to start a page (a previous page's "Next page token")
    #[arg(long = "page-token", default_value = "")]
    pub page_token: String,
    /// A filter expression on the listed metadata
    #[arg(long)]
    pub filter: Option<String>,
    /// Output format (table on a terminal, json when redirected)
    #[arg(long, value_enum)]
    pub out: Option<Out>,
    /// A Go template for `-out go-template`
    #[arg(long)]
    pub template: Option<String>,
    /// Only paths starting with this
    #[arg(default_value = "")]
    pub prefix: String,
}

pub fn run(client: &Client, args: &Args) -> Result<i32> {
    let out = choose(args.out, &args.template, Out::Table)?;
    let per_page = args.per_page.map(|n| n.to_string());
    let mut query: Vec<(&str, &str)> = vec![("prefix", args.prefix.as_str())];
    if let Some(p) = &per_page {
        query.push(("per_page", p));
    }
    if !args.page_token.is_empty() {
        query.push(("next_token", &args.page_token));
    }
    if let Some(f) = &args.filter {
        query.push(("filter", f));
    }
    let (list, meta): (Vec<VariableMetadata>, _) = client
        .get("/v1/vars", &query)
        .map_err(|e| anyhow!("Error retrieving vars: {e}"))?;
    let next = meta.next_token.clone().unwrap_or_default();
    match out {
        Out::Json if args.per_page.is_some() => {
            // As Nomad: a paged JSON listing carries its next token beside the data.
            let paged = PagedVariables {
                data: list,
                query_meta: PageMeta {
                    last_index: meta.last_index,
                    next_token: next,
                },
            };
            println!("{}", serde_json::to_string_pretty(&paged)?);
            return Ok(0);
        }
        Out::Json => println!("{}", serde_json::to_string_pretty(&list)?),
        Out::GoTemplate => print!(
            "{}",
            crate::template_output::render(args.template.as_deref().unwrap_or(""), &list)?
        ),
        Out::None => {}
        other => print!("{}", render_list(&list, other)),
    }
    if !next.is_empty() {
        eprintln!("Next page token: {next}");
    }
    Ok(0)
}
