//! `/v1/system/gc`: one garbage collection now, with no age limit (Nomad's forced core jobs);
//! `/v1/system/reconcile/summaries`: recount the job summaries.
//! Writes are relayed to the leader, which proposes what to remove through raft.

use super::{HttpError, HttpState};
use crate::state::GcThresholds;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// Nomad answers an empty 200; the counts are ours, for the CLI and the logs.
pub async fn gc(State(st): State<HttpState>) -> Result<Response, HttpError> {
    let n = st.server()?.collect_garbage(&GcThresholds::FORCE).await?;
    tracing::info!(?n, "forced garbage collection");
    Ok(Json(serde_json::json!({
        "Jobs": n.jobs,
        "Evaluations": n.evals,
        "Allocations": n.allocs,
        "Deployments": n.deployments,
        "Nodes": n.nodes,
    }))
    .into_response())
}

pub async fn reconcile_summaries(State(st): State<HttpState>) -> Result<Response, HttpError> {
    let index = st.server()?.reconcile_summaries().await?;
    Ok(super::json_indexed(&serde_json::Value::Null, index))
}
