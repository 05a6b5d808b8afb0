//! Raft messages over the agent's rpc port. openraft's requests and replies are encoded here with
//! MessagePack and ride inside [`RpcRequest::Raft`] as opaque bytes, so the transport never names
//! openraft types.

use super::types::{OpenRaft, Snapshot, TypeConfig, Vote};
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
use std::future::Future;
use std::io::Cursor;
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
    type SnapshotData = Cursor<Vec<u8>>;

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
        let req = (
            vote,
            snapshot.meta,
            serde_bytes::ByteBuf::from(snapshot.snapshot.into_inner()),
        );
        // A snapshot may be large: give it the hard timeout rather than the heartbeat-sized one.
        let call = self.call(&self.rpc, RaftKind::FullSnapshot, &req, option.hard_ttl());
        tokio::select! {
            closed = cancel => Err(StreamingError::Closed(closed)),
            res = call => Ok(res?),
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

/// Serves one raft message that arrived on the rpc port; answers the encoded
/// `Result<reply, error message>`.
pub async fn serve(
    raft: &OpenRaft,
    contact: &LastContact,
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
            let (vote, meta, data): (Vote, _, serde_bytes::ByteBuf) = decode(payload)?;
            contact.touch();
            let snapshot = Snapshot {
                meta,
                snapshot: Cursor::new(data.into_vec()),
            };
            let res = raft
                .install_full_snapshot(vote, snapshot)
                .await
                .map_err(|e| e.to_string());
            encode(&res)
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
