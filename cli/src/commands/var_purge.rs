//! `var purge [-check-index N] PATH`.

use anyhow::{anyhow, Result};
use api::client::{Client, ClientError};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Delete only if the variable's modify index is this
    #[arg(long = "check-index")]
    pub check_index: Option<u64>,
    /// The variable's path
    pub path: String,
}

pub fn run(client: &Client, args: &Args) -> Result<i32> {
    let check = args.check_index.map(|i| i.to_string());
    let query: Vec<(&str, &str)> = check.iter().map(|c| ("cas", c.as_str())).collect();
    match client.delete::<serde_json::Value>(&format!("/v1/var/{}", args.path), &query) {
        Ok(_) => {
            println!("Successfully purged variable {:?}!", args.path);
            Ok(0)
        }
        Err(ClientError::Http { status: 409, body }) => {
            eprint!(
                "{}",
                super::var_put::conflict_text(args.check_index.unwrap_or(0), &body)
            );
            Ok(1)
        }
        Err(e) => Err(anyhow!("Error purging variable: {e}")),
    }
}
