//! `acl bootstrap [FILE]`: makes the first management token, once per cluster. FILE (or `-`
//! for stdin) holds an operator-chosen secret, as with Nomad.

use super::acl_token_format::render;
use anyhow::{Context, Result};
use api::client::Client;
use std::io::Read;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// A file holding the secret to use (a UUID), or `-` for stdin
    pub secret_file: Option<String>,
}

pub fn run(client: &Client, args: &Args) -> Result<i32> {
    let secret = match args.secret_file.as_deref() {
        None => None,
        Some("-") => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("Error reading the bootstrap secret from stdin")?;
            Some(s.trim().to_string())
        }
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("Error reading the bootstrap secret from {path}"))?
                .trim()
                .to_string(),
        ),
    };
    let token = client
        .acl_bootstrap(secret)
        .context("Error bootstrapping")?;
    print!("{}", render(&token));
    Ok(0)
}
