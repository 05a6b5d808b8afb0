//! `/v1/deployments`, `/v1/deployment/...` and a job's deployments.

use super::error::parse_body;
use super::query::{newest_first_key, page_keyed};
use super::{json_indexed, read_blocking, read_blocking_paged, HttpError, HttpState};
use crate::state::Table;
use api::{Allocation, Deployment, DeploymentPauseRequest, DeploymentPromoteRequest};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use std::collections::HashMap;

type Q = Query<HashMap<String, String>>;

pub async fn list(State(st): State<HttpState>, Query(q): Q) -> Result<Response, HttpError> {
    read_blocking_paged(&st, q, Table::Deployments, |snap, q| {
        let out = snap
            .deployments()
            .filter(|d| d.id.starts_with(&q.prefix))
            .filter(|d| q.namespace == "*" || d.namespace == q.namespace)
            .map(|d| (newest_first_key(d.create_index, &d.id), (**d).clone()))
            .collect();
        let (out, next): (Vec<Deployment>, _) = page_keyed(out, q);
        Ok((out, snap.table_index(Table::Deployments), next))
    })
    .await
}

pub async fn read(
    State(st): State<HttpState>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Result<Response, HttpError> {
    read_blocking(&st, q, Table::Deployments, |snap, _| {
        let d = snap
            .deployment(&id)
            .ok_or_else(|| HttpError::not_found(format!("deployment {id} not found")))?;
        let index = d.modify_index;
        Ok(((*d).clone(), index))
    })
    .await
}

pub async fn allocations(
    State(st): State<HttpState>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Result<Response, HttpError> {
    read_blocking(&st, q, Table::Allocs, |snap, _| {
        let d = snap
            .deployment(&id)
            .ok_or_else(|| HttpError::not_found(format!("deployment {id} not found")))?;
        let allocs: Vec<Allocation> = snap
            .allocs_for_job(&d.namespace, &d.job_id)
            .iter()
            .filter(|a| a.deployment_id == id)
            .map(|a| a.stub())
            .collect();
        Ok((allocs, snap.table_index(Table::Allocs)))
    })
    .await
}

pub async fn promote(
    State(st): State<HttpState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, HttpError> {
    let req: DeploymentPromoteRequest = if body.is_empty() {
        DeploymentPromoteRequest::default()
    } else {
        parse_body(&body)?
    };
    let groups = if req.all {
        None
    } else {
        req.groups.filter(|g| !g.is_empty())
    };
    let resp = st.server()?.deployment_promote(&id, groups).await?;
    Ok(json_indexed(&resp, resp.index))
}

pub async fn pause(
    State(st): State<HttpState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, HttpError> {
    let req: DeploymentPauseRequest = parse_body(&body)?;
    let resp = st.server()?.deployment_pause(&id, req.pause).await?;
    Ok(json_indexed(&resp, resp.index))
}

pub async fn fail(
    State(st): State<HttpState>,
    Path(id): Path<String>,
) -> Result<Response, HttpError> {
    let resp = st.server()?.deployment_fail(&id).await?;
    Ok(json_indexed(&resp, resp.index))
}

pub async fn for_job(
    State(st): State<HttpState>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Result<Response, HttpError> {
    read_blocking(&st, q, Table::Deployments, |snap, q| {
        let list: Vec<Deployment> = snap
            .deployments_for_job(&q.namespace, &id)
            .iter()
            .map(|d| (**d).clone())
            .collect();
        Ok((list, snap.table_index(Table::Deployments)))
    })
    .await
}

pub async fn latest_for_job(
    State(st): State<HttpState>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Result<Response, HttpError> {
    read_blocking(&st, q, Table::Deployments, |snap, q| {
        let d: Option<Deployment> = snap
            .latest_deployment(&q.namespace, &id)
            .map(|d| (*d).clone());
        Ok((d, snap.table_index(Table::Deployments)))
    })
    .await
}
