//! `/v1/nodes` and `/v1/node/:id`.

use super::query::{page_keyed, QueryOpts};
use super::{read_blocking, read_blocking_paged, HttpError, HttpState};
use crate::state::Table;
use api::{Allocation, NodeListStub};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;

type Q = Query<HashMap<String, String>>;

pub async fn list(State(st): State<HttpState>, Query(q): Q) -> Result<Response, HttpError> {
    read_blocking_paged(&st, q, Table::Nodes, |snap, q| {
        let (nodes, next) = stubs_page(snap.nodes(), q)?;
        Ok((nodes, snap.table_index(Table::Nodes), next))
    })
    .await
}

/// One page of `nodes` as `/v1/nodes` lists them (prefix, `resources`, `os`, paging), and the
/// next page's token.
pub(super) fn stubs_page<'a>(
    nodes: impl Iterator<Item = &'a std::sync::Arc<api::Node>>,
    q: &QueryOpts,
) -> Result<(Vec<NodeListStub>, Option<String>), HttpError> {
    let resources = q.bool("resources", false)?;
    let os = q.bool("os", false)?;
    let nodes = nodes
        .filter(|n| n.id.starts_with(&q.prefix))
        .map(|n| (n.id.clone(), n.stub_with(resources, os)))
        .collect();
    Ok(page_keyed(nodes, q))
}

pub async fn read(
    State(st): State<HttpState>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Result<Response, HttpError> {
    read_blocking(&st, q, Table::Nodes, |snap, _| {
        let n = snap
            .node(&id)
            .ok_or_else(|| HttpError::not_found("node not found"))?;
        let index = n.modify_index;
        Ok(((*n).clone(), index))
    })
    .await
}

pub async fn allocations(
    State(st): State<HttpState>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Result<Response, HttpError> {
    read_blocking(&st, q, Table::Allocs, |snap, _| {
        let allocs: Vec<Allocation> = snap
            .allocs_for_node(&id)
            .iter()
            .map(|a| (**a).clone())
            .collect();
        Ok((allocs, snap.table_index(Table::Allocs)))
    })
    .await
}

/// `POST|PUT /v1/node/:id/eligibility` with `{"Eligibility": "eligible"|"ineligible"}`.
pub async fn eligibility(
    State(st): State<HttpState>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, HttpError> {
    let req: api::NodeEligibilityRequest = super::error::parse_body(&body)?;
    let server = st.server()?;
    let node_id = resolve(&st, &id)?;
    let (eval_ids, index) = server
        .node_update_scheduling(&node_id, Some(&req.eligibility), None, None)
        .await?;
    Ok(update_response(eval_ids, index))
}

/// `POST|PUT /v1/node/:id/drain`: a `DrainSpec` starts a drain, none ends it (then
/// `MarkEligible` says whether the node takes new work again).
pub async fn drain(
    State(st): State<HttpState>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, HttpError> {
    let req: api::NodeDrainRequest = super::error::parse_body(&body)?;
    let server = st.server()?;
    let node_id = resolve(&st, &id)?;
    let (eligibility, drain) = match &req.drain_spec {
        Some(_) => (None, Some(true)),
        None if req.mark_eligible => (Some(api::NODE_ELIGIBLE), Some(false)),
        None => (Some(api::NODE_INELIGIBLE), Some(false)),
    };
    let deadline = req.drain_spec.as_ref().map(|s| s.deadline);
    let (eval_ids, index) = server
        .node_update_scheduling(&node_id, eligibility, drain, deadline)
        .await?;
    Ok(update_response(eval_ids, index))
}

/// The full id of a node named by id or unique prefix.
fn resolve(st: &HttpState, id: &str) -> Result<String, HttpError> {
    let server = st.server()?;
    let snap = server.state.snapshot();
    if snap.node(id).is_some() {
        return Ok(id.to_string());
    }
    let matches: Vec<String> = snap
        .nodes()
        .filter(|n| n.id.starts_with(id))
        .map(|n| n.id.clone())
        .collect();
    match matches.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(HttpError::not_found(format!("node {id:?} not found"))),
        _ => Err(HttpError::bad_request(format!(
            "node prefix {id:?} matches {} nodes: give more of the id",
            matches.len()
        ))),
    }
}

fn update_response(eval_ids: Vec<String>, index: u64) -> Response {
    axum::Json(api::NodeUpdateResponse {
        eval_create_index: if eval_ids.is_empty() { 0 } else { index },
        eval_ids,
        node_modify_index: index,
        index,
    })
    .into_response()
}

/// `POST|PUT /v1/node/:id/evaluate`: the scheduler looks again at every job on the node.
pub async fn evaluate(
    State(st): State<HttpState>,
    Path(id): Path<String>,
) -> Result<Response, HttpError> {
    let id = resolve(&st, &id)?;
    let resp = st.server()?.node_evaluate(&id).await?;
    Ok(super::json_indexed(&resp, resp.index))
}
