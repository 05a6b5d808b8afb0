//! Any server answers: a middleware in front of every route decides whether this server can
//! answer a request itself or must relay it to the leader over the rpc port.
//!
//! - Agent-local endpoints (`/v1/agent/*`, `/v1/status/*`, `/v1/metrics`, `/v1/client/*`) always
//!   answer here: they describe this agent.
//! - Reads with `?stale` answer from this server's state, whatever its role.
//! - On the leader, writes run here and reads first pass a read barrier, so what they see
//!   includes every write acknowledged before they arrived (linearizable).
//! - On a follower, everything else is relayed to the leader. While there is no leader the
//!   request waits a bounded time for one, then fails with 500: never a false success.
//!
//! Every response carries `X-Nomad-KnownLeader` and `X-Nomad-LastContact` from this server's view.

use super::query::QueryOpts;
use super::HttpState;
use crate::rpc::{HttpRequest, HttpResponse};
use crate::server::{HttpRelay, Server};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

/// How many servers may relay one request; more means leadership is moving under it.
const MAX_HOPS: u8 = 2;
/// How long a request waits for a leader to be elected before failing.
const LEADER_WAIT: Duration = Duration::from_secs(5);
/// How long the leader has to answer a relayed write (a raft commit, bounded by its own timeout).
const RELAY_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest request body relayed to the leader: what the leader would accept itself.
const MAX_RELAY_BODY: usize = super::MAX_REQUEST_BODY;
/// The largest answer relayed back (a big listing may exceed what a request may carry).
const MAX_RELAY_ANSWER: usize = 64 << 20;
/// Carries the hop count of a relayed request into the leader's router.
const HOPS_HEADER: &str = "x-nomad-forward-hops";

pub async fn forward(State(st): State<HttpState>, req: Request, next: Next) -> Response {
    let Some(server) = st.server.clone() else {
        return next.run(req).await;
    };
    let path = req.uri().path();
    let is_read = matches!(*req.method(), Method::GET | Method::HEAD);
    let query = parse_query(req.uri());
    let mut resp = if is_local(path) || (is_read && is_stale(&query)) {
        next.run(req).await
    } else {
        route(&server, req, next, is_read, &query).await
    };
    leader_headers(&server, resp.headers_mut());
    resp
}

async fn route(
    server: &Arc<Server>,
    req: Request,
    next: Next,
    is_read: bool,
    query: &HashMap<String, String>,
) -> Response {
    if !server.is_leader() && server.wait_for_leader(LEADER_WAIT).await.is_none() {
        return unavailable("No cluster leader: a majority of the servers must be reachable");
    }
    if server.is_leader() {
        if is_read {
            if let Err(e) = server.read_barrier().await {
                return unavailable(&format!("reading consistently: {e}"));
            }
        }
        return next.run(req).await;
    }
    let hops = req
        .headers()
        .get(HOPS_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u8>().ok())
        .unwrap_or(0);
    if hops >= MAX_HOPS {
        return unavailable("No cluster leader: leadership is changing, retry the request");
    }
    // A blocking query holds the relay open for its whole wait.
    let timeout = if is_read {
        QueryOpts::parse(query.clone())
            .map(|q| q.wait)
            .unwrap_or_default()
            + RELAY_TIMEOUT
    } else {
        RELAY_TIMEOUT
    };
    let relayed = match to_relayed(req, hops + 1).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    match server.relay_to_leader(relayed, timeout).await {
        Ok(resp) => from_relayed(resp),
        Err(e) => unavailable(&e.to_string()),
    }
}

/// Endpoints about this agent rather than the cluster state.
fn is_local(path: &str) -> bool {
    // force-leave changes the raft configuration: only the leader can.
    ["/v1/agent/", "/v1/status/", "/v1/client/"]
        .iter()
        .any(|p| path.starts_with(p))
        && path != "/v1/agent/force-leave"
        || path == "/v1/metrics"
}

fn parse_query(uri: &axum::http::Uri) -> HashMap<String, String> {
    axum::extract::Query::<HashMap<String, String>>::try_from_uri(uri)
        .map(|q| q.0)
        .unwrap_or_default()
}

/// `?stale`, `?stale=true` or `?stale=1`: any server may answer from its own state.
fn is_stale(q: &HashMap<String, String>) -> bool {
    q.get("stale")
        .is_some_and(|v| v.is_empty() || v == "true" || v == "1")
}

fn leader_headers(server: &Server, headers: &mut HeaderMap) {
    let known = server.leader().is_some();
    let contact_ms = if server.is_leader() {
        0
    } else {
        server
            .last_contact()
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    };
    headers.insert(
        "X-Nomad-KnownLeader",
        HeaderValue::from_static(if known { "true" } else { "false" }),
    );
    headers.insert("X-Nomad-LastContact", HeaderValue::from(contact_ms));
}

fn unavailable(msg: &str) -> Response {
    (StatusCode::INTERNAL_SERVER_ERROR, msg.to_string()).into_response()
}

/// Headers that describe one hop of HTTP, not the request itself.
fn hop_by_hop(name: &str) -> bool {
    matches!(
        name,
        "host" | "connection" | "content-length" | "transfer-encoding" | "keep-alive" | "upgrade"
    )
}

async fn to_relayed(req: Request, hops: u8) -> Result<HttpRequest, Response> {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, MAX_RELAY_BODY)
        .await
        .map_err(|e| {
            (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "reading the request body: {e} (the limit is {} MiB)",
                    MAX_RELAY_BODY >> 20
                ),
            )
                .into_response()
        })?;
    let headers: BTreeMap<String, String> = parts
        .headers
        .iter()
        .filter(|(k, _)| !hop_by_hop(k.as_str()) && k.as_str() != HOPS_HEADER)
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    Ok(HttpRequest {
        method: parts.method.as_str().to_string(),
        uri: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_string(), |p| p.as_str().to_string()),
        headers,
        body: body.to_vec(),
        hops,
    })
}

fn from_relayed(resp: HttpResponse) -> Response {
    let mut out = Response::new(Body::from(resp.body));
    *out.status_mut() =
        StatusCode::from_u16(resp.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (k, v) in resp.headers {
        if hop_by_hop(&k) {
            continue;
        }
        if let (Ok(k), Ok(v)) = (HeaderName::try_from(k), HeaderValue::try_from(v)) {
            out.headers_mut().insert(k, v);
        }
    }
    out
}

/// A relayed request this agent could not run; the relaying server gets the message as a 500.
#[derive(Debug, thiserror::Error)]
enum RelayError {
    #[error(transparent)]
    Method(#[from] axum::http::method::InvalidMethod),
    #[error("invalid relayed request: {0}")]
    Request(#[source] axum::http::Error),
    #[error("reading the answer: {0}")]
    Answer(#[source] axum::Error),
}

/// Runs requests relayed by other servers through this agent's own router.
pub struct RouterRelay {
    router: Router,
}

impl RouterRelay {
    pub fn new(router: Router) -> RouterRelay {
        RouterRelay { router }
    }

    async fn run(&self, req: HttpRequest) -> Result<HttpResponse, RelayError> {
        let method = Method::from_bytes(req.method.as_bytes())?;
        let mut builder = axum::http::Request::builder()
            .method(method)
            .uri(&req.uri)
            .header(HOPS_HEADER, req.hops.to_string());
        for (k, v) in &req.headers {
            builder = builder.header(k, v);
        }
        let request = builder
            .body(Body::from(req.body))
            .map_err(RelayError::Request)?;
        let resp = match self.router.clone().oneshot(request).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        let (parts, body) = resp.into_parts();
        let body = axum::body::to_bytes(body, MAX_RELAY_ANSWER)
            .await
            .map_err(RelayError::Answer)?;
        Ok(HttpResponse {
            status: parts.status.as_u16(),
            headers: parts
                .headers
                .iter()
                .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
                .collect(),
            body: body.to_vec(),
        })
    }
}

impl HttpRelay for RouterRelay {
    fn handle(&self, req: HttpRequest) -> Pin<Box<dyn Future<Output = HttpResponse> + Send + '_>> {
        Box::pin(async move {
            self.run(req).await.unwrap_or_else(|e| HttpResponse {
                status: 500,
                headers: BTreeMap::new(),
                body: e.to_string().into_bytes(),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_endpoints_stay_local() {
        for p in [
            "/v1/agent/members",
            "/v1/status/leader",
            "/v1/metrics",
            "/v1/client/fs/logs/x",
        ] {
            assert!(is_local(p), "{p}");
        }
        for p in [
            "/v1/jobs",
            "/v1/job/x",
            "/v1/operator/raft/configuration",
            "/v1/metricsx",
        ] {
            assert!(!is_local(p), "{p}");
        }
    }

    #[test]
    fn stale_is_a_flag_or_true() {
        for (q, want) in [
            ("stale", true),
            ("stale=true", true),
            ("stale=1", true),
            ("stale=false", false),
            ("prefix=a", false),
            ("index=3&stale=", true),
        ] {
            let uri: axum::http::Uri = format!("/v1/jobs?{q}").parse().unwrap();
            assert_eq!(is_stale(&parse_query(&uri)), want, "{q}");
        }
    }

    #[test]
    fn query_values_are_percent_decoded() {
        let uri: axum::http::Uri = "/v1/x?address=127.0.0.1%3A4647&x=a+b".parse().unwrap();
        let q = parse_query(&uri);
        assert_eq!(q["address"], "127.0.0.1:4647");
        assert_eq!(q["x"], "a b");
    }
}
