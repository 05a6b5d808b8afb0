//! `alloc signal [-s SIGNAL] ALLOC [TASK]`: send a signal to one task, or to every running
//! task of the allocation. Prints nothing when it worked, like Nomad's.

use crate::commands::{alloc_logs, alloc_status, lookup};
use anyhow::{anyhow, Result};
use api::client::Client;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// An allocation id or unique prefix
    pub alloc: String,
    /// The task; every running task when left out
    pub task: Option<String>,
    /// The signal (Nomad's default: SIGKILL)
    #[arg(short = 's', default_value = "SIGKILL")]
    pub signal: String,
    #[arg(long)]
    pub verbose: bool,
}

pub fn run(client: &Client, args: &Args) -> Result<i32> {
    let alloc = lookup::alloc(client, &args.alloc, args.verbose)?;
    let task = match &args.task {
        Some(t) => {
            let tasks = alloc_status::task_names(&alloc);
            alloc_logs::pick_task(&alloc.id, Some(t), &tasks, args.verbose)?
        }
        None => String::new(),
    };
    client
        .signal_alloc(&alloc.id, &task, &args.signal)
        .map_err(|e| anyhow!("Error signalling allocation: {e}"))?;
    Ok(0)
}
