//! Hashes and UUIDs. Hashes are of the string's UTF-8 bytes.

use super::args::{arity, err, exact, string, R};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::Value;
use sha2::Digest as _;
use std::fmt::Write as _;

fn hex(bytes: &[u8]) -> Value {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    Value::String(out)
}

pub(super) fn md5(a: &[Value]) -> R {
    exact(a, 1)?;
    Ok(hex(&md5::Md5::digest(string(a, 0)?)))
}

pub(super) fn sha1(a: &[Value]) -> R {
    exact(a, 1)?;
    Ok(hex(&sha1::Sha1::digest(string(a, 0)?)))
}

pub(super) fn sha256(a: &[Value]) -> R {
    exact(a, 1)?;
    Ok(hex(&sha2::Sha256::digest(string(a, 0)?)))
}

pub(super) fn sha512(a: &[Value]) -> R {
    exact(a, 1)?;
    Ok(hex(&sha2::Sha512::digest(string(a, 0)?)))
}

pub(super) fn base64sha256(a: &[Value]) -> R {
    exact(a, 1)?;
    Ok(Value::String(
        STANDARD.encode(sha2::Sha256::digest(string(a, 0)?)),
    ))
}

pub(super) fn base64sha512(a: &[Value]) -> R {
    exact(a, 1)?;
    Ok(Value::String(
        STANDARD.encode(sha2::Sha512::digest(string(a, 0)?)),
    ))
}

/// Refused rather than approximated: a bcrypt hash needs a bcrypt implementation, and a
/// look-alike string would silently break logins.
pub(super) fn bcrypt(a: &[Value]) -> R {
    arity(a, 1, Some(2))?;
    Err(err("bcrypt is not supported"))
}

pub(super) fn uuidv4(a: &[Value]) -> R {
    exact(a, 0)?;
    Ok(Value::String(uuid::Uuid::new_v4().to_string()))
}

/// A name-based UUID (SHA-1) in one of the RFC 4122 namespaces or a namespace given as a UUID.
pub(super) fn uuidv5(a: &[Value]) -> R {
    exact(a, 2)?;
    let (space, name) = (string(a, 0)?, string(a, 1)?);
    let namespace = match space.as_str() {
        "dns" => uuid::Uuid::NAMESPACE_DNS,
        "url" => uuid::Uuid::NAMESPACE_URL,
        "oid" => uuid::Uuid::NAMESPACE_OID,
        "x500" => uuid::Uuid::NAMESPACE_X500,
        other => uuid::Uuid::parse_str(other).map_err(|e| {
            err(format!(
                "namespace {other:?} is neither \"dns\", \"url\", \"oid\", \"x500\" nor a UUID: {e}"
            ))
        })?,
    };
    let mut hasher = sha1::Sha1::new();
    hasher.update(namespace.as_bytes());
    hasher.update(name.as_bytes());
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Ok(Value::String(
        uuid::Builder::from_sha1_bytes(bytes)
            .into_uuid()
            .to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use crate::jobspec::hcl2::funcs::args::test_call as call;

    #[test]
    fn hashes() {
        assert_eq!(
            call(md5, json!(["hello world"])),
            Ok(json!("5eb63bbbe01eeed093cb22bb8f5acdc3"))
        );
        assert_eq!(
            call(sha1, json!(["hello world"])),
            Ok(json!("2aae6c35c94fcfb415dbe95f408b9ce91ee846ed"))
        );
        assert_eq!(
            call(sha256, json!(["hello world"])),
            Ok(json!(
                "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
            ))
        );
        assert_eq!(
            call(sha512, json!(["hello world"])),
            Ok(json!("309ecc489c12d6eb4cc40f50c902f2b4d0ed77ee511a7c7a9bcd3ca86d4cd86f989dd35bc5ff499670da34255b45b0cfd830e81f605dcf7dc5542e93ae9cd76f"))
        );
        assert_eq!(
            call(base64sha256, json!(["hello world"])),
            Ok(json!("uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek="))
        );
        assert_eq!(
            call(base64sha512, json!(["hello world"])),
            Ok(json!("MJ7MSJwS1utMxA9QyQLytNDtd+5RGnx6m808qG1M2G+YndNbxf9JlnDaNCVbRbDP2DDoH2Bdz33FVC6TrpzXbw=="))
        );
        assert_eq!(call(md5, json!([5])), call(md5, json!(["5"])));
    }

    #[test]
    fn uuids() {
        let Ok(Value::String(v4)) = call(uuidv4, json!([])) else {
            panic!("uuidv4 failed")
        };
        assert_eq!((v4.len(), &v4[14..15]), (36, "4"));
        assert_eq!(
            call(uuidv5, json!(["dns", "www.terraform.io"])),
            Ok(json!("a5008fae-b28c-5ba5-96cd-82b4c53552d6"))
        );
        assert_eq!(
            call(uuidv5, json!(["url", "https://www.terraform.io/"])),
            Ok(json!("9db6f67c-dd95-5ea0-aa5b-e70e5c5f7cf5"))
        );
        assert_eq!(
            call(uuidv5, json!(["oid", "1.3.6.1.4"])),
            Ok(json!("af9d40a5-7a36-5c07-b23a-851cd99fbfa5"))
        );
        assert_eq!(
            call(uuidv5, json!(["x500", "CN=Example,C=GB"])),
            Ok(json!("84e09961-4aa4-57f8-95b7-03edb1073253"))
        );
        assert_eq!(
            call(
                uuidv5,
                json!(["6ba7b810-9dad-11d1-80b4-00c04fd430c8", "www.terraform.io"])
            ),
            Ok(json!("a5008fae-b28c-5ba5-96cd-82b4c53552d6"))
        );
        assert!(call(uuidv5, json!(["nope", "x"])).is_err());
        assert_eq!(
            call(bcrypt, json!(["x"])),
            Err(err("bcrypt is not supported"))
        );
    }
}
