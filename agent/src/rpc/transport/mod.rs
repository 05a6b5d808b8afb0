//! Multiplexed request/response over the rpc port (framing in [`super::wire`]). Many calls share
//! one TCP connection per peer; the listener handles each request in its own task.

mod client;
mod listener;
mod starting_listener;

pub use client::RpcClient;
pub use listener::{serve, serve_with, ConnCounts, ConnSlot, ListenOptions, CLIENT_MAX_FRAME};
pub use starting_listener::StartingListener;

use crate::rpc::message::{RpcRequest, RpcResponse};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// What answers requests arriving on the rpc port.
pub trait RpcHandler: Send + Sync + 'static {
    fn handle(&self, req: RpcRequest) -> Pin<Box<dyn Future<Output = RpcResponse> + Send + '_>>;
}

/// Room for everything but the payload: variant and field names, small strings.
const ENVELOPE_BYTES: usize = 256;

fn request_size_hint(req: &RpcRequest) -> usize {
    ENVELOPE_BYTES
        + match req {
            RpcRequest::Raft { payload, .. } => payload.len(),
            RpcRequest::Http(http) => http.body.len() + http.uri.len(),
            RpcRequest::Ping
            | RpcRequest::Hello(_)
            | RpcRequest::Join(_)
            | RpcRequest::KeyringGet { .. } => 0,
            // A node's fingerprint or a batch of task states: a few KiB.
            RpcRequest::Client { .. } => 4096,
        }
}

fn response_size_hint(resp: &RpcResponse) -> usize {
    ENVELOPE_BYTES
        + match resp {
            RpcResponse::Raft(Ok(payload)) => payload.len(),
            RpcResponse::Http(http) => http.body.len(),
            _ => 0,
        }
}

/// The guarded maps are left consistent at every step, so a panic elsewhere while one was held
/// does not make it unusable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpc::message::{
        HelloReply, HttpRequest, HttpResponse, RaftKind, RpcRequest, RpcResponse, ServerInfo,
    };
    use crate::rpc::wire::{self, FrameKind, FrameReader};
    use crate::rpc::RpcError;
    use std::sync::Arc;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::{watch, Notify};
    use tokio::task::JoinHandle;

    /// Generous: only a broken transport gets near it.
    const TIMEOUT: Duration = Duration::from_secs(20);

    /// Echoes what it is sent. A Hello named "hang" never answers, one named "panic" panics.
    #[derive(Default)]
    struct EchoHandler {
        hanging: Notify,
    }

    impl RpcHandler for EchoHandler {
        fn handle(
            &self,
            req: RpcRequest,
        ) -> Pin<Box<dyn Future<Output = RpcResponse> + Send + '_>> {
            Box::pin(async move {
                match req {
                    RpcRequest::Ping => RpcResponse::Pong,
                    RpcRequest::Raft { kind, payload } => {
                        let mut reply = format!("{kind:?}:").into_bytes();
                        reply.extend(payload);
                        RpcResponse::Raft(Ok(reply))
                    }
                    RpcRequest::Hello(info) => match info.name.as_str() {
                        "hang" => {
                            self.hanging.notify_one();
                            std::future::pending().await
                        }
                        "panic" => panic!("the test handler panics on request"),
                        _ => RpcResponse::Hello(Box::new(HelloReply {
                            server: info,
                            ..HelloReply::default()
                        })),
                    },
                    RpcRequest::Join(info) => RpcResponse::Join(Err(format!("join {}", info.name))),
                    RpcRequest::Http(http) => {
                        let mut headers = http.headers;
                        headers.insert("x-uri".into(), http.uri);
                        headers.insert("x-method".into(), http.method);
                        RpcResponse::Http(HttpResponse {
                            status: 200 + u16::from(http.hops),
                            headers,
                            body: http.body,
                        })
                    }
                    RpcRequest::Client { hops, .. } => {
                        RpcResponse::Client(Ok(crate::rpc::ClientReply::Index(u64::from(hops))))
                    }
                    RpcRequest::KeyringGet { key_id } => RpcResponse::Key(Ok(key_id.into_bytes())),
                }
            })
        }
    }

    struct TestServer {
        addr: String,
        handler: Arc<EchoHandler>,
        stop: watch::Sender<bool>,
        serving: JoinHandle<()>,
    }

    impl TestServer {
        async fn start(bind: &str) -> TestServer {
            let listener = TcpListener::bind(bind).await.unwrap();
            let addr = listener.local_addr().unwrap().to_string();
            let handler = Arc::new(EchoHandler::default());
            let (stop, stopped) = watch::channel(false);
            let serving = tokio::spawn(serve(listener, handler.clone(), stopped));
            TestServer {
                addr,
                handler,
                stop,
                serving,
            }
        }

        async fn stop(self) {
            self.stop.send_replace(true);
            self.serving.await.unwrap();
        }
    }

    fn hello(name: &str) -> RpcRequest {
        RpcRequest::Hello(ServerInfo {
            name: name.into(),
            ..ServerInfo::default()
        })
    }

    fn transport_error(result: Result<RpcResponse, RpcError>) -> String {
        match result {
            Err(RpcError::Transport(message) | RpcError::Unreachable(message)) => message,
            other => panic!("expected a transport error, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn every_request_variant_round_trips() {
        let server = TestServer::start("127.0.0.1:0").await;
        let client = RpcClient::new();
        let call = |req| client.call(&server.addr, req, TIMEOUT);

        assert!(matches!(
            call(RpcRequest::Ping).await,
            Ok(RpcResponse::Pong)
        ));
        for kind in [
            RaftKind::AppendEntries,
            RaftKind::Vote,
            RaftKind::FullSnapshot,
            RaftKind::TransferLeader,
        ] {
            let payload = vec![0, 1, 2, 255];
            match call(RpcRequest::Raft { kind, payload }).await {
                Ok(RpcResponse::Raft(Ok(reply))) => {
                    assert_eq!(
                        reply,
                        [format!("{kind:?}:").as_bytes(), &[0, 1, 2, 255]].concat()
                    )
                }
                other => panic!("{other:?}"),
            }
        }
        let info = ServerInfo {
            id: 7,
            name: "s1".into(),
            rpc_addr: "10.0.0.1:4647".into(),
            http_addr: "10.0.0.1:4646".into(),
            datacenter: "dc1".into(),
            region: "global".into(),
            build: "0.1.0".into(),
            bootstrap_expect: 3,
        };
        match call(RpcRequest::Hello(info.clone())).await {
            Ok(RpcResponse::Hello(reply)) => {
                assert_eq!(reply.server, info);
                assert!(!reply.has_state && reply.leader.is_none() && reply.known.is_empty());
            }
            other => panic!("{other:?}"),
        }
        match call(RpcRequest::Join(info)).await {
            Ok(RpcResponse::Join(Err(message))) => assert_eq!(message, "join s1"),
            other => panic!("{other:?}"),
        }
        let http = HttpRequest {
            method: "PUT".into(),
            uri: "/v1/jobs?region=global".into(),
            headers: [("content-type".to_owned(), "application/json".to_owned())].into(),
            body: b"{\"Job\":{}}".to_vec(),
            hops: 2,
        };
        match call(RpcRequest::Http(http)).await {
            Ok(RpcResponse::Http(reply)) => {
                assert_eq!(reply.status, 202);
                assert_eq!(reply.body, b"{\"Job\":{}}");
                assert_eq!(reply.headers["content-type"], "application/json");
                assert_eq!(reply.headers["x-uri"], "/v1/jobs?region=global");
                assert_eq!(reply.headers["x-method"], "PUT");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(client.dials(), 1);
        server.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_calls_share_one_connection() {
        let server = TestServer::start("127.0.0.1:0").await;
        let client = RpcClient::new();
        let calls: Vec<_> = (0..200)
            .map(|i| {
                let (client, addr) = (client.clone(), server.addr.clone());
                tokio::spawn(async move {
                    let name = format!("caller-{i}");
                    (
                        name.clone(),
                        client.call(&addr, hello(&name), TIMEOUT).await,
                    )
                })
            })
            .collect();
        for call in futures::future::join_all(calls).await {
            match call.unwrap() {
                (sent, Ok(RpcResponse::Hello(reply))) => assert_eq!(reply.server.name, sent),
                (_, other) => panic!("{other:?}"),
            }
        }
        assert_eq!(client.dials(), 1);
        server.stop().await;
    }

    #[tokio::test]
    async fn twenty_mebibytes_round_trip() {
        let server = TestServer::start("127.0.0.1:0").await;
        let client = RpcClient::new();
        let body: Vec<u8> = (0..20 << 20).map(|i: u32| (i % 251) as u8).collect();
        let req = RpcRequest::Http(HttpRequest {
            body: body.clone(),
            ..HttpRequest::default()
        });
        match client.call(&server.addr, req, TIMEOUT).await {
            Ok(RpcResponse::Http(reply)) => assert!(reply.body == body, "payload corrupted"),
            other => panic!("{other:?}"),
        }
        server.stop().await;
    }

    #[tokio::test]
    async fn stopped_server_fails_calls_at_once_and_restart_reconnects() {
        let server = TestServer::start("127.0.0.1:0").await;
        let addr = server.addr.clone();
        let client = RpcClient::new();
        client.call(&addr, RpcRequest::Ping, TIMEOUT).await.unwrap();

        let pending = tokio::spawn({
            let (client, addr) = (client.clone(), addr.clone());
            // Far longer than the test's own deadline: only the broken connection can end it.
            async move { client.call(&addr, hello("hang"), TIMEOUT * 10).await }
        });
        tokio::time::timeout(TIMEOUT, server.handler.hanging.notified())
            .await
            .expect("the hanging request never reached the handler");
        server.stop().await;

        let failed = tokio::time::timeout(TIMEOUT, pending)
            .await
            .expect("the pending call outlived its connection")
            .unwrap();
        let message = transport_error(failed);
        assert!(!message.contains("no answer"), "{message}");

        let refused = transport_error(client.call(&addr, RpcRequest::Ping, TIMEOUT).await);
        assert!(refused.contains(&addr), "{refused}");

        let restarted = TestServer::start(&addr).await;
        let answer = client.call(&addr, RpcRequest::Ping, TIMEOUT).await;
        assert!(matches!(answer, Ok(RpcResponse::Pong)), "{answer:?}");
        assert_eq!(client.dials(), 2);
        restarted.stop().await;
    }

    #[tokio::test]
    async fn connect_failure_names_the_address() {
        // A port that was just free: bind, note it, release it.
        let addr = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap()
            .to_string();
        let message = transport_error(
            RpcClient::new()
                .call(&addr, RpcRequest::Ping, TIMEOUT)
                .await,
        );
        assert!(message.contains(&addr), "{message}");
    }

    async fn assert_closed_by_listener(addr: &str, garbage: &[u8]) {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(garbage).await.unwrap();
        let closed = tokio::time::timeout(TIMEOUT, async {
            let mut sink = [0u8; 256];
            while let Ok(n) = stream.read(&mut sink).await {
                if n == 0 {
                    break;
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "connection sending {garbage:?} stayed open");
    }

    #[tokio::test]
    async fn garbage_closes_only_its_connection() {
        let server = TestServer::start("127.0.0.1:0").await;
        let client = RpcClient::new();
        client
            .call(&server.addr, RpcRequest::Ping, TIMEOUT)
            .await
            .unwrap();

        let mut too_large = vec![wire::PROTOCOL_RPC];
        too_large.extend(((wire::MAX_FRAME + 1) as u32).to_be_bytes());
        let mut too_short = vec![wire::PROTOCOL_RPC];
        too_short.extend(3u32.to_be_bytes());
        let mut bad_kind = vec![wire::PROTOCOL_RPC];
        bad_kind.extend(9u32.to_be_bytes());
        bad_kind.extend([0, 0, 0, 0, 0, 0, 0, 1, 9]);
        let mut response_to_listener = vec![wire::PROTOCOL_RPC];
        response_to_listener
            .extend(wire::encode_frame(1, FrameKind::Response, &RpcResponse::Pong, 0).unwrap());
        let cases: [&[u8]; 7] = [
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
            b"\x01GET / HTTP/1.1\r\n\r\n",
            &[wire::PROTOCOL_TLS, 0x16, 0x03, 0x01],
            &too_large,
            &too_short,
            &bad_kind,
            &response_to_listener,
        ];
        for garbage in cases {
            assert_closed_by_listener(&server.addr, garbage).await;
        }

        let answer = client.call(&server.addr, RpcRequest::Ping, TIMEOUT).await;
        assert!(matches!(answer, Ok(RpcResponse::Pong)), "{answer:?}");
        let fresh = RpcClient::new()
            .call(&server.addr, RpcRequest::Ping, TIMEOUT)
            .await;
        assert!(matches!(fresh, Ok(RpcResponse::Pong)), "{fresh:?}");
        server.stop().await;
    }

    #[tokio::test]
    async fn undecodable_body_is_refused_on_a_live_connection() {
        let server = TestServer::start("127.0.0.1:0").await;
        let mut stream = TcpStream::connect(&server.addr).await.unwrap();
        let mut bytes = vec![wire::PROTOCOL_RPC];
        // 0xc1 is the one byte MessagePack never uses.
        bytes.extend(10u32.to_be_bytes());
        bytes.extend(5u64.to_be_bytes());
        bytes.extend([FrameKind::Request as u8, 0xc1]);
        bytes.extend(wire::encode_frame(6, FrameKind::Request, &RpcRequest::Ping, 0).unwrap());
        stream.write_all(&bytes).await.unwrap();

        let mut frames = FrameReader::new(stream);
        let mut answers = Vec::new();
        for _ in 0..2 {
            let frame = tokio::time::timeout(TIMEOUT, frames.next_frame())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            answers.push((frame.id, wire::decode::<RpcResponse>(&frame.body).unwrap()));
        }
        answers.sort_by_key(|(id, _)| *id);
        assert!(matches!(&answers[0], (5, RpcResponse::Error(m)) if m.contains("undecodable")));
        assert!(matches!(answers[1], (6, RpcResponse::Pong)));
        server.stop().await;
    }

    #[tokio::test]
    async fn handler_panic_is_answered_with_an_error() {
        let server = TestServer::start("127.0.0.1:0").await;
        let client = RpcClient::new();
        match client.call(&server.addr, hello("panic"), TIMEOUT).await {
            Ok(RpcResponse::Error(message)) => assert!(message.contains("panic"), "{message}"),
            other => panic!("{other:?}"),
        }
        let answer = client.call(&server.addr, RpcRequest::Ping, TIMEOUT).await;
        assert!(matches!(answer, Ok(RpcResponse::Pong)), "{answer:?}");
        assert_eq!(client.dials(), 1);
        server.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unanswered_call_times_out_and_silent_connection_is_redialed() {
        let server = TestServer::start("127.0.0.1:0").await;
        let addr = server.addr.clone();
        let client = RpcClient::new();
        client.call(&addr, RpcRequest::Ping, TIMEOUT).await.unwrap();

        // Answers keep arriving on the connection meanwhile: it is alive, keep it.
        let slow = tokio::spawn({
            let (client, addr) = (client.clone(), addr.clone());
            async move {
                client
                    .call(&addr, hello("hang"), Duration::from_secs(2))
                    .await
            }
        });
        while !slow.is_finished() {
            client.call(&addr, RpcRequest::Ping, TIMEOUT).await.unwrap();
        }
        let message = transport_error(slow.await.unwrap());
        assert!(message.contains("no answer"), "{message}");
        assert_eq!(client.dials(), 1);

        // Nothing arrives for longer than the timeout: treat the connection as dead.
        let message = transport_error(
            client
                .call(&addr, hello("hang"), Duration::from_millis(200))
                .await,
        );
        assert!(message.contains("no answer"), "{message}");
        let answer = client.call(&addr, RpcRequest::Ping, TIMEOUT).await;
        assert!(matches!(answer, Ok(RpcResponse::Pong)), "{answer:?}");
        assert_eq!(client.dials(), 2);
        server.stop().await;
    }

    #[tokio::test]
    async fn forget_closes_the_connection() {
        let server = TestServer::start("127.0.0.1:0").await;
        let client = RpcClient::new();
        client
            .call(&server.addr, RpcRequest::Ping, TIMEOUT)
            .await
            .unwrap();
        client.forget(&server.addr);
        client.forget("127.0.0.1:1");
        client
            .call(&server.addr, RpcRequest::Ping, TIMEOUT)
            .await
            .unwrap();
        assert_eq!(client.dials(), 2);
        server.stop().await;
    }

    #[test]
    fn size_hints_cover_payloads() {
        let req = RpcRequest::Raft {
            kind: RaftKind::Vote,
            payload: vec![0; 1000],
        };
        assert!(request_size_hint(&req) >= 1000);
        let resp = RpcResponse::Http(HttpResponse {
            body: vec![0; 1000],
            ..HttpResponse::default()
        });
        assert!(response_size_hint(&resp) >= 1000);
    }
}
