//! The rpc port, taken before the server can answer on it.
//!
//! A server opens its state before it serves (at a million allocations, seconds of decoding and
//! log replay). A port listening meanwhile accepts clients' connections into the kernel's queue,
//! and their calls wait there, unanswered: in `bench_c1m`, heartbeats sent to a restarting
//! server took up to 9 s. A port that is only bound refuses connections, so a client tries its
//! next server at once, while the port stays ours and a clash is still found before the state is
//! opened.

use std::io;
use std::net::SocketAddr;
use tokio::net::{TcpListener, TcpSocket};

/// Queue of connections not yet accepted, as `TcpListener::bind` uses.
const BACKLOG: u32 = 1024;

/// A bound socket that does not accept yet.
#[derive(Debug)]
pub struct ReservedPort {
    socket: TcpSocket,
}

impl ReservedPort {
    /// Binds `addr` ("ip:port") with the address reuse `TcpListener::bind` sets, without
    /// listening.
    pub async fn bind(addr: &str) -> io::Result<ReservedPort> {
        let at = tokio::net::lookup_host(addr).await?.next().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{addr} names no address"),
            )
        })?;
        let socket = match at {
            SocketAddr::V4(_) => TcpSocket::new_v4()?,
            SocketAddr::V6(_) => TcpSocket::new_v6()?,
        };
        socket.set_reuseaddr(true)?;
        socket.bind(at)?;
        Ok(ReservedPort { socket })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Starts accepting connections.
    pub fn listen(self) -> io::Result<TcpListener> {
        self.socket.listen(BACKLOG)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpStream;

    #[tokio::test]
    async fn a_reserved_port_refuses_connections_until_it_listens() {
        let port = ReservedPort::bind("127.0.0.1:0").await.expect("bind");
        let addr = port.local_addr().expect("addr");
        let refused = TcpStream::connect(addr)
            .await
            .expect_err("nothing listens yet");
        assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);

        let listener = port.listen().expect("listen");
        let (connected, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        connected.expect("connects once listening");
        accepted.expect("accepted");
    }

    #[tokio::test]
    async fn a_port_taken_by_another_listener_cannot_be_reserved() {
        let taken = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = taken.local_addr().expect("addr").to_string();
        let err = ReservedPort::bind(&addr).await.expect_err("taken");
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    }

    #[tokio::test]
    async fn an_address_without_a_port_is_refused() {
        let err = ReservedPort::bind("127.0.0.1").await.expect_err("no port");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}
