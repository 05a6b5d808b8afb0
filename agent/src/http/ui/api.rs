//! The UI's pages read the cluster through the `/v1` API itself, in process: each fragment
//! request becomes one or more API requests carrying the browser's `X-Nomad-Token`, so the
//! pages see exactly what the token may see, a follower forwards as it does for any caller,
//! and the answers have Nomad's shapes the templates are written against.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use serde_json::Value;
use tower::ServiceExt;

/// The largest API answer a page reads.
const MAX_ANSWER: usize = 16 << 20;

/// An API answer other than 2xx: its status and message.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
}

impl ApiError {
    pub fn forbidden(&self) -> bool {
        self.status == StatusCode::FORBIDDEN.as_u16()
    }
}

/// The API as one caller (one token) sees it.
#[derive(Clone)]
pub struct Api {
    router: Router,
    token: String,
}

/// Percent-encodes one path segment or query value.
pub fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Any UI handler's `Api`: the router it is served beside, and the request's token.
impl axum::extract::FromRequestParts<Router> for Api {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        router: &Router,
    ) -> Result<Self, Self::Rejection> {
        Ok(Api {
            router: router.clone(),
            token: crate::http::acl_guard::token_of(&parts.headers),
        })
    }
}

impl Api {
    pub async fn get(&self, path: impl AsRef<str>) -> Result<Value, ApiError> {
        self.send(Method::GET, path, None).await
    }

    /// `method path` with a JSON body; the answer's JSON (null when it has none).
    pub async fn send(
        &self,
        method: Method,
        path: impl AsRef<str>,
        body: Option<&Value>,
    ) -> Result<Value, ApiError> {
        let path = path.as_ref();
        let internal = |m: String| ApiError {
            status: 500,
            message: m,
        };
        let mut req = Request::builder().method(method).uri(path);
        if !self.token.is_empty() {
            req = req.header("x-nomad-token", &self.token);
        }
        let body = match body {
            Some(v) => Body::from(v.to_string()),
            None => Body::empty(),
        };
        let req = req
            .header("content-type", "application/json")
            .body(body)
            .map_err(|e| internal(e.to_string()))?;
        let resp = self
            .router
            .clone()
            .oneshot(req)
            .await
            .map_err(|e| internal(e.to_string()))?;
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), MAX_ANSWER)
            .await
            .map_err(|e| internal(format!("reading {path}: {e}")))?;
        if !status.is_success() {
            return Err(ApiError {
                status: status.as_u16(),
                message: String::from_utf8_lossy(&bytes).trim().to_string(),
            });
        }
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|e| internal(format!("{path}: {e}")))
    }
}
