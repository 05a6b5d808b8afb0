//! The rpc port while the server is still opening its state.
//!
//! A server opens its state before it serves (at a million allocations, seconds of decoding and
//! log replay). A port that only listened meanwhile left clients' connections in the kernel's
//! queue, and their calls waited there unanswered: in `bench_c1m`, heartbeats sent to a
//! restarting server took up to 9 s. Until the server is ready, every connection is accepted and
//! closed at once, so a client's call fails and goes to its next server. The port listens from
//! the start, so it stays ours and a clash is found before the state is opened (a socket that
//! is only bound would not hold it: Linux lets two such sockets with `SO_REUSEADDR` share a port).

use std::io;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A listener that turns every connection away until [`StartingListener::ready`].
pub struct StartingListener {
    stop: oneshot::Sender<()>,
    task: JoinHandle<TcpListener>,
}

impl StartingListener {
    pub fn start(listener: TcpListener) -> StartingListener {
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    biased;
                    _ = &mut stopped => return listener,
                    // Dropped unread: the peer sees the connection closed (reset if it had
                    // already written its call) and tries another server.
                    accepted = listener.accept() => drop(accepted),
                }
            }
        });
        StartingListener { stop, task }
    }

    /// Stops turning connections away and hands the listener back, for the server to serve on.
    pub async fn ready(self) -> io::Result<TcpListener> {
        let _ = self.stop.send(());
        self.task
            .await
            .map_err(|e| io::Error::other(format!("the starting rpc listener ended: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    /// Reads until the peer closes (0 bytes) or resets the connection.
    async fn closed_by_peer(stream: &mut TcpStream) -> bool {
        let mut buf = [0u8; 16];
        matches!(stream.read(&mut buf).await, Ok(0) | Err(_))
    }

    #[tokio::test]
    async fn connections_are_turned_away_until_ready_then_served() {
        // Scenario: a client calls a server still opening its state; the call fails at once
        // instead of waiting, and once the server is ready the same port serves.
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let starting = StartingListener::start(listener);

        let mut early = TcpStream::connect(addr).await.expect("connects");
        let _ = early.write_all(b"a call").await;
        assert!(closed_by_peer(&mut early).await, "turned away");

        let listener = starting.ready().await.expect("ready");
        let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        let mut client = client.expect("connects once ready");
        let (mut served, _) = accepted.expect("accepted");
        client.write_all(b"ping").await.expect("write");
        let mut got = [0u8; 4];
        served.read_exact(&mut got).await.expect("read");
        assert_eq!(&got, b"ping");
    }

    #[tokio::test]
    async fn the_port_stays_taken_while_starting() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let _starting = StartingListener::start(listener);
        let err = TcpListener::bind(addr).await.expect_err("taken");
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    }
}
