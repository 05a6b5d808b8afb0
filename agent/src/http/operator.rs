//! `/v1/operator/raft/*`: the raft configuration, and retiring a dead server from it.

use super::{json_indexed, HttpError, HttpState};
use api::{RaftConfiguration, RaftServer};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;

pub async fn configuration(State(st): State<HttpState>) -> Result<Response, HttpError> {
    let server = st.server()?;
    let (peers, index) = server.raft_configuration();
    let leader = server.leader().map(|l| l.id);
    let servers = peers
        .into_iter()
        .map(|p| RaftServer {
            id: p.info.id.to_string(),
            node: p.info.name.clone(),
            address: p.info.rpc_addr.clone(),
            leader: Some(p.info.id) == leader,
            voter: p.voter,
            raft_protocol: "3".into(),
        })
        .collect();
    Ok(json_indexed(&RaftConfiguration { servers, index }, index))
}

/// `DELETE /v1/operator/raft/peer?address=ip:port` or `?id=N`: exactly one must name a server of
/// the configuration.
pub async fn remove_peer(
    State(st): State<HttpState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, HttpError> {
    let server = st.server()?;
    let address = q.get("address").filter(|a| !a.is_empty());
    let id = q.get("id").filter(|i| !i.is_empty());
    let (peers, _) = server.raft_configuration();
    let target = match (address, id) {
        (Some(_), Some(_)) | (None, None) => {
            return Err(HttpError::bad_request(
                "name the server to remove with exactly one of ?address=ip:port or ?id=N",
            ))
        }
        (Some(a), None) => peers
            .iter()
            .find(|p| &p.info.rpc_addr == a)
            .ok_or_else(|| {
                HttpError::not_found(format!(
                    "address {a:?} was not found in the raft configuration"
                ))
            })?,
        (None, Some(i)) => {
            let n: u64 = i.parse().map_err(|_| {
                HttpError::bad_request(format!("invalid id {i:?}: raft ids are whole numbers"))
            })?;
            peers.iter().find(|p| p.info.id == n).ok_or_else(|| {
                HttpError::not_found(format!("id {n} was not found in the raft configuration"))
            })?
        }
    };
    if Some(target.info.id) == server.leader().map(|l| l.id) {
        return Err(HttpError::bad_request(format!(
            "{} is the leader: stop it and let another server take over before removing it",
            target.info.name
        )));
    }
    server.remove_peer(target.info.id).await?;
    tracing::info!(id = target.info.id, name = %target.info.name, "removed raft peer");
    Ok(().into_response())
}
