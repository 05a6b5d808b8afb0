//! `alloc exec [-task T] [-i] [-t] ALLOC CMD...`: run a command in a task's context over the
//! agent's exec WebSocket, carrying stdin, stdout, stderr, the terminal's size and the exit
//! code (which becomes this command's).

use crate::commands::{alloc_logs, alloc_status, lookup};
use anyhow::{anyhow, bail, Context, Result};
use api::client::Client;
use base64::Engine;
use std::io::{IsTerminal, Read, Write};
use std::sync::mpsc;
use std::time::Duration;
use tungstenite::{Message, WebSocket};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The task to run the command in; may be left out when the group has one task
    #[arg(long)]
    pub task: Option<String>,
    /// Pass stdin to the command (Nomad's default: true)
    #[arg(short = 'i', default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub stdin: bool,
    /// Allocate a terminal (default: when stdin is one)
    #[arg(short = 't', num_args = 0..=1, default_missing_value = "true")]
    pub tty: Option<bool>,
    #[arg(long)]
    pub verbose: bool,
    /// An allocation id or unique prefix
    pub alloc: String,
    /// The command and its arguments
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// What goes to the agent: stdin bytes, its end, or a new terminal size.
enum Outgoing {
    Stdin(Vec<u8>),
    StdinClosed,
    Size(u16, u16),
}

pub fn run(client: &Client, args: &Args) -> Result<i32> {
    let alloc = lookup::alloc(client, &args.alloc, args.verbose)?;
    let tasks = alloc_status::task_names(&alloc);
    let task = alloc_logs::pick_task(&alloc.id, args.task.as_deref(), &tasks, args.verbose)?;
    let tty = args
        .tty
        .unwrap_or_else(|| std::io::stdin().is_terminal() && args.stdin);
    let (https, host) = split_address(client.connect_address());
    let url = exec_url(&host, &alloc.id, &task, &args.command, tty);
    let mut req = tungstenite::client::IntoClientRequest::into_client_request(url.as_str())
        .map_err(|e| anyhow!("Error building the exec request: {e}"))?;
    if let Some(token) = client.token() {
        let v = token
            .parse()
            .map_err(|_| anyhow!("the token is not a valid header value"))?;
        req.headers_mut().insert("X-Nomad-Token", v);
    }
    let tcp = std::net::TcpStream::connect(&host)
        .with_context(|| format!("Error connecting to {host}"))?;
    let timeouts = tcp.try_clone()?;
    if https {
        let tls = client.tls().cloned().unwrap_or_default();
        let config = tls.rustls_config().map_err(|e| anyhow!("TLS: {e}"))?;
        let hostname = host.rsplit_once(':').map_or(host.as_str(), |(h, _)| h);
        let name = rustls::pki_types::ServerName::try_from(tls.name_to_verify(hostname))
            .map_err(|e| anyhow!("TLS server name: {e}"))?;
        let conn = rustls::ClientConnection::new(config, name).map_err(|e| anyhow!("TLS: {e}"))?;
        let stream = rustls::StreamOwned::new(conn, tcp);
        attach(req, stream, &timeouts, args, tty)
    } else {
        attach(req, tcp, &timeouts, args, tty)
    }
}

/// Runs the session over `stream` (plain or TLS); `tcp` is its socket, for read timeouts.
fn attach<S: Read + Write>(
    req: tungstenite::handshake::client::Request,
    stream: S,
    tcp: &std::net::TcpStream,
    args: &Args,
    tty: bool,
) -> Result<i32> {
    let (mut socket, _) = tungstenite::client(req, stream).map_err(|e| match e {
        tungstenite::HandshakeError::Failure(tungstenite::Error::Http(resp)) => {
            let body = resp
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            anyhow!("Failed to exec into task: {} {body}", resp.status())
        }
        other => anyhow!("Failed to exec into task: {other}"),
    })?;
    // Reads give up after a moment so that stdin and resizes get their turn.
    tcp.set_read_timeout(Some(Duration::from_millis(50)))?;
    let (tx, rx) = mpsc::channel::<Outgoing>();
    if args.stdin {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            let mut input = std::io::stdin().lock();
            loop {
                match input.read(&mut buf) {
                    Ok(0) | Err(_) => {
                        let _ = tx.send(Outgoing::StdinClosed);
                        return;
                    }
                    Ok(n) => {
                        if tx.send(Outgoing::Stdin(buf[..n].to_vec())).is_err() {
                            return;
                        }
                    }
                }
            }
        });
    } else {
        let _ = tx.send(Outgoing::StdinClosed);
    }
    let _raw = if tty { RawMode::enter() } else { None };
    if tty {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut last = None;
            loop {
                let now = terminal_size();
                if now.is_some() && now != last {
                    let (h, w) = now.unwrap_or((24, 80));
                    if tx.send(Outgoing::Size(h, w)).is_err() {
                        return;
                    }
                    last = now;
                }
                std::thread::sleep(Duration::from_millis(250));
            }
        });
    }
    drop(tx);
    session(&mut socket, &rx)
}

/// Whether the agent's address is https, and its "host:port" (port 4646 when none is given).
fn split_address(address: &str) -> (bool, String) {
    let (https, rest) = match address.split_once("://") {
        Some((scheme, rest)) => (scheme.eq_ignore_ascii_case("https"), rest),
        None => (false, address),
    };
    let host = rest.split('/').next().unwrap_or_default();
    let has_port = host
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok());
    let host = if has_port {
        host.to_string()
    } else {
        format!("{host}:4646")
    };
    (https, host)
}

/// `ws://host:port/v1/client/allocation/<id>/exec?task=..&command=[..]&tty=..`; over TLS the
/// same request runs inside the TLS stream.
fn exec_url(host: &str, alloc: &str, task: &str, cmd: &[String], tty: bool) -> String {
    let base = format!("ws://{host}");
    let command = serde_json::to_string(cmd).unwrap_or_default();
    let query: String = [
        ("task", task),
        ("command", command.as_str()),
        ("tty", if tty { "true" } else { "false" }),
    ]
    .iter()
    .map(|(k, v)| format!("{k}={}", encode(v)))
    .collect::<Vec<_>>()
    .join("&");
    format!("{base}/v1/client/allocation/{alloc}/exec?{query}")
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn send_json<S: Read + Write>(socket: &mut WebSocket<S>, v: serde_json::Value) -> Result<()> {
    socket
        .send(Message::Text(v.to_string().into()))
        .map_err(|e| anyhow!("Error sending to the task: {e}"))
}

/// Until the command exits: frames in to stdout/stderr, stdin and resizes out.
fn session<S: Read + Write>(
    socket: &mut WebSocket<S>,
    rx: &mpsc::Receiver<Outgoing>,
) -> Result<i32> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut stdin_open = true;
    loop {
        while let Ok(out) = rx.try_recv() {
            match out {
                Outgoing::Stdin(data) => send_json(
                    socket,
                    serde_json::json!({"stdin": {"data": b64.encode(data)}}),
                )?,
                Outgoing::StdinClosed if stdin_open => {
                    stdin_open = false;
                    send_json(socket, serde_json::json!({"stdin": {"close": true}}))?
                }
                Outgoing::StdinClosed => {}
                Outgoing::Size(h, w) => send_json(
                    socket,
                    serde_json::json!({"tty_size": {"height": h, "width": w}}),
                )?,
            }
        }
        let msg = match socket.read() {
            Ok(m) => m,
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                bail!("the agent closed the session before the command exited")
            }
            Err(e) => bail!("Error reading from the task: {e}"),
        };
        let text = match msg {
            Message::Text(t) => t.to_string(),
            Message::Binary(b) => String::from_utf8_lossy(&b).into_owned(),
            Message::Close(_) => bail!("the agent closed the session before the command exited"),
            _ => continue,
        };
        let frame: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| anyhow!("unexpected frame from the agent ({e}): {text}"))?;
        if frame["exited"] == true {
            return Ok(frame["result"]["exit_code"].as_i64().unwrap_or(-1) as i32);
        }
        for (name, out) in [("stdout", true), ("stderr", false)] {
            if let Some(data) = frame[name]["data"].as_str() {
                let bytes = b64
                    .decode(data)
                    .map_err(|e| anyhow!("undecodable output from the agent: {e}"))?;
                if out {
                    let mut o = std::io::stdout().lock();
                    o.write_all(&bytes)?;
                    o.flush()?;
                } else {
                    let mut o = std::io::stderr().lock();
                    o.write_all(&bytes)?;
                    o.flush()?;
                }
            }
        }
    }
}

/// (rows, columns) of the terminal on stdin.
fn terminal_size() -> Option<(u16, u16)> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes a winsize into valid memory; a non-terminal fd only fails.
    let ok = unsafe { libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) } == 0;
    (ok && ws.ws_row > 0).then_some((ws.ws_row, ws.ws_col))
}

/// The terminal in raw mode while a remote terminal runs; restored when dropped.
struct RawMode(libc::termios);

impl RawMode {
    fn enter() -> Option<RawMode> {
        // SAFETY: termios is plain data; tcgetattr fills it or fails on a non-terminal.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut t) != 0 {
                return None;
            }
            let saved = t;
            libc::cfmakeraw(&mut t);
            if libc::tcsetattr(0, libc::TCSANOW, &t) != 0 {
                return None;
            }
            Some(RawMode(saved))
        }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: restores the attributes read in `enter`.
        unsafe {
            libc::tcsetattr(0, libc::TCSANOW, &self.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_carries_the_command_as_json() {
        let url = exec_url(
            "127.0.0.1:4646",
            "a1",
            "web",
            &["/bin/sh".into(), "-c".into(), "echo hi".into()],
            true,
        );
        assert_eq!(
            url,
            "ws://127.0.0.1:4646/v1/client/allocation/a1/exec?task=web&command=%5B%22%2Fbin%2Fsh%22%2C%22-c%22%2C%22echo%20hi%22%5D&tty=true"
        );
    }

    #[test]
    fn addresses_split_into_scheme_and_host() {
        assert_eq!(split_address("https://x:4647/"), (true, "x:4647".into()));
        assert_eq!(
            split_address("http://127.0.0.1:4646"),
            (false, "127.0.0.1:4646".into())
        );
        assert_eq!(split_address("node1"), (false, "node1:4646".into()));
        assert_eq!(split_address("https://[::1]:9"), (true, "[::1]:9".into()));
    }
}
