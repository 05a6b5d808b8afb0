//! `node status [ID]`: list client nodes, or show one with its resources and allocations.

use crate::commands::lookup;
use crate::format::{self, kv, table_with};
use crate::tables;
use anyhow::{anyhow, Context, Result};
use api::client::Client;
use api::{Allocation, Node};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// A node id or unique prefix; without it, list all nodes
    pub node: Option<String>,
    /// Show full ids and the node's attributes
    #[arg(long)]
    pub verbose: bool,
    /// Show the host's measured CPU, memory and disk use
    #[arg(long)]
    pub stats: bool,
    #[command(flatten)]
    pub output: crate::output_flags::OutputFlags,
}

pub fn run(client: &Client, args: &Args) -> Result<i32> {
    let Some(given) = &args.node else {
        let nodes = client.nodes("").context("Error querying node status")?;
        if args.output.print(&nodes)? {
            return Ok(0);
        }
        if nodes.is_empty() {
            println!("No nodes registered");
        } else {
            print!("{}", tables::nodes(&nodes, args.verbose));
        }
        return Ok(0);
    };
    let stub = lookup::node(client, given, args.verbose)?;
    let node = client
        .node(&stub.id)
        .map_err(|e| anyhow!("Error querying node info: {e}"))?;
    if args.output.print(&node)? {
        return Ok(0);
    }
    let allocs = client
        .node_allocations(&node.id)
        .map_err(|e| anyhow!("Error querying node allocations: {e}"))?;
    print!(
        "{}",
        render(&node, &allocs, args.verbose, format::now_nanos())
    );
    if args.stats {
        let host = client
            .host_stats(&node.id)
            .map_err(|e| anyhow!("Error querying the node's resource usage: {e}"))?;
        print!("{}", render_stats(&node, &host));
    }
    Ok(0)
}

/// `-stats`: the host's use, then per core, memory and disk, as Nomad's detailed sections.
pub fn render_stats(node: &Node, host: &api::stats::HostStats) -> String {
    let mut out = String::from("\nHost Resource Utilization\n");
    let cpu_total = node.node_resources.cpu.cpu_shares;
    let disk_used: u64 = host.disk_stats.first().map(|d| d.used).unwrap_or(0);
    let disk_size: u64 = host.disk_stats.first().map(|d| d.size).unwrap_or(0);
    out.push_str(&table_with(
        &["CPU", "Memory", "Disk"],
        vec![vec![
            format!("{:.0}/{cpu_total} MHz", host.cpu_ticks_consumed),
            format!(
                "{}/{}",
                format::ibytes(host.memory.used),
                format::ibytes(host.memory.total)
            ),
            format!(
                "{}/{}",
                format::ibytes(disk_used),
                format::ibytes(disk_size)
            ),
        ]],
    ));
    out.push_str("\nCPU Stats\n");
    for c in &host.cpu {
        let pairs = [
            ("CPU", c.cpu.clone()),
            ("User", format!("{:.2}%", c.user)),
            ("System", format!("{:.2}%", c.system)),
            ("Idle", format!("{:.2}%", c.idle)),
        ];
        out.push_str(&kv(&pairs));
        out.push('\n');
    }
    out.push_str("Memory Stats\n");
    out.push_str(&kv(&[
        ("Total", format::ibytes(host.memory.total)),
        ("Available", format::ibytes(host.memory.available)),
        ("Used", format::ibytes(host.memory.used)),
        ("Free", format::ibytes(host.memory.free)),
    ]));
    out.push_str("\nDisk Stats\n");
    for d in &host.disk_stats {
        out.push_str(&kv(&[
            ("Mountpoint", d.mountpoint.clone()),
            ("Size", format::ibytes(d.size)),
            ("Used", format::ibytes(d.used)),
            ("Available", format::ibytes(d.available)),
            ("Used Percent", format!("{:.2}%", d.used_percent)),
            ("Inodes Percent", format!("{:.2}%", d.inodes_used_percent)),
        ]));
    }
    out
}

pub fn render(node: &Node, allocs: &[Allocation], verbose: bool, now: i64) -> String {
    let drivers: Vec<&str> = node
        .drivers
        .iter()
        .filter(|(_, d)| d.detected && d.healthy)
        .map(|(name, _)| name.as_str())
        .collect();
    let mut out = kv(&[
        ("ID", format::id(&node.id, verbose)),
        ("Name", node.name.clone()),
        ("Class", format::or_none(&node.node_class)),
        ("Node Pool", node.node_pool.clone()),
        ("DC", node.datacenter.clone()),
        ("Drain", node.drain.to_string()),
        ("Eligibility", node.scheduling_eligibility.clone()),
        ("Status", node.status.clone()),
        ("Drivers", format::or_none(&drivers.join(","))),
    ]);
    out.push_str("\nAllocated Resources\n");
    out.push_str(&allocated_table(node, allocs));
    out.push_str("\nAllocations\n");
    let live: Vec<Allocation> = allocs.iter().filter(|a| !a.terminal()).cloned().collect();
    let shown = if verbose { allocs } else { &live[..] };
    if shown.is_empty() {
        out.push_str("No allocations placed\n");
    } else {
        out.push_str(&tables::allocs(shown, verbose, now));
    }
    if verbose {
        out.push_str("\nDrivers\n");
        let rows: Vec<Vec<String>> = node
            .drivers
            .iter()
            .map(|(name, d)| {
                vec![
                    name.clone(),
                    d.detected.to_string(),
                    d.healthy.to_string(),
                    format::or_none(&d.health_description),
                    format::rfc3339(d.update_time),
                ]
            })
            .collect();
        out.push_str(&table_with(
            &["Driver", "Detected", "Healthy", "Message", "Time"],
            rows,
        ));
        out.push_str("\nAttributes\n");
        out.push_str(&format::kv_map(&node.attributes));
        out.push_str("\nMeta\n");
        out.push_str(&format::kv_map(&node.meta));
    }
    out
}

/// `CPU  Memory  Disk` as used/total of what the scheduler may hand out (total minus reserved).
fn allocated_table(node: &Node, allocs: &[Allocation]) -> String {
    let running: Vec<&Allocation> = allocs.iter().filter(|a| !a.terminal()).collect();
    let cpu_used: i64 = running.iter().map(|a| a.allocated_resources.cpu()).sum();
    let mem_used: i64 = running
        .iter()
        .map(|a| a.allocated_resources.memory_mb())
        .sum();
    let cpu_total = node.node_resources.cpu.cpu_shares - node.reserved_resources.cpu_shares;
    let mem_total = node.node_resources.memory.memory_mb - node.reserved_resources.memory_mb;
    table_with(
        &["CPU", "Memory", "Disk"],
        vec![vec![
            format!("{cpu_used}/{cpu_total} MHz"),
            format!("{}/{}", format::mib(mem_used), format::mib(mem_total)),
            format!("0 B/{}", format::mib(node.node_resources.disk.disk_mb)),
        ]],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::{AllocatedResources, AllocatedTaskResources, DriverInfo};
    use std::collections::BTreeMap;

    #[test]
    fn node_detail_shows_healthy_drivers_and_usage() {
        let mut node = Node {
            id: "7c3b1e7f-aaaa".into(),
            name: "dev".into(),
            datacenter: "dc1".into(),
            status: "ready".into(),
            scheduling_eligibility: "eligible".into(),
            ..Default::default()
        };
        node.node_resources.cpu.cpu_shares = 2200;
        node.node_resources.memory.memory_mb = 2048;
        let driver = |healthy| DriverInfo {
            detected: true,
            healthy,
            ..Default::default()
        };
        node.drivers = BTreeMap::from([
            ("docker".to_string(), driver(false)),
            ("raw_exec".to_string(), driver(true)),
        ]);
        let mut task = AllocatedTaskResources::default();
        task.cpu.cpu_shares = 500;
        task.memory.memory_mb = 256;
        let alloc = Allocation {
            desired_status: "run".into(),
            client_status: "running".into(),
            allocated_resources: std::sync::Arc::new(AllocatedResources {
                tasks: BTreeMap::from([("server".to_string(), task)]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let out = render(&node, &[alloc], false, 0);
        assert!(out.contains("Drivers     = raw_exec\n"), "{out}");
        assert!(out.contains("500/2200 MHz  256 MiB/2.0 GiB"), "{out}");
        assert!(!out.contains("Attributes"));
    }
}
