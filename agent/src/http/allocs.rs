//! `/v1/allocations` and `/v1/allocation/:id`.

use super::query::page;
use super::{json_indexed, read_blocking, read_blocking_paged, HttpError, HttpState};
use crate::state::Table;
use api::Allocation;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use std::collections::HashMap;

type Q = Query<HashMap<String, String>>;

pub async fn list(State(st): State<HttpState>, Query(q): Q) -> Result<Response, HttpError> {
    read_blocking_paged(&st, q, Table::Allocs, |snap, q| {
        // In id order, from the page's first id on: a page costs its own size, wherever it is.
        let start = q.next_token.as_str().max(q.prefix.as_str());
        let matching = snap
            .allocs_from(start)
            .take_while(|a| a.id.starts_with(&q.prefix))
            .map(|a| (a.id.clone(), a.stub()));
        let (allocs, next): (Vec<Allocation>, _) = page(matching, q);
        Ok((allocs, snap.table_index(Table::Allocs), next))
    })
    .await
}

pub async fn read(
    State(st): State<HttpState>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Result<Response, HttpError> {
    read_blocking(&st, q, Table::Allocs, |snap, _| {
        let a = snap
            .alloc(&id)
            .ok_or_else(|| HttpError::not_found("alloc not found"))?;
        let index = a.modify_index;
        Ok(((*a).clone(), index))
    })
    .await
}

pub async fn stop(
    State(st): State<HttpState>,
    Path(id): Path<String>,
) -> Result<Response, HttpError> {
    let server = st.server()?;
    let resp = server.alloc_stop(&id).await?;
    Ok(json_indexed(&resp, resp.index))
}
