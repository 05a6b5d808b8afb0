//! The public `/v1` HTTP API in Nomad's JSON shape (axum on hyper).

mod acl;
pub mod acl_guard;
mod agent;
mod agent_host;
mod agent_servers;
mod alloc_snapshot;
mod allocs;
mod checks;
mod client_allocs;
mod client_proxy;
mod deployments;
mod error;
mod evals;
mod events;
mod exec;
mod exec_relay;
mod forward;
mod fs;
mod job_admin;
mod jobs;
pub mod listener;
mod logs;
mod namespaces;
mod node_pools;
mod nodes;
mod operator;
mod query;
mod search;
mod services;
mod system;
mod templates;
mod ui;
mod variables;

pub use error::HttpError;
pub use forward::RouterRelay;

use crate::client::Client;
use crate::server::Server;
use crate::state::{Table, Tables};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use query::QueryOpts;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

/// The largest request body any route reads, relayed ones included (Nomad's job files stay far
/// below it; a larger body is refused with 413 before it is buffered whole).
pub const MAX_REQUEST_BODY: usize = 8 << 20;

/// Who this agent is, for `/v1/agent/self` and `/v1/agent/members`.
#[derive(Debug, Clone, Serialize)]
pub struct AgentInfo {
    pub name: String,
    pub region: String,
    pub datacenter: String,
    pub bind_addr: String,
    pub http_port: u16,
    pub rpc_port: u16,
    pub server: bool,
    pub client: bool,
    pub dev_mode: bool,
    pub data_dir: String,
    pub bootstrap_expect: u32,
    pub version: String,
}

#[derive(Clone)]
pub struct HttpState {
    pub server: Option<Arc<Server>>,
    pub client: Option<Arc<Client>>,
    pub agent: Arc<AgentInfo>,
    /// The agent's template renderer (with no templates when none is configured).
    pub renderer: Arc<crate::template::Renderer>,
    /// This agent's TLS, for the HTTPS calls it makes to other agents.
    pub tls: Option<Arc<crate::tls::Tls>>,
    /// Set when ACLs are on: every route then checks the caller's token.
    pub acl: Option<Arc<acl_guard::TokenResolver>>,
}

impl HttpState {
    /// The local server, or 500 when this agent is only a client (point the request at a server).
    fn server(&self) -> Result<&Arc<Server>, HttpError> {
        self.server
            .as_ref()
            .ok_or_else(|| HttpError::internal("this agent is not a server: no cluster state here"))
    }
}

pub fn router(state: HttpState) -> Router {
    let api = api_router(state);
    api.clone().merge(ui::router(api))
}

/// The `/v1` API, with its ACL guard and forwarding to the leader.
fn api_router(state: HttpState) -> Router {
    Router::new()
        .route(
            "/v1/jobs",
            get(jobs::list).post(jobs::register).put(jobs::register),
        )
        .route("/v1/jobs/parse", post(jobs::parse).put(jobs::parse))
        .route(
            "/v1/job/{id}",
            get(jobs::read)
                .post(jobs::register_at)
                .put(jobs::register_at)
                .delete(jobs::deregister),
        )
        .route("/v1/job/{id}/allocations", get(jobs::allocations))
        .route("/v1/job/{id}/evaluations", get(jobs::evaluations))
        .route("/v1/job/{id}/versions", get(jobs::versions))
        .route("/v1/job/{id}/plan", post(jobs::plan).put(jobs::plan))
        .route("/v1/job/{id}/deployments", get(deployments::for_job))
        .route("/v1/job/{id}/deployment", get(deployments::latest_for_job))
        .route("/v1/deployments", get(deployments::list))
        .route("/v1/event/stream", get(events::stream))
        .route("/v1/deployment/{id}", get(deployments::read))
        .route(
            "/v1/deployment/allocations/{id}",
            get(deployments::allocations),
        )
        .route(
            "/v1/deployment/promote/{id}",
            post(deployments::promote).put(deployments::promote),
        )
        .route(
            "/v1/deployment/fail/{id}",
            post(deployments::fail).put(deployments::fail),
        )
        .route(
            "/v1/deployment/pause/{id}",
            post(deployments::pause).put(deployments::pause),
        )
        .route("/v1/job/{id}/revert", post(jobs::revert).put(jobs::revert))
        .route(
            "/v1/job/{id}/dispatch",
            post(job_admin::dispatch).put(job_admin::dispatch),
        )
        .route(
            "/v1/job/{id}/periodic/force",
            post(job_admin::periodic_force).put(job_admin::periodic_force),
        )
        .route(
            "/v1/job/{id}/evaluate",
            post(job_admin::evaluate).put(job_admin::evaluate),
        )
        .route(
            "/v1/job/{id}/scale",
            get(job_admin::scale_status)
                .post(job_admin::scale)
                .put(job_admin::scale),
        )
        .route(
            "/v1/validate/job",
            post(job_admin::validate).put(job_admin::validate),
        )
        .route("/v1/scaling/policies", get(job_admin::scaling_policies))
        .route("/v1/scaling/policy/{id}", get(job_admin::scaling_policy))
        .route("/v1/job/{id}/summary", get(jobs::summary))
        .route("/v1/allocations", get(allocs::list))
        .route("/v1/allocation/{id}", get(allocs::read))
        .route(
            "/v1/allocation/{id}/stop",
            post(allocs::stop).put(allocs::stop),
        )
        .route("/v1/evaluations", get(evals::list))
        .route("/v1/evaluation/{id}", get(evals::read))
        .route("/v1/evaluation/{id}/allocations", get(evals::allocations))
        .route("/v1/nodes", get(nodes::list))
        .route(
            "/v1/node/pools",
            get(node_pools::list)
                .post(node_pools::write_unnamed)
                .put(node_pools::write_unnamed),
        )
        .route(
            "/v1/node/pool/{name}",
            get(node_pools::read)
                .post(node_pools::write_named)
                .put(node_pools::write_named)
                .delete(node_pools::delete),
        )
        .route("/v1/node/pool/{name}/nodes", get(node_pools::nodes))
        .route("/v1/node/pool/{name}/jobs", get(node_pools::jobs))
        .route("/v1/node/{id}", get(nodes::read))
        .route("/v1/node/{id}/allocations", get(nodes::allocations))
        .route(
            "/v1/node/{id}/eligibility",
            post(nodes::eligibility).put(nodes::eligibility),
        )
        .route("/v1/node/{id}/drain", post(nodes::drain).put(nodes::drain))
        .route(
            "/v1/node/{id}/evaluate",
            post(nodes::evaluate).put(nodes::evaluate),
        )
        .route("/v1/services", get(services::list))
        .route("/v1/service/{name}", get(services::read))
        .route("/v1/service/{name}/{id}", delete(services::delete))
        .route("/v1/system/gc", put(system::gc))
        .route(
            "/v1/system/reconcile/summaries",
            put(system::reconcile_summaries),
        )
        .route("/v1/regions", get(agent_servers::regions))
        .route("/v1/vars", get(variables::list))
        .route(
            "/v1/var/{*path}",
            get(variables::read)
                .put(variables::write)
                .post(variables::write)
                .delete(variables::delete),
        )
        .route(
            "/v1/namespaces",
            get(namespaces::list)
                .post(namespaces::write_unnamed)
                .put(namespaces::write_unnamed),
        )
        .route(
            "/v1/namespace",
            post(namespaces::write_unnamed).put(namespaces::write_unnamed),
        )
        .route(
            "/v1/namespace/{name}",
            get(namespaces::read)
                .post(namespaces::write_named)
                .put(namespaces::write_named)
                .delete(namespaces::delete),
        )
        .route("/v1/search", post(search::prefix).put(search::prefix))
        .route("/v1/search/fuzzy", post(search::fuzzy).put(search::fuzzy))
        .route(
            "/v1/agent/servers",
            get(agent_servers::servers)
                .put(agent_servers::set_servers)
                .post(agent_servers::set_servers),
        )
        .route(
            "/v1/agent/join",
            put(agent_servers::join).post(agent_servers::join),
        )
        .route(
            "/v1/agent/force-leave",
            put(agent_servers::force_leave).post(agent_servers::force_leave),
        )
        .route("/v1/agent/host", get(agent_host::host))
        .route("/v1/status/leader", get(agent::leader))
        .route("/v1/status/peers", get(agent::peers))
        .route("/v1/agent/self", get(agent::self_info))
        .route("/v1/agent/members", get(agent::members))
        .route("/v1/agent/health", get(agent::health))
        .route("/v1/agent/templates", get(templates::list))
        .route(
            "/v1/agent/template/render",
            post(templates::render).put(templates::render),
        )
        .route(
            "/v1/client/allocation/{id}/checks",
            get(checks::alloc_checks),
        )
        .route(
            "/v1/client/allocation/{id}/stats",
            get(client_allocs::stats),
        )
        .route(
            "/v1/client/allocation/{id}/signal",
            post(client_allocs::signal).put(client_allocs::signal),
        )
        .route(
            "/v1/client/allocation/{id}/restart",
            post(client_allocs::restart).put(client_allocs::restart),
        )
        .route(
            "/v1/client/allocation/{id}/gc",
            get(client_allocs::gc_alloc).put(client_allocs::gc_alloc),
        )
        .route("/v1/client/allocation/{id}/exec", get(exec::exec))
        .route(
            "/v1/client/allocation/{id}/snapshot",
            get(alloc_snapshot::snapshot),
        )
        .route("/v1/client/stats", get(client_allocs::host_stats))
        .route(
            "/v1/client/gc",
            get(client_allocs::gc_all).put(client_allocs::gc_all),
        )
        .route("/v1/metrics", get(agent::metrics))
        .route("/v1/client/fs/logs/{alloc}", get(logs::logs))
        .route("/v1/client/fs/stream/{alloc}", get(fs::stream))
        // ls, stat, cat and readat; logs and stream above are matched first.
        .route("/v1/client/fs/{op}/{alloc}", get(fs::plain))
        .route(
            "/v1/operator/raft/configuration",
            get(operator::configuration),
        )
        .route("/v1/operator/raft/peer", delete(operator::remove_peer))
        .route(
            "/v1/acl/bootstrap",
            post(acl::bootstrap).put(acl::bootstrap),
        )
        .route("/v1/acl/policies", get(acl::policies))
        .route(
            "/v1/acl/policy/{name}",
            get(acl::policy_read)
                .post(acl::policy_write)
                .put(acl::policy_write)
                .delete(acl::policy_delete),
        )
        .route("/v1/acl/tokens", get(acl::tokens))
        .route(
            "/v1/acl/token",
            post(acl::token_create).put(acl::token_create),
        )
        .route("/v1/acl/token/self", get(acl::token_self))
        .route(
            "/v1/acl/token/{accessor}",
            get(acl::token_read)
                .post(acl::token_update)
                .put(acl::token_update)
                .delete(acl::token_delete),
        )
        // Nomad's 405 carries a message too; axum's default would be an empty body.
        .method_not_allowed_fallback(
            |method: axum::http::Method, uri: axum::http::Uri| async move {
                HttpError {
                    status: axum::http::StatusCode::METHOD_NOT_ALLOWED,
                    message: format!("Invalid method {method} for {}", uri.path()),
                }
            },
        )
        .fallback(|| async { HttpError::not_found("Invalid URL path: no such endpoint") })
        .layer(axum::extract::DefaultBodyLimit::max(MAX_REQUEST_BODY))
        // The guard runs inside `forward`: a request relayed to the leader is checked there.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            acl_guard::guard,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            forward::forward,
        ))
        .with_state(state)
}

/// The shape of every read: parse the query, wait (blocking query) until `table` passes the
/// requested index, then answer from that snapshot with `(value, index)`.
pub(crate) async fn read_blocking<T: Serialize>(
    st: &HttpState,
    raw: HashMap<String, String>,
    table: Table,
    answer: impl FnOnce(&Tables, &QueryOpts) -> Result<(T, u64), HttpError>,
) -> Result<Response, HttpError> {
    let q = QueryOpts::parse(raw)?;
    let server = st.server()?;
    let snap = q.block_on(&server.state, table).await;
    let (value, index) = answer(&snap, &q)?;
    Ok(json_indexed(&value, index))
}

/// `read_blocking` for a paged listing: `answer` also gives the next page's token, sent as
/// `X-Nomad-NextToken`.
pub(crate) async fn read_blocking_paged<T: Serialize>(
    st: &HttpState,
    raw: HashMap<String, String>,
    table: Table,
    answer: impl FnOnce(&Tables, &QueryOpts) -> Result<(T, u64, Option<String>), HttpError>,
) -> Result<Response, HttpError> {
    let q = QueryOpts::parse(raw)?;
    let server = st.server()?;
    let snap = q.block_on(&server.state, table).await;
    let (value, index, next) = answer(&snap, &q)?;
    let mut resp = json_indexed(&value, index);
    if let Some(token) = next.and_then(|t| HeaderValue::from_str(&t).ok()) {
        resp.headers_mut().insert("X-Nomad-NextToken", token);
    }
    Ok(resp)
}

/// A JSON answer with Nomad's query headers.
pub(crate) fn json_indexed<T: Serialize>(value: &T, index: u64) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert("X-Nomad-Index", HeaderValue::from(index.max(1)));
    headers.insert("X-Nomad-KnownLeader", HeaderValue::from_static("true"));
    headers.insert("X-Nomad-LastContact", HeaderValue::from_static("0"));
    (headers, Json(value)).into_response()
}
