//! `node drain -enable|-disable [-deadline D] [-self] [-yes] [-detach] ID`: move a node's work
//! elsewhere before maintenance, and take it back into service afterwards.

use crate::commands::lookup;
use anyhow::{anyhow, bail, Result};
use api::client::Client;
use std::io::{BufRead, IsTerminal, Write};
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Start draining the node
    #[arg(long, conflicts_with = "disable")]
    pub enable: bool,
    /// Stop draining; the node takes new work again unless -keep-ineligible
    #[arg(long)]
    pub disable: bool,
    /// How long the drain may take ("1h", "-1s" for no deadline)
    #[arg(long, default_value = "1h", allow_hyphen_values = true)]
    pub deadline: String,
    /// Leave the node ineligible after -disable
    #[arg(long)]
    pub keep_ineligible: bool,
    /// Return once the drain is set instead of waiting for the node's work to move
    #[arg(long)]
    pub detach: bool,
    /// Do not ask for confirmation
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// The node of the agent NOMAD_ADDR points at
    #[arg(long = "self")]
    pub own: bool,
    /// The node id or unique prefix
    pub node: Option<String>,
}

fn parse_deadline(s: &str) -> Result<i64> {
    if s.starts_with('-') {
        return Ok(-1);
    }
    let d =
        api::duration::parse_duration(s).map_err(|e| anyhow!("Invalid -deadline {s:?}: {e}"))?;
    Ok(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

pub fn run(client: &Client, args: &Args) -> Result<i32> {
    if !args.enable && !args.disable {
        bail!("Either the '-enable' or '-disable' flag must be set");
    }
    let id = lookup::node_or_self(client, args.node.as_deref(), args.own)?;
    if args.disable {
        client
            .node_drain(&id, None, !args.keep_ineligible)
            .map_err(|e| anyhow!("Error updating drain specification: {e}"))?;
        println!("Node {id:?} drain strategy unset");
        return Ok(0);
    }
    let deadline = parse_deadline(&args.deadline)?;
    if !args.yes && std::io::stdin().is_terminal() && !confirm(&id)? {
        println!("Canceling drain");
        return Ok(0);
    }
    client
        .node_drain(
            &id,
            Some(api::DrainSpec {
                deadline,
                ignore_system_jobs: false,
            }),
            false,
        )
        .map_err(|e| anyhow!("Error updating drain specification: {e}"))?;
    println!("Node {id:?} drain strategy set");
    if args.detach {
        return Ok(0);
    }
    // Watch the node's allocations until none is left running.
    let limit = if deadline > 0 {
        Duration::from_nanos(deadline as u64) + Duration::from_secs(60)
    } else {
        Duration::from_secs(24 * 3600)
    };
    let started = Instant::now();
    loop {
        let allocs = client
            .node_allocations(&id)
            .map_err(|e| anyhow!("Error querying node allocations: {e}"))?;
        let left = allocs
            .iter()
            .filter(|a| a.client_status == "running" || a.client_status == "pending")
            .count();
        if left == 0 {
            println!("All allocations on node {id:?} have stopped");
            return Ok(0);
        }
        if started.elapsed() > limit {
            bail!("{left} allocations still run on node {id:?} past the drain deadline");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn confirm(id: &str) -> Result<bool> {
    print!("Are you sure you want to enable drain mode for node {id:?}? [y/N] ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(
        line.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}
