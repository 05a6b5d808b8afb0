//! `GET /v1/client/allocation/:id/checks`: the live results of an allocation's checks, from the
//! client that runs it.

use super::{HttpError, HttpState};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;

pub async fn alloc_checks(
    State(st): State<HttpState>,
    Path(alloc_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    if let Some(results) = st.client.as_ref().and_then(|c| c.check_results(&alloc_id)) {
        return Ok(Json(results).into_response());
    }
    super::client_proxy::may_relay(&st, &headers, &alloc_id)?;
    super::client_proxy::fetch(
        &st,
        &headers,
        &alloc_id,
        &format!("/v1/client/allocation/{alloc_id}/checks"),
    )
    .await
}
