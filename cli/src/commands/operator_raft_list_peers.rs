//! `operator raft list-peers`: the servers of the raft configuration, which one leads and which
//! vote, as Nomad prints them.

use crate::format::table_with;
use anyhow::{anyhow, Result};
use api::client::Client;
use api::RaftServer;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Answer from the contacted server's own state, even without a leader
    #[arg(long)]
    pub stale: bool,
}

pub fn run(client: &Client, args: &Args) -> Result<i32> {
    let config = client
        .raft_configuration(args.stale)
        .map_err(|e| anyhow!("Failed to retrieve raft configuration: {e}"))?;
    print!("{}", render(&config.servers));
    Ok(0)
}

/// One row per server, in the order of the configuration (Nomad does not sort them either).
pub fn render(servers: &[RaftServer]) -> String {
    let rows = servers
        .iter()
        .map(|s| {
            let state = if s.leader { "leader" } else { "follower" };
            vec![
                s.node.clone(),
                s.id.clone(),
                s.address.clone(),
                state.to_string(),
                s.voter.to_string(),
                s.raft_protocol.clone(),
            ]
        })
        .collect();
    table_with(
        &["Node", "ID", "Address", "State", "Voter", "RaftProtocol"],
        rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(node: &str, id: &str, address: &str, leader: bool) -> RaftServer {
        RaftServer {
            id: id.into(),
            node: node.into(),
            address: address.into(),
            leader,
            voter: true,
            raft_protocol: "3".into(),
        }
    }

    #[test]
    fn leader_and_followers_are_named() {
        let out = render(&[
            server("server-1.global", "1", "127.0.0.1:4647", false),
            server("server-2.global", "12", "127.0.0.1:5647", true),
            server("server-3.global", "3", "127.0.0.1:6647", false),
        ]);
        assert_eq!(
            out,
            "Node             ID  Address         State     Voter  RaftProtocol\n\
             server-1.global  1   127.0.0.1:4647  follower  true   3\n\
             server-2.global  12  127.0.0.1:5647  leader    true   3\n\
             server-3.global  3   127.0.0.1:6647  follower  true   3\n"
        );
    }

    #[test]
    fn non_voters_show_false() {
        let mut s = server("server-4.global", "4", "127.0.0.1:7647", false);
        s.voter = false;
        let out = render(&[s]);
        let row = out.lines().nth(1).unwrap_or_default();
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cells[3..], ["follower", "false", "3"]);
    }

    #[test]
    fn empty_configuration_prints_the_header_only() {
        assert_eq!(
            render(&[]),
            "Node  ID  Address  State  Voter  RaftProtocol\n"
        );
    }
}
