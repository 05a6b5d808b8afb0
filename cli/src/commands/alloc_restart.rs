//! `alloc restart ALLOC [TASK]`: restart one task, or every running task, in place. A restart
//! asked for does not count against the restart policy. Prints nothing when it worked.

use crate::commands::{alloc_logs, alloc_status, lookup};
use anyhow::{anyhow, bail, Result};
use api::client::Client;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// An allocation id or unique prefix
    pub alloc: String,
    /// The task; every running task when left out
    pub task: Option<String>,
    /// The task, as a flag (Nomad's -task)
    #[arg(long = "task", id = "task_flag")]
    pub task_flag: Option<String>,
    /// Restart every running task (the default without a task)
    #[arg(long = "all-tasks")]
    pub all_tasks: bool,
    #[arg(long)]
    pub verbose: bool,
}

pub fn run(client: &Client, args: &Args) -> Result<i32> {
    let alloc = lookup::alloc(client, &args.alloc, args.verbose)?;
    let given = match (&args.task, &args.task_flag) {
        (Some(a), Some(b)) if a != b => bail!("the task is given twice: {a:?} and -task={b:?}"),
        (Some(t), _) | (None, Some(t)) => Some(t.clone()),
        (None, None) => None,
    };
    if given.is_some() && args.all_tasks {
        bail!("-all-tasks cannot be used with a task name");
    }
    let task = match given {
        Some(t) => {
            let tasks = alloc_status::task_names(&alloc);
            alloc_logs::pick_task(&alloc.id, Some(&t), &tasks, args.verbose)?
        }
        None => String::new(),
    };
    client
        .restart_alloc(&alloc.id, &task, args.all_tasks)
        .map_err(|e| anyhow!("Failed to restart allocation: {e}"))?;
    Ok(0)
}
