//! Search over the tables, for `/v1/search` and `/v1/search/fuzzy`: pure functions of a
//! [`Tables`] and a request.
//!
//! A prefix search matches the start of identifiers (job, evaluation, allocation, node and
//! deployment ids, namespace names) and lists them sorted, at most a cap per context. A fuzzy
//! search finds a text anywhere in names, whatever its case: job ids and what jobs declare
//! (groups, tasks, services, images, commands, classes), the catalog's service names, allocation
//! and node names, namespaces; closest first. Both look in one namespace, or in every one for
//! `*`. Contexts we hold no objects for (plugins, volumes, node pools, quotas, scaling policies)
//! answer empty lists.

use super::tables::{Table, Tables};
use api::search::context::*;
use api::search::{
    FuzzyMatch, FuzzySearchResponse, SearchResponse, FUZZY_CONTEXTS, FUZZY_LIMIT_RESULTS,
    FUZZY_MIN_TERM_LENGTH, PREFIX_CONTEXTS,
};
use api::{Job, Service};
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::fmt;
use std::ops::Bound;
use std::sync::Arc;

/// Why a search is refused (the API answers 400 with it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchError {
    UnknownContext {
        /// "prefix" or "fuzzy".
        mode: &'static str,
        given: String,
        valid: &'static [&'static str],
    },
    TextTooShort {
        min: usize,
        got: usize,
    },
}

impl fmt::Display for SearchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SearchError::UnknownContext { mode, given, valid } => write!(
                f,
                "invalid {mode} search context {given:?}: valid contexts are {}",
                valid.join(", ")
            ),
            SearchError::TextTooShort { min, got } => write!(
                f,
                "fuzzy search text must be at least {min} characters long (min_term_length), \
                 got {got}"
            ),
        }
    }
}

impl std::error::Error for SearchError {}

/// What a fuzzy search may return and needs (Nomad's `search` block, at its defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FuzzyLimits {
    /// Matches listed per kind of object.
    pub results: usize,
    /// The shortest text searched for, in characters.
    pub min_term_length: usize,
}

impl Default for FuzzyLimits {
    fn default() -> Self {
        FuzzyLimits {
            results: FUZZY_LIMIT_RESULTS,
            min_term_length: FUZZY_MIN_TERM_LENGTH,
        }
    }
}

/// Whether an object of namespace `ns` is wanted by a search of `wanted` (`*`: any).
fn in_namespace(ns: &str, wanted: &str) -> bool {
    wanted == "*" || ns == wanted
}

/// What `all` expands to in a prefix search.
const PREFIX_ALL: &[&str] = &[
    ALLOCS,
    DEPLOYMENTS,
    EVALS,
    JOBS,
    NAMESPACES,
    NODE_POOLS,
    NODES,
    PLUGINS,
    SCALING_POLICIES,
    VOLUMES,
];

/// What a fuzzy search of jobs finds: the jobs and what they declare.
const JOB_KINDS: &[&str] = &[JOBS, GROUPS, SERVICES, TASKS, IMAGES, COMMANDS, CLASSES];

/// What a fuzzy search of `all` adds to the job kinds: the other fuzzy contexts, and the
/// objects known by their id alone, prefix-matched.
const FUZZY_ALL_OTHERS: &[&str] = &[
    ALLOCS,
    NODES,
    NODE_POOLS,
    PLUGINS,
    NAMESPACES,
    DEPLOYMENTS,
    EVALS,
    VOLUMES,
    SCALING_POLICIES,
];

fn prefix_contexts(given: &str) -> Result<Vec<&'static str>, SearchError> {
    if given == ALL {
        return Ok(PREFIX_ALL.to_vec());
    }
    // Nomad's key is "deployment"; the plural reads naturally and names nothing else.
    if given == "deployments" {
        return Ok(vec![DEPLOYMENTS]);
    }
    PREFIX_CONTEXTS
        .iter()
        .find(|c| **c == given)
        .map(|c| vec![*c])
        .ok_or_else(|| SearchError::UnknownContext {
            mode: "prefix",
            given: given.to_string(),
            valid: PREFIX_CONTEXTS,
        })
}

fn fuzzy_kinds(given: &str) -> Result<Vec<&'static str>, SearchError> {
    match given {
        ALL => Ok(JOB_KINDS.iter().chain(FUZZY_ALL_OTHERS).copied().collect()),
        JOBS => Ok(JOB_KINDS.to_vec()),
        _ => FUZZY_CONTEXTS
            .iter()
            .find(|c| **c == given && **c != ALL)
            .map(|c| vec![*c])
            .ok_or_else(|| SearchError::UnknownContext {
                mode: "fuzzy",
                given: given.to_string(),
                valid: FUZZY_CONTEXTS,
            }),
    }
}

/// The index of the table a kind of object lives in (0 for kinds we hold none of).
fn kind_index(t: &Tables, kind: &str) -> u64 {
    match kind {
        JOBS | GROUPS | TASKS | IMAGES | COMMANDS | CLASSES | NAMESPACES => {
            t.table_index(Table::Jobs)
        }
        SERVICES => t
            .table_index(Table::Services)
            .max(t.table_index(Table::Jobs)),
        ALLOCS => t.table_index(Table::Allocs),
        NODES => t.table_index(Table::Nodes),
        EVALS => t.table_index(Table::Evals),
        DEPLOYMENTS => t.table_index(Table::Deployments),
        _ => 0,
    }
}

/// The first `limit` items, and whether there were more.
fn capped(mut items: impl Iterator<Item = String>, limit: usize) -> (Vec<String>, bool) {
    let list: Vec<String> = items.by_ref().take(limit).collect();
    let more = items.next().is_some();
    (list, more)
}

/// The namespaces the state knows of: `default`, and those of its jobs. One lookup per
/// namespace, not one per job.
fn namespaces(t: &Tables) -> BTreeSet<String> {
    let mut out = BTreeSet::from(["default".to_string()]);
    let mut next = t.jobs.keys().next().map(|(ns, _)| ns.clone());
    while let Some(ns) = next {
        // Every key of a later namespace sorts at or after (ns + "\0", "").
        let after = (format!("{ns}\0"), String::new());
        next = t.jobs.range(after..).next().map(|((n, _), _)| n.clone());
        out.insert(ns);
    }
    out
}

/// The jobs of a namespace (`*`: all), in (namespace, id) order.
fn jobs_in<'a>(t: &'a Tables, ns: &'a str) -> Box<dyn Iterator<Item = &'a Arc<Job>> + 'a> {
    if ns == "*" {
        Box::new(t.jobs.values())
    } else {
        Box::new(
            t.jobs
                .range((ns.to_string(), String::new())..)
                .take_while(move |((n, _), _)| n == ns)
                .map(|(_, j)| j),
        )
    }
}

/// Ids of one context that start with `prefix`, sorted: at most `limit`, and whether more
/// matched.
fn prefix_ids(
    t: &Tables,
    context: &str,
    prefix: &str,
    ns: &str,
    limit: usize,
) -> (Vec<String>, bool) {
    let from = (Bound::Included(prefix), Bound::Unbounded);
    match context {
        // Across namespaces a job id may repeat: list it once.
        JOBS if ns == "*" => capped(
            t.jobs
                .keys()
                .filter(|(_, id)| id.starts_with(prefix))
                .map(|(_, id)| id.clone())
                .collect::<BTreeSet<_>>()
                .into_iter(),
            limit,
        ),
        JOBS => capped(
            t.jobs
                .range((ns.to_string(), prefix.to_string())..)
                .take_while(|((n, id), _)| n == ns && id.starts_with(prefix))
                .map(|((_, id), _)| id.clone()),
            limit,
        ),
        EVALS => capped(
            t.evals
                .range::<_, str>(from)
                .take_while(|(id, _)| id.starts_with(prefix))
                .filter(|(_, e)| in_namespace(&e.namespace, ns))
                .map(|(id, _)| id.clone()),
            limit,
        ),
        ALLOCS => capped(
            t.allocs_from(prefix)
                .take_while(|a| a.id.starts_with(prefix))
                .filter(|a| in_namespace(&a.namespace, ns))
                .map(|a| a.id.clone()),
            limit,
        ),
        NODES => capped(
            t.nodes
                .range::<_, str>(from)
                .take_while(|(id, _)| id.starts_with(prefix))
                .map(|(id, _)| id.clone()),
            limit,
        ),
        DEPLOYMENTS => capped(
            t.deployments
                .range::<_, str>(from)
                .take_while(|(id, _)| id.starts_with(prefix))
                .filter(|(_, d)| in_namespace(&d.namespace, ns))
                .map(|(id, _)| id.clone()),
            limit,
        ),
        NAMESPACES => capped(
            namespaces(t).into_iter().filter(|n| n.starts_with(prefix)),
            limit,
        ),
        _ => (Vec::new(), false),
    }
}

/// `POST /v1/search`: the identifiers of `context` (or of every context, for `all`) that start
/// with `prefix`, in namespace `namespace` (`*`: any), at most `limit` per context.
pub fn prefix(
    t: &Tables,
    context: &str,
    prefix: &str,
    namespace: &str,
    limit: usize,
) -> Result<SearchResponse, SearchError> {
    let contexts = prefix_contexts(context)?;
    let mut resp = SearchResponse {
        known_leader: true,
        ..Default::default()
    };
    for c in contexts {
        let (ids, more) = prefix_ids(t, c, prefix, namespace, limit);
        resp.matches.insert(c.to_string(), ids);
        resp.truncations.insert(c.to_string(), more);
        resp.index = resp.index.max(kind_index(t, c));
    }
    Ok(resp)
}

/// How close a name is to the text: an exact name first, then names that start with the text,
/// then names holding it; earlier and in shorter names first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Rank {
    closeness: u8,
    at: usize,
    len: usize,
}

/// The text searched for, lowercased once.
struct Needle {
    lower: String,
    ascii: bool,
}

impl Needle {
    fn new(text: &str) -> Needle {
        Needle {
            lower: text.to_lowercase(),
            ascii: text.is_ascii(),
        }
    }

    /// Where the text is in `name` (ignoring case), ranked; None when it is not.
    fn rank(&self, name: &str) -> Option<Rank> {
        let (at, len) = if self.ascii && name.is_ascii() {
            // The common case, without allocating.
            let (hay, needle) = (name.as_bytes(), self.lower.as_bytes());
            let at = if needle.is_empty() {
                0
            } else if needle.len() > hay.len() {
                return None;
            } else {
                hay.windows(needle.len())
                    .position(|w| w.eq_ignore_ascii_case(needle))?
            };
            (at, hay.len())
        } else {
            let lower = name.to_lowercase();
            (lower.find(&self.lower)?, lower.len())
        };
        let closeness = match (at, len == self.lower.len()) {
            (0, true) => 0,
            (0, false) => 1,
            _ => 2,
        };
        Some(Rank { closeness, at, len })
    }
}

/// The best matches of one kind found so far, and how many matched in all.
struct Best {
    limit: usize,
    /// A max-heap: the worst kept match is on top, dropped when a better one comes.
    kept: BinaryHeap<(Rank, FuzzyMatch)>,
    matched: usize,
}

impl Best {
    fn push(&mut self, rank: Rank, m: FuzzyMatch) {
        self.matched += 1;
        self.kept.push((rank, m));
        if self.kept.len() > self.limit {
            self.kept.pop();
        }
    }
}

/// Matches per kind, each kind keeping its best `limit`.
struct Found {
    limit: usize,
    kinds: BTreeMap<&'static str, Best>,
}

impl Found {
    fn push(&mut self, kind: &'static str, rank: Rank, id: &str, scope: Vec<String>) {
        let limit = self.limit;
        self.kinds
            .entry(kind)
            .or_insert_with(|| Best {
                limit,
                kept: BinaryHeap::new(),
                matched: 0,
            })
            .push(
                rank,
                FuzzyMatch {
                    id: id.to_string(),
                    scope,
                },
            );
    }

    /// The matches of a kind, closest first, and whether more matched.
    fn take(&mut self, kind: &str) -> (Vec<FuzzyMatch>, bool) {
        match self.kinds.remove(kind) {
            None => (Vec::new(), false),
            Some(best) => {
                let more = best.matched > best.kept.len();
                let list = best.kept.into_sorted_vec().into_iter().map(|(_, m)| m);
                (list.collect(), more)
            }
        }
    }
}

/// A service's name as the catalog will hold it: Nomad's default (`<job>-<group>[-<task>]`)
/// when unnamed, with `${JOB}`, `${TASKGROUP}`, `${TASK}` and `${BASE}` replaced. None when it
/// holds other variables, known only on the client (the catalog has the real name then).
fn service_name(svc: &Service, job: &str, group: &str, task: Option<&str>) -> Option<String> {
    let base = match task {
        Some(task) => format!("{job}-{group}-{task}"),
        None => format!("{job}-{group}"),
    };
    if svc.name.is_empty() {
        return Some(base);
    }
    let name = svc
        .name
        .replace("${JOB}", job)
        .replace("${TASKGROUP}", group)
        .replace("${TASK}", task.unwrap_or(""))
        .replace("${BASE}", &base);
    (!name.contains("${")).then_some(name)
}

/// Jobs (by id or name), and the groups, tasks, services, images, commands and classes they
/// declare; then the catalog's services that no job spec names (interpolated names, say).
fn fuzzy_jobs(t: &Tables, needle: &Needle, ns: &str, found: &mut Found) {
    // (namespace, job, service name): one match per service of a job.
    let mut services: BTreeSet<(String, String, String)> = BTreeSet::new();
    let mut service = |found: &mut Found, name: String, scope: Vec<String>| {
        if let Some(rank) = needle.rank(&name) {
            if services.insert((scope[0].clone(), scope[1].clone(), name.clone())) {
                found.push(SERVICES, rank, &name, scope);
            }
        }
    };
    for job in jobs_in(t, ns) {
        let (jns, jid) = (job.namespace.as_str(), job.id.as_str());
        let rank = match (needle.rank(jid), needle.rank(&job.name)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(rank) = rank {
            found.push(JOBS, rank, jid, vec![jns.to_string()]);
        }
        for tg in &job.task_groups {
            let in_job = || vec![jns.to_string(), jid.to_string()];
            let in_group = || vec![jns.to_string(), jid.to_string(), tg.name.clone()];
            if let Some(rank) = needle.rank(&tg.name) {
                found.push(GROUPS, rank, &tg.name, in_job());
            }
            for svc in &tg.services {
                if let Some(name) = service_name(svc, jid, &tg.name, None) {
                    service(found, name, in_group());
                }
            }
            for task in &tg.tasks {
                let in_task = || {
                    let mut s = in_group();
                    s.push(task.name.clone());
                    s
                };
                if let Some(rank) = needle.rank(&task.name) {
                    found.push(TASKS, rank, &task.name, in_group());
                }
                for svc in &task.services {
                    if let Some(name) = service_name(svc, jid, &tg.name, Some(&task.name)) {
                        service(found, name, in_task());
                    }
                }
                for (key, kind) in [("image", IMAGES), ("command", COMMANDS), ("class", CLASSES)] {
                    let Some(value) = task.config.get(key).and_then(|v| v.as_str()) else {
                        continue;
                    };
                    if let Some(rank) = needle.rank(value) {
                        found.push(kind, rank, value, in_task());
                    }
                }
            }
        }
    }
    for ((sns, name), ids) in t.services_by_name.iter() {
        if !in_namespace(sns, ns) || needle.rank(name).is_none() {
            continue;
        }
        for id in ids {
            let Some(reg) = t.services.get(id) else {
                continue;
            };
            let mut scope = vec![sns.clone(), reg.job_id.clone()];
            if let Some(alloc) = t.allocs.get(reg.alloc_id.as_str()) {
                scope.push(alloc.task_group.clone());
            }
            service(found, name.clone(), scope);
        }
    }
}

/// `POST /v1/search/fuzzy`: the objects of `context` whose names hold `text` (ignoring case),
/// closest first, in namespace `namespace` (`*`: any). `jobs` also finds what jobs declare;
/// `all` also prefix-matches the ids of evaluations and deployments.
pub fn fuzzy(
    t: &Tables,
    context: &str,
    text: &str,
    namespace: &str,
    limits: FuzzyLimits,
) -> Result<FuzzySearchResponse, SearchError> {
    let kinds = fuzzy_kinds(context)?;
    let text = text.trim();
    let got = text.chars().count();
    if got < limits.min_term_length {
        return Err(SearchError::TextTooShort {
            min: limits.min_term_length,
            got,
        });
    }
    let needle = Needle::new(text);
    let mut found = Found {
        limit: limits.results,
        kinds: BTreeMap::new(),
    };
    let wants = |kind: &str| kinds.contains(&kind);
    if wants(JOBS) {
        fuzzy_jobs(t, &needle, namespace, &mut found);
    }
    if wants(ALLOCS) {
        for a in t.allocs().filter(|a| in_namespace(&a.namespace, namespace)) {
            if let Some(rank) = needle.rank(&a.name) {
                found.push(
                    ALLOCS,
                    rank,
                    &a.name,
                    vec![a.namespace.clone(), a.id.clone()],
                );
            }
        }
    }
    if wants(NODES) {
        for n in t.nodes() {
            if let Some(rank) = needle.rank(&n.name) {
                found.push(NODES, rank, &n.name, vec![n.id.clone()]);
            }
        }
    }
    if wants(NAMESPACES) {
        for ns in namespaces(t) {
            if let Some(rank) = needle.rank(&ns) {
                found.push(NAMESPACES, rank, &ns, Vec::new());
            }
        }
    }
    let mut resp = FuzzySearchResponse {
        known_leader: true,
        ..Default::default()
    };
    for kind in kinds {
        let (list, more) = match kind {
            // Known by their id alone: prefix-matched, as Nomad does under `all`.
            EVALS | DEPLOYMENTS => {
                let (ids, more) = prefix_ids(t, kind, text, namespace, limits.results);
                let list = ids
                    .into_iter()
                    .map(|id| FuzzyMatch {
                        id,
                        scope: Vec::new(),
                    })
                    .collect();
                (list, more)
            }
            _ => found.take(kind),
        };
        resp.matches.insert(kind.to_string(), list);
        resp.truncations.insert(kind.to_string(), more);
        resp.index = resp.index.max(kind_index(t, kind));
    }
    Ok(resp)
}

#[cfg(test)]
#[path = "search_tests.rs"]
mod tests;
