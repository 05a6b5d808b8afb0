//! `alloc stop ALLOC`: stop one allocation; the scheduler replaces it (Nomad's migration).

use crate::commands::lookup;
use crate::monitor::MonitorFlags;
use anyhow::{anyhow, Result};
use api::client::Client;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The allocation id (or a unique prefix)
    pub alloc: String,
    #[command(flatten)]
    pub monitor: MonitorFlags,
}

pub fn run(client: &Client, args: &Args) -> Result<i32> {
    let alloc = lookup::alloc(client, &args.alloc, args.monitor.verbose)?;
    let resp = client
        .stop_allocation(&alloc.id)
        .map_err(|e| anyhow!("Error stopping allocation: {e}"))?;
    args.monitor
        .monitor_or_print(client, &resp.eval_id, false, &resp.eval_id)
}
