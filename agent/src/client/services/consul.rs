//! The optional second home of `provider = "consul"` services: the local Consul agent's HTTP API,
//! as Nomad uses it. A service is registered with one TTL check per check, and the client pushes
//! each check's status to its TTL (on every change, and as a heartbeat well within the TTL). The
//! native catalog and the renderer never depend on this.
//!
//! Tested against a recording stand-in of Consul's agent API only: no Consul binary can be
//! installed where this was built.

use super::http;
use api::ServiceRegistration;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(5);

/// How to reach the Consul agent (`consul { address token }` in the client's config).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsulAgent {
    /// "http://127.0.0.1:8500"
    base: String,
    token: Option<String>,
}

/// A check as Consul sees it: a TTL we keep alive.
pub struct TtlCheck<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub ttl: Duration,
    pub status: &'a str,
    pub output: &'a str,
}

/// The TTL given to Consul for a check probed every `interval`: room for two missed heartbeats.
pub fn ttl_for(interval: Duration, timeout: Duration) -> Duration {
    interval * 3 + timeout + Duration::from_secs(5)
}

/// A Consul agent API call that failed; the message names the agent and the call.
#[derive(Debug, thiserror::Error)]
pub enum ConsulError {
    #[error("consul at {base}: PUT {path}: {source}")]
    Unreachable {
        base: String,
        path: String,
        #[source]
        source: http::HttpCheckError,
    },
    #[error("consul at {base}: PUT {path}: {status_line}: {body}")]
    Refused {
        base: String,
        path: String,
        status_line: String,
        body: String,
    },
}

impl ConsulAgent {
    /// `address` is "host:port" or a URL.
    pub fn new(address: &str, token: Option<String>) -> ConsulAgent {
        let base = if address.starts_with("http://") || address.starts_with("https://") {
            address.trim_end_matches('/').to_string()
        } else {
            format!("http://{address}")
        };
        ConsulAgent {
            base,
            token: token.filter(|t| !t.is_empty()),
        }
    }

    async fn put(&self, path: &str, body: &serde_json::Value) -> Result<(), ConsulError> {
        let url = format!("{}{path}", self.base);
        let mut headers = BTreeMap::new();
        headers.insert(
            "Content-Type".to_string(),
            vec!["application/json".to_string()],
        );
        if let Some(t) = &self.token {
            headers.insert("X-Consul-Token".to_string(), vec![t.clone()]);
        }
        let body = body.to_string();
        let reply = http::send(http::Request1 {
            method: "PUT",
            url: &url,
            headers: &headers,
            body: body.as_bytes(),
            tls_skip_verify: false,
            timeout: TIMEOUT,
        })
        .await
        .map_err(|source| ConsulError::Unreachable {
            base: self.base.clone(),
            path: path.to_string(),
            source,
        })?;
        if (200..300).contains(&reply.status) {
            Ok(())
        } else {
            Err(ConsulError::Refused {
                base: self.base.clone(),
                path: path.to_string(),
                status_line: reply.status_line,
                body: reply.body,
            })
        }
    }

    /// Registers (or re-registers: Consul replaces) a service with its TTL checks.
    pub async fn register(
        &self,
        r: &ServiceRegistration,
        checks: &[TtlCheck<'_>],
    ) -> Result<(), ConsulError> {
        let checks: Vec<serde_json::Value> = checks
            .iter()
            .map(|c| {
                json!({
                    "CheckID": c.id,
                    "Name": c.name,
                    "TTL": api::duration::format_duration(c.ttl),
                    "Status": c.status,
                    "Notes": "reported by nomad-agent",
                })
            })
            .collect();
        let body = json!({
            "ID": r.id,
            "Name": r.service_name,
            "Tags": r.tags,
            "Address": r.address,
            "Port": r.port,
            "Meta": r.meta,
            "Checks": checks,
        });
        self.put("/v1/agent/service/register", &body).await
    }

    pub async fn update_check(
        &self,
        check_id: &str,
        status: &str,
        output: &str,
    ) -> Result<(), ConsulError> {
        let body = json!({ "Status": status, "Output": output });
        self.put(&format!("/v1/agent/check/update/{check_id}"), &body)
            .await
    }

    pub async fn deregister(&self, service_id: &str) -> Result<(), ConsulError> {
        self.put(
            &format!("/v1/agent/service/deregister/{service_id}"),
            &json!({}),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_become_urls() {
        assert_eq!(
            ConsulAgent::new("127.0.0.1:8500", None).base,
            "http://127.0.0.1:8500"
        );
        assert_eq!(
            ConsulAgent::new("https://consul.local/", Some(String::new())),
            ConsulAgent {
                base: "https://consul.local".into(),
                token: None
            }
        );
        assert_eq!(
            ttl_for(Duration::from_secs(10), Duration::from_secs(2)),
            Duration::from_secs(37)
        );
    }
}
