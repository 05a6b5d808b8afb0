//! `service delete NAME ID`: drops one registration from the catalog (a live allocation's client
//! puts it back at its next reconciliation, as in Nomad).

use anyhow::{Context, Result};
use api::client::Client;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The service's name
    pub name: String,
    /// The registration's id (see `service info -verbose`)
    pub id: String,
    /// The namespace of the service
    #[arg(long, default_value = "default")]
    pub namespace: String,
}

pub fn run(client: &Client, args: &Args) -> Result<i32> {
    client
        .delete_service(&args.name, &args.id, &args.namespace)
        .with_context(|| format!("Error deleting service registration {:?}", args.id))?;
    println!("Successfully deleted service registration");
    Ok(0)
}
