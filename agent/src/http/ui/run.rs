//! Running a job from the browser, as `job plan` then `job run -check-index` do: the pasted
//! HCL is parsed by `/v1/jobs/parse` (a syntax error comes back with its file:line:col), planned
//! with its diff and the scheduler's dry run, and registered only with the plan's job modify
//! index, so a job that changed in between is refused rather than overwritten.

use super::api::{enc, Api, ApiError};
use super::render;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use minijinja::{context, Value};
use serde_json::{json, Value as Json};

/// The file name parse errors carry.
const FILE: &str = "input.hcl";

async fn parse(api: &Api, hcl: &str) -> Result<Json, ApiError> {
    let body = json!({ "JobHCL": hcl, "Canonicalize": true });
    api.send(Method::POST, "/v1/jobs/parse", Some(&body)).await
}

fn failed(stage: &str, e: &ApiError) -> Response {
    let ctx = context! { stage => stage, error => Value::from_serialize(e), file => FILE };
    let mut resp = render("plan.html", ctx);
    *resp.status_mut() = StatusCode::from_u16(e.status)
        .ok()
        .filter(|s| s.is_client_error())
        .unwrap_or(StatusCode::BAD_REQUEST);
    resp
}

/// `POST /ui/f/plan` with the HCL as the body.
pub async fn plan(api: Api, hcl: String) -> Response {
    let job = match parse(&api, &hcl).await {
        Ok(j) => j,
        Err(e) => return failed("parse", &e),
    };
    let id = job["ID"].as_str().unwrap_or("").to_string();
    let ns = job["Namespace"].as_str().unwrap_or("default").to_string();
    let path = format!("/v1/job/{}/plan?namespace={}", enc(&id), enc(&ns));
    let body = json!({ "Job": job, "Diff": true });
    let plan = match api.send(Method::POST, &path, Some(&body)).await {
        Ok(p) => p,
        Err(e) => return failed("plan", &e),
    };
    let diff = serde_json::from_value::<api::diff::JobDiff>(plan["Diff"].clone())
        .map(|d| api::diff_text::job_text(&d, false))
        .unwrap_or_default();
    render(
        "plan.html",
        context! {
            job_id => id,
            namespace => ns,
            diff => diff,
            plan => Value::from_serialize(&plan),
            index => plan["JobModifyIndex"].as_u64().unwrap_or(0),
        },
    )
}

#[derive(serde::Deserialize)]
pub struct RunRequest {
    hcl: String,
    index: u64,
}

/// `POST /ui/f/register` with `{"hcl": ..., "index": N}`: registers with `EnforceIndex`.
pub async fn register(api: Api, body: String) -> Response {
    let req: RunRequest = match serde_json::from_str(&body) {
        Ok(r) => r,
        Err(e) => {
            return (StatusCode::BAD_REQUEST, format!("bad run request: {e}")).into_response()
        }
    };
    let job = match parse(&api, &req.hcl).await {
        Ok(j) => j,
        Err(e) => return failed("parse", &e),
    };
    let ns = job["Namespace"].as_str().unwrap_or("default").to_string();
    let id = job["ID"].as_str().unwrap_or("").to_string();
    let body = json!({ "Job": job, "EnforceIndex": true, "JobModifyIndex": req.index });
    let path = format!("/v1/jobs?namespace={}", enc(&ns));
    match api.send(Method::POST, &path, Some(&body)).await {
        Ok(r) => render(
            "plan.html",
            context! {
                registered => format!("/ui/jobs/{}?namespace={}", enc(&id), enc(&ns)),
                job_id => id,
                eval => r["EvalID"].as_str().unwrap_or(""),
            },
        ),
        Err(e) => failed("run", &e),
    }
}
