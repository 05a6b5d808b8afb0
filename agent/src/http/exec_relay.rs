//! The exec WebSocket's plumbing: relaying a session to the node that runs the allocation
//! (over TLS with this agent's certificate when the HTTP API uses it), and Nomad's
//! `ws_handshake`, where the first message carries the token.

use super::client_proxy::PROXIED_HEADER;
use super::{HttpError, HttpState};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use base64::Engine;
use futures::{SinkExt, StreamExt};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::Message as TMessage;
use tokio_tungstenite::WebSocketStream;

/// Where a relayed session goes.
pub struct RelayTarget {
    /// "host:port" of the node's HTTP API.
    addr: String,
    /// Path and query of the exec request.
    path: String,
    /// Set when the node's API is HTTPS: the TLS settings and the name its certificate carries.
    tls: Option<(Arc<rustls::ClientConfig>, String)>,
}

/// The node that runs `alloc_id`, reached as this agent reaches nodes.
pub fn target(st: &HttpState, alloc_id: &str, query: &str) -> Result<RelayTarget, HttpError> {
    let addr = super::client_proxy::alloc_node_http_addr(st, alloc_id)?;
    let tls = match st.tls.as_ref().filter(|t| t.http()) {
        None => None,
        Some(tls) => {
            let opts = tls
                .http_client_options()
                .map_err(|e| HttpError::internal(e.to_string()))?;
            let config = opts.rustls_config().map_err(HttpError::internal)?;
            let host = addr.rsplit_once(':').map_or(addr.as_str(), |(h, _)| h);
            Some((config, opts.name_to_verify(host)))
        }
    };
    Ok(RelayTarget {
        path: format!("/v1/client/allocation/{alloc_id}/exec?{query}"),
        addr,
        tls,
    })
}

/// Bridges the caller's socket to the node's, frame for frame. A node that cannot be reached
/// is reported to the caller as the session's output and exit code -1.
pub async fn relay(socket: WebSocket, target: RelayTarget, token: String) {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let url = format!("ws://{}{}", target.addr, target.path);
    let Ok(mut req) = url.as_str().into_client_request() else {
        return fail(socket, "the exec request could not be built").await;
    };
    let headers = req.headers_mut();
    headers.insert(PROXIED_HEADER, axum::http::HeaderValue::from_static("1"));
    if let Ok(v) = axum::http::HeaderValue::from_str(&token) {
        headers.insert(super::acl_guard::TOKEN_HEADER, v);
    }
    let tcp = match tokio::net::TcpStream::connect(&target.addr).await {
        Ok(t) => t,
        Err(e) => return fail(socket, &format!("cannot reach the allocation's node: {e}")).await,
    };
    match target.tls {
        None => match tokio_tungstenite::client_async(req, tcp).await {
            Ok((node, _)) => bridge(socket, node).await,
            Err(e) => fail(socket, &format!("cannot reach the allocation's node: {e}")).await,
        },
        Some((config, name)) => {
            let Ok(name) = rustls::pki_types::ServerName::try_from(name.clone()) else {
                return fail(socket, &format!("invalid TLS name {name:?}")).await;
            };
            let tls = match tokio_rustls::TlsConnector::from(config)
                .connect(name, tcp)
                .await
            {
                Ok(t) => t,
                Err(e) => return fail(socket, &format!("TLS to the allocation's node: {e}")).await,
            };
            match tokio_tungstenite::client_async(req, tls).await {
                Ok((node, _)) => bridge(socket, node).await,
                Err(e) => fail(socket, &format!("cannot reach the allocation's node: {e}")).await,
            }
        }
    }
}

async fn bridge<S: AsyncRead + AsyncWrite + Unpin>(socket: WebSocket, node: WebSocketStream<S>) {
    let (mut caller_tx, mut caller_rx) = socket.split();
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
                TMessage::Close(frame) => {
                    // A refusal on the node (a handshake's) reaches the caller with its reason.
                    let frame = frame.map(|f| CloseFrame {
                        code: f.code.into(),
                        reason: f.reason.as_str().into(),
                    });
                    let _ = caller_tx.send(Message::Close(frame)).await;
                    return;
                }
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

/// The session's end when it could not start: the reason on stderr, exit code -1.
async fn fail(mut socket: WebSocket, why: &str) {
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{why}\n"));
    let msg = serde_json::json!({ "stderr": { "data": b64 } });
    let _ = socket.send(Message::Text(msg.to_string().into())).await;
    let done = serde_json::json!({ "exited": true, "result": { "exit_code": -1 } });
    let _ = socket.send(Message::Text(done.to_string().into())).await;
}

/// Nomad's handshake: the first message is `{"version": 1, "auth_token": "<secret>"}`.
/// Returns the token (empty for the anonymous one), or none when the message is not one.
pub async fn read_handshake(socket: &mut WebSocket) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Handshake {
        version: u32,
        #[serde(default)]
        auth_token: String,
    }
    let first = tokio::time::timeout(HANDSHAKE_WAIT, socket.recv())
        .await
        .ok()??
        .ok()?;
    let text = match first {
        Message::Text(t) => t.to_string(),
        Message::Binary(b) => String::from_utf8(b.to_vec()).ok()?,
        _ => return None,
    };
    let h: Handshake = serde_json::from_str(&text).ok()?;
    (h.version == 1).then_some(h.auth_token)
}

/// How long the caller has to send the handshake.
const HANDSHAKE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Closes the socket with a policy-violation code and the reason, as Nomad does for a refused
/// handshake.
pub async fn refuse(mut socket: WebSocket, why: &str) {
    // A close reason is limited to 123 bytes by the protocol.
    let mut reason = why.to_string();
    while reason.len() > 123 {
        reason.pop();
    }
    let frame = CloseFrame {
        code: 1008,
        reason: reason.into(),
    };
    let _ = socket.send(Message::Close(Some(frame))).await;
}
