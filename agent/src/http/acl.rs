//! `/v1/acl/*`: bootstrap, policies and tokens, in Nomad's shapes. Who may call what is the
//! guard's business (`acl_guard`); these handlers only do the work.

use super::acl_guard::token_of;
use super::error::parse_body;
use super::{json_indexed, HttpError, HttpState};
use api::acl::{AclBootstrapRequest, AclPolicy, AclPolicyListStub, AclToken, AclTokenListStub};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;

pub async fn bootstrap(State(st): State<HttpState>, body: Bytes) -> Result<Response, HttpError> {
    let req: AclBootstrapRequest = if body.is_empty() {
        AclBootstrapRequest::default()
    } else {
        parse_body(&body)?
    };
    let token = st.server()?.acl_bootstrap(req.bootstrap_secret).await?;
    let index = token.modify_index;
    Ok(json_indexed(&token, index))
}

pub async fn policies(State(st): State<HttpState>) -> Result<Response, HttpError> {
    let server = st.server()?;
    let (list, index) = server.state.read(|t| {
        let list: Vec<AclPolicyListStub> = t.acl_policies().map(|p| p.policy.stub()).collect();
        (list, t.acl_index())
    });
    Ok(json_indexed(&list, index))
}

pub async fn policy_read(
    State(st): State<HttpState>,
    Path(name): Path<String>,
) -> Result<Response, HttpError> {
    let server = st.server()?;
    let policy = server
        .state
        .read(|t| t.acl_policy(&name))
        .ok_or_else(|| HttpError::not_found(format!("ACL policy {name:?} not found")))?;
    Ok(json_indexed(&policy.policy, policy.policy.modify_index))
}

pub async fn policy_write(
    State(st): State<HttpState>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, HttpError> {
    let mut policy: AclPolicy = parse_body(&body)?;
    if policy.name.is_empty() {
        policy.name = name.clone();
    }
    if policy.name != name {
        return Err(HttpError::bad_request(format!(
            "the policy in the body is named {:?}, the URL names {name:?}",
            policy.name
        )));
    }
    let index = st.server()?.acl_policy_upsert(policy).await?;
    Ok(json_indexed(&serde_json::json!({}), index))
}

pub async fn policy_delete(
    State(st): State<HttpState>,
    Path(name): Path<String>,
) -> Result<Response, HttpError> {
    let index = st.server()?.acl_policy_delete(&name).await?;
    Ok(json_indexed(&serde_json::json!({}), index))
}

pub async fn tokens(State(st): State<HttpState>) -> Result<Response, HttpError> {
    let server = st.server()?;
    let (list, index) = server.state.read(|t| {
        let list: Vec<AclTokenListStub> = t.acl_tokens().map(|e| e.token.stub()).collect();
        (list, t.acl_index())
    });
    Ok(json_indexed(&list, index))
}

pub async fn token_create(State(st): State<HttpState>, body: Bytes) -> Result<Response, HttpError> {
    let mut token: AclToken = parse_body(&body)?;
    if !token.accessor_id.is_empty() {
        return Err(HttpError::bad_request(
            "a new token must not carry an AccessorID: update it with POST /v1/acl/token/:accessor",
        ));
    }
    token.secret_id.clear();
    let token = st.server()?.acl_token_upsert(token).await?;
    Ok(json_indexed(&token, token.modify_index))
}

pub async fn token_update(
    State(st): State<HttpState>,
    Path(accessor): Path<String>,
    body: Bytes,
) -> Result<Response, HttpError> {
    let mut token: AclToken = parse_body(&body)?;
    if !token.accessor_id.is_empty() && token.accessor_id != accessor {
        return Err(HttpError::bad_request(format!(
            "the token in the body is {}, the URL names {accessor}",
            token.accessor_id
        )));
    }
    token.accessor_id = accessor;
    let token = st.server()?.acl_token_upsert(token).await?;
    Ok(json_indexed(&token, token.modify_index))
}

/// A stored token never has its secret back: only `token self` echoes the caller's own.
pub async fn token_read(
    State(st): State<HttpState>,
    Path(accessor): Path<String>,
) -> Result<Response, HttpError> {
    let server = st.server()?;
    let entry = server
        .state
        .read(|t| t.acl_token(&accessor))
        .ok_or_else(|| HttpError::not_found(format!("ACL token {accessor} not found")))?;
    Ok(json_indexed(&entry.token, entry.token.modify_index))
}

pub async fn token_self(
    State(st): State<HttpState>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let secret = token_of(&headers);
    let mut token = st.server()?.acl_token_self(&secret)?;
    token.secret_id = secret;
    Ok(json_indexed(&token, token.modify_index))
}

pub async fn token_delete(
    State(st): State<HttpState>,
    Path(accessor): Path<String>,
) -> Result<Response, HttpError> {
    let index = st.server()?.acl_token_delete(&accessor).await?;
    Ok(json_indexed(&serde_json::json!({}), index))
}
