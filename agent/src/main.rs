//! `nomad-agent`: runs a server, a client, or both (`--dev`), and the HTTP API.

use agent::client::{Client, ClientConfig};
use agent::config::{AgentFlags, Config};
use agent::http::{self, AgentInfo, HttpState};
use agent::rpc::{transport as rpc_transport, RemoteServers, RpcClient, ServerInfo, ServerRpc};
use agent::server::{HeartbeatConfig, LocalRpc, Server, ServerConfig};
use anyhow::{bail, Context};
use clap::{CommandFactory, Parser};
use std::path::PathBuf;
use std::sync::Arc;

/// jemalloc rather than glibc's malloc: 10% less server CPU per job registration under load
/// (bench_raft, A/B of two runs each), for 2 MB more resident memory at idle.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser, Debug)]
#[command(
    name = "nomad-agent",
    version,
    about = "Runs a server and/or client agent of the cluster"
)]
struct Cli {
    #[command(flatten)]
    flags: AgentFlags,
}

/// Nomad spells long flags with one dash (`-dev`, `-config=x`); accept that too.
fn normalize_args(args: Vec<String>) -> Vec<String> {
    let cmd = Cli::command();
    let longs: Vec<String> = cmd
        .get_arguments()
        .filter_map(|a| a.get_long().map(str::to_string))
        .chain(["help".to_string(), "version".to_string()])
        .collect();
    args.into_iter()
        .enumerate()
        .map(|(i, a)| {
            if i > 0 && a.starts_with('-') && !a.starts_with("--") && a.len() > 2 {
                let name = a[1..].split('=').next().unwrap_or("");
                if longs.iter().any(|l| l == name) {
                    return format!("-{a}");
                }
            }
            a
        })
        .collect()
}

fn main() {
    let cli = Cli::parse_from(normalize_args(std::env::args().collect()));
    let cfg = match Config::load(&cli.flags) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("Error loading configuration: {e}");
            std::process::exit(1);
        }
    };
    init_tracing(&cfg.log_level);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("Error starting the runtime: {e}");
            std::process::exit(1);
        }
    };
    let result = runtime.block_on(run(cfg));
    // Background loops that are still waiting get dropped; one stuck in a blocking call must not
    // keep a stopped agent alive: give it a moment, then leave.
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    if let Err(e) = result {
        eprintln!("Error: {e:#}");
        std::process::exit(1);
    }
    tracing::info!("shutdown complete");
}

fn init_tracing(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("NOMAD_LOG").unwrap_or_else(|_| {
        // openraft narrates every election and snapshot at INFO; our own raft module logs
        // what an operator needs, so its chatter starts at WARN unless NOMAD_LOG asks.
        let level = level.to_ascii_lowercase();
        let quiet = if matches!(level.as_str(), "debug" | "trace") {
            ""
        } else {
            ",openraft=warn"
        };
        tracing_subscriber::EnvFilter::new(format!("{level}{quiet}"))
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}

async fn run(cfg: Config) -> anyhow::Result<()> {
    // In dev mode without a data dir, everything lives in a temporary directory removed on exit,
    // and the tasks go with it.
    let (data_dir, _temp): (PathBuf, Option<tempfile::TempDir>) = match &cfg.data_dir {
        Some(d) => (d.clone(), None),
        None if cfg.dev_mode => {
            let t = tempfile::Builder::new()
                .prefix("nomad-dev-")
                .tempdir()
                .context("creating a temporary data dir")?;
            (t.path().to_path_buf(), Some(t))
        }
        None => bail!("data_dir is required: set data_dir in the config file or pass --data-dir"),
    };
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating data dir {}", data_dir.display()))?;
    let ephemeral = _temp.is_some();
    let tls = agent::tls::Tls::load(&cfg.tls, &cfg.region)?;

    // `addresses { http = ... rpc = ... }` override `bind_addr` per listener.
    let bind_ip = |set: &Option<String>| set.clone().unwrap_or_else(|| cfg.bind_addr.clone());
    let http_addr = format!("{}:{}", bind_ip(&cfg.addresses.http), cfg.ports.http);
    let listener = tokio::net::TcpListener::bind(&http_addr)
        .await
        .with_context(|| format!("binding the HTTP API to {http_addr}"))?;
    // TLS or ACL may be off: an agent reachable from a network must say so where the operator
    // looks first.
    let open_to_network = |ip: &str| {
        ip.parse::<std::net::IpAddr>()
            .map_or(true, |a| !a.is_loopback())
    };
    let http_open = open_to_network(&bind_ip(&cfg.addresses.http));
    let rpc_open = open_to_network(&bind_ip(&cfg.addresses.rpc));
    let mut missing = Vec::new();
    if http_open && !cfg.tls.http {
        missing.push("the HTTP API has no TLS (tls.http)");
    }
    if rpc_open && !cfg.tls.rpc {
        missing.push("the rpc port has no mutual TLS (tls.rpc)");
    }
    if (http_open || rpc_open) && cfg.tls.rpc && !cfg.tls.verify_server_hostname {
        missing.push("any certificate of the CA may act as a server (tls.verify_server_hostname)");
    }
    if http_open && !cfg.acl.enabled {
        missing.push("ACLs are off (acl.enabled): whoever reaches the HTTP API may run any job");
    }
    if !missing.is_empty() {
        tracing::warn!(
            http = %http_addr,
            "this agent listens beyond loopback and is OPEN: {}; keep it on a trusted network",
            missing.join("; ")
        );
    }
    let advertise_ip = if cfg.bind_addr == "0.0.0.0" {
        "127.0.0.1".to_string()
    } else {
        cfg.bind_addr.clone()
    };
    // What other agents dial: `advertise { rpc = ... }` when set (with or without a port), else
    // the bind address.
    let advertised = |set: &Option<String>, port: u16| match set {
        Some(a) if a.contains(':') => a.clone(),
        Some(a) => format!("{a}:{port}"),
        None => format!("{advertise_ip}:{port}"),
    };
    let rpc_addr = advertised(&cfg.advertise.rpc, cfg.ports.rpc);
    let advertised_http = advertised(&cfg.advertise.http, cfg.ports.http);

    let (rpc_shutdown, rpc_shutdown_rx) = tokio::sync::watch::channel(false);
    let rpc = RpcClient::with_tls(tls.clone());
    let server = if cfg.server.enabled {
        let rpc_bind = format!("{}:{}", bind_ip(&cfg.addresses.rpc), cfg.ports.rpc);
        let rpc_listener = tokio::net::TcpListener::bind(&rpc_bind)
            .await
            .with_context(|| format!("binding the rpc port to {rpc_bind}"))?;
        // Turns clients away until the server can answer them (see StartingListener).
        let rpc_listener = rpc_transport::StartingListener::start(rpc_listener);
        let s = Server::start(
            ServerConfig {
                data_dir: data_dir.join("server"),
                info: ServerInfo {
                    id: 0,
                    name: format!("{}.{}", cfg.name, cfg.region),
                    rpc_addr: rpc_addr.clone(),
                    http_addr: advertised_http.clone(),
                    datacenter: cfg.datacenter.clone(),
                    region: cfg.region.clone(),
                    build: env!("CARGO_PKG_VERSION").to_string(),
                    bootstrap_expect: cfg.server.bootstrap_expect,
                },
                retry_join: cfg.server.retry_join.clone(),
                raft_snapshot_threshold: cfg.server.raft_snapshot_threshold,
                raft_trailing_logs: cfg.server.raft_trailing_logs,
                raft_snapshot_interval: cfg.server.raft_snapshot_interval,
                num_workers: cfg.server.num_schedulers,
                heartbeat: heartbeat_config(&cfg.server),
                acl_enabled: cfg.acl.enabled,
                gc: gc_config(&cfg.server.gc),
                job_max_group_count: cfg
                    .server
                    .job_max_group_count
                    .unwrap_or(agent::server::DEFAULT_JOB_MAX_GROUP_COUNT),
            },
            rpc.clone(),
        )
        .await
        .context("starting the server")?;
        let rpc_listener = rpc_listener
            .ready()
            .await
            .with_context(|| format!("serving the rpc port {rpc_bind}"))?;
        tokio::spawn(rpc_transport::serve_with(
            rpc_listener,
            s.rpc_handler(),
            rpc_shutdown_rx.clone(),
            rpc_transport::ListenOptions {
                tls: tls.clone(),
                max_conns_per_client: cfg.limits.rpc_max_conns_per_client,
            },
        ));
        tracing::info!(rpc_addr, "server started");
        Some(s)
    } else {
        None
    };

    let (client_shutdown, client_shutdown_rx) = tokio::sync::watch::channel(false);
    // The node's address: `client { network_interface }`'s IPv4 address when set.
    let node_ip = if cfg.client.enabled && !cfg.client.network_interface.is_empty() {
        agent::client::interface::ipv4_of(&cfg.client.network_interface)
            .map_err(|e| anyhow::anyhow!("client network_interface: {e}"))?
            .to_string()
    } else {
        advertise_ip.clone()
    };
    let client = if cfg.client.enabled {
        // With a server in the same process (--dev, or an agent that is both) the client calls
        // it directly; otherwise it reaches the servers over the rpc port.
        let rpc: Arc<dyn ServerRpc> = match &server {
            Some(server) => Arc::new(LocalRpc(server.clone())),
            None => Arc::new(
                RemoteServers::new(&cfg.client.servers, rpc.clone())
                    .context("configuring the client's servers")?,
            ),
        };
        let c = Client::start(
            ClientConfig {
                node_name: cfg.name.clone(),
                datacenter: cfg.datacenter.clone(),
                node_class: cfg.client.node_class.clone(),
                node_pool: cfg.client.node_pool.clone(),
                meta: cfg.client.meta.clone(),
                data_dir: data_dir.clone(),
                drivers: cfg.driver_settings(),
                cpu_total_compute: cfg.client.cpu_total_compute,
                memory_total_mb: cfg.client.memory_total_mb,
                http_addr: format!("{advertise_ip}:{}", cfg.ports.http),
                bind_ip: node_ip.clone(),
                host_volumes: cfg.client.host_volumes.clone(),
                tls: tls.clone(),
                consul: cfg.consul.as_ref().map(|c| {
                    agent::client::services::consul::ConsulAgent::new(&c.address, c.token.clone())
                }),
                gc: {
                    let d = agent::client::ClientGcConfig::default();
                    agent::client::ClientGcConfig {
                        interval: cfg.client.gc_interval.unwrap_or(d.interval),
                        max_allocs: cfg.client.gc_max_allocs.unwrap_or(d.max_allocs),
                        disk_usage_threshold: cfg
                            .client
                            .gc_disk_usage_threshold
                            .unwrap_or(d.disk_usage_threshold),
                    }
                },
            },
            rpc,
            client_shutdown_rx,
        )
        .await
        .context("starting the client")?;
        tracing::info!(node_id = c.node_id(), "client started");
        Some(c)
    } else {
        None
    };

    // The renderer reads the catalog from this server, or through the client's servers.
    let catalog: Arc<dyn ServerRpc> = match &server {
        Some(s) => Arc::new(LocalRpc(s.clone())),
        None => Arc::new(
            RemoteServers::new(&cfg.client.servers, rpc.clone())
                .context("configuring the template renderer's servers")?,
        ),
    };
    let renderer = agent::template::Renderer::start(
        cfg.templates.clone(),
        catalog.clone(),
        cfg.client.meta.clone(),
    );
    // Servers resolve tokens from their own state; a client-only agent asks its servers and
    // keeps answers a while.
    let acl = cfg.acl.enabled.then(|| {
        let ttl = if server.is_some() {
            std::time::Duration::ZERO
        } else {
            http::acl_guard::CLIENT_CACHE_TTL
        };
        Arc::new(http::acl_guard::TokenResolver::new(catalog.clone(), ttl))
    });
    let state = HttpState {
        acl,
        renderer: renderer.clone(),
        tls: tls.clone(),
        server: server.clone(),
        client: client.clone(),
        agent: Arc::new(AgentInfo {
            name: cfg.name.clone(),
            region: cfg.region.clone(),
            datacenter: cfg.datacenter.clone(),
            bind_addr: advertise_ip.clone(),
            http_port: cfg.ports.http,
            rpc_port: cfg.ports.rpc,
            server: cfg.server.enabled,
            client: cfg.client.enabled,
            dev_mode: cfg.dev_mode,
            data_dir: data_dir.display().to_string(),
            bootstrap_expect: cfg.server.bootstrap_expect,
            version: env!("CARGO_PKG_VERSION").to_string(),
        }),
    };
    let router = http::router(state);
    if let Some(s) = &server {
        s.set_http_relay(Arc::new(http::RouterRelay::new(router.clone())));
    }
    tokio::spawn(reload_on_hangup(tls.clone()));
    let scheme = if cfg.tls.http { "https" } else { "http" };
    tracing::info!(%http_addr, scheme, "HTTP API listening");
    let listener = http::listener::HttpListener::start(
        listener,
        tls.clone(),
        cfg.limits.http_max_conns_per_client,
    );
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving the HTTP API")?;

    tracing::info!("shutting down");
    renderer.shutdown();
    if let Some(c) = &client {
        if ephemeral {
            // Nothing could re-attach to these tasks: their directory is about to go.
            c.destroy_all().await;
        }
        client_shutdown.send_replace(true);
        c.shutdown().await;
        tracing::info!("client stopped");
    }
    rpc_shutdown.send_replace(true);
    if let Some(s) = &server {
        s.shutdown().await;
        tracing::info!("server stopped");
    }
    Ok(())
}

/// Nomad's heartbeat settings from the server block, over our defaults.
/// Nomad's defaults where the server block sets nothing.
fn gc_config(c: &agent::config::ServerGcConfig) -> agent::server::GcConfig {
    let d = agent::server::GcConfig::default();
    let t = d.thresholds;
    agent::server::GcConfig {
        interval: c.job_gc_interval.unwrap_or(d.interval),
        thresholds: agent::state::GcThresholds {
            eval: c.eval_gc_threshold.unwrap_or(t.eval),
            batch_eval: c.batch_eval_gc_threshold.unwrap_or(t.batch_eval),
            job: c.job_gc_threshold.unwrap_or(t.job),
            deployment: c.deployment_gc_threshold.unwrap_or(t.deployment),
            node: c.node_gc_threshold.unwrap_or(t.node),
        },
    }
}

fn heartbeat_config(s: &agent::config::ServerConfig) -> HeartbeatConfig {
    let d = HeartbeatConfig::default();
    HeartbeatConfig {
        min_ttl: s.min_heartbeat_ttl.unwrap_or(d.min_ttl),
        grace: s.heartbeat_grace.unwrap_or(d.grace),
        max_per_second: s
            .max_heartbeats_per_second
            .map_or(d.max_per_second, f64::from)
            .max(1.0),
        failover_ttl: s.failover_heartbeat_ttl.unwrap_or(d.failover_ttl),
    }
}

/// SIGHUP reads the certificate files again; connections already open keep their certificates,
/// so the cluster never drops. A failed reload keeps the old ones and says why.
/// Caught even without TLS, so that a SIGHUP (which Nomad operators send to reload) never kills
/// the agent.
async fn reload_on_hangup(tls: Option<Arc<agent::tls::Tls>>) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hangups) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot catch SIGHUP: TLS certificates reload only on restart");
        return;
    };
    while hangups.recv().await.is_some() {
        let Some(tls) = &tls else {
            tracing::info!("caught hangup: TLS is off, nothing to reload");
            continue;
        };
        match tls.reload() {
            Ok(()) => tracing::info!("caught hangup: reloaded the TLS certificates"),
            Err(e) => {
                tracing::error!(error = %e, "caught hangup: TLS reload failed, keeping the old certificates")
            }
        }
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        // Without signal handlers the agent still runs; it stops when killed.
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = int.recv() => tracing::info!("caught interrupt"),
        _ = term.recv() => tracing::info!("caught terminate"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_dash_long_flags_are_accepted() {
        let out = normalize_args(
            [
                "nomad-agent",
                "-dev",
                "-data-dir=/x",
                "-h",
                "--bind",
                "1.2.3.4",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        );
        assert_eq!(
            out,
            vec![
                "nomad-agent",
                "--dev",
                "--data-dir=/x",
                "-h",
                "--bind",
                "1.2.3.4"
            ]
        );
    }
}
