//! `GET /v1/client/allocation/:id/exec`: a command in a task's context over a WebSocket, in
//! Nomad's frames. In: `{"stdin": {"data": <base64>}}`, `{"stdin": {"close": true}}`,
//! `{"tty_size": {"height": h, "width": w}}`. Out: `{"stdout"|"stderr": {"data": <base64>}}`,
//! `{"stdout"|"stderr": {"close": true}}`, then `{"exited": true, "result": {"exit_code": n}}`.
//! The session starts before the upgrade, so a bad task or command is a plain 4xx. An agent
//! that does not run the allocation relays the socket to the node that does.

use super::acl_guard::CallerAcl;
use super::client_proxy::PROXIED_HEADER;
use super::{HttpError, HttpState};
use crate::drivers::exec_session::{ExecSession, OutputStream, SessionInput};
use api::acl::Capability;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Extension, Path, Query, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use base64::Engine;
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use std::collections::HashMap;

#[derive(Debug, Deserialize)]
struct InFrame {
    #[serde(default)]
    stdin: Option<StdinFrame>,
    #[serde(default)]
    tty_size: Option<TtySize>,
}

#[derive(Debug, Deserialize)]
struct StdinFrame {
    #[serde(default)]
    data: Option<String>,
    #[serde(default)]
    close: bool,
}

#[derive(Debug, Deserialize)]
struct TtySize {
    height: u16,
    width: u16,
}

pub async fn exec(
    State(st): State<HttpState>,
    Path(alloc_id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    caller: Option<Extension<CallerAcl>>,
    ws: WebSocketUpgrade,
) -> Result<Response, HttpError> {
    let q = super::query::QueryOpts::parse(q)?;
    if q.bool("ws_handshake", false)? {
        return Err(HttpError::bad_request(
            "ws_handshake is not supported: send the token in the X-Nomad-Token header",
        ));
    }
    let command = q.get("command").ok_or_else(|| {
        HttpError::bad_request("missing ?command= (a JSON array, e.g. [\"/bin/sh\"])")
    })?;
    let cmd: Vec<String> = serde_json::from_str(command).map_err(|e| {
        HttpError::bad_request(format!(
            "invalid command {command:?}: a JSON array of strings is expected ({e})"
        ))
    })?;
    if cmd.first().is_none_or(|c| c.is_empty()) {
        return Err(HttpError::bad_request("the command is empty"));
    }
    let tty = q.bool("tty", false)?;
    let task = q.get("task").filter(|t| !t.is_empty()).map(str::to_string);
    let runs_here = st.client.as_ref().is_some_and(|c| c.runs(&alloc_id));
    if !runs_here {
        super::client_proxy::may_relay(&st, &headers, &alloc_id)?;
        let target = relay_target(&st, &alloc_id, raw.as_deref().unwrap_or(""))?;
        let token = super::acl_guard::token_of(&headers);
        return Ok(ws.on_upgrade(move |socket| relay(socket, target, token)));
    }
    let client = st
        .client
        .clone()
        .ok_or_else(|| HttpError::internal("no client"))?;
    // As in Nomad: a task without file system isolation (raw_exec) runs the command as the
    // agent's user on the host, which needs alloc-node-exec on top of alloc-exec.
    if let (Some(Extension(acl)), Some((ns, driver))) =
        (&caller, client.exec_target(&alloc_id, task.as_deref()))
    {
        if driver == "raw_exec" && !acl.0.allows_namespace(&ns, Capability::AllocNodeExec) {
            return Err(HttpError {
                status: axum::http::StatusCode::FORBIDDEN,
                message: format!(
                    "Permission denied: exec into a raw_exec task needs alloc-node-exec in namespace {ns:?}"
                ),
            });
        }
    }
    let session = client
        .exec_alloc(&alloc_id, task.as_deref(), cmd, tty)
        .await
        .map_err(|e| HttpError::bad_request(e.to_string()))?;
    Ok(ws.on_upgrade(move |socket| pump(socket, session)))
}

fn frame(stream: OutputStream, body: serde_json::Value) -> Message {
    let name = match stream {
        OutputStream::Stdout => "stdout",
        OutputStream::Stderr => "stderr",
    };
    Message::Text(serde_json::json!({ name: body }).to_string().into())
}

/// Carries the session over the socket until the command exits (or the caller goes away, which
/// closes the command's stdin).
async fn pump(socket: WebSocket, session: ExecSession) {
    let ExecSession {
        input,
        mut output,
        exit,
    } = session;
    let (mut tx, mut rx) = socket.split();
    let inbound = async move {
        while let Some(Ok(msg)) = rx.next().await {
            let text = match msg {
                Message::Text(t) => t.to_string(),
                Message::Binary(b) => String::from_utf8_lossy(&b).into_owned(),
                Message::Close(_) => break,
                _ => continue,
            };
            let Ok(f) = serde_json::from_str::<InFrame>(&text) else {
                continue;
            };
            if let Some(size) = f.tty_size {
                let _ = input
                    .send(SessionInput::Resize(size.height, size.width))
                    .await;
            }
            if let Some(s) = f.stdin {
                if let Some(data) = s.data {
                    if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(data) {
                        let _ = input.send(SessionInput::Stdin(bytes.into())).await;
                    }
                }
                if s.close {
                    let _ = input.send(SessionInput::Close).await;
                }
            }
        }
        let _ = input.send(SessionInput::Close).await;
    };
    let outbound = async move {
        while let Some((stream, data)) = output.recv().await {
            let b64 = base64::engine::general_purpose::STANDARD.encode(&data);
            if tx
                .send(frame(stream, serde_json::json!({ "data": b64 })))
                .await
                .is_err()
            {
                return;
            }
        }
        for s in [OutputStream::Stdout, OutputStream::Stderr] {
            let _ = tx
                .send(frame(s, serde_json::json!({ "close": true })))
                .await;
        }
        let code = exit.await.unwrap_or(-1);
        let done = serde_json::json!({ "exited": true, "result": { "exit_code": code } });
        let _ = tx.send(Message::Text(done.to_string().into())).await;
        let _ = tx.send(Message::Close(None)).await;
    };
    // The command's end ends the session; the caller leaving only closes stdin.
    tokio::pin!(outbound);
    tokio::select! {
        _ = &mut outbound => {}
        _ = inbound => { outbound.await; }
    }
}

/// The node's exec URL for a relayed session.
fn relay_target(st: &HttpState, alloc_id: &str, query: &str) -> Result<String, HttpError> {
    if st.tls.as_ref().is_some_and(|t| t.http()) {
        return Err(HttpError::bad_request(
            "alloc exec through a server is not supported when the HTTP API uses TLS: \
             point NOMAD_ADDR at the client node that runs the allocation",
        ));
    }
    let addr = super::client_proxy::alloc_node_http_addr(st, alloc_id)?;
    Ok(format!(
        "ws://{addr}/v1/client/allocation/{alloc_id}/exec?{query}"
    ))
}

/// Bridges the caller's socket and one to the allocation's node, frame for frame.
async fn relay(socket: WebSocket, url: String, token: String) {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Message as TMessage;
    let Ok(mut req) = url.as_str().into_client_request() else {
        return;
    };
    let headers = req.headers_mut();
    headers.insert(PROXIED_HEADER, axum::http::HeaderValue::from_static("1"));
    if let Ok(v) = axum::http::HeaderValue::from_str(&token) {
        headers.insert(super::acl_guard::TOKEN_HEADER, v);
    }
    let (mut caller_tx, mut caller_rx) = socket.split();
    let node = match tokio_tungstenite::connect_async(req).await {
        Ok((node, _)) => node,
        Err(e) => {
            let msg = serde_json::json!({ "stderr": { "data": base64::engine::general_purpose::STANDARD.encode(format!("cannot reach the allocation's node: {e}\n")) } });
            let _ = caller_tx.send(Message::Text(msg.to_string().into())).await;
            let done = serde_json::json!({ "exited": true, "result": { "exit_code": -1 } });
            let _ = caller_tx.send(Message::Text(done.to_string().into())).await;
            return;
        }
    };
    let (mut node_tx, mut node_rx) = node.split();
    let up = async {
        while let Some(Ok(msg)) = caller_rx.next().await {
            let m = match msg {
                Message::Text(t) => TMessage::Text(t.as_str().into()),
                Message::Binary(b) => TMessage::Binary(b),
                Message::Close(_) => break,
                _ => continue,
            };
            if node_tx.send(m).await.is_err() {
                break;
            }
        }
    };
    let down = async {
        while let Some(Ok(msg)) = node_rx.next().await {
            let m = match msg {
                TMessage::Text(t) => Message::Text(t.as_str().into()),
                TMessage::Binary(b) => Message::Binary(b),
                TMessage::Close(_) => break,
                _ => continue,
            };
            if caller_tx.send(m).await.is_err() {
                break;
            }
        }
        let _ = caller_tx.send(Message::Close(None)).await;
    };
    tokio::pin!(down);
    tokio::select! {
        _ = &mut down => {}
        _ = up => { down.await; }
    }
}
