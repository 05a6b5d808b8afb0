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
    /// Paging, as Nomad's list endpoints do it: at most `per_page` items (None: all), starting
    /// at the item whose key is `next_token` (empty: the first).
    pub per_page: Option<usize>,
    pub next_token: String,
    /// `?filter=`: Nomad's filter expression, applied to each item of a listing as the API
    /// would answer it.
    pub filter: Option<api::filter::Filter>,
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
                    api::duration::parse_duration(v).map_err(|e| e.to_string())
                };
                d.map_err(|e| HttpError::bad_request(format!("invalid wait: {e}")))?
                    .min(MAX_WAIT)
            }
            _ => DEFAULT_WAIT,
        };
        let per_page = match raw.get("per_page").map(String::as_str) {
            None | Some("") | Some("0") => None,
            Some(v) => Some(v.parse::<usize>().map_err(|_| {
                HttpError::bad_request(format!(
                    "invalid per_page {v:?}: must be a whole number of items"
                ))
            })?),
        };
        let filter = match raw.get("filter").map(|f| f.trim()) {
            None | Some("") => None,
            Some(f) => Some(
                api::filter::Filter::parse(f)
                    .map_err(|e| HttpError::bad_request(format!("invalid ?filter: {e}")))?,
            ),
        };
        Ok(QueryOpts {
            index,
            wait,
            per_page,
            filter,
            next_token: raw.get("next_token").cloned().unwrap_or_default(),
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

impl QueryOpts {
    /// Whether `item` passes `?filter=` (always, without one). The filter sees the item's JSON,
    /// so it selects on what the API answers, field names and all.
    pub fn keep<T: serde::Serialize>(&self, item: &T) -> bool {
        match &self.filter {
            None => true,
            Some(f) => serde_json::to_value(item).is_ok_and(|v| f.matches(&v)),
        }
    }
}

/// One page of a listing in key order that starts at the query's `next_token`: the items that
/// pass `?filter=`, at most `per_page` of them, and the key of the first matching item left
/// out (Nomad's `X-Nomad-NextToken`). As in Nomad, the filter applies before the page is cut.
pub fn page<T: serde::Serialize>(
    items: impl Iterator<Item = (String, T)>,
    q: &QueryOpts,
) -> (Vec<T>, Option<String>) {
    let mut items = items.filter(|(_, t)| q.keep(t));
    let Some(limit) = q.per_page else {
        return (items.map(|(_, t)| t).collect(), None);
    };
    let mut out = Vec::with_capacity(limit.min(1024));
    for (key, item) in items.by_ref() {
        if out.len() == limit {
            return (out, Some(key));
        }
        out.push(item);
    }
    (out, None)
}

/// `page` over a listing built whole: sorts it by key (keys are built to sort in the order the
/// endpoint lists, e.g. newest first) and starts at `next_token`.
pub fn page_keyed<T: serde::Serialize>(
    mut items: Vec<(String, T)>,
    q: &QueryOpts,
) -> (Vec<T>, Option<String>) {
    items.sort_by(|a, b| a.0.cmp(&b.0));
    let start = items.partition_point(|(k, _)| k.as_str() < q.next_token.as_str());
    page(items.into_iter().skip(start), q)
}

/// A key that sorts newest first: the create index counted down, then the id to break ties.
pub fn newest_first_key(create_index: u64, id: &str) -> String {
    format!("{:020}.{id}", u64::MAX - create_index)
}

/// `?origin=start|end` of the log and file streams.
pub fn origin(q: &QueryOpts) -> Result<crate::client::LogOrigin, HttpError> {
    match q.get("origin").unwrap_or("start") {
        "start" => Ok(crate::client::LogOrigin::Start),
        "end" => Ok(crate::client::LogOrigin::End),
        other => Err(HttpError::bad_request(format!(
            "invalid origin {other:?}: use start or end"
        ))),
    }
}

/// A JSON body that may be left out: an empty one means the defaults (python-nomad and older
/// tools send none).
pub fn body_or_default<T: Default + serde::de::DeserializeOwned>(
    body: &[u8],
) -> Result<T, HttpError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        Ok(T::default())
    } else {
        super::error::parse_body(body)
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
    fn pages_follow_the_next_token() {
        let items = |from: &str| {
            (0..5)
                .map(|i| format!("k{i}"))
                .filter(|k| k.as_str() >= from)
                .map(|k| (k.clone(), k))
                .collect::<Vec<_>>()
        };
        let o = q(&[("per_page", "2")]).unwrap();
        let (first, next) = page(items("").into_iter(), &o);
        assert_eq!(
            (first, next.as_deref()),
            (vec!["k0".into(), "k1".into()], Some("k2"))
        );
        let o = q(&[("per_page", "2"), ("next_token", "k4")]).unwrap();
        let (last, next) = page(items(&o.next_token).into_iter(), &o);
        assert_eq!((last, next), (vec!["k4".to_string()], None));
        assert!(q(&[("per_page", "-1")]).is_err());
        assert_eq!(q(&[("per_page", "0")]).unwrap().per_page, None);
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
