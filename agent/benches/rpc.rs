//! The rpc transport over loopback: round trips per second and p50/p99 latency of Ping with 1 and
//! 32 concurrent callers on one connection, MB/s of 1 MiB requests, and the cost of the two
//! MessagePack layouts (compact arrays vs named maps). About 17 s. Run with
//! `cargo bench -p agent --bench rpc`.

use agent::rpc::message::{
    HelloReply, HttpRequest, HttpResponse, RaftKind, RpcRequest, RpcResponse, ServerInfo,
};
use agent::rpc::transport::serve;
use agent::rpc::{RpcClient, RpcHandler};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

const CALL_TIMEOUT: Duration = Duration::from_secs(30);
const MIB: usize = 1 << 20;

/// Answers Ping, acknowledges Http without a body, echoes Raft payloads (the reply is a plain
/// `Vec<u8>`, so this shows the cost of byte arrays encoded element by element).
struct BenchHandler;

impl RpcHandler for BenchHandler {
    fn handle(&self, req: RpcRequest) -> Pin<Box<dyn Future<Output = RpcResponse> + Send + '_>> {
        Box::pin(async move {
            match req {
                RpcRequest::Ping => RpcResponse::Pong,
                RpcRequest::Http(_) => RpcResponse::Http(HttpResponse {
                    status: 200,
                    ..HttpResponse::default()
                }),
                RpcRequest::Raft { payload, .. } => RpcResponse::Raft(Ok(payload)),
                _ => RpcResponse::Error("not benchmarked".into()),
            }
        })
    }
}

struct Run {
    calls: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Run {
    fn per_second(&self) -> f64 {
        self.calls as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> Duration {
        let rank = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[rank]
    }
}

/// `callers` tasks call back to back for `length`, each call carrying a fresh `make_request()`.
async fn drive(
    client: &RpcClient,
    addr: &str,
    callers: usize,
    length: Duration,
    make_request: fn() -> RpcRequest,
) -> Run {
    let start = Instant::now();
    let deadline = start + length;
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let (client, addr) = (client.clone(), addr.to_owned());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let sent = Instant::now();
                    match client.call(&addr, make_request(), CALL_TIMEOUT).await {
                        Ok(RpcResponse::Error(e)) => panic!("handler refused: {e}"),
                        Ok(_) => latencies.push(sent.elapsed()),
                        Err(e) => panic!("call failed: {e}"),
                    }
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("caller task panicked"));
    }
    let elapsed = start.elapsed();
    latencies.sort_unstable();
    Run {
        calls: latencies.len(),
        elapsed,
        latencies,
    }
}

fn print_latency(label: &str, run: &Run) {
    println!(
        "{label:<28} {:>9.0} calls/s   p50 {:>7.1} µs   p99 {:>7.1} µs   ({} calls)",
        run.per_second(),
        run.percentile(0.50).as_secs_f64() * 1e6,
        run.percentile(0.99).as_secs_f64() * 1e6,
        run.calls,
    );
}

fn print_throughput(label: &str, run: &Run, bytes_per_call: usize) {
    let mb_per_s = run.calls as f64 * bytes_per_call as f64 / 1e6 / run.elapsed.as_secs_f64();
    println!(
        "{label:<28} {:>9.1} MB/s      p50 {:>7.2} ms   p99 {:>7.2} ms   ({} calls)",
        mb_per_s,
        run.percentile(0.50).as_secs_f64() * 1e3,
        run.percentile(0.99).as_secs_f64() * 1e3,
        run.calls,
    );
}

fn ping() -> RpcRequest {
    RpcRequest::Ping
}

fn one_mib_http() -> RpcRequest {
    RpcRequest::Http(HttpRequest {
        method: "PUT".into(),
        uri: "/v1/jobs".into(),
        body: vec![0x5a; MIB],
        ..HttpRequest::default()
    })
}

fn one_mib_raft() -> RpcRequest {
    RpcRequest::Raft {
        kind: RaftKind::AppendEntries,
        payload: (0..MIB).map(|i| (i % 251) as u8).collect(),
    }
}

fn server_info(i: u64) -> ServerInfo {
    ServerInfo {
        id: i,
        name: format!("server-{i}"),
        rpc_addr: format!("10.0.0.{i}:4647"),
        http_addr: format!("10.0.0.{i}:4646"),
        datacenter: "dc1".into(),
        region: "global".into(),
        build: "0.1.0".into(),
        bootstrap_expect: 3,
    }
}

/// Encoded size and encode+decode time of one message in both layouts.
fn compare_layouts<T: Serialize + DeserializeOwned>(label: &str, msg: &T, rounds: usize) {
    type Encode<T> = fn(&T) -> Vec<u8>;
    let layouts: [(&str, Encode<T>); 2] = [
        ("compact", |m| rmp_serde::to_vec(m).expect("encode compact")),
        ("named", |m| {
            rmp_serde::to_vec_named(m).expect("encode named")
        }),
    ];
    for (layout, encode) in layouts {
        let size = encode(msg).len();
        let start = Instant::now();
        for _ in 0..rounds {
            let bytes = encode(black_box(msg));
            let back: T = rmp_serde::from_slice(&bytes).expect("decode");
            black_box(back);
        }
        let per_round = start.elapsed() / rounds as u32;
        println!(
            "{label:<22} {layout:<8} {size:>8} bytes   encode+decode {:>9.2} µs",
            per_round.as_secs_f64() * 1e6
        );
    }
}

fn encoding_figures() {
    println!("-- MessagePack layouts (both decode the message types; the transport uses named)");
    let hello = RpcResponse::Hello(Box::new(HelloReply {
        server: server_info(1),
        has_state: true,
        leader: Some(server_info(2)),
        known: (1..=5).map(server_info).collect(),
    }));
    compare_layouts("HelloReply, 5 servers", &hello, 20_000);
    let vote = RpcRequest::Raft {
        kind: RaftKind::Vote,
        payload: vec![7; 64],
    };
    compare_layouts("Raft vote, 64 B", &vote, 100_000);
    let http = one_mib_http();
    compare_layouts("Http, 1 MiB body", &http, 200);
    let raft_reply = RpcResponse::Raft(Ok((0..MIB).map(|i| (i % 251) as u8).collect()));
    compare_layouts("Raft reply, 1 MiB Vec", &raft_reply, 20);
}

async fn transport_figures() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr = listener.local_addr().expect("local addr").to_string();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(serve(listener, Arc::new(BenchHandler), stopped));
    let client = RpcClient::new();
    drive(&client, &addr, 4, Duration::from_millis(300), ping).await;

    println!("-- loopback, one connection");
    let second = Duration::from_secs(1);
    print_latency(
        "Ping, 1 caller",
        &drive(&client, &addr, 1, 3 * second, ping).await,
    );
    print_latency(
        "Ping, 32 callers",
        &drive(&client, &addr, 32, 3 * second, ping).await,
    );
    print_throughput(
        "1 MiB Http request, 1 caller",
        &drive(&client, &addr, 1, 3 * second, one_mib_http).await,
        MIB,
    );
    print_throughput(
        "1 MiB Http request, 4 callers",
        &drive(&client, &addr, 4, 3 * second, one_mib_http).await,
        MIB,
    );
    print_throughput(
        "1 MiB Raft echo, 1 caller",
        &drive(&client, &addr, 1, 2 * second, one_mib_raft).await,
        2 * MIB,
    );

    stop.send_replace(true);
    server.await.expect("server task panicked");
}

fn main() {
    encoding_figures();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(transport_figures());
}
