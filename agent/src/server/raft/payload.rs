//! What a normal log entry carries: the [`Command`] encoded once, by the server that proposed it.
//!
//! An entry is written to every server's log, read back for replication, sent to each follower
//! and applied everywhere. Carried as typed data it would be encoded and decoded again at each of
//! those steps; as bytes it is copied, and decoded once per server, when it is applied. The
//! proposer keeps the command it encoded, so the leader applies its own entries without decoding
//! them at all.

use crate::state::Command;
use bytes::Bytes;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::sync::Arc;

#[derive(Clone)]
pub struct LogPayload {
    bytes: Bytes,
    /// The command the bytes encode, where this server proposed it (never sent or stored).
    decoded: Option<Arc<Command>>,
}

impl LogPayload {
    pub fn encode(cmd: Command) -> Result<LogPayload, rmp_serde::encode::Error> {
        // Named fields: a newer server's command with fields an older one lacks still decodes.
        let bytes = rmp_serde::to_vec_named(&cmd)?;
        Ok(LogPayload {
            bytes: Bytes::from(bytes),
            decoded: Some(Arc::new(cmd)),
        })
    }

    /// The command, decoded now unless this server proposed it.
    pub fn command(&self) -> Result<Arc<Command>, rmp_serde::decode::Error> {
        match &self.decoded {
            Some(cmd) => Ok(cmd.clone()),
            None => Ok(Arc::new(rmp_serde::from_slice(&self.bytes)?)),
        }
    }
}

impl Serialize for LogPayload {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.bytes)
    }
}

impl<'de> Deserialize<'de> for LogPayload {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<LogPayload, D::Error> {
        let buf = serde_bytes::ByteBuf::deserialize(d)?;
        Ok(LogPayload {
            bytes: Bytes::from(buf.into_vec()),
            decoded: None,
        })
    }
}

impl fmt::Debug for LogPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.decoded {
            Some(cmd) => write!(f, "{cmd:?}"),
            None => write!(f, "LogPayload({} bytes)", self.bytes.len()),
        }
    }
}

impl fmt::Display for LogPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "command of {} bytes", self.bytes.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_sent_and_received_decodes_to_the_command_it_was_made_from() {
        let cmd = Command::AllocStop {
            alloc_id: "a1".into(),
            eval: Box::default(),
            now: 7,
        };
        let sent = LogPayload::encode(cmd).expect("encode");
        let wire = rmp_serde::to_vec_named(&sent).expect("serialize");
        let received: LogPayload = rmp_serde::from_slice(&wire).expect("deserialize");
        assert!(received.decoded.is_none());
        assert_eq!(received.bytes, sent.bytes);
        let got = received.command().expect("decode");
        assert_eq!(
            format!("{got:?}"),
            format!("{:?}", sent.command().expect("own"))
        );
    }

    #[test]
    fn garbage_bytes_are_a_decode_error_not_a_panic() {
        let p = LogPayload {
            bytes: Bytes::from_static(&[0xc1, 0xff, 0x00]),
            decoded: None,
        };
        assert!(p.command().is_err());
    }
}
