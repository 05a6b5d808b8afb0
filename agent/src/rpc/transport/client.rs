//! The dialing side: one multiplexed connection per peer address, shared by every call to it.

use super::{lock, request_size_hint};
use crate::rpc::message::{RpcRequest, RpcResponse};
use crate::rpc::wire::{self, FrameKind, FrameReader, WireError};
use crate::rpc::RpcError;
use bytes::Bytes;
use std::collections::HashMap;
use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, OnceCell};
use tokio::task::AbortHandle;
use tokio::time::{self, Instant};

/// Calls to other agents' rpc ports. Cheap to clone; clones share the connections.
#[derive(Clone, Default)]
pub struct RpcClient {
    pool: Arc<Pool>,
}

/// A slot is filled by whichever caller dials first; the others wait on the same dial.
type Slot = Arc<OnceCell<Arc<Conn>>>;

#[derive(Default)]
struct Pool {
    /// Dial with mutual TLS when set and its `rpc` is on: every peer dialed is a server.
    tls: Option<Arc<crate::tls::Tls>>,
    slots: Mutex<HashMap<String, Slot>>,
    next_id: AtomicU64,
    dials: AtomicU64,
}

impl Drop for Pool {
    fn drop(&mut self) {
        // The connection tasks hold their connection, not the pool: close them or they would
        // outlive every handle to them.
        for slot in lock(&self.slots).values() {
            if let Some(conn) = slot.get() {
                conn.close("client dropped");
            }
        }
    }
}

impl fmt::Debug for RpcClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let peers: Vec<String> = lock(&self.pool.slots).keys().cloned().collect();
        f.debug_struct("RpcClient").field("peers", &peers).finish()
    }
}

impl RpcClient {
    pub fn new() -> RpcClient {
        RpcClient::default()
    }

    /// A client that dials servers with mutual TLS when `tls` has `rpc` on.
    pub fn with_tls(tls: Option<Arc<crate::tls::Tls>>) -> RpcClient {
        RpcClient {
            pool: Arc::new(Pool {
                tls: tls.filter(|t| t.rpc()),
                slots: Mutex::default(),
                next_id: AtomicU64::default(),
                dials: AtomicU64::default(),
            }),
        }
    }

    /// A client with connections of its own (same TLS settings): calls through it never queue
    /// behind large frames on this one's connections. Raft's heartbeats and votes use one.
    pub fn separate_lane(&self) -> RpcClient {
        RpcClient::with_tls(self.pool.tls.clone())
    }

    /// Sends one request to "host:port" and waits for its answer, at most `timeout` (connect
    /// included).
    pub async fn call(
        &self,
        addr: &str,
        req: RpcRequest,
        timeout: Duration,
    ) -> Result<RpcResponse, RpcError> {
        let deadline = Instant::now() + timeout;
        let id = self.pool.next_id.fetch_add(1, Ordering::Relaxed);
        let frame = wire::encode_frame(id, FrameKind::Request, &req, request_size_hint(&req))
            .map_err(|e| RpcError::Transport(format!("encode request to {addr}: {e}")))?;
        // The frame is all that travels; a large payload need not stay alive twice.
        drop(req);

        let conn = match time::timeout_at(deadline, self.connection(addr)).await {
            Ok(conn) => conn?,
            Err(_) => {
                return Err(RpcError::Transport(format!(
                    "connect to {addr}: timed out after {timeout:?}"
                )))
            }
        };
        let answer = conn.send(id, frame)?;
        let _pending = PendingGuard { conn: &conn, id };
        match time::timeout_at(deadline, answer).await {
            Ok(Ok(Ok(body))) => wire::decode(&body)
                .map_err(|e| RpcError::Transport(format!("response from {addr}: {e}"))),
            Ok(Ok(Err(broken))) => Err(broken),
            Ok(Err(_)) => Err(RpcError::Transport(format!("{addr}: connection closed"))),
            Err(_) => {
                // A peer cut off without a reset looks exactly like a slow one, except that
                // nothing arrives for any call. Redial rather than wait on a dead socket forever.
                let idle = conn.idle_for();
                if idle > timeout {
                    conn.close(&format!("nothing received for {idle:?}"));
                }
                Err(RpcError::Transport(format!(
                    "{addr}: no answer within {timeout:?}"
                )))
            }
        }
    }

    /// Drops the pooled connection to addr (used when a peer is removed).
    pub fn forget(&self, addr: &str) {
        let slot = lock(&self.pool.slots).remove(addr);
        if let Some(conn) = slot.as_ref().and_then(|slot| slot.get()) {
            conn.close("forgotten");
        }
    }

    /// The open connection to `addr`, dialing it if there is none or the last one broke.
    async fn connection(&self, addr: &str) -> Result<Arc<Conn>, RpcError> {
        let slot = {
            let mut slots = lock(&self.pool.slots);
            match slots.get(addr) {
                Some(slot) if !slot.get().is_some_and(|conn| conn.is_closed()) => slot.clone(),
                _ => {
                    let slot = Slot::default();
                    slots.insert(addr.to_owned(), slot.clone());
                    slot
                }
            }
        };
        let mut dialed = false;
        let conn = slot
            .get_or_try_init(|| {
                dialed = true;
                self.dial(addr)
            })
            .await?
            .clone();
        if dialed && !self.holds(addr, &slot) {
            // `forget` ran while we dialed; nobody would ever close this connection.
            conn.close("forgotten while connecting");
            return Err(RpcError::Transport(format!("{addr}: forgotten")));
        }
        Ok(conn)
    }

    fn holds(&self, addr: &str, slot: &Slot) -> bool {
        lock(&self.pool.slots)
            .get(addr)
            .is_some_and(|current| Arc::ptr_eq(current, slot))
    }

    async fn dial(&self, addr: &str) -> Result<Arc<Conn>, RpcError> {
        let failed = |e: io::Error| RpcError::Unreachable(format!("connect to {addr}: {e}"));
        let mut stream = TcpStream::connect(addr).await.map_err(failed)?;
        stream.set_nodelay(true).map_err(failed)?;
        let Some(tls) = &self.pool.tls else {
            stream
                .write_all(&[wire::PROTOCOL_RPC])
                .await
                .map_err(failed)?;
            self.pool.dials.fetch_add(1, Ordering::Relaxed);
            let (reader, writer) = stream.into_split();
            return Ok(Conn::start(addr, reader, writer));
        };
        stream
            .write_all(&[wire::PROTOCOL_TLS])
            .await
            .map_err(failed)?;
        // A handshake the peer refuses (wrong CA, not a server's name) sent no request: the
        // call may try another server.
        let stream = tls
            .rpc_connector()
            .connect(tls.server_name(), stream)
            .await
            .map_err(|e| RpcError::Unreachable(format!("TLS handshake with {addr}: {e}")))?;
        self.pool.dials.fetch_add(1, Ordering::Relaxed);
        let (reader, writer) = tokio::io::split(stream);
        Ok(Conn::start(addr, reader, writer))
    }

    /// Connections dialed so far (a broken or dropped connection is dialed again).
    #[cfg(test)]
    pub(crate) fn dials(&self) -> u64 {
        self.pool.dials.load(Ordering::Relaxed)
    }
}

type Answer = Result<Bytes, RpcError>;

/// One multiplexed connection: a writer task fed by a channel and a reader task that hands each
/// response to the call waiting for its id.
struct Conn {
    addr: String,
    frames: mpsc::UnboundedSender<Vec<u8>>,
    state: Mutex<ConnState>,
    closed: AtomicBool,
    opened: Instant,
    /// Nanoseconds after `opened` of the last read that returned bytes.
    last_read: AtomicU64,
}

#[derive(Default)]
struct ConnState {
    pending: HashMap<u64, oneshot::Sender<Answer>>,
    tasks: Vec<AbortHandle>,
    closed: bool,
}

impl Conn {
    fn start<R, W>(addr: &str, reader: R, writer: W) -> Arc<Conn>
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let (frames, queued) = mpsc::unbounded_channel();
        let conn = Arc::new(Conn {
            addr: addr.to_owned(),
            frames,
            state: Mutex::default(),
            closed: AtomicBool::new(false),
            opened: Instant::now(),
            last_read: AtomicU64::new(0),
        });
        let reading = tokio::spawn(read_responses(conn.clone(), reader));
        let writer_conn = conn.clone();
        let writing = tokio::spawn(async move {
            let reason = match wire::write_frames(writer, queued).await {
                Ok(()) => "writer stopped".to_owned(),
                Err(e) => format!("write: {e}"),
            };
            writer_conn.close(&reason);
        });
        let tasks = [reading.abort_handle(), writing.abort_handle()];
        let mut state = lock(&conn.state);
        if state.closed {
            // A task failed before we got here; `close` found nothing to abort.
            tasks.iter().for_each(AbortHandle::abort);
        } else {
            state.tasks.extend(tasks);
        }
        drop(state);
        conn
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    fn idle_for(&self) -> Duration {
        let last = Duration::from_nanos(self.last_read.load(Ordering::Relaxed));
        self.opened.elapsed().saturating_sub(last)
    }

    fn touch(&self) {
        let since_open = self.opened.elapsed().as_nanos();
        self.last_read.store(
            u64::try_from(since_open).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Registers the call and queues its frame.
    fn send(&self, id: u64, frame: Vec<u8>) -> Result<oneshot::Receiver<Answer>, RpcError> {
        let (tx, rx) = oneshot::channel();
        {
            let mut state = lock(&self.state);
            if state.closed {
                return Err(self.broken("connection closed"));
            }
            state.pending.insert(id, tx);
        }
        if self.frames.send(frame).is_err() {
            lock(&self.state).pending.remove(&id);
            return Err(self.broken("connection closed"));
        }
        Ok(rx)
    }

    fn answer(&self, id: u64, body: Bytes) {
        let waiting = lock(&self.state).pending.remove(&id);
        // No one waiting: the call timed out or was dropped, and the answer is moot.
        if let Some(waiting) = waiting {
            let _ = waiting.send(Ok(body));
        }
    }

    /// Fails every pending call at once and stops both tasks, which closes the socket.
    fn close(&self, reason: &str) {
        let (pending, tasks) = {
            let mut state = lock(&self.state);
            if state.closed {
                return;
            }
            state.closed = true;
            self.closed.store(true, Ordering::Release);
            (
                std::mem::take(&mut state.pending),
                std::mem::take(&mut state.tasks),
            )
        };
        tracing::debug!(addr = %self.addr, reason, "rpc connection closed");
        tasks.iter().for_each(AbortHandle::abort);
        for (_, waiting) in pending {
            let _ = waiting.send(Err(self.broken(reason)));
        }
    }

    fn broken(&self, reason: &str) -> RpcError {
        RpcError::Transport(format!("{}: {reason}", self.addr))
    }
}

async fn read_responses<R: AsyncRead + Unpin>(conn: Arc<Conn>, reader: R) {
    let mut frames = FrameReader::new(NoteReads {
        inner: reader,
        conn: &conn,
    });
    let reason = loop {
        match frames.next_frame().await {
            Ok(Some(frame)) if frame.kind == FrameKind::Response => {
                conn.answer(frame.id, frame.body)
            }
            Ok(Some(frame)) => break WireError::UnexpectedKind(frame.kind).to_string(),
            Ok(None) => break "closed by peer".to_owned(),
            Err(e) => break e.to_string(),
        }
    };
    conn.close(&reason);
}

/// Removes a call's entry when the call ends without an answer (timeout, caller gave up).
struct PendingGuard<'a> {
    conn: &'a Conn,
    id: u64,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        lock(&self.conn.state).pending.remove(&self.id);
    }
}

/// Records when bytes last arrived, partial frames included, so a long transfer on the
/// connection counts as life.
struct NoteReads<'a, R> {
    inner: R,
    conn: &'a Conn,
}

impl<R: AsyncRead + Unpin> AsyncRead for NoteReads<'_, R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.conn.touch();
        }
        polled
    }
}
