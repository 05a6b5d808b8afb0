//! `operator raft remove-peer`: take a server out of the raft configuration, the way an operator
//! retires a server that is dead for good.

use anyhow::{anyhow, bail, Result};
use api::client::Client;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The rpc address ("ip:port") of the server to remove
    #[arg(long = "peer-address", value_name = "ADDR")]
    pub peer_address: Option<String>,
    /// The raft id of the server to remove
    #[arg(long = "peer-id", value_name = "ID")]
    pub peer_id: Option<String>,
}

/// Which server to remove: the command takes exactly one way of naming it.
#[derive(Debug, PartialEq, Eq)]
pub enum Peer<'a> {
    Address(&'a str),
    Id(&'a str),
}

impl Peer<'_> {
    pub fn removed_message(&self) -> String {
        match self {
            Peer::Address(a) => format!("Removed peer with address {a:?}"),
            Peer::Id(id) => format!("Removed peer with id {id:?}"),
        }
    }
}

/// Checked here rather than by clap so the message says what Nomad's does.
pub fn peer(args: &Args) -> Result<Peer<'_>> {
    fn given(v: &Option<String>) -> Option<&str> {
        v.as_deref().filter(|s| !s.trim().is_empty())
    }
    match (given(&args.peer_address), given(&args.peer_id)) {
        (Some(a), None) => Ok(Peer::Address(a)),
        (None, Some(id)) => Ok(Peer::Id(id)),
        _ => bail!("Exactly one of -peer-address and -peer-id must be provided"),
    }
}

pub fn run(client: &Client, args: &Args) -> Result<i32> {
    let peer = peer(args)?;
    let result = match peer {
        Peer::Address(a) => client.remove_raft_peer(Some(a), None),
        Peer::Id(id) => client.remove_raft_peer(None, Some(id)),
    };
    result.map_err(|e| anyhow!("Error removing peer: {e}"))?;
    println!("{}", peer.removed_message());
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(address: Option<&str>, id: Option<&str>) -> Args {
        Args {
            peer_address: address.map(String::from),
            peer_id: id.map(String::from),
        }
    }

    #[test]
    fn exactly_one_way_of_naming_the_peer() {
        let a = args(Some("127.0.0.1:4647"), None);
        assert_eq!(peer(&a).ok(), Some(Peer::Address("127.0.0.1:4647")));
        let a = args(None, Some("42"));
        assert_eq!(peer(&a).ok(), Some(Peer::Id("42")));
        for bad in [
            args(None, None),
            args(Some("127.0.0.1:4647"), Some("42")),
            args(Some(" "), None),
        ] {
            let err = peer(&bad).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(
                err.contains("Exactly one of -peer-address and -peer-id"),
                "{err}"
            );
        }
    }

    #[test]
    fn success_message_names_the_peer_like_nomad() {
        assert_eq!(
            Peer::Address("127.0.0.1:4647").removed_message(),
            r#"Removed peer with address "127.0.0.1:4647""#
        );
        assert_eq!(
            Peer::Id("42").removed_message(),
            r#"Removed peer with id "42""#
        );
    }
}
