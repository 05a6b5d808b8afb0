//! `template render FILE`: renders a template of the agent's renderer once against the live
//! service catalog and prints it, so a template can be tried before it is deployed.

use anyhow::{Context, Result};
use api::client::Client;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The template file (minijinja)
    pub file: PathBuf,
}

pub fn run(client: &Client, args: &Args) -> Result<i32> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("Error reading {}", args.file.display()))?;
    let name = args.file.display().to_string();
    match client.render_template(&name, &text) {
        Ok(out) => {
            print!("{out}");
            Ok(0)
        }
        Err(api::client::ClientError::Http { status: 400, body }) => {
            eprintln!("Error rendering the template: {}", body.trim());
            Ok(1)
        }
        Err(e) => Err(e).context("Error rendering the template"),
    }
}
