//! One probe of a check: an HTTP request (2xx passes, 429 warns), a TCP connect, or a script run
//! in the task's environment (exit 0 passes, 1 warns, anything else is critical).

use super::super::build::{CheckSpec, Target};
use super::super::http;
use super::state::ProbeResult;
use super::ScriptTarget;
use crate::client::events::now_nanos;
use api::{CHECK_CRITICAL, CHECK_PASSING, CHECK_WARNING};

fn result(status: &'static str, output: String, status_code: i64) -> ProbeResult {
    ProbeResult {
        status,
        output,
        status_code,
        at: now_nanos(),
    }
}

/// Runs the probe; never takes longer than the check's timeout (plus the time to kill a script).
/// An http check's connection is kept in `conn` between probes when the server allows.
pub async fn probe(
    spec: &CheckSpec,
    script: Option<ScriptTarget>,
    conn: &mut Option<http::Connection>,
) -> ProbeResult {
    let c = &spec.check;
    match &spec.target {
        Target::Http { url } => {
            let method = if c.method.is_empty() {
                "GET"
            } else {
                &c.method
            };
            let sent = http::send_reusing(
                http::Request1 {
                    method,
                    url,
                    headers: &c.header,
                    body: c.body.as_bytes(),
                    tls_skip_verify: c.tls_skip_verify,
                    timeout: c.timeout,
                },
                conn,
            )
            .await;
            match sent {
                Ok(r) => {
                    let status = match r.status {
                        200..=299 => CHECK_PASSING,
                        429 => CHECK_WARNING,
                        _ => CHECK_CRITICAL,
                    };
                    let output =
                        format!("HTTP {method} {url}: {} Output: {}", r.status_line, r.body);
                    result(status, output, i64::from(r.status))
                }
                Err(e) => result(CHECK_CRITICAL, format!("Get {url:?}: {e}"), 0),
            }
        }
        Target::Tcp { addr } => {
            let connect = tokio::net::TcpStream::connect(addr.as_str());
            match tokio::time::timeout(c.timeout, connect).await {
                Ok(Ok(s)) => {
                    // Closed with a reset: no FIN exchange, no TIME_WAIT socket per probe.
                    let _ = s.set_zero_linger();
                    result(CHECK_PASSING, format!("TCP connect {addr}: Success"), 0)
                }
                Ok(Err(e)) => result(CHECK_CRITICAL, format!("dial tcp {addr}: {e}"), 0),
                Err(_) => result(CHECK_CRITICAL, format!("dial tcp {addr}: i/o timeout"), 0),
            }
        }
        Target::Script { command, args } => {
            let Some(t) = script else {
                return result(
                    CHECK_CRITICAL,
                    format!("task {:?} is not running", spec.exec_task),
                    0,
                );
            };
            match t
                .driver
                .exec(&t.handle, &t.cfg, command, args, c.timeout)
                .await
            {
                Ok(out) => {
                    let status = match out.exit_code {
                        0 => CHECK_PASSING,
                        1 => CHECK_WARNING,
                        _ => CHECK_CRITICAL,
                    };
                    result(status, out.output, 0)
                }
                Err(e) => result(CHECK_CRITICAL, e.to_string(), 0),
            }
        }
    }
}
