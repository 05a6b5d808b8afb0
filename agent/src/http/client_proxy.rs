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
    match st.tls.as_ref().filter(|t| t.http()) {
        None => Ok((config.build().into(), format!("http://{node_http_addr}"))),
        Some(tls) => {
            let opts = tls
                .http_client_options()
                .map_err(|e| HttpError::internal(e.to_string()))?;
            opts.agent(config, &format!("https://{node_http_addr}"))
                .map_err(|e| HttpError::internal(e.to_string()))
        }
    }
}

/// The HTTP address of the node that runs the allocation, and the node's name.
fn node_addr(st: &HttpState, alloc_id: &str) -> Result<(String, String), HttpError> {
    let server = st.server.as_ref().ok_or_else(|| {
        HttpError::not_found(format!(
            "allocation {alloc_id} does not run on this client, and this agent is no server that could find it"
        ))
    })?;
    let snap = server.state.snapshot();
    let alloc = snap
        .alloc(alloc_id)
        .ok_or_else(|| HttpError::not_found(format!("unknown allocation {alloc_id}")))?;
    let node = snap.node(&alloc.node_id).ok_or_else(|| {
        HttpError::not_found(format!(
            "the node {} of allocation {alloc_id} is unknown",
            alloc.node_id
        ))
    })?;
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
    let token = super::acl_guard::token_of(headers);
    let (addr, node_name) = node_addr(st, alloc_id)?;
    let (agent, base) = node_agent(st, &addr, Some(std::time::Duration::from_secs(30)))?;
    let url = format!("{base}{path}");
    let fetched = tokio::task::spawn_blocking(move || {
        let resp = agent
            .get(&url)
            .header(PROXIED_HEADER, "1")
            .header(TOKEN_HEADER, &token)
            .call()
            .map_err(|e| format!("asking node {node_name}: {e}"))?;
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

/// Streams `GET /v1/client/fs/logs/<alloc>?<query>` from the client that runs the allocation.
pub async fn proxy(
    st: &HttpState,
    headers: &HeaderMap,
    alloc_id: &str,
    query: &str,
) -> Result<Response, HttpError> {
    let token = super::acl_guard::token_of(headers);
    let (addr, node_name) = node_addr(st, alloc_id)?;
    let (agent, base) = node_agent(st, &addr, None)?;
    let url = format!("{base}/v1/client/fs/logs/{alloc_id}?{query}");
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
                let _ = head_tx.send(Err(format!("fetching logs from node {node_name}: {e}")));
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
            "the log fetch stopped before answering",
        )),
    }
}
