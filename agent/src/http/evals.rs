//! `/v1/evaluations` and `/v1/evaluation/:id`.

use super::query::{newest_first_key, page_keyed, QueryOpts};
use super::{json_indexed, read_blocking, read_blocking_paged, HttpError, HttpState};
use crate::state::Table;
use api::{Allocation, Evaluation};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use std::collections::HashMap;

type Q = Query<HashMap<String, String>>;

pub async fn list(State(st): State<HttpState>, Query(q): Q) -> Result<Response, HttpError> {
    read_blocking_paged(&st, q, Table::Evals, |snap, q| {
        let evals = snap
            .evals()
            .filter(|e| e.id.starts_with(&q.prefix))
            .map(|e| (newest_first_key(e.create_index, &e.id), (**e).clone()))
            .collect();
        let (evals, next): (Vec<Evaluation>, _) = page_keyed(evals, q);
        Ok((evals, snap.table_index(Table::Evals), next))
    })
    .await
}

pub async fn read(
    State(st): State<HttpState>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Result<Response, HttpError> {
    let q = QueryOpts::parse(q)?;
    let server = st.server()?;
    // Block on this evaluation's own index, so a watcher wakes only when it changes.
    let deadline = tokio::time::Instant::now() + q.wait;
    loop {
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        let snap = server
            .state
            .wait_for(Table::Evals, q.index.max(1) - 1, remaining)
            .await;
        let e = snap
            .eval(&id)
            .ok_or_else(|| HttpError::not_found("eval not found"))?;
        if q.index == 0 || e.modify_index > q.index || remaining.is_zero() {
            return Ok(json_indexed(e.as_ref(), e.modify_index));
        }
        let _ = server
            .state
            .wait_for(Table::Evals, snap.table_index(Table::Evals), remaining)
            .await;
    }
}

pub async fn allocations(
    State(st): State<HttpState>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Result<Response, HttpError> {
    read_blocking(&st, q, Table::Allocs, |snap, _| {
        let allocs: Vec<Allocation> = snap
            .allocs()
            .filter(|a| a.eval_id == id)
            .map(|a| a.stub())
            .collect();
        Ok((allocs, snap.table_index(Table::Allocs)))
    })
    .await
}
