//! Access control: the ACL wire types, the policy language and the merged permission set of a
//! token ([`Acl`]). Pure: no IO, no clock; the server stores and enforces, this module decides.
//!
//! Semantics follow Nomad's documentation ("ACL Policy Specification" and the ACL system
//! concepts page): within one namespace rule capabilities add up and `deny` overrides them
//! all; an exact namespace rule beats any glob; among globs the closest match wins.

mod policy;
#[cfg(test)]
mod tests;
mod types;

pub use policy::{parse_policy, NamespaceRule, Policy, PolicyError};
pub use types::*;

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A coarse disposition for the `node`, `agent` and `operator` rules. Ordered by privilege;
/// merging still lets `Deny` win, see [`Level::merge`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Deny,
    Read,
    Write,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Deny => "deny",
            Level::Read => "read",
            Level::Write => "write",
        }
    }

    /// Combines two policies' levels: deny beats everything, otherwise the stronger wins.
    pub fn merge(a: Option<Level>, b: Option<Level>) -> Option<Level> {
        match (a, b) {
            (Some(Level::Deny), _) | (_, Some(Level::Deny)) => Some(Level::Deny),
            (a, b) => a.max(b),
        }
    }
}

impl std::str::FromStr for Level {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        match s {
            "deny" => Ok(Level::Deny),
            "read" => Ok(Level::Read),
            "write" => Ok(Level::Write),
            _ => Err(UnknownName::new("policy", s)),
        }
    }
}

/// The coarse `policy` of a namespace rule, shorthand for a set of capabilities.
///
/// Nomad's documented dispositions also include `list`, but the same page says it "applies
/// only to plugins", so a namespace `policy = "list"` is refused rather than guessed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NamespacePolicy {
    Deny,
    Read,
    Write,
    Scale,
}

impl NamespacePolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            NamespacePolicy::Deny => "deny",
            NamespacePolicy::Read => "read",
            NamespacePolicy::Write => "write",
            NamespacePolicy::Scale => "scale",
        }
    }

    /// The capabilities the shorthand stands for, as listed under "Namespace rules" in
    /// Nomad's ACL Policy Specification. `write` deliberately leaves out `alloc-node-exec`
    /// (a shell on the host) and the host-volume and plugin capabilities.
    pub fn capabilities(self) -> Vec<Capability> {
        use Capability::*;
        const READ: [Capability; 8] = [
            ListJobs,
            ParseJob,
            ReadJob,
            CsiListVolume,
            CsiReadVolume,
            ListScalingPolicies,
            ReadScalingPolicy,
            ReadJobScaling,
        ];
        const WRITE_EXTRA: [Capability; 10] = [
            ScaleJob,
            SubmitJob,
            DispatchJob,
            ReadLogs,
            ReadFs,
            AllocExec,
            AllocLifecycle,
            CsiWriteVolume,
            CsiMountVolume,
            SubmitRecommendation,
        ];
        match self {
            NamespacePolicy::Deny => vec![Deny],
            NamespacePolicy::Read => READ.to_vec(),
            NamespacePolicy::Write => READ.into_iter().chain(WRITE_EXTRA).collect(),
            NamespacePolicy::Scale => {
                vec![
                    ListScalingPolicies,
                    ReadScalingPolicy,
                    ReadJobScaling,
                    ScaleJob,
                ]
            }
        }
    }
}

impl std::str::FromStr for NamespacePolicy {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        match s {
            "deny" => Ok(NamespacePolicy::Deny),
            "read" => Ok(NamespacePolicy::Read),
            "write" => Ok(NamespacePolicy::Write),
            "scale" => Ok(NamespacePolicy::Scale),
            _ => Err(UnknownName::new("policy", s)),
        }
    }
}

/// What a token may do, computed once from its policies (or management type) and then only
/// queried.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Acl {
    management: bool,
    /// Namespace rules without a wildcard, by name.
    exact: BTreeMap<String, NamespaceGrant>,
    /// Namespace rules whose label contains `*`, by glob.
    globs: BTreeMap<String, NamespaceGrant>,
    node: Option<Level>,
    agent: Option<Level>,
    operator: Option<Level>,
}

impl Acl {
    /// The permission set of a management token: everything.
    pub fn management() -> Acl {
        Acl {
            management: true,
            ..Acl::default()
        }
    }

    /// Merges the policies of a client token. No policies means nothing is allowed.
    pub fn from_policies(policies: &[Policy]) -> Acl {
        let mut acl = Acl::default();
        for policy in policies {
            for rule in &policy.namespaces {
                let table = if rule.name.contains('*') {
                    &mut acl.globs
                } else {
                    &mut acl.exact
                };
                let grant = table.entry(rule.name.clone()).or_default();
                let caps = &mut grant.caps;
                caps.extend(rule.capabilities.iter().copied());
                // Deny supersedes every other capability for this rule, from any policy.
                if caps.contains(&Capability::Deny) {
                    *caps = BTreeSet::from([Capability::Deny]);
                }
                for (path, var_caps) in &rule.variables {
                    let have = grant.variables.entry(path.clone()).or_default();
                    have.extend(var_caps.iter().copied());
                    if have.contains(&VariableCapability::Deny) {
                        *have = BTreeSet::from([VariableCapability::Deny]);
                    }
                }
            }
            acl.node = Level::merge(acl.node, policy.node);
            acl.agent = Level::merge(acl.agent, policy.agent);
            acl.operator = Level::merge(acl.operator, policy.operator);
        }
        acl
    }

    pub fn is_management(&self) -> bool {
        self.management
    }

    /// Whether `cap` is granted in namespace `ns`. Asking for [`Capability::Deny`] is never
    /// "allowed": it is a veto, not a permission.
    pub fn allows_namespace(&self, ns: &str, cap: Capability) -> bool {
        if self.management {
            return true;
        }
        if cap == Capability::Deny {
            return false;
        }
        self.namespace_grant(ns)
            .is_some_and(|g| !g.caps.contains(&Capability::Deny) && g.caps.contains(&cap))
    }

    /// Whether `cap` is granted on the variable at `path` in `ns`. The namespace rule is chosen
    /// as for every other capability, then the path rule within its `variables` block the same
    /// way: an exact path first, otherwise the closest glob. A namespace rule that denies
    /// denies its variables too.
    pub fn allows_variable(&self, ns: &str, path: &str, cap: VariableCapability) -> bool {
        if self.management {
            return true;
        }
        if cap == VariableCapability::Deny {
            return false;
        }
        let Some(grant) = self.namespace_grant(ns) else {
            return false;
        };
        if grant.caps.contains(&Capability::Deny) {
            return false;
        }
        let caps = grant.variables.get(path).or_else(|| {
            closest_glob(
                grant.variables.iter().filter(|(g, _)| g.contains('*')),
                path,
            )
        });
        caps.is_some_and(|c| !c.contains(&VariableCapability::Deny) && c.contains(&cap))
    }

    /// Whether the token holds any capability in `ns` (Nomad uses this to filter namespace
    /// listings and `namespace=*` queries).
    pub fn allows_any_in_namespace(&self, ns: &str) -> bool {
        if self.management {
            return true;
        }
        self.namespace_grant(ns).is_some_and(|g| {
            !g.caps.contains(&Capability::Deny) && (!g.caps.is_empty() || !g.variables.is_empty())
        })
    }

    pub fn allows_node_read(&self) -> bool {
        self.allows(self.node, Level::Read)
    }

    pub fn allows_node_write(&self) -> bool {
        self.allows(self.node, Level::Write)
    }

    pub fn allows_agent_read(&self) -> bool {
        self.allows(self.agent, Level::Read)
    }

    pub fn allows_agent_write(&self) -> bool {
        self.allows(self.agent, Level::Write)
    }

    pub fn allows_operator_read(&self) -> bool {
        self.allows(self.operator, Level::Read)
    }

    pub fn allows_operator_write(&self) -> bool {
        self.allows(self.operator, Level::Write)
    }

    /// Write implies read; deny (the lowest level) grants nothing.
    fn allows(&self, have: Option<Level>, need: Level) -> bool {
        self.management || have.is_some_and(|l| l != Level::Deny && l >= need)
    }

    /// The rule that governs `ns`: its exact rule if there is one, otherwise the matching glob
    /// whose wildcards stand for the fewest characters (Nomad's "closest match"). Ties go to
    /// the glob that sorts first, so the answer never depends on policy order.
    fn namespace_grant(&self, ns: &str) -> Option<&NamespaceGrant> {
        if let Some(grant) = self.exact.get(ns) {
            return Some(grant);
        }
        closest_glob(self.globs.iter(), ns)
    }
}

/// What the namespace rules with one label grant, merged across a token's policies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct NamespaceGrant {
    caps: BTreeSet<Capability>,
    /// Variable path (exact or glob) -> capabilities.
    variables: BTreeMap<String, BTreeSet<VariableCapability>>,
}

/// Among `(glob, value)` pairs, the value of the glob that matches `name` with its wildcards
/// standing for the fewest characters. The iteration is in sorted order, and `min_by_key`
/// keeps the first of equals, so ties go to the glob that sorts first.
fn closest_glob<'a, T: 'a>(
    globs: impl Iterator<Item = (&'a String, &'a T)>,
    name: &str,
) -> Option<&'a T> {
    globs
        .filter(|(glob, _)| glob_matches(glob, name))
        .min_by_key(|(glob, _)| {
            name.len()
                .saturating_sub(glob.bytes().filter(|b| *b != b'*').count())
        })
        .map(|(_, v)| v)
}

/// `*` matches any run of characters (including none); everything else matches itself.
pub(crate) fn glob_matches(glob: &str, name: &str) -> bool {
    let mut parts = glob.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        // No `*` at all: an exact comparison.
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}
