//! Nomad Variables: `/v1/vars` and `/v1/var/:path`. A variable is a small map of secret or
//! configuration strings at a file-like path in a namespace; the servers keep its items
//! encrypted. Optional locks turn a variable into a lease (`?lock-acquire`, `-renew`,
//! `-release`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// The most bytes of keys and values one variable may hold, as in Nomad.
pub const MAX_ITEMS_BYTES: usize = 64 * 1024;
/// Lock TTLs and delays must lie in this range, as in Nomad.
pub const LOCK_MIN: Duration = Duration::from_secs(10);
pub const LOCK_MAX: Duration = Duration::from_secs(24 * 3600);
/// What `var lock` uses when no TTL or delay is given.
pub const LOCK_DEFAULT: Duration = Duration::from_secs(15);

/// A variable with its decrypted items, as `GET /v1/var/:path` answers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Variable {
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub create_index: u64,
    #[serde(default)]
    pub modify_index: u64,
    /// Unix nanoseconds.
    #[serde(default)]
    pub create_time: i64,
    #[serde(default)]
    pub modify_time: i64,
    #[serde(default)]
    pub items: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock: Option<VariableLock>,
}

/// A variable without its items, as `GET /v1/vars` lists them and a conflict shows them to a
/// token that may not read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VariableMetadata {
    pub namespace: String,
    pub path: String,
    pub create_index: u64,
    pub modify_index: u64,
    pub create_time: i64,
    pub modify_time: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock: Option<VariableLock>,
}

impl Variable {
    pub fn metadata(&self) -> VariableMetadata {
        VariableMetadata {
            namespace: self.namespace.clone(),
            path: self.path.clone(),
            create_index: self.create_index,
            modify_index: self.modify_index,
            create_time: self.create_time,
            modify_time: self.modify_time,
            lock: self.lock.clone(),
        }
    }

    /// Bytes of keys and values, the measure of [`MAX_ITEMS_BYTES`].
    pub fn items_size(&self) -> usize {
        self.items.iter().map(|(k, v)| k.len() + v.len()).sum()
    }
}

/// A lock held on a variable. `TTL` and `LockDelay` are Go durations ("15s").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariableLock {
    #[serde(rename = "ID", default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(rename = "TTL", default, skip_serializing_if = "String::is_empty")]
    pub ttl: String,
    #[serde(
        rename = "LockDelay",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub lock_delay: String,
}

impl VariableLock {
    /// The TTL and delay, each defaulting to 15 s and checked against Nomad's range.
    pub fn durations(&self) -> Result<(Duration, Duration), String> {
        let parse = |name: &str, s: &str| -> Result<Duration, String> {
            if s.is_empty() {
                return Ok(LOCK_DEFAULT);
            }
            let d = crate::duration::parse_duration(s)
                .map_err(|e| format!("invalid lock {name} {s:?}: {e}"))?;
            if d < LOCK_MIN || d > LOCK_MAX {
                return Err(format!(
                    "lock {name} {s:?} is out of range: use a value between 10s and 24h"
                ));
            }
            Ok(d)
        };
        Ok((
            parse("TTL", &self.ttl)?,
            parse("LockDelay", &self.lock_delay)?,
        ))
    }
}

/// Which lock operation a `PUT /v1/var/:path` asks for (`?lock-acquire` and so on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LockOperation {
    Acquire,
    Renew,
    Release,
}

impl LockOperation {
    /// The query parameter's name.
    pub fn as_param(self) -> &'static str {
        match self {
            LockOperation::Acquire => "lock-acquire",
            LockOperation::Renew => "lock-renew",
            LockOperation::Release => "lock-release",
        }
    }
}

/// Nomad's path rule: `^[a-zA-Z0-9-_~/]{1,128}$`, and under `nomad/` only `nomad/jobs` and
/// what lies below it (the rest of `nomad/` is reserved for Nomad itself).
pub fn validate_path(path: &str) -> Result<(), String> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '~' | '/');
    if path.is_empty() || path.len() > 128 || !path.chars().all(ok_char) {
        return Err(format!(
            "invalid variable path {path:?}: use 1 to 128 letters, digits, '-', '_', '~' or '/'"
        ));
    }
    let reserved = path == "nomad" || path.starts_with("nomad/");
    if reserved && path != "nomad/jobs" && !path.starts_with("nomad/jobs/") {
        return Err(format!(
            "invalid variable path {path:?}: \"nomad/\" is reserved, only \"nomad/jobs\" and paths below it may be written"
        ));
    }
    Ok(())
}

/// The checks every written variable passes: its path, and the size of its items.
pub fn validate_items(var: &Variable) -> Result<(), String> {
    let size = var.items_size();
    if size > MAX_ITEMS_BYTES {
        return Err(format!(
            "variable {:?} holds {size} bytes of items: the limit is {MAX_ITEMS_BYTES} (64 KiB)",
            var.path
        ));
    }
    if let Some(k) = var.items.keys().find(|k| k.is_empty()) {
        return Err(format!(
            "variable {:?} has an item with an empty key {k:?}",
            var.path
        ));
    }
    Ok(())
}

/// `var list -out=json` with paging wraps the list this way, as Nomad's CLI does.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PagedVariables {
    pub data: Vec<VariableMetadata>,
    pub query_meta: PageMeta,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PageMeta {
    pub last_index: u64,
    pub next_token: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_nomads_rule() {
        for ok in [
            "a",
            "project/web/db",
            "nomad/jobs",
            "nomad/jobs/web/task",
            "x-y_z~1",
        ] {
            assert!(validate_path(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a b",
            "a.b",
            "nomad/other",
            "nomad",
            "é",
            &"a".repeat(129),
        ] {
            assert!(validate_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lock_durations_default_and_range() {
        let l = VariableLock::default();
        assert_eq!(l.durations().unwrap(), (LOCK_DEFAULT, LOCK_DEFAULT));
        let l = VariableLock {
            ttl: "1s".into(),
            ..Default::default()
        };
        assert!(l.durations().unwrap_err().contains("between 10s and 24h"));
        let l = VariableLock {
            ttl: "30s".into(),
            lock_delay: "1m".into(),
            ..Default::default()
        };
        assert_eq!(
            l.durations().unwrap(),
            (Duration::from_secs(30), Duration::from_secs(60))
        );
    }

    #[test]
    fn items_are_limited_to_64_kib() {
        let mut v = Variable {
            path: "big".into(),
            ..Default::default()
        };
        v.items.insert("k".into(), "x".repeat(MAX_ITEMS_BYTES - 1));
        assert!(validate_items(&v).is_ok());
        v.items.insert("k2".into(), "y".into());
        assert!(validate_items(&v).unwrap_err().contains("64 KiB"));
    }

    #[test]
    fn lock_wire_shape() {
        let v = Variable {
            namespace: "default".into(),
            path: "p".into(),
            lock: Some(VariableLock {
                id: "abc".into(),
                ttl: "15s".into(),
                lock_delay: "15s".into(),
            }),
            ..Default::default()
        };
        let j = serde_json::to_value(&v).unwrap();
        assert_eq!(j["Lock"]["ID"], "abc");
        assert_eq!(j["Lock"]["TTL"], "15s");
        assert_eq!(j["Lock"]["LockDelay"], "15s");
        assert!(j["Items"].is_object());
    }
}
