//! `/v1/search` (identifier prefixes) and `/v1/search/fuzzy` (substrings of names), in Nomad's
//! shape: a request names a context, the answer maps each context searched to its matches and
//! says, per context, whether more matched than it lists.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The names of the contexts, as requests give them and answers key them.
pub mod context {
    pub const ALL: &str = "all";
    pub const ALLOCS: &str = "allocs";
    /// Nomad's key is singular: `deployment`.
    pub const DEPLOYMENTS: &str = "deployment";
    pub const EVALS: &str = "evals";
    pub const JOBS: &str = "jobs";
    pub const NAMESPACES: &str = "namespaces";
    pub const NODE_POOLS: &str = "node_pools";
    pub const NODES: &str = "nodes";
    pub const PLUGINS: &str = "plugins";
    pub const QUOTAS: &str = "quotas";
    pub const SCALING_POLICIES: &str = "scaling_policy";
    pub const VOLUMES: &str = "volumes";
    // What a fuzzy search of jobs also finds inside them.
    pub const GROUPS: &str = "groups";
    pub const SERVICES: &str = "services";
    pub const TASKS: &str = "tasks";
    pub const IMAGES: &str = "images";
    pub const COMMANDS: &str = "commands";
    pub const CLASSES: &str = "classes";
}

/// A prefix search lists at most this many identifiers per context (Nomad's cap).
pub const PREFIX_LIMIT: usize = 20;
/// A fuzzy search lists at most this many matches per context (Nomad's `limit_results`).
pub const FUZZY_LIMIT_RESULTS: usize = 100;
/// A fuzzy search text needs at least this many characters (Nomad's `min_term_length`).
pub const FUZZY_MIN_TERM_LENGTH: usize = 2;

/// The contexts `/v1/search` accepts.
pub const PREFIX_CONTEXTS: &[&str] = &[
    context::ALL,
    context::ALLOCS,
    context::DEPLOYMENTS,
    context::EVALS,
    context::JOBS,
    context::NAMESPACES,
    context::NODE_POOLS,
    context::NODES,
    context::PLUGINS,
    context::QUOTAS,
    context::SCALING_POLICIES,
    context::VOLUMES,
];

/// The contexts `/v1/search/fuzzy` accepts.
pub const FUZZY_CONTEXTS: &[&str] = &[
    context::ALL,
    context::ALLOCS,
    context::JOBS,
    context::NAMESPACES,
    context::NODE_POOLS,
    context::NODES,
    context::PLUGINS,
];

/// `POST /v1/search`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SearchRequest {
    /// The start of the identifiers wanted; empty lists every identifier (up to the cap).
    #[serde(default)]
    pub prefix: String,
    /// One of [`PREFIX_CONTEXTS`].
    #[serde(default)]
    pub context: String,
    /// The namespace searched (`*` for all); `?namespace=` takes precedence, as in Nomad.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
}

/// The answer of `POST /v1/search` (matches are ids) and, as [`FuzzySearchResponse`], of
/// `POST /v1/search/fuzzy` (matches are [`FuzzyMatch`]es).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SearchResponse<M = String> {
    /// Context (or kind of object) -> its matches: sorted ids for a prefix search; closest
    /// first for a fuzzy one (an exact name, then names that start with the text, then names
    /// that hold it).
    #[serde(default = "BTreeMap::new")]
    pub matches: BTreeMap<String, Vec<M>>,
    /// Context -> whether more matched than `matches` lists.
    #[serde(default)]
    pub truncations: BTreeMap<String, bool>,
    #[serde(default)]
    pub index: u64,
    #[serde(default)]
    pub known_leader: bool,
    #[serde(default)]
    pub last_contact: u64,
}

impl<M> Default for SearchResponse<M> {
    fn default() -> Self {
        SearchResponse {
            matches: BTreeMap::new(),
            truncations: BTreeMap::new(),
            index: 0,
            known_leader: false,
            last_contact: 0,
        }
    }
}

/// `POST /v1/search/fuzzy`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FuzzySearchRequest {
    /// Found anywhere in a name, whatever its case; at least [`FUZZY_MIN_TERM_LENGTH`]
    /// characters.
    #[serde(default)]
    pub text: String,
    /// One of [`FUZZY_CONTEXTS`].
    #[serde(default)]
    pub context: String,
    /// The namespace searched (`*` for all); `?namespace=` takes precedence, as in Nomad.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
}

/// One fuzzy match: the name that matched, and where it lives.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FuzzyMatch {
    #[serde(rename = "ID")]
    pub id: String,
    /// What identifies the object for a further query: `[namespace]` for a job,
    /// `[namespace, job]` for a group, `[namespace, job, group]` for a task or a group's
    /// service, `[namespace, job, group, task]` for a task's service, image, command or class,
    /// `[namespace, alloc id]` for an allocation, `[node id]` for a node. Absent for objects
    /// identified by their id alone (evaluations, deployments, namespaces).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scope: Vec<String>,
}

/// The answer of `POST /v1/search/fuzzy`.
pub type FuzzySearchResponse = SearchResponse<FuzzyMatch>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_requests_read_nomads_field_names() {
        let req: SearchRequest =
            serde_json::from_str(r#"{"Prefix":"ab","Context":"jobs","Namespace":"prod"}"#)
                .expect("a search request");
        assert_eq!(
            (
                req.prefix.as_str(),
                req.context.as_str(),
                req.namespace.as_str()
            ),
            ("ab", "jobs", "prod")
        );
        let fuzzy: FuzzySearchRequest =
            serde_json::from_str(r#"{"Text":"py","Context":"all"}"#).expect("a fuzzy request");
        assert_eq!((fuzzy.text.as_str(), fuzzy.context.as_str()), ("py", "all"));
        assert!(fuzzy.namespace.is_empty());
    }

    #[test]
    fn search_answers_have_nomads_shape() {
        let mut resp = FuzzySearchResponse {
            index: 7,
            known_leader: true,
            ..Default::default()
        };
        resp.matches.insert(
            context::JOBS.into(),
            vec![FuzzyMatch {
                id: "example-python".into(),
                scope: vec!["default".into()],
            }],
        );
        resp.matches.insert(
            context::DEPLOYMENTS.into(),
            vec![FuzzyMatch {
                id: "cc786388".into(),
                scope: vec![],
            }],
        );
        resp.truncations.insert(context::JOBS.into(), false);
        let v = serde_json::to_value(&resp).expect("serialisable");
        assert_eq!(v["Index"], 7);
        assert_eq!(v["KnownLeader"], true);
        assert_eq!(v["Matches"]["jobs"][0]["ID"], "example-python");
        assert_eq!(v["Matches"]["jobs"][0]["Scope"][0], "default");
        assert!(v["Matches"]["deployment"][0].get("Scope").is_none());
        assert_eq!(v["Truncations"]["jobs"], false);
        let back: FuzzySearchResponse = serde_json::from_value(v).expect("reads back");
        assert_eq!(back, resp);

        let mut prefix: SearchResponse = SearchResponse::default();
        prefix
            .matches
            .insert(context::EVALS.into(), vec!["abc2fdc0".into()]);
        prefix.truncations.insert(context::EVALS.into(), true);
        let v = serde_json::to_value(&prefix).expect("serialisable");
        assert_eq!(v["Matches"]["evals"][0], "abc2fdc0");
        assert_eq!(v["Truncations"]["evals"], true);
    }
}
