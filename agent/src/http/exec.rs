//! `GET /v1/client/allocation/:id/exec`: a command in a task's context over a WebSocket, in
//! Nomad's frames. In: `{"stdin": {"data": <base64>}}`, `{"stdin": {"close": true}}`,
//! `{"tty_size": {"height": h, "width": w}}`. Out: `{"stdout"|"stderr": {"data": <base64>}}`,
//! `{"stdout"|"stderr": {"close": true}}`, then `{"exited": true, "result": {"exit_code": n}}`.
//! The session starts before the upgrade, so a bad task or command is a plain 4xx (with
//! `ws_handshake`, after it: the token comes in the first message, and a refusal closes the
//! socket with its reason). An agent that does not run the allocation relays the socket to the
//! node that does (see exec_relay.rs).

use super::acl_guard::CallerAcl;
use super::{exec_relay, HttpError, HttpState};
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
    // A browser cannot set headers on a WebSocket: with `ws_handshake` its first message
    // carries the token, and the ACL guard has left the check to this handler.
    let handshake = q.bool("ws_handshake", false)?;
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
        // The handshake, if any, passes through to the node, which checks it.
        let target = exec_relay::target(&st, &alloc_id, raw.as_deref().unwrap_or(""))?;
        let token = super::acl_guard::token_of(&headers);
        return Ok(ws.on_upgrade(move |socket| exec_relay::relay(socket, target, token)));
    }
    let client = st
        .client
        .clone()
        .ok_or_else(|| HttpError::internal("no client"))?;
    if handshake {
        let acl = st.acl.clone();
        return Ok(ws.on_upgrade(move |mut socket| async move {
            let Some(token) = exec_relay::read_handshake(&mut socket).await else {
                return exec_relay::refuse(socket, "the first message must be the handshake").await;
            };
            let caller = match acl {
                None => None,
                Some(resolver) => match resolver.resolve(&token).await {
                    Ok(a) => Some(a),
                    Err(e) => return exec_relay::refuse(socket, &e.message).await,
                },
            };
            if let Err(why) = may_exec(caller.as_deref(), &client, &alloc_id, task.as_deref(), true)
            {
                return exec_relay::refuse(socket, &why).await;
            }
            match client
                .exec_alloc(&alloc_id, task.as_deref(), cmd, tty)
                .await
            {
                Ok(session) => pump(socket, session).await,
                Err(e) => exec_relay::refuse(socket, &e.to_string()).await,
            }
        }));
    }
    let acl = caller.as_ref().map(|Extension(c)| c.0.clone());
    may_exec(acl.as_deref(), &client, &alloc_id, task.as_deref(), false).map_err(|message| {
        HttpError {
            status: axum::http::StatusCode::FORBIDDEN,
            message,
        }
    })?;
    let session = client
        .exec_alloc(&alloc_id, task.as_deref(), cmd, tty)
        .await
        .map_err(|e| HttpError::bad_request(e.to_string()))?;
    Ok(ws.on_upgrade(move |socket| pump(socket, session)))
}

/// Whether `acl` (none: ACLs are off) may run a command in the task. The ACL guard already
/// checked alloc-exec in the request's namespace, except for a handshake (`full`). As in Nomad,
/// a task without file system isolation (raw_exec) runs the command as the agent's user on the
/// host, which needs alloc-node-exec on top of alloc-exec.
fn may_exec(
    acl: Option<&api::acl::Acl>,
    client: &crate::client::Client,
    alloc_id: &str,
    task: Option<&str>,
    full: bool,
) -> Result<(), String> {
    let (Some(acl), Some((ns, driver))) = (acl, client.exec_target(alloc_id, task)) else {
        return Ok(());
    };
    if full && !acl.allows_namespace(&ns, Capability::AllocExec) {
        return Err(format!(
            "Permission denied: exec needs alloc-exec in namespace {ns:?}"
        ));
    }
    if driver == "raw_exec" && !acl.allows_namespace(&ns, Capability::AllocNodeExec) {
        return Err(format!(
            "Permission denied: exec into a raw_exec task needs alloc-node-exec in namespace {ns:?}"
        ));
    }
    Ok(())
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
