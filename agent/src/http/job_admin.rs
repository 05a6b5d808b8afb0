//! `/v1/validate/job`, `/v1/job/:id/evaluate`, `/v1/job/:id/scale` and the scaling policies.

use super::error::parse_body;
use super::query::QueryOpts;
use super::{json_indexed, read_blocking, HttpError, HttpState};
use crate::state::Table;
use api::*;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use std::collections::HashMap;

type Q = Query<HashMap<String, String>>;

/// A job that does not validate is still a 200, with the reasons in the body, as in Nomad; a body
/// that is not a job at all is a 400.
pub async fn validate(State(st): State<HttpState>, body: Bytes) -> Result<Response, HttpError> {
    let req: JobValidateRequest = parse_body(&body)?;
    let resp = st.server()?.job_validate(req.job);
    Ok(json_indexed(&resp, 0))
}

pub async fn evaluate(
    State(st): State<HttpState>,
    Path(id): Path<String>,
    Query(q): Q,
    body: Bytes,
) -> Result<Response, HttpError> {
    let q = QueryOpts::parse(q)?;
    let req: JobEvaluateRequest = super::query::body_or_default(&body)?;
    if !req.job_id.is_empty() && req.job_id != id {
        return Err(HttpError::bad_request(format!(
            "JobID does not match URL: {:?} in the body, {id:?} in the path",
            req.job_id
        )));
    }
    let resp = st
        .server()?
        .job_evaluate(&q.namespace, &id, req.eval_options)
        .await?;
    Ok(json_indexed(&resp, resp.index))
}

pub async fn scale_status(
    State(st): State<HttpState>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Result<Response, HttpError> {
    read_blocking(&st, q, Table::Allocs, |snap, q| {
        let job = snap
            .job(&q.namespace, &id)
            .ok_or_else(|| HttpError::not_found(format!("job {id:?} not found")))?;
        let index = snap.table_index(Table::Allocs).max(job.modify_index);
        Ok((snap.job_scale_status(&job), index))
    })
    .await
}

/// Every group's scaling policy in the namespace (`*`: all), with the job's indexes; `?job=`
/// and `?type=` narrow the list, as in Nomad.
fn policies(snap: &crate::state::Tables, q: &QueryOpts) -> Vec<api::ScalingPolicy> {
    let job = q.get("job").filter(|j| !j.is_empty());
    let kind = q.get("type").filter(|t| !t.is_empty());
    snap.jobs()
        .filter(|j| q.namespace == "*" || j.namespace == q.namespace)
        .filter(|j| job.is_none_or(|id| j.id == id))
        .flat_map(|j| {
            j.task_groups.iter().filter_map(move |g| {
                let mut p = g.scaling.clone()?;
                p.create_index = j.create_index;
                p.modify_index = j.modify_index;
                Some(p)
            })
        })
        .filter(|p| kind.is_none_or(|k| p.r#type == k))
        .collect()
}

/// `GET /v1/scaling/policies`.
pub async fn scaling_policies(
    State(st): State<HttpState>,
    Query(q): Q,
) -> Result<Response, HttpError> {
    read_blocking(&st, q, Table::Jobs, |snap, q| {
        let list: Vec<api::ScalingPolicyListStub> =
            policies(snap, q).iter().map(|p| p.stub()).collect();
        Ok((list, snap.table_index(Table::Jobs)))
    })
    .await
}

/// `GET /v1/scaling/policy/:id`.
pub async fn scaling_policy(
    State(st): State<HttpState>,
    Path(id): Path<String>,
    Query(mut q): Q,
) -> Result<Response, HttpError> {
    // A policy id names its namespace: look in all of them.
    q.insert("namespace".into(), "*".into());
    read_blocking(&st, q, Table::Jobs, |snap, q| {
        let p = policies(snap, q)
            .into_iter()
            .find(|p| p.id == id)
            .ok_or_else(|| HttpError::not_found(format!("scaling policy {id:?} not found")))?;
        Ok((p, snap.table_index(Table::Jobs)))
    })
    .await
}

/// `POST /v1/job/:id/dispatch`.
pub async fn dispatch(
    State(st): State<HttpState>,
    Path(id): Path<String>,
    Query(q): Q,
    body: Bytes,
) -> Result<Response, HttpError> {
    let q = QueryOpts::parse(q)?;
    let req: api::JobDispatchRequest = super::query::body_or_default(&body)?;
    let resp = st.server()?.job_dispatch(&q.namespace, &id, req).await?;
    Ok(json_indexed(&resp, resp.index))
}

/// `POST /v1/job/:id/periodic/force`.
pub async fn periodic_force(
    State(st): State<HttpState>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Result<Response, HttpError> {
    let q = QueryOpts::parse(q)?;
    let resp = st.server()?.job_periodic_force(&q.namespace, &id).await?;
    Ok(json_indexed(&resp, resp.index))
}

/// `POST /v1/job/:id/scale`.
pub async fn scale(
    State(st): State<HttpState>,
    Path(id): Path<String>,
    Query(q): Q,
    body: Bytes,
) -> Result<Response, HttpError> {
    let q = QueryOpts::parse(q)?;
    let req: ScalingRequest = parse_body(&body)?;
    let resp = st.server()?.job_scale(&q.namespace, &id, req).await?;
    Ok(json_indexed(&resp, resp.index))
}
