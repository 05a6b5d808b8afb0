//! Parameterized jobs: a job registered with a `parameterized` block is a template that never
//! runs itself; each `job dispatch` registers a child job (`<parent>/dispatch-<time>-<id>`)
//! with the dispatch's meta and payload, and the payload lands in a task's `dispatch_payload`
//! file.

use super::Meta;
use serde::{Deserialize, Serialize};

/// The `parameterized` block.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ParameterizedJobConfig {
    /// optional (the default), required or forbidden.
    #[serde(default)]
    pub payload: String,
    #[serde(default)]
    pub meta_required: Vec<String>,
    #[serde(default)]
    pub meta_optional: Vec<String>,
}

/// A task's `dispatch_payload { file }`: where, under `local/`, the payload is written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DispatchPayloadConfig {
    pub file: String,
}

/// `POST /v1/job/:id/dispatch`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JobDispatchRequest {
    #[serde(rename = "JobID", default)]
    pub job_id: String,
    /// Base64.
    #[serde(default)]
    pub payload: String,
    #[serde(default)]
    pub meta: Meta,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JobDispatchResponse {
    #[serde(rename = "DispatchedJobID")]
    pub dispatched_job_id: String,
    #[serde(rename = "EvalID")]
    pub eval_id: String,
    pub eval_create_index: u64,
    pub job_create_index: u64,
    pub index: u64,
}

/// Nomad's limit on a dispatch payload.
pub const MAX_PAYLOAD_BYTES: usize = 16 * 1024;

impl ParameterizedJobConfig {
    pub fn payload_mode(&self) -> &str {
        if self.payload.is_empty() {
            "optional"
        } else {
            &self.payload
        }
    }

    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !["optional", "required", "forbidden"].contains(&self.payload_mode()) {
            out.push(format!(
                "parameterized payload {:?} must be optional, required or forbidden",
                self.payload
            ));
        }
        if let Some(k) = self
            .meta_required
            .iter()
            .find(|k| self.meta_optional.contains(k))
        {
            out.push(format!("meta key {k:?} is both required and optional"));
        }
        out
    }

    /// Whether a dispatch with `meta` and a payload of `payload_len` bytes fits the block.
    pub fn check_dispatch(&self, meta: &Meta, payload_len: usize) -> Result<(), String> {
        match self.payload_mode() {
            "required" if payload_len == 0 => {
                return Err("the job requires a payload: give one (a file, or - for stdin)".into())
            }
            "forbidden" if payload_len > 0 => {
                return Err("the job forbids a payload".into());
            }
            _ => {}
        }
        if payload_len > MAX_PAYLOAD_BYTES {
            return Err(format!(
                "the payload is {payload_len} bytes: the limit is {MAX_PAYLOAD_BYTES} (16 KiB)"
            ));
        }
        let missing: Vec<&String> = self
            .meta_required
            .iter()
            .filter(|k| !meta.contains_key(*k))
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "missing required meta: {missing:?} (give -meta key=value)"
            ));
        }
        let unknown: Vec<&String> = meta
            .keys()
            .filter(|k| !self.meta_required.contains(k) && !self.meta_optional.contains(k))
            .collect();
        if !unknown.is_empty() {
            return Err(format!(
                "meta keys {unknown:?} are neither required nor optional for this job"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispatches_are_checked_against_the_block() {
        let p = ParameterizedJobConfig {
            payload: "required".into(),
            meta_required: vec!["user".into()],
            meta_optional: vec!["note".into()],
        };
        let meta = |pairs: &[(&str, &str)]| -> Meta {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(p.check_dispatch(&meta(&[("user", "a")]), 3).is_ok());
        assert!(p
            .check_dispatch(&meta(&[("user", "a")]), 0)
            .unwrap_err()
            .contains("requires a payload"));
        assert!(p
            .check_dispatch(&meta(&[]), 3)
            .unwrap_err()
            .contains("missing required meta"));
        assert!(p
            .check_dispatch(&meta(&[("user", "a"), ("x", "1")]), 3)
            .unwrap_err()
            .contains("neither required nor optional"));
        assert!(p
            .check_dispatch(&meta(&[("user", "a")]), MAX_PAYLOAD_BYTES + 1)
            .is_err());
        let f = ParameterizedJobConfig {
            payload: "forbidden".into(),
            ..Default::default()
        };
        assert!(f.check_dispatch(&Meta::new(), 1).is_err());
        assert!(ParameterizedJobConfig {
            payload: "maybe".into(),
            ..Default::default()
        }
        .problems()[0]
            .contains("optional, required or forbidden"));
    }
}
