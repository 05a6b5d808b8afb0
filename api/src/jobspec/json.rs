//! JSON front-end: Nomad's API shape (`{"Job": {...}}`, or a bare job object) through serde.
//!
//! serde reports type errors with line and column. Unknown fields are found by comparing the
//! input with the decoded job serialized back: serialization writes every field, so an input key
//! with no counterpart is one serde ignored.

use super::error::JobspecError;
use super::suggest::did_you_mean;
use super::tree::LineIndex;
use crate::job::Job;
use serde_json::Value;

pub fn parse(src: &str, file: &str) -> Result<Job, JobspecError> {
    let syntax = |e: serde_json::Error| {
        // serde's message ends with " at line L column C", which the prefix already says.
        let msg = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let msg = msg.strip_suffix(&suffix).unwrap_or(&msg).to_string();
        JobspecError::new(
            file,
            e.line(),
            e.column(),
            format!("invalid job JSON: {msg}"),
        )
    };
    let input: Value = serde_json::from_str(src).map_err(syntax)?;
    let Value::Object(top) = &input else {
        return Err(JobspecError::new(
            file,
            1,
            1,
            "expected a JSON object like {\"Job\": {...}}",
        ));
    };
    let wrapped = top.contains_key("Job");
    let (job, job_input, path) = if wrapped {
        if let Some(extra) = top.keys().find(|k| k.as_str() != "Job") {
            let (line, col) = locate_key(src, extra);
            return Err(JobspecError::new(
                file,
                line,
                col,
                format!("unknown field {extra:?} next to \"Job\""),
            ));
        }
        #[derive(serde::Deserialize)]
        struct Wrapper {
            #[serde(rename = "Job")]
            job: Job,
        }
        let w: Wrapper = serde_json::from_str(src).map_err(syntax)?;
        (w.job, &top["Job"], "Job".to_string())
    } else {
        let job: Job = serde_json::from_str(src).map_err(syntax)?;
        (job, &input, String::new())
    };
    let decoded = serde_json::to_value(&job)
        .map_err(|e| JobspecError::whole_file(file, format!("cannot re-encode the job: {e}")))?;
    if let Some((path, key, hint)) = find_unknown(job_input, &decoded, &path) {
        let (line, col) = locate_key(src, &key);
        return Err(JobspecError::new(
            file,
            line,
            col,
            format!("unknown field {key:?} at {path}{hint}"),
        ));
    }
    Ok(job)
}

/// The first input key (depth first) that the decoded value lacks: (path, key, hint).
fn find_unknown(input: &Value, decoded: &Value, path: &str) -> Option<(String, String, String)> {
    match (input, decoded) {
        (Value::Object(i), Value::Object(d)) => {
            for (k, v) in i {
                let sub = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match d.get(k) {
                    Some(dv) => {
                        if let Some(found) = find_unknown(v, dv, &sub) {
                            return Some(found);
                        }
                    }
                    // A null carries nothing; Nomad's own output has many fields we do not model.
                    None if v.is_null() => {}
                    None => {
                        let hint = did_you_mean(k, d.keys().map(String::as_str));
                        let where_ = if path.is_empty() {
                            "the top".to_string()
                        } else {
                            path.to_string()
                        };
                        return Some((where_, k.clone(), hint));
                    }
                }
            }
            None
        }
        (Value::Array(i), Value::Array(d)) => i
            .iter()
            .zip(d)
            .enumerate()
            .find_map(|(n, (iv, dv))| find_unknown(iv, dv, &format!("{path}[{n}]"))),
        _ => None,
    }
}

/// Line and column of the first `"key":` in the source, or 0:0 if it cannot be found.
fn locate_key(src: &str, key: &str) -> (usize, usize) {
    let quoted = match serde_json::to_string(key) {
        Ok(q) => q,
        Err(_) => return (0, 0),
    };
    let mut from = 0;
    while let Some(i) = src[from..].find(&quoted) {
        let at = from + i;
        let rest = src[at + quoted.len()..].trim_start();
        if rest.starts_with(':') {
            let p = LineIndex::new(src).pos(at);
            return (p.line, p.col);
        }
        from = at + quoted.len();
    }
    (0, 0)
}
