//! `GET /v1/client/fs/logs/:alloc`: a task's stdout or stderr, whole or from an offset, once or
//! followed. `plain=true` streams raw bytes; otherwise Nomad's stream of JSON frames
//! `{"Data": <base64>, "File": ..., "Offset": n}`.

use super::query::QueryOpts;
use super::{HttpError, HttpState};
use crate::client::logs::{read_logs, LogKind, LogOrigin};
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Largest chunk read at once.
const CHUNK: usize = 64 * 1024;
/// How often a follower looks for new output. Log files are written by this process, but
/// polling keeps the follower independent of the writer.
const FOLLOW_POLL: Duration = Duration::from_millis(200);

pub async fn logs(
    State(st): State<HttpState>,
    Path(alloc_id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let q = QueryOpts::parse(q)?;
    let runs_here = st
        .client
        .as_ref()
        .is_some_and(|c| c.alloc_ids().contains(&alloc_id));
    if !runs_here
        && !headers.contains_key(super::client_proxy::PROXIED_HEADER)
        && st.server.is_some()
    {
        let path = format!(
            "/v1/client/fs/logs/{alloc_id}?{}",
            raw.as_deref().unwrap_or("")
        );
        return super::client_proxy::proxy(&st, &headers, &alloc_id, &path).await;
    }
    let client = st.client.clone().ok_or_else(|| {
        HttpError::bad_request(
            "this agent runs no client: logs live on the client that runs the allocation",
        )
    })?;
    let task = q
        .get("task")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| HttpError::bad_request("missing task name: add ?task=<name>"))?
        .to_string();
    let kind = match q.get("type").unwrap_or("stdout") {
        "stdout" => LogKind::Stdout,
        "stderr" => LogKind::Stderr,
        other => {
            return Err(HttpError::bad_request(format!(
                "invalid log type {other:?}: use stdout or stderr"
            )))
        }
    };
    let follow = q.bool("follow", false)?;
    let plain = q.bool("plain", false)?;
    let origin = super::query::origin(&q)?;
    let offset: u64 = match q.get("offset") {
        Some(v) if !v.is_empty() => v
            .parse()
            .map_err(|_| HttpError::bad_request(format!("invalid offset {v:?}")))?,
        _ => 0,
    };
    let files = client
        .log_files(&alloc_id, &task, kind)
        .map_err(|e| HttpError::not_found(e.to_string()))?;
    // Convert to an absolute position in the stream so following continues from there.
    let (_, start) =
        read_logs(&files, origin, offset, 0).map_err(|e| HttpError::internal(e.to_string()))?;
    let file_name = format!("alloc/logs/{task}.{}.0", kind.as_str());

    let frame = move |data: Vec<u8>, offset: u64| -> Bytes {
        if plain {
            Bytes::from(data)
        } else {
            frame_json(&file_name, &data, offset)
        }
    };

    if !follow {
        let files = files.clone();
        let data = tokio::task::spawn_blocking(move || read_all(&files, start))
            .await
            .map_err(|e| HttpError::internal(e.to_string()))?
            .map_err(|e| HttpError::internal(e.to_string()))?;
        let next = start + data.len() as u64;
        let body = if data.is_empty() && !plain {
            Bytes::new()
        } else {
            frame(data, next)
        };
        return Ok(body.into_response());
    }

    let list = move || client.log_files(&alloc_id, &task, kind).ok();
    Ok(follow_body(list, start, frame, || true).into_response())
}

/// Nomad's `{"Data", "File", "Offset"}` frame of `data`, read up to `offset`.
pub(super) fn frame_json(file: &str, data: &[u8], offset: u64) -> Bytes {
    let f = serde_json::json!({
        "Data": base64::engine::general_purpose::STANDARD.encode(data),
        "File": file,
        "Offset": offset,
    });
    Bytes::from(f.to_string())
}

/// Streams the files `list` gives (asked again at each read, so rotation is followed) from
/// `start`, one `frame` per chunk read. Without `follow` the stream ends at the files' end;
/// with it, new bytes are looked for every [`FOLLOW_POLL`] until the caller goes away.
pub(super) fn follow_body(
    list: impl Fn() -> Option<Vec<PathBuf>> + Send + Sync + 'static,
    start: u64,
    frame: impl Fn(Vec<u8>, u64) -> Bytes + Send + Sync + 'static,
    follow: impl Fn() -> bool + Send + Sync + 'static,
) -> Body {
    let ctx = Arc::new((list, frame, follow));
    let stream = futures::stream::unfold(start, move |pos| {
        let ctx = ctx.clone();
        async move {
            loop {
                let files = (ctx.0)()?;
                let (data, next) = tokio::task::spawn_blocking(move || {
                    read_logs(&files, LogOrigin::Start, pos, CHUNK)
                })
                .await
                .ok()?
                .ok()?;
                if !data.is_empty() {
                    let out = (ctx.1)(data, next);
                    return Some((Ok::<Bytes, std::io::Error>(out), next));
                }
                // Caught up: wait for more only while more can come.
                if !(ctx.2)() {
                    return None;
                }
                tokio::time::sleep(FOLLOW_POLL).await;
            }
        }
    });
    Body::from_stream(stream)
}

fn read_all(files: &[PathBuf], start: u64) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut pos = start;
    loop {
        let (data, next) = read_logs(files, LogOrigin::Start, pos, CHUNK)?;
        if data.is_empty() {
            return Ok(out);
        }
        out.extend_from_slice(&data);
        pos = next;
    }
}
