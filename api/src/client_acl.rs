//! The `/v1/acl/*` calls of [`Client`], apart from the rest of the API's.

use crate::acl::{AclBootstrapRequest, AclPolicy, AclPolicyListStub, AclToken, AclTokenListStub};
use crate::client::{Client, ClientError};

impl Client {
    /// `POST /v1/acl/bootstrap`: the first management token, with its secret.
    pub fn acl_bootstrap(&self, secret: Option<String>) -> Result<AclToken, ClientError> {
        let req = AclBootstrapRequest {
            bootstrap_secret: secret,
        };
        self.post("/v1/acl/bootstrap", &[], &req)
    }

    pub fn acl_policies(&self) -> Result<Vec<AclPolicyListStub>, ClientError> {
        self.get("/v1/acl/policies", &[]).map(|(v, _)| v)
    }

    pub fn acl_policy(&self, name: &str) -> Result<AclPolicy, ClientError> {
        self.get(&format!("/v1/acl/policy/{name}"), &[])
            .map(|(v, _)| v)
    }

    pub fn acl_policy_apply(&self, policy: &AclPolicy) -> Result<(), ClientError> {
        let path = format!("/v1/acl/policy/{}", policy.name);
        self.post::<_, serde_json::Value>(&path, &[], policy)
            .map(|_| ())
    }

    pub fn acl_policy_delete(&self, name: &str) -> Result<(), ClientError> {
        self.delete_no_content(&format!("/v1/acl/policy/{name}"), &[])
    }

    pub fn acl_tokens(&self) -> Result<Vec<AclTokenListStub>, ClientError> {
        self.get("/v1/acl/tokens", &[]).map(|(v, _)| v)
    }

    /// `POST /v1/acl/token`: the answer is the only time the new token's secret is shown.
    pub fn acl_token_create(&self, token: &AclToken) -> Result<AclToken, ClientError> {
        self.post("/v1/acl/token", &[], token)
    }

    pub fn acl_token(&self, accessor: &str) -> Result<AclToken, ClientError> {
        self.get(&format!("/v1/acl/token/{accessor}"), &[])
            .map(|(v, _)| v)
    }

    /// The token this client sends.
    pub fn acl_token_self(&self) -> Result<AclToken, ClientError> {
        self.get("/v1/acl/token/self", &[]).map(|(v, _)| v)
    }

    pub fn acl_token_delete(&self, accessor: &str) -> Result<(), ClientError> {
        self.delete_no_content(&format!("/v1/acl/token/{accessor}"), &[])
    }
}
