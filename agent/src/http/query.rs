//! Query parameters shared by every endpoint: blocking queries (`index`, `wait`), `prefix`,
//! `namespace`, `stale`, and booleans written in any case (`True`, `true`, `1`, or bare `?purge`).

use super::error::HttpError;
use crate::state::{StateStore, Table, Tables};
use std::collections::HashMap;
use std::time::Duration;

/// Nomad caps a blocking query's wait at 10 minutes; 5 minutes when unspecified.
const MAX_WAIT: Duration = Duration::from_secs(600);
const DEFAULT_WAIT: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Default)]
pub struct QueryOpts {
    pub index: u64,
    pub wait: Duration,
    pub prefix: String,
    pub namespace: String,
    raw: HashMap<String, String>,
}

impl QueryOpts {
    pub fn parse(raw: HashMap<String, String>) -> Result<QueryOpts, HttpError> {
        let index = match raw.get("index") {
            Some(v) if !v.is_empty() => v.parse().map_err(|_| {
                HttpError::bad_request(format!("invalid index {v:?}: must be a whole number"))
            })?,
            _ => 0,
        };
        let wait = match raw.get("wait") {
            Some(v) if !v.is_empty() => {
                let d = if v.bytes().all(|b| b.is_ascii_digit()) {
                    // Go durations need a unit; a bare number is taken as seconds.
                    v.parse::<u64>()
                        .map(Duration::from_secs)
                        .map_err(|e| e.to_string())
                } else {
                    api::duration::parse_duration(v)
                };
                d.map_err(|e| HttpError::bad_request(format!("invalid wait: {e}")))?
                    .min(MAX_WAIT)
            }
            _ => DEFAULT_WAIT,
        };
        Ok(QueryOpts {
            index,
            wait,
            prefix: raw.get("prefix").cloned().unwrap_or_default(),
            namespace: raw
                .get("namespace")
                .filter(|n| !n.is_empty())
                .cloned()
                .unwrap_or_else(|| "default".into()),
            raw,
        })
    }

    /// A boolean parameter: absent -> `default`; present without value -> true.
    pub fn bool(&self, key: &str, default: bool) -> Result<bool, HttpError> {
        match self.raw.get(key) {
            None => Ok(default),
            Some(v) => parse_bool(v).ok_or_else(|| {
                HttpError::bad_request(format!(
                    "invalid value for {key}: {v:?} (use true or false)"
                ))
            }),
        }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.raw.get(key).map(String::as_str)
    }

    /// Runs the blocking part of a query: waits until `table` passes `index`, then returns the
    /// snapshot to answer from.
    pub async fn block_on(&self, state: &StateStore, table: Table) -> Tables {
        state.wait_for(table, self.index, self.wait).await
    }
}

pub fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "" | "true" | "1" | "t" | "yes" => Some(true),
        "false" | "0" | "f" | "no" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Result<QueryOpts, HttpError> {
        QueryOpts::parse(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn booleans_in_any_case() {
        let o = q(&[("purge", "True"), ("all", ""), ("stale", "FALSE")]).unwrap();
        assert!(o.bool("purge", false).unwrap());
        assert!(o.bool("all", false).unwrap());
        assert!(!o.bool("stale", true).unwrap());
        assert!(!o.bool("missing", false).unwrap());
        assert!(q(&[("purge", "maybe")])
            .unwrap()
            .bool("purge", false)
            .is_err());
    }

    #[test]
    fn blocking_parameters() {
        let o = q(&[("index", "42"), ("wait", "5s")]).unwrap();
        assert_eq!((o.index, o.wait), (42, Duration::from_secs(5)));
        assert_eq!(q(&[("wait", "1h")]).unwrap().wait, MAX_WAIT);
        assert!(q(&[("index", "x")]).is_err());
        assert!(q(&[("wait", "5x")]).is_err());
    }
}
