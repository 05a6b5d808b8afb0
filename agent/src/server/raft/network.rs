//! Raft messages over the agent's rpc port. openraft's requests and replies are encoded here with
//! MessagePack and ride inside [`RpcRequest::Raft`] as opaque bytes, so the transport never names
//! openraft types.

use super::snapshot_file::{SnapshotDir, SnapshotFile};
use super::types::{OpenRaft, Snapshot, SnapshotMeta, TypeConfig, Vote};
use crate::rpc::{RaftKind, RpcClient, RpcRequest, RpcResponse, ServerInfo};
use openraft::errors::{NetworkError, RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::v2::RaftNetworkV2;
use openraft::network::{RPCOption, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, TransferLeaderRequest,
    TransferLeaderResponse, VoteRequest, VoteResponse,
};
use openraft::OptionalSend;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fs::File;
use std::future::Future;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Makes one [`PeerClient`] per peer; they share the pooled connections of one [`RpcClient`].
pub struct Network {
    pub rpc: RpcClient,
    /// Connections of their own for heartbeats and votes, so that they never wait behind a
    /// replication request carrying megabytes (see `PeerClient::lane`).
    pub control: RpcClient,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerClient;

    async fn new_client(&mut self, _target: u64, node: &ServerInfo) -> PeerClient {
        PeerClient {
            rpc: self.rpc.clone(),
            control: self.control.clone(),
            addr: node.rpc_addr.clone(),
        }
    }
}

pub struct PeerClient {
    rpc: RpcClient,
    control: RpcClient,
    addr: String,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Msg(String);

/// openraft gives each replication request the heartbeat interval (50 ms) to be answered. A
/// request carrying a large plan (megabytes for ten thousand allocations) needs longer to be
/// sent, decoded and appended, and would fail every time, stalling replication for good. Such a
/// request gets time in proportion to its size. Heartbeats travel apart from replication
/// (openraft's heartbeat worker), so this never delays the detection of a dead leader.
fn transfer_budget(kind: RaftKind, bytes: usize) -> Duration {
    const SMALL: usize = 64 * 1024;
    if !matches!(kind, RaftKind::AppendEntries) || bytes < SMALL {
        return Duration::ZERO;
    }
    let mib = u32::try_from(bytes >> 20).unwrap_or(u32::MAX);
    (Duration::from_secs(1) + Duration::from_millis(250) * mib).min(Duration::from_secs(60))
}

impl PeerClient {
    /// Heartbeats (appends without entries) and votes take the control lane: a follower that
    /// does not hear the leader for 400 ms stands for election, whatever the replication
    /// connection is busy with. Appends with entries stay on one connection, in order.
    fn lane(&self, control: bool) -> &RpcClient {
        if control {
            &self.control
        } else {
            &self.rpc
        }
    }

    async fn call<Req, Resp>(
        &self,
        lane: &RpcClient,
        kind: RaftKind,
        req: &Req,
        timeout: Duration,
    ) -> Result<Resp, RPCError<TypeConfig>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
    {
        let payload = rmp_serde::to_vec_named(req)
            .map_err(|e| RPCError::Network(NetworkError::from_string(e)))?;
        let timeout = timeout.max(transfer_budget(kind, payload.len()));
        let resp = lane
            .call(&self.addr, RpcRequest::Raft { kind, payload }, timeout)
            .await
            .map_err(|e| RPCError::Unreachable(Unreachable::new(&Msg(e.to_string()))))?;
        let bytes = match resp {
            RpcResponse::Raft(Ok(bytes)) => bytes,
            RpcResponse::Raft(Err(e)) | RpcResponse::Error(e) => {
                return Err(RPCError::Unreachable(Unreachable::new(&Msg(e))))
            }
            other => {
                return Err(RPCError::Network(NetworkError::from_string(format!(
                    "unexpected reply to a raft message: {other:?}"
                ))))
            }
        };
        let res: Result<Resp, String> = rmp_serde::from_slice(&bytes)
            .map_err(|e| RPCError::Network(NetworkError::from_string(e)))?;
        res.map_err(|e| RPCError::Unreachable(Unreachable::new(&Msg(e))))
    }
}

impl RaftNetworkV2<TypeConfig> for PeerClient {
    type SnapshotData = SnapshotFile;

    async fn append_entries(
        &mut self,
        req: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        let lane = self.lane(req.entries.is_empty());
        self.call(lane, RaftKind::AppendEntries, &req, option.soft_ttl())
            .await
    }

    async fn vote(
        &mut self,
        req: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.call(&self.control, RaftKind::Vote, &req, option.soft_ttl())
            .await
    }

    async fn pre_vote(
        &mut self,
        req: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.call(&self.control, RaftKind::PreVote, &req, option.soft_ttl())
            .await
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: Snapshot,
        cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let file = snapshot.snapshot;
        let meta = &snapshot.meta;
        let send = async {
            let total = usize::try_from(file.len())
                .map_err(|e| RPCError::Network(NetworkError::from_string(e)))?;
            for range in chunk_ranges(total, SNAPSHOT_CHUNK) {
                let (f, at, len) = (file.clone(), range.start as u64, range.len());
                let piece = tokio::task::spawn_blocking(move || f.read_at(at, len))
                    .await
                    .map_err(|e| RPCError::Network(NetworkError::from_string(e)))?
                    .map_err(|e| RPCError::Network(NetworkError::from_string(e)))?;
                let chunk = ChunkOut {
                    vote: &vote,
                    meta,
                    offset: at,
                    total: total as u64,
                    data: &piece,
                };
                // The last chunk's answer waits for the install (seconds for a large state):
                // every chunk gets the hard timeout rather than the heartbeat-sized one.
                let answer: Option<SnapshotResponse<TypeConfig>> = self
                    .call(
                        &self.rpc,
                        RaftKind::SnapshotChunk,
                        &chunk,
                        option.hard_ttl(),
                    )
                    .await?;
                if let Some(installed) = answer {
                    return Ok(installed);
                }
            }
            Err(RPCError::Network(NetworkError::from_string(
                "the peer took every chunk of the snapshot without installing it",
            )))
        };
        tokio::select! {
            closed = cancel => Err(StreamingError::Closed(closed)),
            res = send => Ok(res?),
        }
    }

    async fn transfer_leader(
        &mut self,
        req: TransferLeaderRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<TransferLeaderResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.call(
            &self.control,
            RaftKind::TransferLeader,
            &req,
            option.soft_ttl(),
        )
        .await
    }
}

/// A snapshot travels in pieces of this size. As one message it would have to fit the rpc
/// frame limit (256 MiB, reached at about 1.5 million allocations), and both ends would hold
/// extra copies of all of it while it was encoded and decoded.
const SNAPSHOT_CHUNK: usize = 8 << 20;

/// The largest snapshot a server accepts from a leader.
const MAX_SNAPSHOT: u64 = 32 << 30;

/// The byte ranges of a snapshot of `len` bytes in pieces of `chunk`; one (empty) piece for an
/// empty snapshot, so that every snapshot ends with a last piece.
fn chunk_ranges(len: usize, chunk: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    let chunk = chunk.max(1);
    let pieces = len.div_ceil(chunk).max(1);
    (0..pieces).map(move |i| i * chunk..((i + 1) * chunk).min(len))
}

/// One piece of a snapshot, as the leader sends it.
#[derive(Serialize)]
struct ChunkOut<'a> {
    vote: &'a Vote,
    meta: &'a SnapshotMeta,
    offset: u64,
    total: u64,
    #[serde(with = "serde_bytes")]
    data: &'a [u8],
}

/// One piece of a snapshot, as a follower receives it.
#[derive(serde::Deserialize)]
struct ChunkIn {
    vote: Vote,
    meta: SnapshotMeta,
    offset: u64,
    total: u64,
    #[serde(with = "serde_bytes")]
    data: Vec<u8>,
}

/// The snapshot a follower is receiving, piece by piece, written to a file as it comes. A leader
/// sends one snapshot at a time to a follower, in order; a first piece starts over (a leader
/// that retries, or a new leader).
pub struct SnapshotInbox {
    dir: SnapshotDir,
    partial: Mutex<Option<Partial>>,
}

struct Partial {
    meta: SnapshotMeta,
    file: File,
    path: std::path::PathBuf,
    written: u64,
    total: u64,
}

impl Partial {
    /// Whether `chunk` is the next piece of this transfer.
    fn follows(&self, chunk: &ChunkIn) -> bool {
        self.meta == chunk.meta
            && self.total == chunk.total
            && self.written == chunk.offset
            && chunk.offset + chunk.data.len() as u64 <= self.total
    }

    /// Gives up on this transfer: its file goes.
    fn abandon(self) {
        drop(self.file);
        if let Err(e) = std::fs::remove_file(&self.path) {
            tracing::debug!(path = %self.path.display(), %e, "removing a snapshot half received");
        }
    }
}

impl SnapshotInbox {
    pub fn new(dir: SnapshotDir) -> SnapshotInbox {
        SnapshotInbox {
            dir,
            partial: Mutex::default(),
        }
    }

    /// Adds a piece; answers the whole snapshot once its last piece is in. Writing 8 MiB to the
    /// page cache takes a few ms, which the caller's runtime thread can spare.
    fn add(&self, chunk: ChunkIn) -> Result<Option<(SnapshotMeta, SnapshotFile)>, String> {
        let mut slot = match self.partial.lock() {
            Ok(slot) => slot,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut partial = match (chunk.offset, slot.take()) {
            (0, previous) => {
                if let Some(p) = previous {
                    p.abandon();
                }
                if chunk.total > MAX_SNAPSHOT {
                    return Err(format!(
                        "a snapshot of {} bytes is over the limit of {MAX_SNAPSHOT}",
                        chunk.total
                    ));
                }
                let (file, path) = self
                    .dir
                    .incoming()
                    .map_err(|e| format!("snapshot file: {e}"))?;
                Partial {
                    meta: chunk.meta.clone(),
                    file,
                    path,
                    written: 0,
                    total: chunk.total,
                }
            }
            (_, Some(p)) => p,
            (_, None) => return Err(out_of_order(&chunk, None)),
        };
        if !partial.follows(&chunk) {
            let e = out_of_order(&chunk, Some(partial.written));
            partial.abandon();
            return Err(e);
        }
        if let Err(e) = partial.file.write_all(&chunk.data) {
            partial.abandon();
            return Err(format!("writing the snapshot received: {e}"));
        }
        partial.written += chunk.data.len() as u64;
        if partial.written < partial.total {
            *slot = Some(partial);
            return Ok(None);
        }
        let file = self
            .dir
            .received(partial.file, partial.path)
            .map_err(|e| format!("syncing the snapshot received: {e}"))?;
        Ok(Some((partial.meta, file)))
    }
}

fn out_of_order(chunk: &ChunkIn, expected: Option<u64>) -> String {
    format!(
        "snapshot piece at offset {} of {} does not follow the pieces received \
         (expected offset {expected:?}): the transfer starts over",
        chunk.offset, chunk.total
    )
}

/// When this server last heard from a leader (an AppendEntries), for `X-Nomad-LastContact`.
#[derive(Clone, Default)]
pub struct LastContact(Arc<Mutex<Option<Instant>>>);

impl LastContact {
    pub fn touch(&self) {
        if let Ok(mut t) = self.0.lock() {
            *t = Some(Instant::now());
        }
    }

    pub fn elapsed(&self) -> Option<Duration> {
        self.0.lock().ok().and_then(|t| t.map(|i| i.elapsed()))
    }
}

/// A raft message that arrived, or the reply to it, does not (de)serialize; the peer is sent
/// the message.
#[derive(Debug, thiserror::Error)]
pub enum RaftCodecError {
    #[error("encoding a raft reply: {0}")]
    Encode(#[from] rmp_serde::encode::Error),
    #[error("decoding a raft message: {0}")]
    Decode(#[from] rmp_serde::decode::Error),
}

fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, RaftCodecError> {
    Ok(rmp_serde::to_vec_named(v)?)
}

fn decode<T: DeserializeOwned>(b: &[u8]) -> Result<T, RaftCodecError> {
    Ok(rmp_serde::from_slice(b)?)
}

/// Hands a snapshot received whole to raft, which installs it if `vote` is still current.
async fn install(
    raft: &OpenRaft,
    vote: Vote,
    meta: SnapshotMeta,
    file: SnapshotFile,
) -> Result<SnapshotResponse<TypeConfig>, String> {
    let snapshot = Snapshot {
        meta,
        snapshot: file,
    };
    raft.install_full_snapshot(vote, snapshot)
        .await
        .map_err(|e| e.to_string())
}

/// Serves one raft message that arrived on the rpc port; answers the encoded
/// `Result<reply, error message>`.
pub async fn serve(
    raft: &OpenRaft,
    contact: &LastContact,
    inbox: &SnapshotInbox,
    kind: RaftKind,
    payload: &[u8],
) -> Result<Vec<u8>, RaftCodecError> {
    match kind {
        RaftKind::AppendEntries => {
            let req: AppendEntriesRequest<TypeConfig> = decode(payload)?;
            contact.touch();
            encode(&raft.append_entries(req).await.map_err(|e| e.to_string()))
        }
        RaftKind::Vote => encode(&raft.vote(decode(payload)?).await.map_err(|e| e.to_string())),
        RaftKind::PreVote => encode(
            &raft
                .pre_vote(decode(payload)?)
                .await
                .map_err(|e| e.to_string()),
        ),
        RaftKind::FullSnapshot => {
            let (vote, meta, data): (Vote, SnapshotMeta, serde_bytes::ByteBuf) = decode(payload)?;
            contact.touch();
            let file = match inbox.dir.received_whole(&meta, &data) {
                Ok(file) => file,
                Err(e) => {
                    let e = format!("writing the snapshot received: {e}");
                    return encode(&Err::<SnapshotResponse<TypeConfig>, _>(e));
                }
            };
            drop(data);
            encode(&install(raft, vote, meta, file).await)
        }
        RaftKind::SnapshotChunk => {
            let chunk: ChunkIn = decode(payload)?;
            contact.touch();
            let vote = chunk.vote;
            let whole = match inbox.add(chunk) {
                Err(e) => return encode(&Err::<Option<SnapshotResponse<TypeConfig>>, _>(e)),
                Ok(None) => return encode(&Ok::<_, String>(None::<SnapshotResponse<TypeConfig>>)),
                Ok(Some(whole)) => whole,
            };
            let (meta, file) = whole;
            encode(&install(raft, vote, meta, file).await.map(Some))
        }
        RaftKind::TransferLeader => {
            let res = raft
                .handle_transfer_leader(decode(payload)?)
                .await
                .map_err(|e| e.to_string());
            encode(&res)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::raft::types::snapshot_meta_at as meta;

    fn piece(meta: &SnapshotMeta, whole: &[u8], range: std::ops::Range<usize>) -> ChunkIn {
        ChunkIn {
            vote: Vote::new(1, 0),
            meta: meta.clone(),
            offset: range.start as u64,
            total: whole.len() as u64,
            data: whole[range].to_vec(),
        }
    }

    #[test]
    fn ranges_cover_the_snapshot_in_order_and_an_empty_one_is_one_piece() {
        let r: Vec<_> = chunk_ranges(10, 4).collect();
        assert_eq!(r, vec![0..4, 4..8, 8..10]);
        assert_eq!(chunk_ranges(8, 4).collect::<Vec<_>>(), vec![0..4, 4..8]);
        assert_eq!(chunk_ranges(0, 4).collect::<Vec<_>>(), vec![0..0]);
    }

    fn inbox() -> (tempfile::TempDir, SnapshotInbox) {
        let tmp = tempfile::tempdir().unwrap();
        let inbox = SnapshotInbox::new(SnapshotDir::new(tmp.path()));
        (tmp, inbox)
    }

    fn bytes(f: &SnapshotFile) -> Vec<u8> {
        f.read_at(0, f.len() as usize).unwrap()
    }

    #[test]
    fn pieces_in_order_make_the_whole_snapshot() {
        // Scenario: a 10-byte snapshot arrives in pieces of 4; only the last one answers it.
        let (_tmp, inbox) = inbox();
        let whole: Vec<u8> = (0..10).collect();
        let m = meta(7);
        let mut got = None;
        for r in chunk_ranges(whole.len(), 4) {
            assert!(got.is_none(), "answered before its last piece");
            got = inbox.add(piece(&m, &whole, r)).unwrap();
        }
        let (meta, file) = got.unwrap();
        assert_eq!(meta, m);
        assert_eq!(bytes(&file), whole);
        // Nothing is kept once the snapshot is handed over.
        assert!(inbox.partial.lock().unwrap().is_none());
    }

    #[test]
    fn a_piece_out_of_order_or_of_another_snapshot_starts_the_transfer_over() {
        // Scenario: a gap, a piece of another snapshot, and a piece with no start are refused,
        // each dropping what was received; a new first piece starts a new transfer.
        let (_tmp, inbox) = inbox();
        let whole: Vec<u8> = (0..12).collect();
        let (a, b) = (meta(7), meta(9));
        assert!(inbox.add(piece(&a, &whole, 0..4)).unwrap().is_none());
        let gap = inbox.add(piece(&a, &whole, 8..12)).unwrap_err();
        assert!(gap.contains("offset 8") && gap.contains("Some(4)"), "{gap}");
        assert!(
            inbox.add(piece(&a, &whole, 4..8)).is_err(),
            "kept after a gap"
        );

        assert!(inbox.add(piece(&a, &whole, 0..4)).unwrap().is_none());
        assert!(inbox.add(piece(&b, &whole, 4..8)).is_err());

        // A retried transfer (a new leader's snapshot) starts over at offset 0.
        assert!(inbox.add(piece(&a, &whole, 0..4)).unwrap().is_none());
        assert!(inbox.add(piece(&b, &whole, 0..6)).unwrap().is_none());
        let (meta, file) = inbox.add(piece(&b, &whole, 6..12)).unwrap().unwrap();
        assert_eq!((meta, bytes(&file)), (b, whole));
    }

    #[test]
    fn a_new_transfer_never_touches_a_snapshot_being_installed_and_drops_a_half_one() {
        // Scenario: transfer A completes and is handed to the install; the leader, tired of
        // waiting, starts over. The new transfer writes a file of its own: A still reads whole.
        // Abandoned half-way, the new transfer's file is removed.
        let (tmp, inbox) = inbox();
        let whole: Vec<u8> = (0..8).collect();
        let m = meta(3);
        assert!(inbox.add(piece(&m, &whole, 0..4)).unwrap().is_none());
        let (_, installing) = inbox.add(piece(&m, &whole, 4..8)).unwrap().unwrap();
        assert!(inbox.add(piece(&m, &whole, 0..4)).unwrap().is_none());
        assert_eq!(bytes(&installing), whole);
        assert!(inbox.add(piece(&meta(4), &whole, 0..2)).unwrap().is_none());
        let files = std::fs::read_dir(tmp.path()).unwrap().count();
        assert_eq!(files, 2, "the installing file and the newest transfer's");
    }

    #[test]
    fn a_snapshot_over_the_limit_is_refused_at_its_first_piece() {
        let (_tmp, inbox) = inbox();
        let mut first = piece(&meta(1), &[1, 2], 0..1);
        first.total = MAX_SNAPSHOT + 1;
        let err = inbox.add(first).unwrap_err();
        assert!(err.contains("over the limit"), "{err}");
    }
}
