//! ACL enforcement for every route: a middleware maps the request to the permission it needs
//! ([`required`]), resolves the caller's `X-Nomad-Token` to what it may do, and answers 403
//! "Permission denied" when that falls short.
//!
//! It runs where a request is answered: on a follower, requests relayed to the leader are
//! checked there, with the same token. Servers resolve tokens from their own state; a
//! client-only agent asks its servers and keeps the answer for [`CLIENT_CACHE_TTL`], as Nomad's
//! clients do, so a revoked token may work on a client's own endpoints for that long.

use super::{HttpError, HttpState};
use crate::rpc::{RpcError, ServerRpc};
use api::acl::{Acl, Capability};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

pub const TOKEN_HEADER: &str = "x-nomad-token";
/// How long a client-only agent trusts a resolved token.
pub const CLIENT_CACHE_TTL: Duration = Duration::from_secs(30);
/// Resolved tokens a client keeps; beyond it the cache starts over.
const CACHE_MAX: usize = 1024;

/// What a route needs from the caller's token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// No token needed: health, leader, metrics, and the bootstrap itself.
    Open,
    /// Any real (non-anonymous) token: `acl token self`.
    AnyToken,
    /// A capability in the request's namespace.
    Namespace(Capability),
    /// A token, whatever it grants: the handler checks the variable's path.
    Variables,
    /// The event stream carries job and node events alike.
    JobsAndNodes,
    NodeRead,
    NodeWrite,
    AgentRead,
    AgentWrite,
    OperatorRead,
    OperatorWrite,
    Management,
}

/// The permission `method path` needs. Unknown paths need management, so a route added without
/// an entry here is closed rather than open.
pub fn required(method: &Method, path: &str) -> Need {
    use Capability::*;
    use Need::*;
    let write = !matches!(*method, Method::GET | Method::HEAD);
    let read_or = |w: Need, r: Need| if write { w } else { r };
    let seg: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match seg.as_slice() {
        ["v1", "status", ..] | ["v1", "agent", "health"] | ["v1", "metrics"] => Open,
        ["v1", "acl", "bootstrap"] => Open,
        // Opened by a migrate token, which the handler checks whether ACLs are on or not.
        ["v1", "client", "allocation", _, "snapshot"] => Open,
        ["v1", "acl", "token", "self"] => AnyToken,
        ["v1", "acl", ..] => Management,
        ["v1", "jobs"] => read_or(Namespace(SubmitJob), Namespace(ListJobs)),
        ["v1", "jobs", "parse"] => Namespace(ParseJob),
        ["v1", "validate", "job"] => Namespace(ReadJob),
        ["v1", "scaling", "policies"] => Namespace(ListScalingPolicies),
        ["v1", "scaling", ..] => Namespace(ReadScalingPolicy),
        ["v1", "regions"] => Open,
        ["v1", "vars"] | ["v1", "var", ..] => Variables,
        ["v1", "namespaces" | "namespace", ..] => read_or(Management, AnyToken),
        ["v1", "search", ..] => JobsAndNodes,
        ["v1", "job", _, "plan" | "revert"] => Namespace(SubmitJob),
        ["v1", "job", _, "dispatch"] => Namespace(DispatchJob),
        ["v1", "job", _, "periodic", "force"] => Namespace(SubmitJob),
        ["v1", "job", ..] | ["v1", "deployments"] | ["v1", "deployment", ..] => {
            read_or(Namespace(SubmitJob), Namespace(ReadJob))
        }
        ["v1", "allocation", _, "stop"]
        | ["v1", "client", "allocation", _, "signal" | "restart" | "gc"] => {
            Namespace(AllocLifecycle)
        }
        ["v1", "client", "allocation", _, "stats"] => Namespace(ReadJob),
        ["v1", "client", "allocation", _, "exec"] => Namespace(AllocExec),
        ["v1", "client", "stats"] => NodeRead,
        ["v1", "client", "gc"] => NodeWrite,
        ["v1", "allocations" | "evaluations"]
        | ["v1", "allocation" | "evaluation", ..]
        | ["v1", "client", "allocation", _, "checks"] => read_or(Management, Namespace(ReadJob)),
        ["v1", "client", "fs", "logs", _] => Namespace(ReadLogs),
        ["v1", "client", "fs", "ls" | "stat" | "cat" | "readat" | "stream", _] => Namespace(ReadFs),
        ["v1", "services"] | ["v1", "service", ..] => {
            read_or(Namespace(SubmitJob), Namespace(ReadJob))
        }
        ["v1", "event", "stream"] => JobsAndNodes,
        // Pools are cluster configuration, as namespaces are (node_pool ACL rules are refused).
        ["v1", "node", "pools"] | ["v1", "node", "pool", _] => read_or(Management, AnyToken),
        ["v1", "node", "pool", _, "nodes"] => NodeRead,
        ["v1", "node", "pool", _, "jobs"] => Namespace(ListJobs),
        ["v1", "nodes"] | ["v1", "node", ..] => read_or(NodeWrite, NodeRead),
        ["v1", "agent", "members"] => NodeRead,
        ["v1", "agent", "template", "render"] => AgentRead,
        ["v1", "agent", ..] => read_or(AgentWrite, AgentRead),
        ["v1", "operator", ..] => read_or(OperatorWrite, OperatorRead),
        _ => Management,
    }
}

fn allows(acl: &Acl, need: Need, namespace: &str) -> bool {
    match need {
        Need::Open | Need::AnyToken | Need::Variables => true,
        Need::Namespace(cap) => acl.allows_namespace(namespace, cap),
        Need::JobsAndNodes => {
            acl.allows_namespace(namespace, Capability::ReadJob) && acl.allows_node_read()
        }
        Need::NodeRead => acl.allows_node_read(),
        Need::NodeWrite => acl.allows_node_write(),
        Need::AgentRead => acl.allows_agent_read(),
        Need::AgentWrite => acl.allows_agent_write(),
        Need::OperatorRead => acl.allows_operator_read(),
        Need::OperatorWrite => acl.allows_operator_write(),
        Need::Management => acl.is_management(),
    }
}

/// The caller's token: `X-Nomad-Token`, or `Authorization: Bearer` as Nomad also accepts.
/// Empty when there is none (the anonymous token).
pub fn token_of(headers: &HeaderMap) -> String {
    if let Some(t) = headers.get(TOKEN_HEADER).and_then(|v| v.to_str().ok()) {
        return t.trim().to_string();
    }
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string())
        .unwrap_or_default()
}

/// Turns a token's secret into what it may do, through a server.
pub struct TokenResolver {
    servers: Arc<dyn ServerRpc>,
    /// Zero on servers: their state is the truth, and a revocation takes effect at once.
    ttl: Duration,
    cache: Mutex<HashMap<SecretKey, (Instant, Arc<Acl>)>>,
}

/// The SHA-256 of a secret.
type SecretKey = [u8; 32];

impl TokenResolver {
    pub fn new(servers: Arc<dyn ServerRpc>, ttl: Duration) -> TokenResolver {
        TokenResolver {
            servers,
            ttl,
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) async fn resolve(&self, secret: &str) -> Result<Arc<Acl>, HttpError> {
        // Keyed by a hash: the cache never holds a secret.
        let key: SecretKey = Sha256::digest(secret.as_bytes()).into();
        if !self.ttl.is_zero() {
            let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some((at, acl)) = cache.get(&key) {
                if at.elapsed() < self.ttl {
                    return Ok(acl.clone());
                }
            }
        }
        let resolved = self
            .servers
            .resolve_token(secret)
            .await
            .map_err(|e| match e {
                RpcError::Forbidden(why) => forbidden(&why),
                other => HttpError::internal(format!("resolving the ACL token: {other}")),
            })?;
        let acl = Arc::new(resolved.acl());
        if !self.ttl.is_zero() {
            let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
            if cache.len() >= CACHE_MAX {
                cache.clear();
            }
            cache.insert(key, (Instant::now(), acl.clone()));
        }
        Ok(acl)
    }
}

fn forbidden(why: &str) -> HttpError {
    HttpError {
        status: StatusCode::FORBIDDEN,
        message: if why.is_empty() {
            "Permission denied".into()
        } else {
            format!("Permission denied: {why}")
        },
    }
}

/// The middleware (see the module comment).
pub async fn guard(State(st): State<HttpState>, mut req: Request, next: Next) -> Response {
    let Some(resolver) = st.acl.clone() else {
        return next.run(req).await;
    };
    let need = required(req.method(), req.uri().path());
    if need == Need::Open || exec_with_handshake(req.uri()) {
        return next.run(req).await;
    }
    let secret = token_of(req.headers());
    if need == Need::AnyToken && secret.is_empty() {
        return forbidden("no ACL token given").into_response();
    }
    let acl = match resolver.resolve(&secret).await {
        Ok(acl) => acl,
        Err(e) => return e.into_response(),
    };
    let namespace = namespace_of(req.uri());
    if !allows(&acl, need, &namespace) {
        return forbidden("").into_response();
    }
    // Handlers that answer only what the token may see (the namespace list) read it here.
    req.extensions_mut().insert(CallerAcl(acl));
    next.run(req).await
}

/// The caller's resolved ACL, set on requests when ACLs are on.
/// An exec WebSocket with `ws_handshake`: its token arrives in the first message, so the exec
/// handler checks it (a browser cannot set the header).
fn exec_with_handshake(uri: &axum::http::Uri) -> bool {
    let path: Vec<&str> = uri.path().trim_start_matches('/').split('/').collect();
    matches!(path.as_slice(), ["v1", "client", "allocation", _, "exec"])
        && axum::extract::Query::<HashMap<String, String>>::try_from_uri(uri)
            .ok()
            .and_then(|q| q.0.get("ws_handshake").cloned())
            .is_some_and(|v| super::query::parse_bool(&v) == Some(true))
}

#[derive(Clone)]
pub struct CallerAcl(pub Arc<Acl>);

impl CallerAcl {
    /// Whether the token holds any capability in `ns`.
    pub fn sees_namespace(&self, ns: &str) -> bool {
        self.0.is_management()
            || Capability::ALL
                .iter()
                .filter(|c| **c != Capability::Deny)
                .any(|c| self.0.allows_namespace(ns, *c))
    }
}

fn namespace_of(uri: &axum::http::Uri) -> String {
    axum::extract::Query::<HashMap<String, String>>::try_from_uri(uri)
        .ok()
        .and_then(|q| q.0.get("namespace").cloned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "default".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::acl::parse_policy;

    fn acl(rules: &str) -> Acl {
        Acl::from_policies(&[parse_policy(rules).expect("a valid policy")])
    }

    #[test]
    fn every_route_maps_to_the_permission_nomad_asks_for() {
        use Capability::*;
        let (get, post, put, delete) = (Method::GET, Method::POST, Method::PUT, Method::DELETE);
        let table = [
            (&get, "/v1/agent/health", Need::Open),
            (&get, "/v1/status/leader", Need::Open),
            (&post, "/v1/acl/bootstrap", Need::Open),
            (&get, "/v1/acl/token/self", Need::AnyToken),
            (&get, "/v1/acl/tokens", Need::Management),
            (&get, "/v1/jobs", Need::Namespace(ListJobs)),
            (&post, "/v1/jobs", Need::Namespace(SubmitJob)),
            (&post, "/v1/jobs/parse", Need::Namespace(ParseJob)),
            (&post, "/v1/validate/job", Need::Namespace(ReadJob)),
            (
                &get,
                "/v1/scaling/policies",
                Need::Namespace(ListScalingPolicies),
            ),
            (
                &get,
                "/v1/scaling/policy/x",
                Need::Namespace(ReadScalingPolicy),
            ),
            (&get, "/v1/regions", Need::Open),
            (&get, "/v1/vars", Need::Variables),
            (&put, "/v1/var/a/b", Need::Variables),
            (&get, "/v1/namespaces", Need::AnyToken),
            (&delete, "/v1/namespace/a", Need::Management),
            (&post, "/v1/search", Need::JobsAndNodes),
            (&put, "/v1/search/fuzzy", Need::JobsAndNodes),
            (&post, "/v1/job/web/evaluate", Need::Namespace(SubmitJob)),
            (&put, "/v1/agent/join", Need::AgentWrite),
            (&get, "/v1/agent/host", Need::AgentRead),
            (&get, "/v1/job/web", Need::Namespace(ReadJob)),
            (&delete, "/v1/job/web", Need::Namespace(SubmitJob)),
            (&post, "/v1/job/web/plan", Need::Namespace(SubmitJob)),
            (&get, "/v1/allocation/a", Need::Namespace(ReadJob)),
            (
                &post,
                "/v1/allocation/a/stop",
                Need::Namespace(AllocLifecycle),
            ),
            (&get, "/v1/client/fs/logs/a", Need::Namespace(ReadLogs)),
            (&get, "/v1/client/fs/cat/a", Need::Namespace(ReadFs)),
            (
                &post,
                "/v1/client/allocation/a/signal",
                Need::Namespace(AllocLifecycle),
            ),
            (
                &get,
                "/v1/client/allocation/a/gc",
                Need::Namespace(AllocLifecycle),
            ),
            (
                &get,
                "/v1/client/allocation/a/stats",
                Need::Namespace(ReadJob),
            ),
            (&get, "/v1/client/stats", Need::NodeRead),
            (
                &get,
                "/v1/client/allocation/a/exec",
                Need::Namespace(AllocExec),
            ),
            (&get, "/v1/client/gc", Need::NodeWrite),
            // The handler demands the migrate token itself.
            (&get, "/v1/client/allocation/a/snapshot", Need::Open),
            (&get, "/v1/service/web", Need::Namespace(ReadJob)),
            (&delete, "/v1/service/web/x", Need::Namespace(SubmitJob)),
            (&get, "/v1/nodes", Need::NodeRead),
            (&post, "/v1/node/n/drain", Need::NodeWrite),
            (&get, "/v1/agent/self", Need::AgentRead),
            (&get, "/v1/agent/members", Need::NodeRead),
            (&get, "/v1/operator/raft/configuration", Need::OperatorRead),
            (&delete, "/v1/operator/raft/peer", Need::OperatorWrite),
            (&get, "/v1/event/stream", Need::JobsAndNodes),
            (&get, "/v1/not/a/route", Need::Management),
        ];
        for (method, path, need) in table {
            assert_eq!(required(method, path), need, "{method} {path}");
        }
    }

    #[test]
    fn a_read_policy_reads_and_does_not_write() {
        let read = acl("namespace \"default\" { policy = \"read\" }\nnode { policy = \"read\" }");
        let need = |m: &Method, p: &str| allows(&read, required(m, p), "default");
        assert!(need(&Method::GET, "/v1/jobs"));
        assert!(need(&Method::GET, "/v1/job/web"));
        assert!(need(&Method::GET, "/v1/nodes"));
        assert!(need(&Method::GET, "/v1/event/stream"));
        assert!(!need(&Method::POST, "/v1/jobs"));
        assert!(!need(&Method::POST, "/v1/node/n/drain"));
        assert!(!need(&Method::GET, "/v1/acl/tokens"));
        // Another namespace is not granted by a rule for "default".
        assert!(!allows(&read, Need::Namespace(Capability::ReadJob), "prod"));
    }

    #[test]
    fn the_token_comes_from_the_header_or_a_bearer() {
        let mut h = HeaderMap::new();
        assert_eq!(token_of(&h), "");
        h.insert("authorization", "Bearer abc".parse().expect("a header"));
        assert_eq!(token_of(&h), "abc");
        h.insert(TOKEN_HEADER, "xyz".parse().expect("a header"));
        assert_eq!(token_of(&h), "xyz");
    }
}
