//! `/v1/namespaces` and `/v1/namespace/:name`.

use super::acl_guard::CallerAcl;
use super::error::parse_body;
use super::{json_indexed, read_blocking, HttpError, HttpState};
use crate::state::Table;
use api::namespace::Namespace;
use axum::body::Bytes;
use axum::extract::{Extension, Path, Query, State};
use axum::response::Response;
use std::collections::HashMap;

type Q = Query<HashMap<String, String>>;

/// Lists the namespaces the caller's token holds some capability in (all, without ACLs).
pub async fn list(
    State(st): State<HttpState>,
    Query(q): Q,
    caller: Option<Extension<CallerAcl>>,
) -> Result<Response, HttpError> {
    read_blocking(&st, q, Table::Namespaces, |snap, q| {
        let list: Vec<Namespace> = snap
            .namespaces()
            .into_iter()
            .filter(|n| n.name.starts_with(&q.prefix))
            .filter(|n| caller.as_ref().is_none_or(|c| c.sees_namespace(&n.name)))
            .filter(|n| q.keep(&**n))
            .map(|n| (*n).clone())
            .collect();
        Ok((list, snap.namespaces_index()))
    })
    .await
}

pub async fn read(
    State(st): State<HttpState>,
    Path(name): Path<String>,
    Query(q): Q,
) -> Result<Response, HttpError> {
    read_blocking(&st, q, Table::Namespaces, |snap, _| {
        let ns = snap
            .namespace(&name)
            .ok_or_else(|| HttpError::not_found(format!("namespace {name:?} not found")))?;
        let index = ns.modify_index.max(snap.namespaces_index());
        Ok(((*ns).clone(), index))
    })
    .await
}

/// `POST /v1/namespace/:name` and `POST /v1/namespace` (the name in the body).
pub async fn write(
    State(st): State<HttpState>,
    name: Option<Path<String>>,
    body: Bytes,
) -> Result<Response, HttpError> {
    let mut ns: Namespace = parse_body(&body)?;
    if let Some(Path(name)) = name {
        if ns.name.is_empty() {
            ns.name = name;
        } else if ns.name != name {
            return Err(HttpError::bad_request(format!(
                "namespace name does not match URL: {:?} in the body, {name:?} in the path",
                ns.name
            )));
        }
    }
    let index = st.server()?.namespace_upsert(ns).await?;
    Ok(json_indexed(&serde_json::Value::Null, index))
}

pub async fn write_unnamed(st: State<HttpState>, body: Bytes) -> Result<Response, HttpError> {
    write(st, None, body).await
}

pub async fn write_named(
    st: State<HttpState>,
    name: Path<String>,
    body: Bytes,
) -> Result<Response, HttpError> {
    write(st, Some(name), body).await
}

pub async fn delete(
    State(st): State<HttpState>,
    Path(name): Path<String>,
) -> Result<Response, HttpError> {
    let index = st.server()?.namespace_delete(&name).await?;
    Ok(json_indexed(&serde_json::Value::Null, index))
}
