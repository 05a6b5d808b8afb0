//! `var get [-item KEY] [-out FORMAT] [-template T] PATH`.

use super::var_output::{choose, render_var, Out};
use anyhow::{anyhow, bail, Result};
use api::client::Client;
use api::variable::Variable;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Print only this item's value, without a trailing newline
    #[arg(long)]
    pub item: Option<String>,
    /// Output format (table on a terminal, json when redirected)
    #[arg(long, value_enum)]
    pub out: Option<Out>,
    /// A Go template for `-out go-template`
    #[arg(long)]
    pub template: Option<String>,
    /// The variable's path
    pub path: String,
}

pub fn run(client: &Client, args: &Args) -> Result<i32> {
    let out = choose(args.out, &args.template, Out::Table)?;
    let var: Variable = match client.get(&format!("/v1/var/{}", args.path), &[]) {
        Ok((v, _)) => v,
        Err(e) if e.is_not_found() => bail!("Error retrieving variable: variable not found"),
        Err(e) => return Err(anyhow!("Error retrieving variable: {e}")),
    };
    if let Some(item) = &args.item {
        let Some(value) = var.items.get(item) else {
            bail!("Variable does not contain {item:?} item");
        };
        print!("{value}");
        return Ok(0);
    }
    print!("{}", render_var(&var, out, &args.template)?);
    Ok(0)
}
