//! `/v1/jobs`, `/v1/jobs/parse`, `/v1/job/:id` and its sub-resources.

use super::error::parse_body;
use super::query::page;
use super::query::QueryOpts;
use super::{json_indexed, read_blocking, read_blocking_paged, HttpError, HttpState};
use crate::state::Table;
use api::*;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use std::collections::HashMap;

type Q = Query<HashMap<String, String>>;

/// `GET /v1/jobs`; `?namespace=*` lists every namespace the token may see, as in Nomad.
pub async fn list(
    State(st): State<HttpState>,
    caller: Option<axum::Extension<super::acl_guard::CallerAcl>>,
    Query(q): Q,
) -> Result<Response, HttpError> {
    read_blocking_paged(&st, q, Table::Jobs, |snap, q| {
        let meta = q.bool("meta", false)?;
        let in_namespace = |ns: &str| {
            if q.namespace == "*" {
                caller.as_ref().is_none_or(|c| c.sees_namespace(ns))
            } else {
                ns == q.namespace
            }
        };
        let stubs = snap
            .jobs()
            .filter(|j| in_namespace(&j.namespace) && j.id.starts_with(&q.prefix))
            .filter(|j| j.id.as_str() >= q.next_token.as_str())
            .map(|j| {
                let mut stub = snap.job_stub(j);
                if meta {
                    stub.meta = Some(j.meta.clone());
                }
                (j.id.clone(), stub)
            });
        let (stubs, next): (Vec<JobListStub>, _) = page(stubs, q);
        Ok((stubs, snap.table_index(Table::Jobs), next))
    })
    .await
}

/// The job in a body sent to `/v1/job/:id/...` must be that job.
fn same_job_id(job: &Job, id: &str) -> Result<(), HttpError> {
    let body_id = if job.id.is_empty() {
        &job.name
    } else {
        &job.id
    };
    if body_id != id {
        return Err(HttpError::bad_request(format!(
            "Job ID does not match URL: {body_id:?} in the body, {id:?} in the path"
        )));
    }
    Ok(())
}

pub async fn register(State(st): State<HttpState>, body: Bytes) -> Result<Response, HttpError> {
    let req: JobRegisterRequest = parse_body(&body)?;
    do_register(&st, req).await
}

pub async fn register_at(
    State(st): State<HttpState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, HttpError> {
    let req: JobRegisterRequest = parse_body(&body)?;
    same_job_id(&req.job, &id)?;
    do_register(&st, req).await
}

async fn do_register(st: &HttpState, req: JobRegisterRequest) -> Result<Response, HttpError> {
    let server = st.server()?;
    let enforce = req.enforce_index.then_some(req.job_modify_index);
    let resp = server.job_register(req.job, enforce).await?;
    Ok(json_indexed(&resp, resp.index))
}

pub async fn parse(body: Bytes) -> Result<Response, HttpError> {
    let req: JobsParseRequest = parse_body(&body)?;
    if req.hcl_v1 {
        return Err(HttpError::bad_request(
            "HCLv1 is not supported: job files are parsed as HCL2",
        ));
    }
    let mut opts = api::jobspec::ParseOptions::default();
    if !req.variables.trim().is_empty() {
        opts.var_files.push(api::jobspec::VarFile {
            name: "Variables".into(),
            text: req.variables,
            base_dir: None,
        });
    }
    let mut job = api::jobspec::parse_hcl_with(&req.job_hcl, "input.hcl", &opts)
        .map_err(|e| HttpError::bad_request(e.to_string()))?;
    if req.canonicalize {
        job.canonicalize();
    }
    Ok(json_indexed(&job, 0))
}

pub async fn read(
    State(st): State<HttpState>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Result<Response, HttpError> {
    read_blocking(&st, q, Table::Jobs, |snap, q| {
        let job = snap
            .job(&q.namespace, &id)
            .ok_or_else(|| HttpError::not_found("job not found"))?;
        Ok((snap.job_with_status(&job), job.modify_index))
    })
    .await
}

pub async fn deregister(
    State(st): State<HttpState>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Result<Response, HttpError> {
    let q = QueryOpts::parse(q)?;
    let purge = q.bool("purge", false)?;
    let server = st.server()?;
    let resp = server.job_deregister(&q.namespace, &id, purge).await?;
    Ok(json_indexed(&resp, resp.index))
}

pub async fn allocations(
    State(st): State<HttpState>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Result<Response, HttpError> {
    read_blocking(&st, q, Table::Allocs, |snap, q| {
        let mut allocs: Vec<Allocation> = snap
            .allocs_for_job(&q.namespace, &id)
            .iter()
            .map(|a| a.stub())
            .collect();
        allocs.sort_by_key(|a| std::cmp::Reverse(a.create_index));
        Ok((allocs, snap.table_index(Table::Allocs)))
    })
    .await
}

pub async fn evaluations(
    State(st): State<HttpState>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Result<Response, HttpError> {
    read_blocking(&st, q, Table::Evals, |snap, q| {
        let mut evals: Vec<Evaluation> = snap
            .evals_for_job(&q.namespace, &id)
            .iter()
            .map(|e| (**e).clone())
            .collect();
        evals.sort_by_key(|e| std::cmp::Reverse(e.create_index));
        Ok((evals, snap.table_index(Table::Evals)))
    })
    .await
}

pub async fn versions(
    State(st): State<HttpState>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Result<Response, HttpError> {
    read_blocking(&st, q, Table::Jobs, |snap, q| {
        let versions = snap.job_versions(&q.namespace, &id);
        if versions.is_empty() {
            return Err(HttpError::not_found("job versions not found"));
        }
        let diffs = q.bool("diffs", false)?.then(|| {
            versions
                .windows(2)
                .map(|w| api::diff::job_diff(Some(&w[1]), &w[0], false))
                .collect()
        });
        let resp = JobVersionsResponse {
            versions: versions.iter().map(|j| (**j).clone()).collect(),
            diffs,
        };
        Ok((resp, snap.table_index(Table::Jobs)))
    })
    .await
}

pub async fn summary(
    State(st): State<HttpState>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Result<Response, HttpError> {
    read_blocking(&st, q, Table::Allocs, |snap, q| {
        let job = snap
            .job(&q.namespace, &id)
            .ok_or_else(|| HttpError::not_found("job not found"))?;
        let s = snap.job_summary(&job);
        let index = s.modify_index;
        Ok((s, index))
    })
    .await
}

pub async fn plan(
    State(st): State<HttpState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, HttpError> {
    let req: JobPlanRequest = parse_body(&body)?;
    same_job_id(&req.job, &id)?;
    let server = st.server()?;
    let resp = server.job_plan(req.job, req.diff).await?;
    Ok(json_indexed(&resp, resp.job_modify_index))
}

pub async fn revert(
    State(st): State<HttpState>,
    Path(id): Path<String>,
    Query(q): Q,
    body: Bytes,
) -> Result<Response, HttpError> {
    let req: JobRevertRequest = parse_body(&body)?;
    if !req.job_id.is_empty() && req.job_id != id {
        return Err(HttpError::bad_request(format!(
            "Job ID does not match URL: {:?} in the body, {id:?} in the path",
            req.job_id
        )));
    }
    let namespace = q
        .get("namespace")
        .filter(|n| !n.is_empty())
        .map_or("default", String::as_str);
    let server = st.server()?;
    let resp = server
        .job_revert(namespace, &id, req.job_version, req.enforce_prior_version)
        .await?;
    Ok(json_indexed(&resp, resp.index))
}
