//! `server members`: the servers of the cluster and which one leads.

use crate::format::table_with;
use anyhow::{anyhow, Result};
use api::client::Client;
use api::AgentMember;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Also show each member's tags
    #[arg(long)]
    pub verbose: bool,
}

pub fn run(client: &Client, args: &Args) -> Result<i32> {
    let members = client
        .agent_members()
        .map_err(|e| anyhow!("Error querying servers: {e}"))?;
    // No leader is not an error here: the table simply shows none.
    let leader = client.status_leader().unwrap_or_default();
    print!("{}", render(&members.members, &leader, args.verbose));
    Ok(0)
}

/// The member's RPC address, "ip:port", as `/v1/status/leader` names the leader.
fn rpc_address(m: &AgentMember) -> String {
    let host = m
        .tags
        .get("rpc_addr")
        .filter(|a| !a.is_empty())
        .cloned()
        .unwrap_or_else(|| m.addr.clone());
    let port = m.tags.get("port").cloned().unwrap_or_default();
    format!("{host}:{port}")
}

pub fn render(members: &[AgentMember], leader: &str, verbose: bool) -> String {
    let mut sorted: Vec<&AgentMember> = members.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let tag = |m: &AgentMember, k: &str| m.tags.get(k).cloned().unwrap_or_default();
    let mut header = vec![
        "Name",
        "Address",
        "Port",
        "Status",
        "Leader",
        "Raft Version",
        "Build",
        "Datacenter",
        "Region",
    ];
    if verbose {
        header.push("Tags");
    }
    let rows = sorted
        .iter()
        .map(|m| {
            let mut row = vec![
                m.name.clone(),
                m.addr.clone(),
                m.port.to_string(),
                m.status.clone(),
                (!leader.is_empty() && rpc_address(m) == leader).to_string(),
                tag(m, "raft_vsn"),
                tag(m, "build"),
                tag(m, "dc"),
                tag(m, "region"),
            ];
            if verbose {
                let tags: Vec<String> = m.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
                row.push(tags.join(","));
            }
            row
        })
        .collect();
    table_with(&header, rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn member(name: &str, addr: &str) -> AgentMember {
        AgentMember {
            name: name.into(),
            addr: addr.into(),
            port: 4648,
            status: "alive".into(),
            tags: BTreeMap::from([
                ("build".to_string(), "0.1.0".to_string()),
                ("dc".to_string(), "dc1".to_string()),
                ("region".to_string(), "global".to_string()),
                ("raft_vsn".to_string(), "3".to_string()),
                ("port".to_string(), "4647".to_string()),
                ("rpc_addr".to_string(), addr.to_string()),
            ]),
            ..Default::default()
        }
    }

    #[test]
    fn leader_is_matched_by_rpc_address() {
        let out = render(
            &[
                member("b.global", "10.0.0.2"),
                member("a.global", "10.0.0.1"),
            ],
            "10.0.0.2:4647",
            false,
        );
        assert_eq!(
            out,
            "Name      Address   Port  Status  Leader  Raft Version  Build  Datacenter  Region\n\
             a.global  10.0.0.1  4648  alive   false   3             0.1.0  dc1         global\n\
             b.global  10.0.0.2  4648  alive   true    3             0.1.0  dc1         global\n"
        );
    }
}
