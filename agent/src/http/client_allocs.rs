//! The client's own endpoints about its allocations and host: `/v1/client/allocation/:id/
//! {stats,signal,restart,gc}`, `/v1/client/stats` and `/v1/client/gc`. An agent that does not
//! run the allocation (or is not the node asked with `?node_id=`) passes the request on to the
//! node that does.

use super::client_proxy::{self, Node, PROXIED_HEADER};
use super::query::body_or_default;
use super::{HttpError, HttpState};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use std::collections::HashMap;

type Q = Query<HashMap<String, String>>;

/// `/v1/client/allocation/:id/signal` body.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct SignalRequest {
    task: String,
    signal: String,
}

/// `/v1/client/allocation/:id/restart` body.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct RestartRequest {
    task_name: String,
    all_tasks: bool,
}

fn here<'a>(st: &'a HttpState, alloc_id: &str) -> Option<&'a crate::client::Client> {
    st.client.as_deref().filter(|c| c.runs(alloc_id))
}

/// Sends the request to the allocation's node, unless it already came from another agent.
async fn elsewhere(
    st: &HttpState,
    headers: &HeaderMap,
    alloc_id: &str,
    method: &'static str,
    path: &str,
    body: Bytes,
) -> Result<Response, HttpError> {
    client_proxy::may_relay(st, headers, alloc_id)?;
    client_proxy::send_to(st, headers, Node::OfAlloc(alloc_id), method, path, body).await
}

fn optional(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

pub async fn stats(
    State(st): State<HttpState>,
    Path(alloc_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    match here(&st, &alloc_id) {
        Some(c) => {
            let usage = c
                .alloc_stats(&alloc_id)
                .await
                .ok_or_else(|| HttpError::not_found(format!("allocation {alloc_id} not found")))?;
            Ok(Json(usage).into_response())
        }
        None => {
            let path = format!("/v1/client/allocation/{alloc_id}/stats");
            elsewhere(&st, &headers, &alloc_id, "GET", &path, Bytes::new()).await
        }
    }
}

pub async fn signal(
    State(st): State<HttpState>,
    Path(alloc_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, HttpError> {
    let req: SignalRequest = body_or_default(&body)?;
    let Some(c) = here(&st, &alloc_id) else {
        let path = format!("/v1/client/allocation/{alloc_id}/signal");
        return elsewhere(&st, &headers, &alloc_id, "POST", &path, body).await;
    };
    // Nomad's default: SIGKILL.
    let signal = optional(&req.signal).unwrap_or("SIGKILL");
    crate::drivers::proc::parse_signal(signal)
        .map_err(|e| HttpError::bad_request(e.to_string()))?;
    c.signal_alloc(&alloc_id, optional(&req.task), signal)
        .await
        .map_err(|e| HttpError::bad_request(e.to_string()))?;
    Ok(Json(serde_json::json!({})).into_response())
}

pub async fn restart(
    State(st): State<HttpState>,
    Path(alloc_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, HttpError> {
    let req: RestartRequest = body_or_default(&body)?;
    let Some(c) = here(&st, &alloc_id) else {
        let path = format!("/v1/client/allocation/{alloc_id}/restart");
        return elsewhere(&st, &headers, &alloc_id, "POST", &path, body).await;
    };
    if req.all_tasks && !req.task_name.is_empty() {
        return Err(HttpError::bad_request(
            "give either TaskName or AllTasks, not both",
        ));
    }
    c.restart_alloc(&alloc_id, optional(&req.task_name))
        .await
        .map_err(|e| HttpError::bad_request(e.to_string()))?;
    Ok(Json(serde_json::json!({})).into_response())
}

pub async fn gc_alloc(
    State(st): State<HttpState>,
    Path(alloc_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let Some(c) = here(&st, &alloc_id) else {
        let path = format!("/v1/client/allocation/{alloc_id}/gc");
        return elsewhere(&st, &headers, &alloc_id, "GET", &path, Bytes::new()).await;
    };
    c.collect_alloc(&alloc_id).await.map_err(|e| match e {
        crate::client::AllocGcError::Unknown(_) => HttpError::not_found(e.to_string()),
        crate::client::AllocGcError::Running(_) => HttpError::bad_request(e.to_string()),
    })?;
    Ok(Json(serde_json::json!({})).into_response())
}

/// The client asked for: this agent's, unless `?node_id=` names another node, which then
/// answers (through this agent when it is a server).
enum Which<'a> {
    Local(&'a crate::client::Client),
    Remote(String),
}

fn which<'a>(
    st: &'a HttpState,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<Which<'a>, HttpError> {
    let wanted = q.get("node_id").filter(|n| !n.is_empty());
    // A request passed on by another agent is for this node: it is never passed on again.
    let may_relay = st.server.is_some() && !headers.contains_key(PROXIED_HEADER);
    match (st.client.as_deref(), wanted) {
        (Some(c), None) => Ok(Which::Local(c)),
        (Some(c), Some(n)) if c.node_id() == n.as_str() => Ok(Which::Local(c)),
        (_, Some(n)) if may_relay => Ok(Which::Remote(n.clone())),
        (None, None) => Err(HttpError::bad_request(
            "this agent runs no client: name one with ?node_id=",
        )),
        (_, Some(n)) => Err(HttpError::not_found(format!(
            "node {n} is not this client, and this agent is no server that could reach it"
        ))),
    }
}

pub async fn host_stats(
    State(st): State<HttpState>,
    Query(q): Q,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    match which(&st, &q, &headers)? {
        Which::Local(c) => Ok(Json(c.host_stats().await).into_response()),
        Which::Remote(node) => {
            let path = "/v1/client/stats";
            client_proxy::send_to(&st, &headers, Node::Id(&node), "GET", path, Bytes::new()).await
        }
    }
}

/// Every finished allocation's directory on the client, now.
pub async fn gc_all(
    State(st): State<HttpState>,
    Query(q): Q,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    match which(&st, &q, &headers)? {
        Which::Local(c) => {
            let n = c.collect_all_finished().await;
            tracing::info!(removed = n, "client gc on request");
            Ok(Json(serde_json::json!({})).into_response())
        }
        Which::Remote(node) => {
            let path = "/v1/client/gc";
            client_proxy::send_to(&st, &headers, Node::Id(&node), "GET", path, Bytes::new()).await
        }
    }
}
