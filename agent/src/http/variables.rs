//! `/v1/vars` and `/v1/var/:path`: Nomad Variables. The ACL guard only resolves the caller's
//! token here; each handler checks the `variables` capability for the exact path, as Nomad
//! scopes variables by path.

use super::acl_guard::CallerAcl;
use super::error::parse_body;
use super::query::{page, QueryOpts};
use super::{json_indexed, HttpError, HttpState};
use crate::server::variables::{VarReply, VarRequestOp};
use crate::state::Table;
use api::acl::VariableCapability as Cap;
use api::variable::{LockOperation, Variable};
use axum::body::Bytes;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;

type Q = Query<HashMap<String, String>>;
type Caller = Option<Extension<CallerAcl>>;

fn allowed(caller: &Caller, ns: &str, path: &str, cap: Cap) -> bool {
    caller
        .as_ref()
        .is_none_or(|c| c.0 .0.allows_variable(ns, path, cap))
}

fn denied() -> HttpError {
    HttpError {
        status: StatusCode::FORBIDDEN,
        message: "Permission denied".into(),
    }
}

/// `GET /v1/vars`: metadata of the variables the caller may list, by namespace and path.
pub async fn list(
    State(st): State<HttpState>,
    Query(raw): Q,
    caller: Caller,
) -> Result<Response, HttpError> {
    let q = QueryOpts::parse(raw)?;
    let server = st.server()?;
    let snap = q.block_on(&server.state, Table::Variables).await;
    let items = snap
        .variables_with_prefix(&q.namespace, &q.prefix)
        .filter(|v| allowed(&caller, &v.namespace, &v.path, Cap::List))
        .filter(|v| {
            caller
                .as_ref()
                .is_none_or(|c| q.namespace != "*" || c.sees_namespace(&v.namespace))
        })
        // Nomad's page token is "namespace.path".
        .map(|v| (format!("{}.{}", v.namespace, v.path), v.metadata()))
        .skip_while(|(key, _)| !q.next_token.is_empty() && key.as_str() < q.next_token.as_str());
    let (list, next) = page(items, &q);
    let mut resp = json_indexed(&list, snap.variables_index());
    if let Some(token) = next.and_then(|t| HeaderValue::from_str(&t).ok()) {
        resp.headers_mut().insert("X-Nomad-NextToken", token);
    }
    Ok(resp)
}

/// `GET /v1/var/:path`: the variable with its items (blocking on its modify index).
pub async fn read(
    State(st): State<HttpState>,
    Path(path): Path<String>,
    Query(raw): Q,
    caller: Caller,
) -> Result<Response, HttpError> {
    let q = QueryOpts::parse(raw)?;
    let ns = q.namespace.clone();
    if !allowed(&caller, &ns, &path, Cap::Read) {
        return Err(denied());
    }
    let server = st.server()?;
    let snap = q.block_on(&server.state, Table::Variables).await;
    let stored = snap.variable(&ns, &path).ok_or_else(|| {
        HttpError::not_found(format!("variable not found: {path:?} in namespace {ns:?}"))
    })?;
    let index = stored.modify_index;
    drop(snap);
    let var = server.var_open(&stored).await?;
    Ok(json_indexed(&var, index))
}

/// `PUT /v1/var/:path` (and POST): create or update, with `?cas=` and the lock operations.
pub async fn write(
    State(st): State<HttpState>,
    Path(path): Path<String>,
    Query(raw): Q,
    caller: Caller,
    body: Bytes,
) -> Result<Response, HttpError> {
    let q = QueryOpts::parse(raw)?;
    let cas = cas_of(&q)?;
    let op = lock_operation(&q)?.map_or(VarRequestOp::Set, VarRequestOp::Lock);
    let mut var: Variable = parse_body(&body)?;
    if !var.path.is_empty() && var.path != path {
        return Err(HttpError::bad_request(format!(
            "variable path does not match the URL: {:?} in the body, {path:?} in the URL",
            var.path
        )));
    }
    var.path = path;
    // The query's namespace wins over the body's, as in Nomad; the default stays the default.
    if q.get("namespace").is_some_and(|n| !n.is_empty()) || var.namespace.is_empty() {
        var.namespace = q.namespace.clone();
    }
    if !allowed(&caller, &var.namespace, &var.path, Cap::Write) {
        return Err(denied());
    }
    let (ns, p) = (var.namespace.clone(), var.path.clone());
    let reply = st.server()?.var_write(op, var, cas).await?;
    answer(reply, &caller, &ns, &p)
}

/// `DELETE /v1/var/:path`, with `?cas=`.
pub async fn delete(
    State(st): State<HttpState>,
    Path(path): Path<String>,
    Query(raw): Q,
    caller: Caller,
) -> Result<Response, HttpError> {
    let q = QueryOpts::parse(raw)?;
    let cas = cas_of(&q)?;
    let ns = q.namespace.clone();
    if !allowed(&caller, &ns, &path, Cap::Destroy) {
        return Err(denied());
    }
    let var = Variable {
        namespace: ns.clone(),
        path: path.clone(),
        ..Default::default()
    };
    let server = st.server()?;
    let reply = server.var_write(VarRequestOp::Delete, var, cas).await?;
    answer(reply, &caller, &ns, &path)
}

/// The write's answer: the variable (or `{"Index": N}` for a delete), or 409 with the
/// conflicting variable, its items shown only to a caller that may read them.
fn answer(reply: VarReply, caller: &Caller, ns: &str, path: &str) -> Result<Response, HttpError> {
    match reply {
        VarReply::Done(v) => {
            let index = v.modify_index;
            Ok(json_indexed(&v, index))
        }
        VarReply::Deleted(index) => Ok(json_indexed(&serde_json::json!({ "Index": index }), index)),
        VarReply::Conflict(current) => {
            let mut v = current.unwrap_or_else(|| Variable {
                namespace: ns.to_string(),
                path: path.to_string(),
                ..Default::default()
            });
            if !allowed(caller, ns, path, Cap::Read) {
                v.items.clear();
            }
            Ok((StatusCode::CONFLICT, axum::Json(v)).into_response())
        }
    }
}

fn cas_of(q: &QueryOpts) -> Result<Option<u64>, HttpError> {
    match q.get("cas") {
        None | Some("") => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| {
            HttpError::bad_request(format!(
                "invalid cas {v:?}: must be a whole number (a ModifyIndex)"
            ))
        }),
    }
}

/// `?lock-acquire`, `?lock-renew` or `?lock-release`: at most one.
fn lock_operation(q: &QueryOpts) -> Result<Option<LockOperation>, HttpError> {
    let ops: Vec<LockOperation> = [
        LockOperation::Acquire,
        LockOperation::Renew,
        LockOperation::Release,
    ]
    .into_iter()
    .filter(|op| q.get(op.as_param()).is_some())
    .collect();
    match ops.as_slice() {
        [] => Ok(None),
        [op] => Ok(Some(*op)),
        _ => Err(HttpError::bad_request(
            "give one lock operation: lock-acquire, lock-renew or lock-release",
        )),
    }
}
