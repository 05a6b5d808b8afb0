//! The byte layout of the rpc port.
//!
//! A connection opens with one protocol byte from the dialer ([`Protocol`]). On a plain rpc
//! connection both directions then carry frames:
//!
//! ```text
//! u32 BE  length of everything after this field (id + kind + body)
//! u64 BE  request id, chosen by the dialer and echoed in the response
//! u8      kind: 0 request, 1 response
//! ...     MessagePack body (rmp_serde, structs as maps)
//! ```
//!
//! Reading and writing are generic over `AsyncRead`/`AsyncWrite` so the same framing runs over a
//! TLS stream once the listener wraps one.

use bytes::{Buf, Bytes, BytesMut};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::io;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::sync::mpsc;

pub const PROTOCOL_RPC: u8 = 0x01;
pub const PROTOCOL_TLS: u8 = 0x04;

/// Upper bound of the length field: raft snapshots travel as single frames.
pub const MAX_FRAME: usize = 256 << 20;

/// Bytes of the length field.
const LEN_BYTES: usize = 4;
/// Bytes of id + kind, which the length field counts.
const ID_KIND_BYTES: usize = 9;
/// Bytes before the body.
pub const HEADER_BYTES: usize = LEN_BYTES + ID_KIND_BYTES;

/// How much the reader asks the socket for at a time when it does not know better; small frames
/// (pings, votes) then arrive many to a syscall.
const READ_CHUNK: usize = 16 * 1024;
/// Frames queued by the time the writer wakes are written together and flushed once.
const WRITE_BATCH: usize = 64;
const WRITE_BUFFER: usize = 64 * 1024;

/// What the first byte of a connection asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Rpc,
    Tls,
}

impl Protocol {
    pub fn from_byte(byte: u8) -> Option<Protocol> {
        match byte {
            PROTOCOL_RPC => Some(Protocol::Rpc),
            PROTOCOL_TLS => Some(Protocol::Tls),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    Request = 0,
    Response = 1,
}

#[derive(Debug)]
pub struct Frame {
    pub id: u64,
    pub kind: FrameKind,
    pub body: Bytes,
}

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    #[error("frame length {0} exceeds the limit of {1} bytes")]
    TooLarge(usize, usize),
    #[error("frame length {0} is shorter than the id and kind it must hold")]
    TooShort(usize),
    #[error("unknown frame kind {0}")]
    UnknownKind(u8),
    #[error("unexpected {0:?} frame")]
    UnexpectedKind(FrameKind),
    #[error("connection closed in the middle of a frame")]
    Truncated,
    #[error("encode: {0}")]
    Encode(#[from] rmp_serde::encode::Error),
    #[error("decode: {0}")]
    Decode(#[from] rmp_serde::decode::Error),
}

/// Encodes `msg` as one complete frame, header included, in a single allocation. `size_hint` is
/// the expected body size (payload bytes plus a little) so big payloads are not copied while the
/// buffer grows.
pub fn encode_frame<T: Serialize>(
    id: u64,
    kind: FrameKind,
    msg: &T,
    size_hint: usize,
) -> Result<Vec<u8>, WireError> {
    let mut frame = Vec::with_capacity(HEADER_BYTES + size_hint);
    frame.extend_from_slice(&[0; LEN_BYTES]);
    frame.extend_from_slice(&id.to_be_bytes());
    frame.push(kind as u8);
    // Field names cost a few bytes per struct, but let a newer peer add `#[serde(default)]`
    // fields without breaking an older one; payloads dominate the size anyway.
    rmp_serde::encode::write_named(&mut frame, msg)?;
    let len = frame.len() - LEN_BYTES;
    if len > MAX_FRAME {
        return Err(WireError::TooLarge(len, MAX_FRAME));
    }
    // `len` fits: MAX_FRAME < u32::MAX.
    frame[..LEN_BYTES].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(frame)
}

pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, WireError> {
    Ok(rmp_serde::from_slice(body)?)
}

/// Splits frames off a byte stream. Holds partial frames in its buffer, so [`Self::next_frame`]
/// is cancel-safe and can sit in a `select!`.
pub struct FrameReader<R> {
    inner: R,
    buf: BytesMut,
    /// The largest frame this peer may send (at most [`MAX_FRAME`]).
    limit: usize,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub fn new(inner: R) -> Self {
        Self::with_limit(inner, MAX_FRAME)
    }

    /// A reader that refuses frames longer than `limit` (capped at [`MAX_FRAME`]) before
    /// reserving room for them.
    pub fn with_limit(inner: R, limit: usize) -> Self {
        FrameReader {
            inner,
            buf: BytesMut::with_capacity(READ_CHUNK),
            limit: limit.min(MAX_FRAME),
        }
    }

    /// The next frame, or `None` when the peer closed the stream between frames.
    pub async fn next_frame(&mut self) -> Result<Option<Frame>, WireError> {
        loop {
            if let Some(frame) = self.split_frame()? {
                return Ok(Some(frame));
            }
            if self.inner.read_buf(&mut self.buf).await? == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(WireError::Truncated)
                };
            }
        }
    }

    /// Takes one complete frame off the buffer, or makes room for the rest of it.
    fn split_frame(&mut self) -> Result<Option<Frame>, WireError> {
        let Some(len_field) = self.buf.first_chunk::<LEN_BYTES>() else {
            self.buf.reserve(READ_CHUNK);
            return Ok(None);
        };
        let len = u32::from_be_bytes(*len_field) as usize;
        if len > self.limit {
            return Err(WireError::TooLarge(len, self.limit));
        }
        if len < ID_KIND_BYTES {
            return Err(WireError::TooShort(len));
        }
        let total = LEN_BYTES + len;
        if self.buf.len() < total {
            // Room for the whole frame at once: a snapshot is then read without regrowing. The
            // length is capped above, and untouched pages of a lie cost no memory.
            self.buf.reserve((total - self.buf.len()).max(READ_CHUNK));
            return Ok(None);
        }
        let mut frame = self.buf.split_to(total);
        frame.advance(LEN_BYTES);
        let id = frame.get_u64();
        let kind = match frame.get_u8() {
            0 => FrameKind::Request,
            1 => FrameKind::Response,
            other => return Err(WireError::UnknownKind(other)),
        };
        Ok(Some(Frame {
            id,
            kind,
            body: frame.freeze(),
        }))
    }
}

/// Writes every frame the channel yields until all senders are gone. Frames already queued when
/// the writer wakes go out under one flush, so concurrent calls share syscalls.
pub async fn write_frames<W: AsyncWrite + Unpin>(
    writer: W,
    mut frames: mpsc::UnboundedReceiver<Vec<u8>>,
) -> io::Result<()> {
    let mut out = BufWriter::with_capacity(WRITE_BUFFER, writer);
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    while frames.recv_many(&mut batch, WRITE_BATCH).await > 0 {
        for frame in batch.drain(..) {
            out.write_all(&frame).await?;
        }
        out.flush().await?;
    }
    out.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpc::message::{RpcRequest, RpcResponse};
    use tokio::io::AsyncWriteExt;

    fn header(len: u32, id: u64, kind: u8) -> Vec<u8> {
        let mut h = len.to_be_bytes().to_vec();
        h.extend_from_slice(&id.to_be_bytes());
        h.push(kind);
        h
    }

    #[tokio::test]
    async fn frames_survive_arbitrary_read_boundaries() {
        let mut stream = Vec::new();
        for id in 0..50u64 {
            let req = RpcRequest::Raft {
                kind: crate::rpc::RaftKind::AppendEntries,
                payload: vec![id as u8; id as usize * 97],
            };
            stream.extend(encode_frame(id, FrameKind::Request, &req, 0).unwrap());
        }
        stream.extend(encode_frame(99, FrameKind::Response, &RpcResponse::Pong, 0).unwrap());

        // A duplex pipe of 7 bytes forces frames to arrive in many small pieces.
        let (mut tx, rx) = tokio::io::duplex(7);
        let feeder = tokio::spawn(async move { tx.write_all(&stream).await });
        let mut reader = FrameReader::new(rx);
        for id in 0..50u64 {
            let frame = reader.next_frame().await.unwrap().unwrap();
            assert_eq!((frame.id, frame.kind), (id, FrameKind::Request));
            match decode::<RpcRequest>(&frame.body).unwrap() {
                RpcRequest::Raft { payload, .. } => {
                    assert_eq!(payload, vec![id as u8; id as usize * 97])
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        let last = reader.next_frame().await.unwrap().unwrap();
        assert_eq!((last.id, last.kind), (99, FrameKind::Response));
        assert!(matches!(decode(&last.body).unwrap(), RpcResponse::Pong));
        feeder.await.unwrap().unwrap();
        assert!(reader.next_frame().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn malformed_headers_are_errors() {
        let too_large = header(MAX_FRAME as u32 + 1, 1, 0);
        let too_short = header(8, 1, 0);
        let bad_kind = header(9, 1, 7);
        let mut truncated = header(20, 1, 0);
        truncated.extend_from_slice(b"abc");
        type Check = fn(&WireError) -> bool;
        let cases: [(&[u8], Check); 4] = [
            (&too_large, |e| matches!(e, WireError::TooLarge(..))),
            (&too_short, |e| matches!(e, WireError::TooShort(8))),
            (&bad_kind, |e| matches!(e, WireError::UnknownKind(7))),
            (&truncated, |e| matches!(e, WireError::Truncated)),
        ];
        for (bytes, expected) in cases {
            let err = FrameReader::new(bytes).next_frame().await.unwrap_err();
            assert!(expected(&err), "{err}");
        }
    }

    #[test]
    fn oversized_messages_are_refused_when_encoding() {
        let body = crate::rpc::HttpRequest {
            body: vec![0; MAX_FRAME],
            ..Default::default()
        };
        let err = encode_frame(1, FrameKind::Request, &RpcRequest::Http(body), 0).unwrap_err();
        assert!(matches!(err, WireError::TooLarge(..)), "{err}");
    }
}
