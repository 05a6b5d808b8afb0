//! `/v1/search` (identifier prefixes) and `/v1/search/fuzzy` (substrings of names), answered
//! from the state by `state::search`. Not blocking queries, as in Nomad.

use super::error::parse_body;
use super::{json_indexed, HttpError, HttpState};
use crate::state::search::{self, FuzzyLimits};
use api::search::{FuzzySearchRequest, SearchRequest, PREFIX_LIMIT};
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::response::Response;
use std::collections::HashMap;

/// `POST|PUT /v1/search`: `{"Prefix", "Context", "Namespace"?}`.
pub async fn prefix(
    State(st): State<HttpState>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response, HttpError> {
    let req: SearchRequest = parse_body(&body)?;
    let namespace = namespace_of(&st, &q, &req.namespace)?;
    let mut resp = st
        .server()?
        .state
        .read(|t| search::prefix(t, &req.context, &req.prefix, &namespace, PREFIX_LIMIT))
        .map_err(|e| HttpError::bad_request(e.to_string()))?;
    resp.index = resp.index.max(1);
    Ok(json_indexed(&resp, resp.index))
}

/// `POST|PUT /v1/search/fuzzy`: `{"Text", "Context", "Namespace"?}`.
pub async fn fuzzy(
    State(st): State<HttpState>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response, HttpError> {
    let req: FuzzySearchRequest = parse_body(&body)?;
    let namespace = namespace_of(&st, &q, &req.namespace)?;
    // A fuzzy search reads every name of its contexts: it works on a snapshot, off the async
    // threads, and holds no lock on the state meanwhile.
    let snap = st.server()?.state.snapshot();
    let found = tokio::task::spawn_blocking(move || {
        search::fuzzy(
            &snap,
            &req.context,
            &req.text,
            &namespace,
            FuzzyLimits::default(),
        )
    })
    .await
    .map_err(|e| HttpError::internal(format!("fuzzy search failed: {e}")))?;
    let mut resp = found.map_err(|e| HttpError::bad_request(e.to_string()))?;
    resp.index = resp.index.max(1);
    Ok(json_indexed(&resp, resp.index))
}

/// The namespace searched: `?namespace=` when given, else the body's `Namespace`, else
/// `default` (Nomad reads both, the query first). With ACLs on, the guard checked the query's
/// namespace (`default` without one), so a body naming another one is refused rather than
/// searched unchecked.
fn namespace_of(
    st: &HttpState,
    query: &HashMap<String, String>,
    body_namespace: &str,
) -> Result<String, HttpError> {
    if let Some(ns) = query.get("namespace").filter(|ns| !ns.is_empty()) {
        return Ok(ns.clone());
    }
    let ns = match body_namespace.trim() {
        "" => "default",
        ns => ns,
    };
    if st.acl.is_some() && ns != "default" {
        return Err(HttpError::bad_request(format!(
            "with ACLs enabled, give the namespace as ?namespace={ns} rather than in the request \
             body: permissions are checked against the query's namespace"
        )));
    }
    Ok(ns.to_string())
}
