//! `/v1/nodes` and `/v1/node/:id`.

use super::query::QueryOpts;
use super::{json_indexed, HttpError, HttpState};
use crate::state::Table;
use api::{Allocation, NodeListStub};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use std::collections::HashMap;

type Q = Query<HashMap<String, String>>;

pub async fn list(State(st): State<HttpState>, Query(q): Q) -> Result<Response, HttpError> {
    let q = QueryOpts::parse(q)?;
    let server = st.server()?;
    let snap = q.block_on(&server.state, Table::Nodes).await;
    let nodes: Vec<NodeListStub> = snap
        .nodes()
        .filter(|n| n.id.starts_with(&q.prefix))
        .map(|n| n.stub())
        .collect();
    Ok(json_indexed(&nodes, snap.table_index(Table::Nodes)))
}

pub async fn read(
    State(st): State<HttpState>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Result<Response, HttpError> {
    let q = QueryOpts::parse(q)?;
    let server = st.server()?;
    let snap = q.block_on(&server.state, Table::Nodes).await;
    let n = snap
        .node(&id)
        .ok_or_else(|| HttpError::not_found("node not found"))?;
    Ok(json_indexed(n.as_ref(), n.modify_index))
}

pub async fn allocations(
    State(st): State<HttpState>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Result<Response, HttpError> {
    let q = QueryOpts::parse(q)?;
    let server = st.server()?;
    let snap = q.block_on(&server.state, Table::Allocs).await;
    let allocs: Vec<Allocation> = snap
        .allocs_for_node(&id)
        .iter()
        .map(|a| (**a).clone())
        .collect();
    Ok(json_indexed(&allocs, snap.table_index(Table::Allocs)))
}
