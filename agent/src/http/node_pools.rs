//! `/v1/node/pools` and `/v1/node/pool/:name` (with its `/nodes` and `/jobs`).

use super::acl_guard::CallerAcl;
use super::error::parse_body;
use super::query::page;
use super::{json_indexed, read_blocking, read_blocking_paged, HttpError, HttpState};
use crate::state::Table;
use api::node_pool::NodePool;
use api::JobListStub;
use axum::body::Bytes;
use axum::extract::{Extension, Path, Query, State};
use axum::response::Response;
use std::collections::HashMap;

type Q = Query<HashMap<String, String>>;

pub async fn list(State(st): State<HttpState>, Query(q): Q) -> Result<Response, HttpError> {
    read_blocking(&st, q, Table::NodePools, |snap, q| {
        let list: Vec<NodePool> = snap
            .node_pools()
            .into_iter()
            .filter(|p| p.name.starts_with(&q.prefix))
            .filter(|p| q.keep(&**p))
            .map(|p| (*p).clone())
            .collect();
        Ok((list, snap.node_pools_index()))
    })
    .await
}

pub async fn read(
    State(st): State<HttpState>,
    Path(name): Path<String>,
    Query(q): Q,
) -> Result<Response, HttpError> {
    read_blocking(&st, q, Table::NodePools, |snap, _| {
        let p = snap
            .node_pool(&name)
            .ok_or_else(|| HttpError::not_found(format!("node pool {name:?} not found")))?;
        let index = p.modify_index.max(snap.node_pools_index());
        Ok(((*p).clone(), index))
    })
    .await
}

/// `POST /v1/node/pools` (the name in the body) and `PUT /v1/node/pool/:name`.
async fn write(st: HttpState, name: Option<String>, body: Bytes) -> Result<Response, HttpError> {
    let mut pool: NodePool = parse_body(&body)?;
    if let Some(name) = name {
        if pool.name.is_empty() {
            pool.name = name;
        } else if pool.name != name {
            return Err(HttpError::bad_request(format!(
                "node pool name does not match URL: {:?} in the body, {name:?} in the path",
                pool.name
            )));
        }
    }
    let index = st.server()?.node_pool_upsert(pool).await?;
    Ok(json_indexed(&serde_json::Value::Null, index))
}

pub async fn write_unnamed(
    State(st): State<HttpState>,
    body: Bytes,
) -> Result<Response, HttpError> {
    write(st, None, body).await
}

pub async fn write_named(
    State(st): State<HttpState>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, HttpError> {
    write(st, Some(name), body).await
}

pub async fn delete(
    State(st): State<HttpState>,
    Path(name): Path<String>,
) -> Result<Response, HttpError> {
    let index = st.server()?.node_pool_delete(&name).await?;
    Ok(json_indexed(&serde_json::Value::Null, index))
}

fn must_exist(snap: &crate::state::Tables, name: &str) -> Result<(), HttpError> {
    if snap.node_pool_exists(name) {
        Ok(())
    } else {
        Err(HttpError::not_found(format!(
            "node pool {name:?} not found"
        )))
    }
}

/// The pool's nodes (`all`: every node), as `/v1/nodes` lists them.
pub async fn nodes(
    State(st): State<HttpState>,
    Path(name): Path<String>,
    Query(q): Q,
) -> Result<Response, HttpError> {
    read_blocking_paged(&st, q, Table::Nodes, |snap, q| {
        must_exist(snap, &name)?;
        let (nodes, next) = super::nodes::stubs_page(snap.nodes_in_pool(&name), q)?;
        Ok((nodes, snap.table_index(Table::Nodes), next))
    })
    .await
}

/// The jobs that place in the pool, in the request's namespace (`*`: every namespace).
pub async fn jobs(
    State(st): State<HttpState>,
    Path(name): Path<String>,
    Query(q): Q,
    caller: Option<Extension<CallerAcl>>,
) -> Result<Response, HttpError> {
    read_blocking_paged(&st, q, Table::Jobs, |snap, q| {
        must_exist(snap, &name)?;
        let stubs = snap
            .jobs_in_pool(&name)
            .filter(|j| q.namespace == "*" || j.namespace == q.namespace)
            // Across namespaces, only those the caller's token sees.
            .filter(|j| {
                caller
                    .as_ref()
                    .is_none_or(|c| c.sees_namespace(&j.namespace))
            })
            .filter(|j| j.id.starts_with(&q.prefix))
            .filter(|j| j.id.as_str() >= q.next_token.as_str())
            .map(|j| (j.id.clone(), snap.job_stub(j)));
        let (stubs, next): (Vec<JobListStub>, _) = page(stubs, q);
        Ok((stubs, snap.table_index(Table::Jobs), next))
    })
    .await
}
