//! ACL wire types in Nomad's JSON shape: policies, tokens and the bootstrap request.
//!
//! Field names follow Nomad's API exactly (`AccessorID`, `SecretID`), because clients written
//! for Nomad (python-nomad, the Terraform provider) send and read them verbatim. Strings and
//! lists also accept an explicit `null`, which Nomad itself emits for empty Go slices (a
//! management token's `Policies` is `null`).

use serde::{Deserialize, Deserializer, Serialize};

/// A named set of rules, as `GET /v1/acl/policy/:name` returns it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AclPolicy {
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    #[serde(default, deserialize_with = "null_default")]
    pub description: String,
    /// The policy text in Nomad's HCL policy language; see [`super::parse_policy`].
    #[serde(default, deserialize_with = "null_default")]
    pub rules: String,
    #[serde(default)]
    pub create_index: u64,
    #[serde(default)]
    pub modify_index: u64,
}

impl AclPolicy {
    pub fn stub(&self) -> AclPolicyListStub {
        AclPolicyListStub {
            name: self.name.clone(),
            description: self.description.clone(),
            create_index: self.create_index,
            modify_index: self.modify_index,
        }
    }
}

/// One row of `GET /v1/acl/policies`: the policy without its rules.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AclPolicyListStub {
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    #[serde(default, deserialize_with = "null_default")]
    pub description: String,
    #[serde(default)]
    pub create_index: u64,
    #[serde(default)]
    pub modify_index: u64,
}

/// What a token may do: a `client` token gets the union of its policies, a `management`
/// token may do everything and carries no policies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AclTokenType {
    /// Only for `Default` in Rust code (least privilege); the wire form requires the field.
    #[default]
    Client,
    Management,
}

impl AclTokenType {
    pub fn as_str(self) -> &'static str {
        match self {
            AclTokenType::Client => "client",
            AclTokenType::Management => "management",
        }
    }
}

impl std::fmt::Display for AclTokenType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A token: the public `AccessorID` names it, the `SecretID` is what callers present in
/// `X-Nomad-Token`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AclToken {
    #[serde(rename = "AccessorID", default, deserialize_with = "null_default")]
    pub accessor_id: String,
    #[serde(rename = "SecretID", default, deserialize_with = "null_default")]
    pub secret_id: String,
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    /// Required on the wire, as in Nomad: a missing or unknown type is a decode error, never
    /// silently a client token.
    pub r#type: AclTokenType,
    #[serde(default, deserialize_with = "null_default")]
    pub policies: Vec<String>,
    /// Replicated to every region rather than local to this one.
    #[serde(default)]
    pub global: bool,
    /// RFC 3339, as Nomad writes it (`2017-08-23T22:47:14.695408057Z`).
    #[serde(default, deserialize_with = "null_default")]
    pub create_time: String,
    #[serde(default)]
    pub create_index: u64,
    #[serde(default)]
    pub modify_index: u64,
}

impl AclToken {
    pub fn is_management(&self) -> bool {
        self.r#type == AclTokenType::Management
    }

    pub fn stub(&self) -> AclTokenListStub {
        AclTokenListStub {
            accessor_id: self.accessor_id.clone(),
            name: self.name.clone(),
            r#type: self.r#type,
            policies: self.policies.clone(),
            global: self.global,
            create_time: self.create_time.clone(),
            create_index: self.create_index,
            modify_index: self.modify_index,
        }
    }
}

/// One row of `GET /v1/acl/tokens`: the token without its secret.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AclTokenListStub {
    #[serde(rename = "AccessorID", default, deserialize_with = "null_default")]
    pub accessor_id: String,
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    pub r#type: AclTokenType,
    #[serde(default, deserialize_with = "null_default")]
    pub policies: Vec<String>,
    #[serde(default)]
    pub global: bool,
    #[serde(default, deserialize_with = "null_default")]
    pub create_time: String,
    #[serde(default)]
    pub create_index: u64,
    #[serde(default)]
    pub modify_index: u64,
}

/// Body of `POST /v1/acl/bootstrap`. The body is optional; an operator-chosen secret lets
/// automation (Ansible) know the management token before the cluster exists.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AclBootstrapRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap_secret: Option<String>,
}

/// Reads `null` as the type's default, so Go clients' nil slices and empty strings both work.
fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Declares [`Capability`] once: variant, wire name. Keeps the enum, its list and its names
/// from drifting apart.
macro_rules! capabilities {
    ($($variant:ident = $name:literal,)*) => {
        /// A fine-grained namespace permission, spelled in kebab-case as in Nomad's policies.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum Capability {
            $(#[serde(rename = $name)] $variant,)*
        }

        impl Capability {
            pub const ALL: &'static [Capability] = &[$(Capability::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Capability::$variant => $name,)*
                }
            }
        }
    };
}

// Nomad's namespace capabilities (ACL Policy Specification, "Namespace rules"). The
// host-volume-* ones arrived with dynamic host volumes; they are only granted explicitly.
capabilities! {
    Deny = "deny",
    ListJobs = "list-jobs",
    ParseJob = "parse-job",
    ReadJob = "read-job",
    SubmitJob = "submit-job",
    DispatchJob = "dispatch-job",
    ReadLogs = "read-logs",
    ReadFs = "read-fs",
    AllocExec = "alloc-exec",
    AllocNodeExec = "alloc-node-exec",
    AllocLifecycle = "alloc-lifecycle",
    CsiRegisterPlugin = "csi-register-plugin",
    CsiWriteVolume = "csi-write-volume",
    CsiReadVolume = "csi-read-volume",
    CsiListVolume = "csi-list-volume",
    CsiMountVolume = "csi-mount-volume",
    HostVolumeCreate = "host-volume-create",
    HostVolumeRegister = "host-volume-register",
    HostVolumeRead = "host-volume-read",
    HostVolumeWrite = "host-volume-write",
    HostVolumeDelete = "host-volume-delete",
    ListScalingPolicies = "list-scaling-policies",
    ReadScalingPolicy = "read-scaling-policy",
    ReadJobScaling = "read-job-scaling",
    ScaleJob = "scale-job",
    SentinelOverride = "sentinel-override",
    SubmitRecommendation = "submit-recommendation",
}

/// A name (capability, policy value) that Nomad's policy language does not define.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {name:?}")]
pub struct UnknownName {
    /// What was being named: "capability" or "policy".
    pub kind: &'static str,
    pub name: String,
}

impl UnknownName {
    pub fn new(kind: &'static str, name: &str) -> Self {
        UnknownName {
            kind,
            name: name.to_string(),
        }
    }
}

impl std::str::FromStr for Capability {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        Capability::ALL
            .iter()
            .copied()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownName::new("capability", s))
    }
}

impl std::fmt::Display for Capability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A permission on the variables at some paths of a namespace (a `variables { path "..." }`
/// rule). `write` and `read` include `list`; `deny` vetoes the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VariableCapability {
    Deny,
    Write,
    Read,
    List,
    Destroy,
}

impl VariableCapability {
    pub const ALL: &'static [VariableCapability] = &[
        VariableCapability::Deny,
        VariableCapability::Write,
        VariableCapability::Read,
        VariableCapability::List,
        VariableCapability::Destroy,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            VariableCapability::Deny => "deny",
            VariableCapability::Write => "write",
            VariableCapability::Read => "read",
            VariableCapability::List => "list",
            VariableCapability::Destroy => "destroy",
        }
    }
}

impl std::str::FromStr for VariableCapability {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        VariableCapability::ALL
            .iter()
            .copied()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownName::new("variables capability", s))
    }
}
