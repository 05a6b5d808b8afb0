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
    /// The length of the encoded command before compression.
    plain_len: usize,
    /// The command the bytes encode, where this server proposed it (never sent or stored).
    decoded: Option<Arc<Command>>,
}

/// First byte of a compressed payload: 0xc1 is the one byte MessagePack never uses, so a plain
/// payload (as every payload was before compression) never starts with it.
const LZ4_MARK: u8 = 0xc1;
/// Smaller commands are stored plain: compressing them saves little.
const COMPRESS_FROM: usize = 4096;

impl LogPayload {
    pub fn encode(cmd: Command) -> Result<LogPayload, rmp_serde::encode::Error> {
        // Named fields: a newer server's command with fields an older one lacks still decodes.
        let plain = rmp_serde::to_vec_named(&cmd)?;
        let plain_len = plain.len();
        // A plan of a thousand placements repeats its field names and most of its values a
        // thousand times: LZ4 makes it several times smaller, for every write to the three logs,
        // every replication and every entry kept in memory, at a cost far below the encoding's.
        let bytes = if plain_len >= COMPRESS_FROM {
            let mut out = Vec::with_capacity(1 + plain_len / 4);
            out.push(LZ4_MARK);
            out.extend_from_slice(&lz4_flex::compress_prepend_size(&plain));
            out
        } else {
            plain
        };
        Ok(LogPayload {
            bytes: Bytes::from(bytes),
            plain_len,
            decoded: Some(Arc::new(cmd)),
        })
    }

    /// The command, decoded now unless this server proposed it.
    pub fn command(&self) -> Result<Arc<Command>, rmp_serde::decode::Error> {
        if let Some(cmd) = &self.decoded {
            return Ok(cmd.clone());
        }
        let cmd = match self.bytes.split_first() {
            Some((&LZ4_MARK, compressed)) => {
                let plain = lz4_flex::decompress_size_prepended(compressed).map_err(|e| {
                    rmp_serde::decode::Error::Uncategorized(format!("compressed entry: {e}"))
                })?;
                rmp_serde::from_slice(&plain)?
            }
            _ => rmp_serde::from_slice(&self.bytes)?,
        };
        Ok(Arc::new(cmd))
    }

    /// About how much memory the entry holds: its encoded size before compression (the
    /// proposer's decoded command is of the same order).
    pub fn plain_len(&self) -> usize {
        self.plain_len
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
        let plain_len = match buf.split_first() {
            // The size the compressor prepends (little-endian u32).
            Some((&LZ4_MARK, rest)) => rest
                .get(..4)
                .and_then(|b| b.try_into().ok())
                .map_or(buf.len(), |b: [u8; 4]| u32::from_le_bytes(b) as usize),
            _ => buf.len(),
        };
        Ok(LogPayload {
            bytes: Bytes::from(buf.into_vec()),
            plain_len,
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
    fn a_large_command_is_stored_compressed_and_a_plain_one_still_decodes() {
        let allocs: Vec<api::Allocation> = (0..200)
            .map(|i| api::Allocation {
                id: format!("alloc-{i}"),
                job_id: "web".into(),
                client_status: "pending".into(),
                ..Default::default()
            })
            .collect();
        let cmd = Command::AllocClientUpdate {
            updates: Vec::new(),
            evals: Vec::new(),
            now: 1,
        };
        let plan = Command::PlanApply {
            updated: Vec::new(),
            placed: allocs,
            evals: Vec::new(),
            now: 2,
            deployments: Vec::new(),
            deployment_updates: Vec::new(),
            jobs: Vec::new(),
        };
        for (cmd, compressed) in [(cmd, false), (plan, true)] {
            let sent = LogPayload::encode(cmd).expect("encode");
            assert_eq!(sent.bytes.first() == Some(&LZ4_MARK), compressed);
            if compressed {
                assert!(sent.bytes.len() * 4 < sent.plain_len());
            }
            let wire = rmp_serde::to_vec_named(&sent).expect("serialize");
            let received: LogPayload = rmp_serde::from_slice(&wire).expect("deserialize");
            assert_eq!(received.plain_len(), sent.plain_len());
            let got = received.command().expect("decode");
            assert_eq!(
                format!("{got:?}"),
                format!("{:?}", sent.command().expect("own"))
            );
        }
    }

    #[test]
    fn garbage_bytes_are_a_decode_error_not_a_panic() {
        for garbage in [&[0xc1, 0xff, 0x00][..], &[0xc1][..], &[0xc7, 0x01][..]] {
            let p = LogPayload {
                bytes: Bytes::from_static(garbage),
                plain_len: garbage.len(),
                decoded: None,
            };
            assert!(p.command().is_err());
        }
    }
}
