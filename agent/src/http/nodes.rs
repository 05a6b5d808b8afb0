//! `/v1/nodes` and `/v1/node/:id`.

use super::{read_blocking, HttpError, HttpState};
use crate::state::Table;
use api::{Allocation, NodeListStub};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use std::collections::HashMap;

type Q = Query<HashMap<String, String>>;

pub async fn list(State(st): State<HttpState>, Query(q): Q) -> Result<Response, HttpError> {
    read_blocking(&st, q, Table::Nodes, |snap, q| {
        let nodes: Vec<NodeListStub> = snap
            .nodes()
            .filter(|n| n.id.starts_with(&q.prefix))
            .map(|n| n.stub())
            .collect();
        Ok((nodes, snap.table_index(Table::Nodes)))
    })
    .await
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
