//! `/v1/allocations` and `/v1/allocation/:id`.

use super::query::QueryOpts;
use super::{json_indexed, HttpError, HttpState};
use crate::state::Table;
use api::Allocation;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use std::collections::HashMap;

type Q = Query<HashMap<String, String>>;

pub async fn list(State(st): State<HttpState>, Query(q): Q) -> Result<Response, HttpError> {
    let q = QueryOpts::parse(q)?;
    let server = st.server()?;
    let snap = q.block_on(&server.state, Table::Allocs).await;
    let allocs: Vec<Allocation> = snap
        .allocs()
        .filter(|a| a.id.starts_with(&q.prefix))
        .map(|a| a.stub())
        .collect();
    Ok(json_indexed(&allocs, snap.table_index(Table::Allocs)))
}

pub async fn read(
    State(st): State<HttpState>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Result<Response, HttpError> {
    let q = QueryOpts::parse(q)?;
    let server = st.server()?;
    let snap = q.block_on(&server.state, Table::Allocs).await;
    let a = snap
        .alloc(&id)
        .ok_or_else(|| HttpError::not_found("alloc not found"))?;
    Ok(json_indexed(a.as_ref(), a.modify_index))
}

pub async fn stop(
    State(st): State<HttpState>,
    Path(id): Path<String>,
) -> Result<Response, HttpError> {
    let server = st.server()?;
    let resp = server.alloc_stop(&id).await?;
    Ok(json_indexed(&resp, resp.index))
}
