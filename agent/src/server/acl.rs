//! ACL endpoints and token resolution on the servers. Policies and tokens live in the raft
//! state (`state::acl`); a token's secret exists only in the answer that creates it, the state
//! keeps its SHA-256.

use super::endpoints::ServerError;
use super::node_identity::secret_hash;
use super::{new_id, now_nanos, Server};
use crate::rpc::ResolvedToken;
use crate::state::acl::{AclPolicyEntry, AclTokenEntry};
use crate::state::Command;
use api::acl::{parse_policy, AclPolicy, AclToken, AclTokenType};

/// The policy that applies to requests without a token, when an operator has written one.
pub const ANONYMOUS_POLICY: &str = "anonymous";

impl Server {
    fn acl_required(&self) -> Result<(), ServerError> {
        if self.cfg.acl_enabled {
            Ok(())
        } else {
            Err(ServerError::Invalid(
                "ACL support disabled: set acl { enabled = true } on the servers".into(),
            ))
        }
    }

    /// What `secret` may do. The empty secret is the anonymous token: the policy named
    /// "anonymous" if there is one, else nothing.
    pub fn resolve_token(&self, secret: &str) -> Result<ResolvedToken, ServerError> {
        self.acl_required()?;
        self.state.read(|t| {
            if secret.is_empty() {
                return Ok(ResolvedToken {
                    accessor_id: String::new(),
                    management: false,
                    policies: t
                        .acl_policy(ANONYMOUS_POLICY)
                        .map(|p| vec![p.parsed.clone()])
                        .unwrap_or_default(),
                });
            }
            let Some(entry) = t.acl_token_by_secret_hash(&secret_hash(secret)) else {
                return Err(ServerError::Forbidden("ACL token not found".into()));
            };
            let token = &entry.token;
            Ok(ResolvedToken {
                accessor_id: token.accessor_id.clone(),
                management: token.is_management(),
                // A policy deleted after the token was made grants nothing, as in Nomad.
                policies: token
                    .policies
                    .iter()
                    .filter_map(|name| t.acl_policy(name).map(|p| p.parsed.clone()))
                    .collect(),
            })
        })
    }

    /// The token whose secret is `secret`, without the secret.
    pub fn acl_token_self(&self, secret: &str) -> Result<AclToken, ServerError> {
        self.acl_required()?;
        self.state
            .read(|t| t.acl_token_by_secret_hash(&secret_hash(secret)))
            .map(|e| e.token.clone())
            .ok_or_else(|| ServerError::Forbidden("ACL token not found".into()))
    }

    /// `POST /v1/acl/bootstrap`: the first management token, once. `secret` lets automation
    /// choose it (Nomad's `BootstrapSecret`); it must be a UUID.
    pub async fn acl_bootstrap(&self, secret: Option<String>) -> Result<AclToken, ServerError> {
        self.acl_required()?;
        let secret = match secret.filter(|s| !s.is_empty()) {
            Some(s) if uuid::Uuid::parse_str(&s).is_ok() => s,
            Some(_) => {
                return Err(ServerError::Invalid(
                    "BootstrapSecret must be a UUID (make one with `uuidgen`)".into(),
                ))
            }
            None => new_id(),
        };
        if self.state.read(|t| t.acl_bootstrapped()) {
            return Err(bootstrap_done());
        }
        let token = AclToken {
            accessor_id: new_id(),
            secret_id: String::new(),
            name: "Bootstrap Token".into(),
            r#type: AclTokenType::Management,
            policies: Vec::new(),
            global: true,
            create_time: api::time::rfc3339_nanos(now_nanos()),
            create_index: 0,
            modify_index: 0,
        };
        let (index, result) = self
            .raft
            .apply(Command::AclTokenUpsert {
                tokens: vec![AclTokenEntry {
                    token: token.clone(),
                    secret_hash: secret_hash(&secret),
                }],
                bootstrap: true,
            })
            .await
            .map_err(ServerError::Raft)?;
        if result.error.is_some() {
            return Err(bootstrap_done());
        }
        Ok(AclToken {
            secret_id: secret,
            create_index: index,
            modify_index: index,
            ..token
        })
    }

    /// `POST /v1/acl/policy/:name`: the rules must parse; errors carry line:col.
    pub async fn acl_policy_upsert(&self, policy: AclPolicy) -> Result<u64, ServerError> {
        self.acl_required()?;
        check_policy_name(&policy.name)?;
        let parsed = parse_policy(&policy.rules).map_err(|e| {
            ServerError::Invalid(format!("policy {:?}: invalid rules: {e}", policy.name))
        })?;
        let (index, _) = self
            .raft
            .apply(Command::AclPolicyUpsert {
                policies: vec![AclPolicyEntry { policy, parsed }],
            })
            .await
            .map_err(ServerError::Raft)?;
        Ok(index)
    }

    pub async fn acl_policy_delete(&self, name: &str) -> Result<u64, ServerError> {
        self.acl_required()?;
        if self.state.read(|t| t.acl_policy(name).is_none()) {
            return Err(ServerError::NotFound(format!(
                "ACL policy {name:?} not found"
            )));
        }
        let (index, _) = self
            .raft
            .apply(Command::AclPolicyDelete {
                names: vec![name.to_string()],
            })
            .await
            .map_err(ServerError::Raft)?;
        Ok(index)
    }

    /// `POST /v1/acl/token` (create; the answer is the only place the secret appears) and
    /// `POST /v1/acl/token/:accessor` (update name, type and policies; the secret stays).
    pub async fn acl_token_upsert(&self, mut token: AclToken) -> Result<AclToken, ServerError> {
        self.acl_required()?;
        match token.r#type {
            AclTokenType::Client if token.policies.is_empty() => {
                return Err(ServerError::Invalid(
                    "a client token needs at least one policy (-policy NAME)".into(),
                ))
            }
            AclTokenType::Management if !token.policies.is_empty() => {
                return Err(ServerError::Invalid(
                    "a management token may do everything: it takes no policies".into(),
                ))
            }
            _ => {}
        }
        let missing = self.state.read(|t| {
            token
                .policies
                .iter()
                .find(|p| t.acl_policy(p).is_none())
                .cloned()
        });
        if let Some(p) = missing {
            return Err(ServerError::Invalid(format!(
                "ACL policy {p:?} not found: apply it first (nomadctl acl policy apply)"
            )));
        }
        let (hash, secret) = if token.accessor_id.is_empty() {
            let secret = new_id();
            token.accessor_id = new_id();
            token.create_time = api::time::rfc3339_nanos(now_nanos());
            (secret_hash(&secret), secret)
        } else {
            let Some(old) = self.state.read(|t| t.acl_token(&token.accessor_id)) else {
                return Err(ServerError::NotFound(format!(
                    "ACL token {} not found",
                    token.accessor_id
                )));
            };
            token.create_time = old.token.create_time.clone();
            (old.secret_hash.clone(), String::new())
        };
        token.secret_id.clear();
        let (index, _) = self
            .raft
            .apply(Command::AclTokenUpsert {
                tokens: vec![AclTokenEntry {
                    token: token.clone(),
                    secret_hash: hash,
                }],
                bootstrap: false,
            })
            .await
            .map_err(ServerError::Raft)?;
        let stored = self.state.read(|t| t.acl_token(&token.accessor_id));
        let mut out = stored.map_or(token, |e| e.token.clone());
        out.modify_index = index;
        out.secret_id = secret;
        Ok(out)
    }

    pub async fn acl_token_delete(&self, accessor: &str) -> Result<u64, ServerError> {
        self.acl_required()?;
        if self.state.read(|t| t.acl_token(accessor).is_none()) {
            return Err(ServerError::NotFound(format!(
                "ACL token {accessor} not found"
            )));
        }
        let (index, _) = self
            .raft
            .apply(Command::AclTokenDelete {
                accessors: vec![accessor.to_string()],
            })
            .await
            .map_err(ServerError::Raft)?;
        Ok(index)
    }
}

fn bootstrap_done() -> ServerError {
    ServerError::Invalid("ACL bootstrap already done: it works once per cluster".into())
}

/// Nomad's rule for policy names: 1 to 128 letters, digits and dashes.
fn check_policy_name(name: &str) -> Result<(), ServerError> {
    if api::is_valid_name(name) {
        Ok(())
    } else {
        Err(ServerError::Invalid(format!(
            "invalid policy name {name:?}: use 1 to 128 letters, digits and dashes"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::check_policy_name;

    #[test]
    fn policy_names_are_letters_digits_and_dashes() {
        assert!(check_policy_name("read-only-1").is_ok());
        for bad in ["", "a b", "a/b", &"x".repeat(129)] {
            assert!(check_policy_name(bad).is_err(), "{bad:?}");
        }
    }
}
