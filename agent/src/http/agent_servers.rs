//! `/v1/agent/servers`, `/v1/agent/join`, `/v1/agent/force-leave` and `/v1/regions`: which
//! servers an agent talks to, and changing that at run time.

use super::{HttpError, HttpState};
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use std::time::Duration;

/// Every value of a repeated query parameter (`?address=a&address=b`), in order.
fn all_values(raw: &Option<String>, key: &str) -> Vec<String> {
    let raw = raw.as_deref().unwrap_or_default();
    form_urlencoded::parse(raw.as_bytes())
        .filter(|(k, v)| k == key && !v.is_empty())
        .map(|(_, v)| v.into_owned())
        .collect()
}

/// The client's servers. Nomad answers this on client agents only.
pub async fn servers(State(st): State<HttpState>) -> Result<Response, HttpError> {
    let client = st
        .client
        .as_ref()
        .ok_or_else(|| HttpError::bad_request("this agent is not a client: it has no servers"))?;
    Ok(Json(client.servers()).into_response())
}

/// `PUT /v1/agent/servers?address=ip:port&address=...` replaces the client's servers.
pub async fn set_servers(
    State(st): State<HttpState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, HttpError> {
    let client = st
        .client
        .as_ref()
        .ok_or_else(|| HttpError::bad_request("this agent is not a client: it has no servers"))?;
    let addrs = all_values(&raw, "address");
    if addrs.is_empty() {
        return Err(HttpError::bad_request(
            "name the servers with one or more ?address=ip:port",
        ));
    }
    client
        .set_servers(addrs)
        .map_err(|e| HttpError::bad_request(e.to_string()))?;
    Ok(().into_response())
}

/// `PUT /v1/agent/join?address=ip:port...`: this server joins the cluster of those servers.
/// Nomad's answer: how many answered, and the errors of the others.
pub async fn join(
    State(st): State<HttpState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, HttpError> {
    let server = st.server()?;
    let addrs = all_values(&raw, "address");
    if addrs.is_empty() {
        return Err(HttpError::bad_request(
            "name the servers to join with one or more ?address=ip:port (their rpc port)",
        ));
    }
    let (joined, errors) = server.join(&addrs).await;
    Ok(Json(json!({ "num_joined": joined, "error": errors.join("; ") })).into_response())
}

/// How long force-leave waits for a server to answer before calling it failed.
const FORCE_LEAVE_PROBE: Duration = Duration::from_millis(500);

/// `PUT /v1/agent/force-leave?node=NAME`: removes a failed server from the cluster. A server
/// that still answers is refused: it would only join again.
pub async fn force_leave(
    State(st): State<HttpState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, HttpError> {
    let server = st.server()?;
    let Some(name) = all_values(&raw, "node").into_iter().next() else {
        return Err(HttpError::bad_request(
            "name the server to remove with ?node=NAME (as `server members` lists it)",
        ));
    };
    // Nomad's member names carry the region ("s1.global"): accept both spellings.
    let region = format!(".{}", st.agent.region);
    let bare = |n: &str| n.strip_suffix(&region).unwrap_or(n).to_string();
    let members = server.members(FORCE_LEAVE_PROBE).await;
    let Some((peer, alive)) = members
        .iter()
        .find(|(p, _)| bare(&p.info.name) == bare(&name))
    else {
        return Err(HttpError::not_found(format!(
            "no server named {name:?} among the members"
        )));
    };
    if *alive {
        return Err(HttpError::bad_request(format!(
            "server {:?} is alive: force-leave removes failed servers only (stop it first)",
            peer.info.name
        )));
    }
    server.remove_peer(peer.info.id).await?;
    tracing::info!(id = peer.info.id, name = %peer.info.name, "force-leave: removed a failed server");
    Ok(().into_response())
}

/// One region: this agent's. Federation across regions is not supported.
pub async fn regions(State(st): State<HttpState>) -> Response {
    Json(vec![st.agent.region.clone()]).into_response()
}
