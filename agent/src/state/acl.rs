//! ACL policies and tokens in the replicated state. Token secrets are never stored: only their
//! SHA-256, which is what a request's `X-Nomad-Token` is looked up by.

use super::command::ApplyResult;
use super::tables::Tables;
use api::acl::{AclPolicy, AclToken, Policy};
use imbl::OrdMap;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A policy as written, with its rules already parsed (by the leader, before the command).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AclPolicyEntry {
    pub policy: AclPolicy,
    pub parsed: Policy,
}

/// A token without its secret, and the secret's hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AclTokenEntry {
    /// `secret_id` is always empty here.
    pub token: AclToken,
    pub secret_hash: String,
}

#[derive(Clone, Default)]
pub struct AclTables {
    pub(crate) policies: OrdMap<String, Arc<AclPolicyEntry>>,
    /// Accessor id -> token.
    pub(crate) tokens: OrdMap<String, Arc<AclTokenEntry>>,
    /// Secret hash -> accessor id.
    pub(crate) by_secret: OrdMap<String, String>,
    /// The index at which the one bootstrap happened; 0 while it has not.
    pub(crate) bootstrap_index: u64,
    pub(crate) index: u64,
}

/// The ACL tables in a snapshot image.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AclImage {
    pub policies: Vec<Arc<AclPolicyEntry>>,
    pub tokens: Vec<Arc<AclTokenEntry>>,
    pub bootstrap_index: u64,
    pub index: u64,
}

impl AclTables {
    pub(crate) fn to_image(&self) -> AclImage {
        AclImage {
            policies: self.policies.values().cloned().collect(),
            tokens: self.tokens.values().cloned().collect(),
            bootstrap_index: self.bootstrap_index,
            index: self.index,
        }
    }

    pub(crate) fn from_image(img: AclImage) -> AclTables {
        let mut t = AclTables {
            bootstrap_index: img.bootstrap_index,
            index: img.index,
            ..AclTables::default()
        };
        for p in img.policies {
            t.policies.insert(p.policy.name.clone(), p);
        }
        for tok in img.tokens {
            t.put_token(tok);
        }
        t
    }

    fn put_token(&mut self, entry: Arc<AclTokenEntry>) {
        self.by_secret
            .insert(entry.secret_hash.clone(), entry.token.accessor_id.clone());
        self.tokens.insert(entry.token.accessor_id.clone(), entry);
    }
}

impl Tables {
    pub fn acl_policy(&self, name: &str) -> Option<Arc<AclPolicyEntry>> {
        self.acl.policies.get(name).cloned()
    }

    pub fn acl_policies(&self) -> impl Iterator<Item = &Arc<AclPolicyEntry>> {
        self.acl.policies.values()
    }

    pub fn acl_token(&self, accessor: &str) -> Option<Arc<AclTokenEntry>> {
        self.acl.tokens.get(accessor).cloned()
    }

    pub fn acl_tokens(&self) -> impl Iterator<Item = &Arc<AclTokenEntry>> {
        self.acl.tokens.values()
    }

    /// The token whose secret hashes to `hash`.
    pub fn acl_token_by_secret_hash(&self, hash: &str) -> Option<Arc<AclTokenEntry>> {
        self.acl
            .by_secret
            .get(hash)
            .and_then(|accessor| self.acl.tokens.get(accessor))
            .cloned()
    }

    pub fn acl_bootstrapped(&self) -> bool {
        self.acl.bootstrap_index != 0
    }

    /// The index of the last ACL change, for `X-Nomad-Index`.
    pub fn acl_index(&self) -> u64 {
        self.acl.index
    }

    pub(super) fn apply_acl_policy_upsert(
        &mut self,
        index: u64,
        policies: &[AclPolicyEntry],
    ) -> ApplyResult {
        for entry in policies {
            let mut entry = entry.clone();
            let name = entry.policy.name.clone();
            entry.policy.create_index = self
                .acl
                .policies
                .get(&name)
                .map_or(index, |p| p.policy.create_index);
            entry.policy.modify_index = index;
            self.acl.policies.insert(name, Arc::new(entry));
        }
        self.acl.index = index;
        ApplyResult::default()
    }

    pub(super) fn apply_acl_policy_delete(&mut self, index: u64, names: &[String]) -> ApplyResult {
        for name in names {
            self.acl.policies.remove(name);
        }
        self.acl.index = index;
        ApplyResult::default()
    }

    /// Writes tokens; a bootstrap is refused (as a no-op) once one happened, so two racing
    /// bootstraps can never both win.
    pub(super) fn apply_acl_token_upsert(
        &mut self,
        index: u64,
        tokens: &[AclTokenEntry],
        bootstrap: bool,
    ) -> ApplyResult {
        if bootstrap {
            if self.acl_bootstrapped() {
                return ApplyResult {
                    error: Some(format!(
                        "ACL bootstrap already done (reset index: {})",
                        self.acl.bootstrap_index
                    )),
                    ..ApplyResult::default()
                };
            }
            self.acl.bootstrap_index = index;
        }
        for entry in tokens {
            let mut entry = entry.clone();
            entry.token.secret_id.clear();
            entry.token.create_index = self
                .acl
                .tokens
                .get(&entry.token.accessor_id)
                .map_or(index, |t| t.token.create_index);
            entry.token.modify_index = index;
            if let Some(old) = self.acl.tokens.get(&entry.token.accessor_id) {
                let old_hash = old.secret_hash.clone();
                self.acl.by_secret.remove(&old_hash);
            }
            self.acl.put_token(Arc::new(entry));
        }
        self.acl.index = index;
        ApplyResult::default()
    }

    pub(super) fn apply_acl_token_delete(
        &mut self,
        index: u64,
        accessors: &[String],
    ) -> ApplyResult {
        for accessor in accessors {
            if let Some(old) = self.acl.tokens.remove(accessor) {
                self.acl.by_secret.remove(&old.secret_hash);
            }
        }
        self.acl.index = index;
        ApplyResult::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::acl::AclTokenType;

    fn token(accessor: &str, hash: &str) -> AclTokenEntry {
        AclTokenEntry {
            token: AclToken {
                accessor_id: accessor.into(),
                secret_id: "never stored".into(),
                r#type: AclTokenType::Management,
                ..AclToken::default()
            },
            secret_hash: hash.into(),
        }
    }

    #[test]
    fn bootstrap_happens_once_and_secrets_are_not_kept() {
        let mut t = Tables::default();
        assert!(t
            .apply_acl_token_upsert(5, &[token("a", "h1")], true)
            .error
            .is_none());
        let again = t.apply_acl_token_upsert(6, &[token("b", "h2")], true);
        assert!(again.error.unwrap().contains("already done"));
        assert!(t.acl_token("b").is_none());
        let stored = t.acl_token_by_secret_hash("h1").unwrap();
        assert_eq!(stored.token.accessor_id, "a");
        assert!(stored.token.secret_id.is_empty());
        assert_eq!(stored.token.create_index, 5);
        // Survives an image round trip.
        let back = AclTables::from_image(t.acl.to_image());
        assert_eq!(back.bootstrap_index, 5);
        assert!(back.by_secret.contains_key("h1"));
        t.apply_acl_token_delete(7, &["a".into()]);
        assert!(t.acl_token_by_secret_hash("h1").is_none());
    }
}
