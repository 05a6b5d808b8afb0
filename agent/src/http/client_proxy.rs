//! Client endpoints from anywhere: a task's logs and its checks' results live on the client that
//! runs it, so an agent that does not run the allocation (a server, or another client) looks up
//! the allocation's node in the cluster state and sends the same request to that node's HTTP API,
//! with the caller's token: the node checks it too.

use super::acl_guard::TOKEN_HEADER;
use super::{HttpError, HttpState};
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::io::Read;

/// Set on a proxied request so the agent that receives it never proxies it again.
pub const PROXIED_HEADER: &str = "x-nomad-client-proxied";
const CHUNK: usize = 64 * 1024;
/// The largest answer `fetch` passes on.
const MAX_FETCH: u64 = 8 << 20;

/// Whether this agent may pass a client request about `alloc_id` on to the node that runs it:
/// only a server knows where allocations run, and a request already passed on once is never
/// passed again (two agents could otherwise send it back and forth).
pub fn may_relay(st: &HttpState, headers: &HeaderMap, alloc_id: &str) -> Result<(), HttpError> {
    if headers.contains_key(PROXIED_HEADER) || st.server.is_none() {
        return Err(HttpError::not_found(format!(
            "allocation {alloc_id} does not run on this client"
        )));
    }
    Ok(())
}

/// The agent that reaches a node's HTTP API: HTTPS with this agent's certificate when the
/// API is on TLS, verifying the node's `client.<region>.nomad` name. Returns it with the base
/// URL to put before the path.
fn node_agent(
    st: &HttpState,
    node_http_addr: &str,
    timeout: Option<std::time::Duration>,
) -> Result<(ureq::Agent, String), HttpError> {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(timeout);
    crate::tls::node_http_agent(st.tls.as_deref(), node_http_addr, config)
        .map_err(|e| HttpError::internal(e.to_string()))
}

/// The HTTP address of the node that runs the allocation, and the node's name.
fn node_addr(st: &HttpState, alloc_id: &str) -> Result<(String, String), HttpError> {
    let server = st.server.as_ref().ok_or_else(|| {
        HttpError::not_found(format!(
            "allocation {alloc_id} does not run on this client, and this agent is no server that could find it"
        ))
    })?;
    let node_id = server
        .state
        .read(|t| t.alloc(alloc_id).map(|a| a.node_id.clone()))
        .ok_or_else(|| HttpError::not_found(format!("unknown allocation {alloc_id}")))?;
    node_http_addr(st, &node_id)
}

/// The HTTP address (host:port) of the node that runs the allocation.
pub fn alloc_node_http_addr(st: &HttpState, alloc_id: &str) -> Result<String, HttpError> {
    node_addr(st, alloc_id).map(|(addr, _)| addr)
}

/// The HTTP address of a node, and its name.
fn node_http_addr(st: &HttpState, node_id: &str) -> Result<(String, String), HttpError> {
    let server = st.server.as_ref().ok_or_else(|| {
        HttpError::not_found(format!(
            "node {node_id} is not this client, and this agent is no server that could find it"
        ))
    })?;
    let node = server
        .state
        .read(|t| t.node(node_id))
        .ok_or_else(|| HttpError::not_found(format!("unknown node {node_id}")))?;
    if node.http_addr.is_empty() {
        return Err(HttpError::internal(format!(
            "node {} has no HTTP address to ask",
            node.name
        )));
    }
    Ok((node.http_addr.clone(), node.name.clone()))
}

/// `GET <path>` from the client that runs the allocation, answered whole (small JSON answers).
pub async fn fetch(
    st: &HttpState,
    headers: &HeaderMap,
    alloc_id: &str,
    path: &str,
) -> Result<Response, HttpError> {
    let (addr, node_name) = node_addr(st, alloc_id)?;
    relay(st, headers, &addr, &node_name, "GET", path, Bytes::new()).await
}

/// Which client a request is for.
pub enum Node<'a> {
    /// The one that runs this allocation.
    OfAlloc(&'a str),
    /// This node id.
    Id(&'a str),
}

/// `method <path>` with `body` on the client named, answered whole (small JSON answers).
pub async fn send_to(
    st: &HttpState,
    headers: &HeaderMap,
    node: Node<'_>,
    method: &'static str,
    path: &str,
    body: Bytes,
) -> Result<Response, HttpError> {
    let (addr, node_name) = match node {
        Node::OfAlloc(id) => node_addr(st, id)?,
        Node::Id(id) => node_http_addr(st, id)?,
    };
    relay(st, headers, &addr, &node_name, method, path, body).await
}

async fn relay(
    st: &HttpState,
    headers: &HeaderMap,
    addr: &str,
    node_name: &str,
    method: &'static str,
    path: &str,
    body: Bytes,
) -> Result<Response, HttpError> {
    let token = super::acl_guard::token_of(headers);
    let (agent, base) = node_agent(st, addr, Some(std::time::Duration::from_secs(30)))?;
    let url = format!("{base}{path}");
    let node_name = node_name.to_string();
    let fetched = tokio::task::spawn_blocking(move || {
        let sent = match method {
            "GET" => agent
                .get(&url)
                .header(PROXIED_HEADER, "1")
                .header(TOKEN_HEADER, &token)
                .call(),
            _ => agent
                .post(&url)
                .header(PROXIED_HEADER, "1")
                .header(TOKEN_HEADER, &token)
                .header("content-type", "application/json")
                .send(&body[..]),
        };
        let resp = sent.map_err(|e| format!("asking node {node_name}: {e}"))?;
        let status = resp.status().as_u16();
        let mut body = Vec::new();
        resp.into_body()
            .into_reader()
            .take(MAX_FETCH)
            .read_to_end(&mut body)
            .map_err(|e| format!("reading the answer of node {node_name}: {e}"))?;
        Ok::<_, String>((status, body))
    })
    .await
    .map_err(|e| HttpError::internal(e.to_string()))?;
    let (status, body) = fetched.map_err(|e| HttpError {
        status: StatusCode::BAD_GATEWAY,
        message: e,
    })?;
    Ok((
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
        [("content-type", "application/json")],
        body,
    )
        .into_response())
}

/// Streams `GET <path_and_query>` (`/v1/client/fs/logs/<alloc>?task=web`) from the client
/// that runs the allocation.
pub async fn proxy(
    st: &HttpState,
    headers: &HeaderMap,
    alloc_id: &str,
    path_and_query: &str,
) -> Result<Response, HttpError> {
    let token = super::acl_guard::token_of(headers);
    let (addr, node_name) = node_addr(st, alloc_id)?;
    let (agent, base) = node_agent(st, &addr, None)?;
    let url = format!("{base}{path_and_query}");
    // ureq is blocking: the request and the body's reads run on blocking threads, the bytes
    // reach the response through a channel.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    let (head_tx, head_rx) =
        tokio::sync::oneshot::channel::<Result<(u16, Option<String>), String>>();
    tokio::task::spawn_blocking(move || {
        let resp = match agent
            .get(&url)
            .header(PROXIED_HEADER, "1")
            .header(TOKEN_HEADER, &token)
            .call()
        {
            Ok(r) => r,
            Err(e) => {
                let _ = head_tx.send(Err(format!("asking node {node_name}: {e}")));
                return;
            }
        };
        let status = resp.status().as_u16();
        let mut reader = resp.into_body().into_reader();
        if status != 200 {
            let mut text = String::new();
            let _ = reader.take(64 * 1024).read_to_string(&mut text);
            let _ = head_tx.send(Ok((status, Some(text))));
            return;
        }
        if head_tx.send(Ok((status, None))).is_err() {
            return;
        }
        let mut buf = vec![0u8; CHUNK];
        loop {
            match reader.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    if tx
                        .blocking_send(Ok(Bytes::copy_from_slice(&buf[..n])))
                        .is_err()
                    {
                        // The caller went away (a follower hung up).
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        }
    });
    match head_rx.await {
        Ok(Ok((200, _))) => {
            let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
            Ok(Body::from_stream(stream).into_response())
        }
        Ok(Ok((status, text))) => Ok((
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
            text.unwrap_or_default(),
        )
            .into_response()),
        Ok(Err(e)) => Err(HttpError {
            status: StatusCode::BAD_GATEWAY,
            message: e,
        }),
        Err(_) => Err(HttpError::internal(
            "the request to the allocation's node stopped before answering",
        )),
    }
}
