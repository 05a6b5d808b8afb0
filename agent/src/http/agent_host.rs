//! `/v1/agent/host`: what an operator asks first when debugging an agent's host (Nomad's
//! `HostData`): kernel, interfaces, name resolution, environment and disk. Read on each call.

use super::{HttpError, HttpState};
use crate::client::stats;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// Environment variables whose values are not shown: their names say they hold secrets.
const SECRET_WORDS: [&str; 5] = ["TOKEN", "SECRET", "PASSWORD", "KEY", "CREDENTIAL"];

pub async fn host(
    State(st): State<HttpState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, HttpError> {
    for key in ["server_id", "node_id"] {
        if q.get(key).is_some_and(|v| !v.is_empty()) {
            return Err(HttpError::bad_request(format!(
                "?{key} is not supported: ask the agent itself at its own address"
            )));
        }
    }
    let agent_id = st
        .client
        .as_ref()
        .map(|c| c.node_id().to_string())
        .or_else(|| st.server.as_ref().map(|s| s.cfg.info.id.to_string()))
        .unwrap_or_default();
    let data_dir = st.agent.data_dir.clone();
    let host = tokio::task::spawn_blocking(move || host_data(&data_dir))
        .await
        .map_err(|e| HttpError::internal(format!("reading host data: {e}")))?;
    Ok(Json(json!({ "AgentID": agent_id, "HostData": host })).into_response())
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn host_data(data_dir: &str) -> Value {
    json!({
        "OS": read("/proc/version").trim(),
        "Uptime": stats::uptime_secs(),
        "Network": network(),
        "ResolvConf": read("/etc/resolv.conf"),
        "Hosts": read("/etc/hosts"),
        "Environment": environment(std::env::vars()),
        "Disk": disks(&["/", data_dir]),
    })
}

fn network() -> Vec<Value> {
    let mut names: Vec<String> = std::fs::read_dir("/sys/class/net")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let addr = crate::client::interface::ipv4_of(&name)
                .map(|a| a.to_string())
                .unwrap_or_default();
            let mac = read(&format!("/sys/class/net/{name}/address"));
            json!({ "Name": name, "Address": addr, "MAC": mac.trim() })
        })
        .collect()
}

fn environment(vars: impl Iterator<Item = (String, String)>) -> BTreeMap<String, String> {
    vars.map(|(k, v)| {
        let upper = k.to_ascii_uppercase();
        if SECRET_WORDS.iter().any(|w| upper.contains(w)) {
            (k, "<redacted>".to_string())
        } else {
            (k, v)
        }
    })
    .collect()
}

/// Each path's file system, by path.
fn disks(paths: &[&str]) -> Map<String, Value> {
    paths
        .iter()
        .filter(|p| !p.is_empty())
        .filter_map(|p| {
            let d = stats::disk(Path::new(p))?;
            Some((p.to_string(), serde_json::to_value(d).ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_looking_variables_are_redacted() {
        let env = environment(
            [
                ("NOMAD_TOKEN", "s3cret"),
                ("AWS_SECRET_ACCESS_KEY", "x"),
                ("PATH", "/bin"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        assert_eq!(env["NOMAD_TOKEN"], "<redacted>");
        assert_eq!(env["AWS_SECRET_ACCESS_KEY"], "<redacted>");
        assert_eq!(env["PATH"], "/bin");
    }
}
