//! The agent's template renderer over HTTP: what each template block did
//! (`GET /v1/agent/templates`), and a one-off render against the live catalog
//! (`POST /v1/agent/template/render`, used by `nomadctl template render`).

use super::error::parse_body;
use super::{HttpError, HttpState};
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

pub async fn list(State(st): State<HttpState>) -> Response {
    Json(st.renderer.statuses()).into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RenderRequest {
    /// The template's text.
    template: String,
    /// Its file name, for error messages and `{% include %}` (optional).
    #[serde(default)]
    name: String,
}

pub async fn render(State(st): State<HttpState>, body: Bytes) -> Result<Response, HttpError> {
    let req: RenderRequest = parse_body(&body)?;
    let name = if req.name.is_empty() {
        "template"
    } else {
        &req.name
    };
    let out = st
        .renderer
        .render_once(name, &req.template)
        .await
        .map_err(|e| HttpError::bad_request(e.to_string()))?;
    Ok(Json(serde_json::json!({ "Output": out })).into_response())
}
