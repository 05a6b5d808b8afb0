//! `/v1/status/*`, `/v1/agent/*` and `/v1/metrics`.

use super::{json_indexed, HttpError, HttpState};
use crate::rpc::ServerInfo;
use api::{AgentMember, ServerMembers};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

pub async fn leader(State(st): State<HttpState>) -> Result<Response, HttpError> {
    let server = st.server()?;
    Ok(Json(server.leader_addr().unwrap_or_default()).into_response())
}

pub async fn peers(State(st): State<HttpState>) -> Result<Response, HttpError> {
    let server = st.server()?;
    Ok(Json(server.peers()).into_response())
}

/// How long `/v1/agent/members` waits for each server to answer a ping.
const MEMBER_PROBE: Duration = Duration::from_millis(500);

fn member(info: &ServerInfo, alive: bool) -> AgentMember {
    let (host, port) = info
        .rpc_addr
        .rsplit_once(':')
        .map(|(h, p)| (h.to_string(), p.parse().unwrap_or(0)))
        .unwrap_or_else(|| (info.rpc_addr.clone(), 0));
    let mut tags = BTreeMap::new();
    tags.insert("role".into(), "nomad".into());
    tags.insert("id".into(), info.id.to_string());
    tags.insert("region".into(), info.region.clone());
    tags.insert("dc".into(), info.datacenter.clone());
    tags.insert("build".into(), info.build.clone());
    tags.insert("port".into(), port.to_string());
    tags.insert("rpc_addr".into(), host.clone());
    tags.insert("http_addr".into(), info.http_addr.clone());
    tags.insert("raft_vsn".into(), "3".into());
    tags.insert("expect".into(), info.bootstrap_expect.to_string());
    tags.insert("vsn".into(), "1".into());
    if info.bootstrap_expect == 1 {
        tags.insert("bootstrap".into(), "1".into());
    }
    AgentMember {
        name: info.name.clone(),
        addr: host,
        port,
        tags,
        status: if alive { "alive" } else { "failed" }.into(),
        protocol_min: 1,
        protocol_max: 5,
        protocol_cur: 2,
        delegate_min: 2,
        delegate_max: 5,
        delegate_cur: 4,
    }
}

/// Every server of the cluster, probed now: `alive` when it answers on its rpc port.
pub async fn members(State(st): State<HttpState>) -> Result<Response, HttpError> {
    let server = st.server()?;
    let a = &st.agent;
    let members = server
        .members(MEMBER_PROBE)
        .await
        .iter()
        .map(|(p, alive)| member(&p.info, *alive))
        .collect();
    let resp = ServerMembers {
        server_name: a.name.clone(),
        server_region: a.region.clone(),
        server_dc: a.datacenter.clone(),
        members,
    };
    Ok(Json(resp).into_response())
}

pub async fn self_info(State(st): State<HttpState>) -> Response {
    let a = &st.agent;
    let mut stats = serde_json::Map::new();
    if let Some(server) = &st.server {
        let (ready, waiting, delayed, inflight, blocked) = server.broker_stats();
        stats.insert(
            "nomad".into(),
            json!({
                "leader": server.is_leader().to_string(),
                "server": "true",
                "known_regions": "1",
                "last_index": server.state.index().to_string(),
                "broker_ready": ready.to_string(),
                "broker_waiting": waiting.to_string(),
                "broker_delayed": delayed.to_string(),
                "broker_unacked": inflight.to_string(),
                "blocked_evals": blocked.to_string(),
            }),
        );
        let (term, peers) = server.raft_term_and_peers();
        stats.insert(
            "raft".into(),
            json!({
                "state": if server.is_leader() { "Leader" } else { "Follower" },
                "term": term.to_string(),
                "applied_index": server.state.index().to_string(),
                "num_peers": peers.saturating_sub(1).to_string(),
            }),
        );
    }
    if let Some(client) = &st.client {
        stats.insert("client".into(), json!({ "node_id": client.node_id() }));
    }
    let body = json!({
        "config": {
            "Region": a.region,
            "Datacenter": a.datacenter,
            "NodeName": a.name,
            "DataDir": a.data_dir,
            "BindAddr": a.bind_addr,
            "DevMode": a.dev_mode,
            "Version": { "Version": a.version },
            "Ports": { "HTTP": a.http_port, "RPC": a.rpc_port },
            "Server": { "Enabled": a.server, "BootstrapExpect": a.bootstrap_expect },
            "Client": { "Enabled": a.client },
        },
        "member": st.server.as_ref().map(|s| member(&s.cfg.info, true)),
        "stats": stats,
    });
    Json(body).into_response()
}

/// As Nomad's: the server part (a leader, heard from recently) and the client part (a server
/// answered within the heartbeat TTL), each `{ok, message}`; 500 when either is unhealthy, so a
/// load balancer or a systemd watchdog can act on the status alone.
pub async fn health(State(st): State<HttpState>) -> Response {
    let mut body = serde_json::Map::new();
    let mut healthy = true;
    let mut part = |name: &str, result: Result<(), String>| {
        let ok = result.is_ok();
        healthy &= ok;
        let message = result.err().unwrap_or_else(|| "ok".into());
        body.insert(name.into(), json!({"ok": ok, "message": message}));
    };
    if let Some(server) = &st.server {
        part("server", server.health().map_err(|e| e.to_string()));
    }
    if let Some(client) = &st.client {
        part("client", client.health().map_err(|e| e.to_string()));
    }
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    (status, Json(body)).into_response()
}

/// Gauges in Nomad's metric names, as JSON or as Prometheus text (`?format=prometheus`).
pub async fn metrics(
    State(st): State<HttpState>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut gauges: Vec<(&str, f64)> = Vec::new();
    // Per template block, labelled with its destination.
    let mut labelled: Vec<(&str, &'static str, String, f64)> = Vec::new();
    for t in st.renderer.statuses() {
        let d = t.destination;
        let failing = if t.last_error.is_some() { 1.0 } else { 0.0 };
        for (name, v) in [
            ("nomad.template.renders", t.renders as f64),
            ("nomad.template.changes", t.changes as f64),
            ("nomad.template.errors", t.errors as f64),
            ("nomad.template.check_failures", t.check_failures as f64),
            ("nomad.template.command_failures", t.command_failures as f64),
            ("nomad.template.failing", failing),
            (
                "nomad.template.last_render_seconds",
                t.last_render as f64 / 1e9,
            ),
            (
                "nomad.template.last_change_seconds",
                t.last_change as f64 / 1e9,
            ),
        ] {
            labelled.push((name, "destination", d.clone(), v));
        }
    }
    if let Some(server) = &st.server {
        let (ready, waiting, delayed, inflight, blocked) = server.broker_stats();
        gauges.push(("nomad.nomad.broker.total_ready", ready as f64));
        gauges.push(("nomad.nomad.broker.total_waiting", waiting as f64));
        gauges.push(("nomad.nomad.broker.total_unacked", inflight as f64));
        gauges.push(("nomad.nomad.broker.total_pending", delayed as f64));
        gauges.push(("nomad.nomad.blocked_evals.total_blocked", blocked as f64));
        // The maps know their sizes: a scrape costs nothing at a million allocations.
        let (index, sizes) = server.state.read(|t| (t.index, t.sizes()));
        gauges.push(("nomad.raft.applied_index", index as f64));
        gauges.push(("nomad.state.jobs", sizes.jobs as f64));
        gauges.push(("nomad.state.nodes", sizes.nodes as f64));
        gauges.push(("nomad.state.allocations", sizes.allocs as f64));
        gauges.push(("nomad.state.evals", sizes.evals as f64));
    }
    if let Some(rss) = rss_bytes() {
        gauges.push(("nomad.runtime.rss_bytes", rss as f64));
    }
    if q.get("format").map(String::as_str) == Some("prometheus") {
        let mut out = String::new();
        for (name, v) in &gauges {
            let n = name.replace('.', "_");
            out.push_str(&format!("# TYPE {n} gauge\n{n} {v}\n"));
        }
        let mut typed = std::collections::BTreeSet::new();
        for (name, key, value, v) in &labelled {
            let n = name.replace('.', "_");
            if typed.insert(n.clone()) {
                out.push_str(&format!("# TYPE {n} gauge\n"));
            }
            let value = value.replace('\\', "\\\\").replace('"', "\\\"");
            out.push_str(&format!("{n}{{{key}=\"{value}\"}} {v}\n"));
        }
        return ([("content-type", "text/plain; version=0.0.4")], out).into_response();
    }
    let g: Vec<_> = gauges
        .iter()
        .map(|(n, v)| json!({"Name": n, "Value": v, "Labels": {}}))
        .chain(
            labelled
                .iter()
                .map(|(n, k, l, v)| json!({"Name": n, "Value": v, "Labels": {*k: l}})),
        )
        .collect();
    json_indexed(&json!({"Gauges": g, "Counters": [], "Samples": []}), 0)
}

fn rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = s.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}
