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
    if let Some(extra) = top.keys().find(|k| wrapped && k.as_str() != "Job") {
        let (line, col) = locate_key(src, extra);
        return Err(JobspecError::new(
            file,
            line,
            col,
            format!("unknown field {extra:?} next to \"Job\""),
        ));
    }
    let (job_input, path) = if wrapped {
        (&top["Job"], "Job".to_string())
    } else {
        (&input, String::new())
    };
    // Explicit nulls (Nomad's `job run -output` writes one for every unset field) read as
    // unset; `find_unknown` below passes over them too.
    let job: Job = crate::nulls::decode(job_input.clone()).map_err(|e| {
        let at = if path.is_empty() {
            e.path.clone()
        } else {
            format!("{path}.{}", e.path)
        };
        let (line, col) = locate_path(src, &at);
        JobspecError::new(
            file,
            line,
            col,
            format!("invalid job JSON at {at}: {}", e.message),
        )
    })?;
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
    match find_key(src, key, 0) {
        Some(at) => {
            let p = LineIndex::new(src).pos(at);
            (p.line, p.col)
        }
        None => (0, 0),
    }
}

/// Line and column of a decode error's field (`Job.TaskGroups[1].Count`): each key of the path
/// is searched after the previous one, and an array position moves into that element, so the
/// error points into the right block rather than at the first key of that name in the file.
fn locate_path(src: &str, path: &str) -> (usize, usize) {
    let mut found = None;
    let mut from = 0;
    for seg in path.split('.').filter(|s| !s.is_empty() && *s != "?") {
        let mut parts = seg.split('[');
        let key = parts.next().unwrap_or_default();
        if !key.is_empty() {
            match find_key(src, key, from) {
                Some(at) => {
                    found = Some(at);
                    from = at + key.len() + 2;
                }
                None => break,
            }
        }
        for index in parts.filter_map(|p| p.trim_end_matches(']').parse::<usize>().ok()) {
            match nth_element(src, from, index) {
                Some(at) => from = at,
                None => break,
            }
        }
    }
    match found {
        Some(at) => {
            let p = LineIndex::new(src).pos(at);
            (p.line, p.col)
        }
        None => (0, 0),
    }
}

/// The byte offset of element `n` of the first array opening at or after `from`.
fn nth_element(src: &str, from: usize, n: usize) -> Option<usize> {
    let bytes = src.as_bytes();
    let mut i = from + src.get(from..)?.find('[')? + 1;
    for _ in 0..n {
        i = skip_value(bytes, i)?;
        // Past the separating comma.
        while *bytes.get(i)? != b',' {
            i += 1;
        }
        i += 1;
    }
    Some(i)
}

/// The offset just past the JSON value starting at or after `i` (whitespace skipped).
fn skip_value(bytes: &[u8], mut i: usize) -> Option<usize> {
    while bytes.get(i)?.is_ascii_whitespace() {
        i += 1;
    }
    let mut depth = 0usize;
    let mut in_string = false;
    while let Some(&b) = bytes.get(i) {
        i += 1;
        if in_string {
            match b {
                b'\\' => i += 1,
                b'"' => {
                    in_string = false;
                    if depth == 0 {
                        return Some(i);
                    }
                }
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => depth += 1,
            b']' | b'}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
            b',' if depth == 0 => return Some(i - 1),
            _ => {}
        }
    }
    Some(i)
}

/// Byte offset of the first `"key":` at or after `from`.
fn find_key(src: &str, key: &str, mut from: usize) -> Option<usize> {
    let quoted = serde_json::to_string(key).ok()?;
    while let Some(i) = src.get(from..)?.find(&quoted) {
        let at = from + i;
        let rest = src[at + quoted.len()..].trim_start();
        if rest.starts_with(':') {
            return Some(at);
        }
        from = at + quoted.len();
    }
    None
}
