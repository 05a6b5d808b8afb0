//! A test's own client of the agent's exec WebSocket (`/v1/client/allocation/:id/exec`): sends
//! a terminal size and stdin, collects stdout and stderr until the exit frame.

use anyhow::{anyhow, bail, Result};
use base64::Engine;
use std::time::{Duration, Instant};
use tungstenite::Message;

/// What one exec session did.
#[derive(Debug, Default)]
pub struct ExecResult {
    pub stdout: String,
    pub stderr: String,
    pub exit_code: i64,
}

/// Runs `cmd` in `task` of `alloc` through the agent at `http_addr` ("127.0.0.1:port"). With
/// `size`, the terminal is resized before stdin is sent; `stdin` is then sent and closed.
pub fn exec(
    http_addr: &str,
    alloc: &str,
    task: &str,
    cmd: &[&str],
    tty: bool,
    size: Option<(u16, u16)>,
    stdin: &[u8],
) -> Result<ExecResult> {
    exec_as(None, http_addr, alloc, task, cmd, tty, size, stdin)
}

/// `exec` with an ACL token (`X-Nomad-Token`).
#[allow(clippy::too_many_arguments)]
pub fn exec_as(
    token: Option<&str>,
    http_addr: &str,
    alloc: &str,
    task: &str,
    cmd: &[&str],
    tty: bool,
    size: Option<(u16, u16)>,
    stdin: &[u8],
) -> Result<ExecResult> {
    exec_auth(
        Auth::Header(token),
        http_addr,
        alloc,
        task,
        cmd,
        tty,
        size,
        stdin,
    )
}

/// How a session proves its token.
#[derive(Debug, Clone, Copy)]
pub enum Auth<'a> {
    /// The `X-Nomad-Token` header (none: anonymous).
    Header(Option<&'a str>),
    /// Nomad's `ws_handshake`: the first message carries the token, as a browser sends it.
    Handshake(&'a str),
}

/// `exec` with the token sent as `auth` says.
#[allow(clippy::too_many_arguments)]
pub fn exec_auth(
    auth: Auth<'_>,
    http_addr: &str,
    alloc: &str,
    task: &str,
    cmd: &[&str],
    tty: bool,
    size: Option<(u16, u16)>,
    stdin: &[u8],
) -> Result<ExecResult> {
    let command = serde_json::to_string(cmd)?;
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    };
    let handshake = if matches!(auth, Auth::Handshake(_)) {
        "&ws_handshake=true"
    } else {
        ""
    };
    let url = format!(
        "ws://{http_addr}/v1/client/allocation/{alloc}/exec?task={}&command={}&tty={tty}{handshake}",
        enc(task),
        enc(&command)
    );
    let stream = std::net::TcpStream::connect(http_addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut req = tungstenite::client::IntoClientRequest::into_client_request(url.as_str())?;
    if let Auth::Header(Some(t)) = auth {
        req.headers_mut().insert("X-Nomad-Token", t.parse()?);
    }
    let (mut ws, _) = tungstenite::client(req, stream).map_err(|e| match e {
        tungstenite::HandshakeError::Failure(tungstenite::Error::Http(resp)) => {
            let body = resp
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            anyhow!("exec refused: {} {body}", resp.status())
        }
        other => anyhow!("exec handshake: {other}"),
    })?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let send = |ws: &mut tungstenite::WebSocket<_>, v: serde_json::Value| {
        ws.send(Message::Text(v.to_string().into()))
    };
    if let Auth::Handshake(token) = auth {
        send(
            &mut ws,
            serde_json::json!({"version": 1, "auth_token": token}),
        )?;
    }
    if let Some((h, w)) = size {
        send(
            &mut ws,
            serde_json::json!({"tty_size": {"height": h, "width": w}}),
        )?;
    }
    if !stdin.is_empty() {
        send(
            &mut ws,
            serde_json::json!({"stdin": {"data": b64.encode(stdin)}}),
        )?;
    }
    if !tty {
        send(&mut ws, serde_json::json!({"stdin": {"close": true}}))?;
    }
    let mut out = ExecResult::default();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let text = match ws.read()? {
            Message::Text(t) => t.to_string(),
            Message::Close(frame) => bail!(
                "closed before the exit frame ({}): {out:?}",
                frame.map(|f| f.reason.to_string()).unwrap_or_default()
            ),
            _ => continue,
        };
        let f: serde_json::Value = serde_json::from_str(&text)?;
        if f["exited"] == true {
            out.exit_code = f["result"]["exit_code"].as_i64().unwrap_or(-1);
            return Ok(out);
        }
        for (name, into) in [("stdout", &mut out.stdout), ("stderr", &mut out.stderr)] {
            if let Some(d) = f[name]["data"].as_str() {
                into.push_str(&String::from_utf8_lossy(&b64.decode(d)?));
            }
        }
    }
    bail!("no exit frame within 60 s: {out:?}")
}
