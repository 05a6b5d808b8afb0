//! Explicit `null`s in request bodies, read as "not set".
//!
//! Nomad's own tooling writes every optional field of a job, with `null` for the unset ones
//! (`nomad job run -output` prints `"Region": null`, `"Constraints": null`, ...). Our types give
//! those fields defaults rather than `Option`s, and serde refuses a `null` for a default. Dropping
//! the `null`-valued keys before decoding makes every optional field, at every depth, accept
//! `null`; a required field sent as `null` is then reported as missing, which is what it is.

use serde::de::DeserializeOwned;
use serde_json::Value;

/// Removes every object key whose value is `null`, at every depth. `null`s inside arrays stay:
/// an array element is a value, not an unset field.
pub fn strip_nulls(v: &mut Value) {
    match v {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// Why a JSON value did not decode: the path of the offending field (`Job.TaskGroups[0].Count`)
/// and serde's message.
#[derive(Debug, thiserror::Error)]
#[error("{}{message}", if path.is_empty() || path == "." { String::new() } else { format!("{path}: ") })]
pub struct DecodeError {
    pub path: String,
    pub message: String,
}

/// Decodes `v` after dropping its `null` keys, naming the field path on failure.
pub fn decode<T: DeserializeOwned>(mut v: Value) -> Result<T, DecodeError> {
    strip_nulls(&mut v);
    serde_path_to_error::deserialize(v).map_err(|e| DecodeError {
        path: e.path().to_string(),
        message: e.into_inner().to_string(),
    })
}

/// Parses JSON text and decodes it as `decode` does. Syntax errors keep serde's line and column.
pub fn from_slice<T: DeserializeOwned>(body: &[u8]) -> Result<T, DecodeError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| DecodeError {
        path: String::new(),
        message: e.to_string(),
    })?;
    decode(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug, PartialEq, Default)]
    #[serde(rename_all = "PascalCase", default)]
    struct Inner {
        count: u32,
        tags: Vec<String>,
    }

    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(rename_all = "PascalCase")]
    struct Outer {
        #[serde(rename = "ID")]
        id: String,
        #[serde(default)]
        region: String,
        #[serde(default)]
        groups: Vec<Inner>,
        #[serde(default)]
        note: Option<String>,
    }

    #[test]
    fn nulls_at_every_depth_read_as_unset() {
        let body = br#"{"ID": "web", "Region": null, "Note": null,
                         "Groups": [{"Count": null, "Tags": null}, {"Count": 2, "Tags": ["a"]}]}"#;
        let got: Outer = from_slice(body).expect("nulls are accepted");
        assert_eq!(got.id, "web");
        assert_eq!(got.region, "");
        assert_eq!(got.note, None);
        assert_eq!(got.groups[0], Inner::default());
        assert_eq!(got.groups[1].count, 2);
        // serde alone refuses the same body: the reason for this module.
        assert!(serde_json::from_slice::<Outer>(body).is_err());
    }

    #[test]
    fn a_required_null_is_missing_and_bad_types_name_their_path() {
        let e = from_slice::<Outer>(br#"{"ID": null}"#).unwrap_err();
        assert!(e.to_string().contains("missing field `ID`"), "{e}");
        let e =
            from_slice::<Outer>(br#"{"ID": "x", "Groups": [{}, {"Count": "two"}]}"#).unwrap_err();
        assert_eq!(e.path, "Groups[1].Count");
        assert!(
            e.to_string().starts_with("Groups[1].Count: invalid type"),
            "{e}"
        );
        let e = from_slice::<Outer>(b"{\"ID\": ").unwrap_err();
        assert!(e.to_string().contains("line 1"), "{e}");
    }

    #[test]
    fn nulls_inside_arrays_are_kept() {
        let mut v: Value = serde_json::from_str(r#"{"A": [null, {"B": null}]}"#).unwrap();
        strip_nulls(&mut v);
        assert_eq!(v, serde_json::json!({"A": [null, {}]}));
    }
}
