//! `/v1/client/fs/{ls,stat,cat,readat,stream}/:alloc`: an allocation's files, from the client
//! that runs it (other agents pass the request on), confined to its directory
//! (`client::alloc_fs`).

use super::query::QueryOpts;
use super::{HttpError, HttpState};
use crate::client::alloc_fs::{AllocFs, FsError};
use crate::client::logs::read_logs;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::collections::HashMap;
use std::path::PathBuf;

type Q = Query<HashMap<String, String>>;

impl From<FsError> for HttpError {
    fn from(e: FsError) -> HttpError {
        let status = if e.is_not_found() {
            StatusCode::NOT_FOUND
        } else if e.is_refused() {
            StatusCode::FORBIDDEN
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        HttpError {
            status,
            message: e.to_string(),
        }
    }
}

/// Where the request is answered: here (the allocation's directory), or by its node.
enum Target {
    Here(AllocFs),
    Elsewhere(Response),
}

async fn target(
    st: &HttpState,
    headers: &HeaderMap,
    op: &str,
    alloc_id: &str,
    raw: &Option<String>,
) -> Result<Target, HttpError> {
    if let Some(dir) = st.client.as_ref().and_then(|c| c.alloc_dir(alloc_id)) {
        return Ok(Target::Here(AllocFs::new(dir)));
    }
    super::client_proxy::may_relay(st, headers, alloc_id)?;
    let path = format!(
        "/v1/client/fs/{op}/{alloc_id}?{}",
        raw.as_deref().unwrap_or("")
    );
    let resp = super::client_proxy::proxy(st, headers, alloc_id, &path).await?;
    Ok(Target::Elsewhere(resp))
}

fn path_param(q: &QueryOpts) -> String {
    q.get("path")
        .filter(|p| !p.is_empty())
        .unwrap_or("/")
        .to_string()
}

fn number(q: &QueryOpts, key: &str) -> Result<Option<u64>, HttpError> {
    match q.get(key) {
        Some(v) if !v.is_empty() => v.parse().map(Some).map_err(|_| {
            HttpError::bad_request(format!("invalid {key} {v:?}: must be a whole number"))
        }),
        _ => Ok(None),
    }
}

/// Runs file system work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, FsError> + Send + 'static,
) -> Result<T, HttpError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| HttpError::internal(e.to_string()))?
        .map_err(HttpError::from)
}

/// `ls`, `stat`, `cat` and `readat`: answered here, or passed to the allocation's node.
pub async fn plain(
    State(st): State<HttpState>,
    Path((op, alloc_id)): Path<(String, String)>,
    Query(q): Q,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let q = QueryOpts::parse(q)?;
    // Checked before anything is read or passed on: a bad number is the caller's to fix.
    let offset = number(&q, "offset")?.unwrap_or(0);
    let limit = number(&q, "limit")?;
    let read: fn(&AllocFs, &str, u64, Option<u64>) -> Result<Response, FsError> = match op.as_str()
    {
        "ls" => |fs, path, _, _| Ok(Json(fs.list(path)?).into_response()),
        "stat" => |fs, path, _, _| Ok(Json(fs.stat(path)?).into_response()),
        "cat" => |fs, path, _, _| Ok(fs.read_at(path, 0, None)?.into_response()),
        "readat" => |fs, path, offset, limit| Ok(fs.read_at(path, offset, limit)?.into_response()),
        other => {
            return Err(HttpError::not_found(format!(
                "no such file system operation {other:?}: use ls, stat, cat, readat, stream or logs"
            )))
        }
    };
    let fs = match target(&st, &headers, &op, &alloc_id, &raw).await? {
        Target::Here(fs) => fs,
        Target::Elsewhere(resp) => return Ok(resp),
    };
    blocking(move || read(&fs, &path_param(&q), offset, limit)).await
}

/// Nomad's stream of frames `{"Data": <base64>, "File": path, "Offset": n}`, following the file
/// as it grows (`follow=false` ends at its current end, and so does a finished allocation's).
pub async fn stream(
    State(st): State<HttpState>,
    Path(alloc_id): Path<String>,
    Query(q): Q,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let q = QueryOpts::parse(q)?;
    let offset = number(&q, "offset")?.unwrap_or(0);
    let follow = q.bool("follow", true)?;
    let origin = super::query::origin(&q)?;
    let fs = match target(&st, &headers, "stream", &alloc_id, &raw).await? {
        Target::Here(fs) => fs,
        Target::Elsewhere(resp) => return Ok(resp),
    };
    let rel = path_param(&q);
    let file: PathBuf = {
        let rel = rel.clone();
        blocking(move || {
            let path = fs.resolve(&rel)?;
            // Refuse a directory now rather than stream nothing.
            fs.open(&rel)?;
            Ok(path)
        })
        .await?
    };
    let files = vec![file];
    let start = {
        let files = files.clone();
        tokio::task::spawn_blocking(move || read_logs(&files, origin, offset, 0))
            .await
            .map_err(|e| HttpError::internal(e.to_string()))?
            .map_err(|e| HttpError::internal(e.to_string()))?
            .1
    };
    let frame = move |data: Vec<u8>, offset: u64| super::logs::frame_json(&rel, &data, offset);
    let list = move || Some(files.clone());
    // Once every task of the allocation has finished nothing writes to its files: the stream
    // ends at the file's end, so a caller that reads the whole body (python-nomad) gets it.
    let client = st.client.clone();
    let more_may_come = move || {
        follow
            && client.as_ref().is_some_and(|c| {
                c.task_states(&alloc_id)
                    .is_some_and(|s| s.is_empty() || s.values().any(|t| t.state != "dead"))
            })
    };
    Ok(super::logs::follow_body(list, start, frame, more_may_come).into_response())
}
