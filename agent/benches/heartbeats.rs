//! The leader's cost of holding many clients' heartbeats: one real `nomad-agent` server process;
//! this process registers 5,000 simulated nodes over the rpc port and then heartbeats each of them
//! on the TTL the server hands out, as real clients do (half the TTL, jittered). Reported: the
//! server's CPU (utime + stime from /proc) over the measuring window as a share of one core,
//! the heartbeats it served per second, and its RSS.
//!
//! Run: `cargo bench -p agent --bench heartbeats [-- nodes seconds]`

use agent::rpc::{RemoteServers, RpcClient, ServerRpc};
use api::Node;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// utime + stime of `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    tick(11) + tick(12)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn node(i: usize) -> Node {
    Node {
        id: format!("00000000-0000-4000-8000-{i:012}"),
        name: format!("sim-{i}"),
        datacenter: "dc1".into(),
        ..Default::default()
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let nodes: usize = args.first().and_then(|v| v.parse().ok()).unwrap_or(5000);
    let seconds: u64 = args.get(1).and_then(|v| v.parse().ok()).unwrap_or(120);
    let dir = tempfile::tempdir().expect("temp dir");
    let (http, rpc) = (free_port(), free_port());
    let mut server = Command::new(env!("CARGO_BIN_EXE_nomad-agent"))
        .args(["--server", "--bootstrap-expect", "1", "--bind", "127.0.0.1"])
        .args([
            "--http-port",
            &http.to_string(),
            "--rpc-port",
            &rpc.to_string(),
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting nomad-agent");
    let pid = server.id();
    let remote = Arc::new(
        RemoteServers::new(&[format!("127.0.0.1:{rpc}")], RpcClient::new()).expect("servers"),
    );

    // Register every node (64 at a time), retrying until the server has elected itself.
    let deadline = Instant::now() + Duration::from_secs(60);
    while remote.node_register(node(0)).await.is_err() {
        assert!(
            Instant::now() < deadline,
            "the server never accepted a node"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let started = Instant::now();
    let mut ttls = Vec::with_capacity(nodes);
    for chunk in (0..nodes).collect::<Vec<_>>().chunks(64) {
        let calls = chunk.iter().map(|&i| {
            let r = remote.clone();
            async move { r.node_register(node(i)).await }
        });
        for ttl in futures::future::join_all(calls).await {
            ttls.push(ttl.expect("node register"));
        }
    }
    println!("registered {nodes} nodes in {:?}", started.elapsed());

    let beats = Arc::new(AtomicU64::new(0));
    for (i, ttl) in ttls.into_iter().enumerate() {
        let (r, beats) = (remote.clone(), beats.clone());
        tokio::spawn(async move {
            let id = node(i).id;
            let mut ttl = ttl;
            loop {
                let wait = (ttl / 2).mul_f64(0.9 + rand::random::<f64>() * 0.1);
                tokio::time::sleep(wait).await;
                match r.node_heartbeat(&id).await {
                    Ok(t) => {
                        ttl = t;
                        beats.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(_) => ttl = Duration::from_secs(2),
                }
            }
        });
    }
    // Let registration's evaluations settle, then measure.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let (t0, b0, at) = (
        cpu_ticks(pid),
        beats.load(Ordering::Relaxed),
        Instant::now(),
    );
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let (t1, b1, took) = (cpu_ticks(pid), beats.load(Ordering::Relaxed), at.elapsed());
    let ticks_per_s = 100.0; // USER_HZ on Linux
    let cpu = (t1 - t0) as f64 / ticks_per_s / took.as_secs_f64() * 100.0;
    let down = {
        let out = Command::new("curl")
            .args(["-s", &format!("http://127.0.0.1:{http}/v1/nodes")])
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .matches("\"down\"")
                    .count()
            })
            .unwrap_or(0);
        out
    };
    println!(
        "{nodes} nodes over {took:?}: server CPU {cpu:.1}% of one core, {:.1} heartbeats/s, RSS {} KiB, nodes down {down}",
        (b1 - b0) as f64 / took.as_secs_f64(),
        rss_kib(pid)
    );
    let _ = server.kill();
    let _ = server.wait();
}
