//! The HTTP API's listener: plain TCP or HTTPS, at most `http_max_conns_per_client` open
//! connections per address. Handshakes run in their own tasks, so a slow or silent peer never
//! holds up the others.

use crate::rpc::transport::{ConnCounts, ConnSlot};
use crate::tls::Tls;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// Connections accepted (and, for HTTPS, shaken hands with) that axum has not taken yet.
const READY_QUEUE: usize = 64;

/// An accepted connection, ready for HTTP.
pub struct HttpConn {
    stream: Stream,
    _slot: ConnSlot,
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// What `axum::serve` accepts from; the accepting runs in a task of its own.
pub struct HttpListener {
    ready: mpsc::Receiver<(HttpConn, SocketAddr)>,
    local: SocketAddr,
}

impl HttpListener {
    /// Starts accepting on `listener`; HTTPS when `tls` has `http` on.
    pub fn start(listener: TcpListener, tls: Option<Arc<Tls>>, max_per_client: u32) -> Self {
        let local = listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        let (tx, ready) = mpsc::channel(READY_QUEUE);
        tokio::spawn(accept_loop(
            listener,
            tls.filter(|t| t.http()),
            max_per_client,
            tx,
        ));
        HttpListener { ready, local }
    }
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<Arc<Tls>>,
    max_per_client: u32,
    ready: mpsc::Sender<(HttpConn, SocketAddr)>,
) {
    let counts = Arc::new(ConnCounts::default());
    loop {
        let (stream, peer) = tokio::select! {
            _ = ready.closed() => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "HTTP accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        let Some(slot) = counts.admit(peer.ip(), max_per_client) else {
            tracing::warn!(
                %peer,
                limit = max_per_client,
                "HTTP connection refused: too many open from this address \
                 (limits.http_max_conns_per_client)"
            );
            continue;
        };
        let _ = stream.set_nodelay(true);
        match &tls {
            None => {
                let conn = HttpConn {
                    stream: Stream::Plain(stream),
                    _slot: slot,
                };
                if ready.send((conn, peer)).await.is_err() {
                    return;
                }
            }
            Some(tls) => {
                let acceptor = tls.http_acceptor();
                let ready = ready.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            let conn = HttpConn {
                                stream: Stream::Tls(Box::new(stream)),
                                _slot: slot,
                            };
                            let _ = ready.send((conn, peer)).await;
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "HTTPS handshake failed")
                        }
                        Err(_) => tracing::debug!(%peer, "HTTPS handshake timed out"),
                    }
                });
            }
        }
    }
}

impl axum::serve::Listener for HttpListener {
    type Io = HttpConn;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (HttpConn, SocketAddr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            // The accept loop ends only when this receiver is gone; never reached while we
            // hold it, but axum's contract wants a connection or no return at all.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

impl AsyncRead for HttpConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.stream {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for HttpConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.stream {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.stream {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.stream {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.stream {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.stream {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }
}
