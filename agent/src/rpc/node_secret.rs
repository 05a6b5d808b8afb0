//! What a node's secret proves beyond its own calls: the servers keep only the secret's SHA-256,
//! and from it they make a migrate token for one allocation on that node. The node checks such
//! a token with the hash of its own secret before it hands an allocation's data to another
//! node (`ephemeral_disk { migrate = true }`), so no other node, and no API token, can read
//! that data, and a token opens only the allocation it was made for.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// The SHA-256 of a node secret, hex: what the servers store.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn mac(secret_hash: &str, alloc_id: &str) -> HmacSha256 {
    #[allow(clippy::expect_used)]
    let mut mac =
        HmacSha256::new_from_slice(secret_hash.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(alloc_id.as_bytes());
    mac
}

/// The token that opens `alloc_id`'s data on the node whose secret hashes to `secret_hash`.
pub fn migrate_token(secret_hash: &str, alloc_id: &str) -> String {
    hex::encode(mac(secret_hash, alloc_id).finalize().into_bytes())
}

/// Whether `token` was made for `alloc_id` from this node's `secret`. Compared in constant
/// time.
pub fn verify_migrate_token(secret: &str, alloc_id: &str, token: &str) -> bool {
    let Ok(given) = hex::decode(token.trim()) else {
        return false;
    };
    mac(&secret_hash(secret), alloc_id)
        .verify_slice(&given)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_opens_only_its_allocation_on_its_node() {
        let secret = "node-one-secret-node-one";
        let token = migrate_token(&secret_hash(secret), "alloc-a");
        assert!(verify_migrate_token(secret, "alloc-a", &token));
        assert!(!verify_migrate_token(secret, "alloc-b", &token));
        assert!(!verify_migrate_token(
            "another-node-secret-xx",
            "alloc-a",
            &token
        ));
        assert!(!verify_migrate_token(secret, "alloc-a", ""));
        assert!(!verify_migrate_token(secret, "alloc-a", "not hex"));
    }
}
