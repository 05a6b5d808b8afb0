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
mod tests {
    use super::*;
    use crate::state::Command;
    use api::search::PREFIX_LIMIT;
    use api::*;

    fn job(ns: &str, id: &str) -> Job {
        let mut j = Job {
            id: id.into(),
            name: id.into(),
            namespace: ns.into(),
            task_groups: vec![TaskGroup {
                name: "g".into(),
                tasks: vec![Task {
                    name: "t".into(),
                    driver: "raw_exec".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        j.canonicalize();
        j
    }

    /// Nomad's documented example: a job whose group, task, services and image hold "py".
    fn python_job() -> Job {
        let mut task = Task {
            name: "my-python-task".into(),
            driver: "docker".into(),
            services: vec![Service {
                name: "python-logger".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        task.config.insert("image".into(), "python:3".into());
        task.config
            .insert("command".into(), "/usr/bin/spyglass".into());
        let mut j = Job {
            id: "example-python".into(),
            task_groups: vec![TaskGroup {
                name: "my-spy-app".into(),
                services: vec![Service {
                    name: "super-spy-service".into(),
                    ..Default::default()
                }],
                tasks: vec![task],
                ..Default::default()
            }],
            ..Default::default()
        };
        j.canonicalize();
        j
    }

    fn alloc(ns: &str, id: &str, job: &str, node: &str) -> Allocation {
        Allocation {
            id: id.into(),
            namespace: ns.into(),
            job_id: job.into(),
            node_id: node.into(),
            name: format!("{job}.g[0]"),
            task_group: "g".into(),
            desired_status: ALLOC_DESIRED_RUN.into(),
            client_status: ALLOC_CLIENT_RUNNING.into(),
            ..Default::default()
        }
    }

    fn eval(ns: &str, id: &str, job: &str) -> Evaluation {
        Evaluation {
            id: id.into(),
            namespace: ns.into(),
            job_id: job.into(),
            status: EVAL_STATUS_COMPLETE.into(),
            ..Default::default()
        }
    }

    fn deployment(ns: &str, id: &str, job: &str) -> Deployment {
        Deployment {
            id: id.into(),
            namespace: ns.into(),
            job_id: job.into(),
            ..Default::default()
        }
    }

    fn register(t: &mut Tables, index: u64, job: Job) {
        t.apply(
            index,
            &Command::JobRegister {
                job: Box::new(job),
                eval: None,
                now: 0,
            },
        );
    }

    fn node(t: &mut Tables, index: u64, id: &str, name: &str) {
        t.apply(
            index,
            &Command::NodeRegister {
                node: Box::new(Node {
                    id: id.into(),
                    name: name.into(),
                    status: NODE_STATUS_READY.into(),
                    ..Default::default()
                }),
                evals: vec![],
                now: 0,
                secret_hash: String::new(),
            },
        );
    }

    fn place(t: &mut Tables, index: u64, allocs: Vec<Allocation>, deployments: Vec<Deployment>) {
        t.apply(
            index,
            &Command::PlanApply {
                jobs: vec![],
                updated: vec![],
                placed: allocs,
                evals: vec![],
                now: 0,
                deployments,
                deployment_updates: vec![],
            },
        );
    }

    fn catalog(t: &mut Tables, index: u64, name: &str, ns: &str, job: &str, alloc: &str) {
        t.apply(
            index,
            &Command::ServiceUpdate {
                upsert: vec![ServiceRegistration {
                    id: format!("_nomad-task-{alloc}-t-{name}-http"),
                    service_name: name.into(),
                    namespace: ns.into(),
                    node_id: "abc3-node".into(),
                    datacenter: "dc1".into(),
                    job_id: job.into(),
                    alloc_id: alloc.into(),
                    address: "127.0.0.1".into(),
                    port: 8080,
                    ..Default::default()
                }],
                delete: vec![],
            },
        );
    }

    /// Objects whose ids start with "abc" in every context, in namespaces default and prod.
    fn cluster() -> Tables {
        let mut t = Tables::default();
        register(&mut t, 1, job("default", "abc-web"));
        register(&mut t, 2, job("default", "zzz-batch"));
        register(&mut t, 3, job("prod", "abc-prod"));
        register(&mut t, 4, python_job());
        node(&mut t, 5, "abc3-node", "nomad-lab1");
        node(&mut t, 6, "fff3-node", "nomad-lab2");
        place(
            &mut t,
            7,
            vec![
                alloc("default", "abc2-alloc", "abc-web", "abc3-node"),
                alloc("prod", "abc2-prod", "abc-prod", "abc3-node"),
                alloc("default", "eee2-alloc", "zzz-batch", "fff3-node"),
            ],
            vec![
                deployment("default", "abc4-deploy", "abc-web"),
                deployment("prod", "abc4-prod", "abc-prod"),
            ],
        );
        t.apply(
            8,
            &Command::EvalUpsert {
                evals: vec![
                    eval("default", "abc1-eval", "abc-web"),
                    eval("prod", "abc1-prod", "abc-prod"),
                    eval("default", "ddd1-eval", "zzz-batch"),
                ],
            },
        );
        t
    }

    fn matches<'a>(r: &'a SearchResponse, c: &str) -> Vec<&'a str> {
        r.matches
            .get(c)
            .unwrap_or_else(|| panic!("no {c} in {r:?}"))
            .iter()
            .map(String::as_str)
            .collect()
    }

    fn fuzzy_ids<'a>(r: &'a FuzzySearchResponse, kind: &str) -> Vec<(&'a str, Vec<&'a str>)> {
        r.matches
            .get(kind)
            .unwrap_or_else(|| panic!("no {kind} in {r:?}"))
            .iter()
            .map(|m| (m.id.as_str(), m.scope.iter().map(String::as_str).collect()))
            .collect()
    }

    #[test]
    fn a_prefix_matches_ids_in_every_context() {
        let t = cluster();
        let r = prefix(&t, "all", "abc", "default", PREFIX_LIMIT).expect("a valid search");
        assert_eq!(matches(&r, JOBS), ["abc-web"]);
        assert_eq!(matches(&r, EVALS), ["abc1-eval"]);
        assert_eq!(matches(&r, ALLOCS), ["abc2-alloc"]);
        assert_eq!(matches(&r, NODES), ["abc3-node"]);
        assert_eq!(matches(&r, DEPLOYMENTS), ["abc4-deploy"]);
        for empty in [PLUGINS, VOLUMES, NODE_POOLS, SCALING_POLICIES] {
            assert!(matches(&r, empty).is_empty(), "{empty}");
        }
        assert!(r.truncations.values().all(|more| !more), "{r:?}");
        assert_eq!(
            r.truncations.keys().collect::<Vec<_>>(),
            r.matches.keys().collect::<Vec<_>>()
        );
        assert_eq!(r.index, 8, "the newest of the tables searched");

        // One context answers only its own key; "deployments" is read as Nomad's "deployment".
        let r = prefix(&t, "evals", "ab", "default", PREFIX_LIMIT).expect("valid");
        assert_eq!(r.matches.keys().collect::<Vec<_>>(), ["evals"]);
        assert_eq!(matches(&r, EVALS), ["abc1-eval"]);
        let r = prefix(&t, "deployments", "abc", "default", PREFIX_LIMIT).expect("valid");
        assert_eq!(matches(&r, DEPLOYMENTS), ["abc4-deploy"]);

        // A prefix nothing has.
        let r = prefix(&t, "all", "nope", "default", PREFIX_LIMIT).expect("valid");
        assert!(r.matches.values().all(Vec::is_empty), "{r:?}");
    }

    #[test]
    fn a_prefix_search_keeps_to_its_namespace() {
        let t = cluster();
        let r = prefix(&t, "all", "abc", "prod", PREFIX_LIMIT).expect("valid");
        assert_eq!(matches(&r, JOBS), ["abc-prod"]);
        assert_eq!(matches(&r, EVALS), ["abc1-prod"]);
        assert_eq!(matches(&r, ALLOCS), ["abc2-prod"]);
        assert_eq!(matches(&r, DEPLOYMENTS), ["abc4-prod"]);
        // Nodes belong to no namespace.
        assert_eq!(matches(&r, NODES), ["abc3-node"]);

        let r = prefix(&t, "all", "abc", "*", PREFIX_LIMIT).expect("valid");
        assert_eq!(matches(&r, JOBS), ["abc-prod", "abc-web"]);
        assert_eq!(matches(&r, EVALS), ["abc1-eval", "abc1-prod"]);
        assert_eq!(matches(&r, ALLOCS), ["abc2-alloc", "abc2-prod"]);
        assert_eq!(matches(&r, DEPLOYMENTS), ["abc4-deploy", "abc4-prod"]);

        let r = prefix(&t, "all", "abc", "staging", PREFIX_LIMIT).expect("valid");
        for c in [JOBS, EVALS, ALLOCS, DEPLOYMENTS] {
            assert!(matches(&r, c).is_empty(), "{c} in staging: {r:?}");
        }

        // Namespaces: default, and those of the jobs.
        let r = prefix(&t, "namespaces", "", "default", PREFIX_LIMIT).expect("valid");
        assert_eq!(matches(&r, NAMESPACES), ["default", "prod"]);
        let r = prefix(&t, "namespaces", "pr", "default", PREFIX_LIMIT).expect("valid");
        assert_eq!(matches(&r, NAMESPACES), ["prod"]);
    }

    #[test]
    fn an_empty_prefix_lists_everything_sorted_up_to_the_limit() {
        let mut t = Tables::default();
        // Registered in reverse, so the answer's order is the search's own.
        for i in (0..25u64).rev() {
            register(&mut t, 25 - i, job("default", &format!("job-{i:02}")));
        }
        let r = prefix(&t, "jobs", "", "default", PREFIX_LIMIT).expect("valid");
        let want: Vec<String> = (0..20).map(|i| format!("job-{i:02}")).collect();
        assert_eq!(r.matches[JOBS], want);
        assert!(r.truncations[JOBS], "25 jobs matched, 20 listed");

        // Exactly the limit is not a truncation; one more is.
        let r = prefix(&t, "jobs", "job-0", "default", 10).expect("valid");
        assert_eq!(r.matches[JOBS].len(), 10);
        assert!(!r.truncations[JOBS]);
        let r = prefix(&t, "jobs", "job-", "default", 24).expect("valid");
        assert_eq!(r.matches[JOBS].len(), 24);
        assert!(r.truncations[JOBS]);

        // Allocations too, and across namespaces.
        let allocs = (0..21)
            .map(|i| {
                alloc(
                    if i % 2 == 0 { "default" } else { "prod" },
                    &format!("a{i:02}"),
                    "j",
                    "n",
                )
            })
            .collect();
        place(&mut t, 30, allocs, vec![]);
        let r = prefix(&t, "allocs", "", "*", PREFIX_LIMIT).expect("valid");
        assert_eq!(r.matches[ALLOCS].first().map(String::as_str), Some("a00"));
        assert_eq!(r.matches[ALLOCS].last().map(String::as_str), Some("a19"));
        assert!(r.truncations[ALLOCS]);
        let r = prefix(&t, "allocs", "", "default", PREFIX_LIMIT).expect("valid");
        assert_eq!(r.matches[ALLOCS].len(), 11);
        assert!(!r.truncations[ALLOCS]);
    }

    #[test]
    fn an_unknown_context_is_refused_naming_the_valid_ones() {
        let t = cluster();
        let err = prefix(&t, "bogus", "a", "default", PREFIX_LIMIT).expect_err("unknown");
        let msg = err.to_string();
        assert!(msg.contains("\"bogus\""), "{msg}");
        for c in ["jobs", "evals", "allocs", "nodes", "deployment", "all"] {
            assert!(msg.contains(c), "{c} missing from {msg}");
        }
        assert!(prefix(&t, "", "a", "default", PREFIX_LIMIT).is_err());

        // Fuzzy search has fewer contexts: evaluations are prefix-matched under "all" only.
        let err = fuzzy(&t, "evals", "ab", "default", FuzzyLimits::default()).expect_err("x");
        assert!(
            matches!(&err, SearchError::UnknownContext { mode: "fuzzy", .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("jobs, namespaces"), "{err}");
        // Contexts we hold nothing of answer empty.
        let r = fuzzy(&t, "plugins", "aws", "default", FuzzyLimits::default()).expect("valid");
        assert_eq!(r.matches[PLUGINS], []);
        assert!(!r.truncations[PLUGINS]);
        let r = prefix(&t, "volumes", "", "default", PREFIX_LIMIT).expect("valid");
        assert!(r.matches[VOLUMES].is_empty());
        let r = prefix(&t, "quotas", "", "default", PREFIX_LIMIT).expect("valid");
        assert!(r.matches[QUOTAS].is_empty());
    }

    #[test]
    fn a_fuzzy_text_shorter_than_the_minimum_is_refused() {
        let t = cluster();
        let limits = FuzzyLimits::default();
        assert_eq!(
            fuzzy(&t, "jobs", "a", "default", limits),
            Err(SearchError::TextTooShort { min: 2, got: 1 })
        );
        // Surrounding blanks do not count; characters, not bytes, do.
        assert_eq!(
            fuzzy(&t, "jobs", "  a ", "default", limits),
            Err(SearchError::TextTooShort { min: 2, got: 1 })
        );
        assert!(fuzzy(&t, "jobs", "", "default", limits).is_err());
        assert!(fuzzy(&t, "jobs", "é", "default", limits).is_err());
        let err = fuzzy(&t, "all", "a", "default", limits).expect_err("short");
        assert!(err.to_string().contains("at least 2 characters"), "{err}");
        assert!(fuzzy(&t, "jobs", "ab", "default", limits).is_ok());
    }

    #[test]
    fn fuzzy_search_finds_jobs_groups_tasks_and_services_with_their_scope() {
        let t = cluster();
        let r = fuzzy(&t, "jobs", "py", "default", FuzzyLimits::default()).expect("valid");
        assert_eq!(fuzzy_ids(&r, JOBS), [("example-python", vec!["default"])]);
        assert_eq!(
            fuzzy_ids(&r, GROUPS),
            [("my-spy-app", vec!["default", "example-python"])]
        );
        assert_eq!(
            fuzzy_ids(&r, TASKS),
            [(
                "my-python-task",
                vec!["default", "example-python", "my-spy-app"]
            )]
        );
        assert_eq!(
            fuzzy_ids(&r, SERVICES),
            [
                (
                    "python-logger",
                    vec!["default", "example-python", "my-spy-app", "my-python-task"]
                ),
                (
                    "super-spy-service",
                    vec!["default", "example-python", "my-spy-app"]
                ),
            ]
        );
        assert_eq!(
            fuzzy_ids(&r, IMAGES),
            [(
                "python:3",
                vec!["default", "example-python", "my-spy-app", "my-python-task"]
            )]
        );
        assert_eq!(
            fuzzy_ids(&r, COMMANDS),
            [(
                "/usr/bin/spyglass",
                vec!["default", "example-python", "my-spy-app", "my-python-task"]
            )]
        );
        assert_eq!(fuzzy_ids(&r, CLASSES), []);
        assert_eq!(
            r.matches.keys().collect::<Vec<_>>(),
            ["classes", "commands", "groups", "images", "jobs", "services", "tasks"]
        );
        assert!(r.truncations.values().all(|more| !more));

        // Another namespace does not see them; "*" does.
        let r = fuzzy(&t, "jobs", "py", "prod", FuzzyLimits::default()).expect("valid");
        assert!(r.matches.values().all(Vec::is_empty), "{r:?}");
        let r = fuzzy(&t, "jobs", "PROD", "*", FuzzyLimits::default()).expect("valid");
        assert_eq!(fuzzy_ids(&r, JOBS), [("abc-prod", vec!["prod"])]);

        // Unnamed services take Nomad's default name.
        let mut t = Tables::default();
        let mut j = job("default", "api");
        j.task_groups[0].services.push(Service::default());
        j.task_groups[0].tasks[0].services.push(Service {
            name: "${TASKGROUP}-${TASK}-metrics".into(),
            ..Default::default()
        });
        j.task_groups[0].tasks[0].services.push(Service {
            name: "${NOMAD_META_x}-hidden".into(),
            ..Default::default()
        });
        register(&mut t, 1, j);
        let r = fuzzy(&t, "jobs", "api-g", "default", FuzzyLimits::default()).expect("valid");
        assert_eq!(
            fuzzy_ids(&r, SERVICES),
            [("api-g", vec!["default", "api", "g"])]
        );
        let r = fuzzy(&t, "jobs", "metrics", "default", FuzzyLimits::default()).expect("valid");
        assert_eq!(
            fuzzy_ids(&r, SERVICES),
            [("g-t-metrics", vec!["default", "api", "g", "t"])]
        );
        let r = fuzzy(&t, "jobs", "hidden", "default", FuzzyLimits::default()).expect("valid");
        assert_eq!(fuzzy_ids(&r, SERVICES), []);
    }

    #[test]
    fn fuzzy_search_finds_catalog_services_once_per_job() {
        let mut t = cluster();
        // A name no job spec declares (say, interpolated on the client), registered twice.
        catalog(
            &mut t,
            10,
            "redis-cache",
            "default",
            "abc-web",
            "abc2-alloc",
        );
        let mut second = alloc("default", "abc2-second", "abc-web", "abc3-node");
        second.name = "abc-web.g[1]".into();
        place(&mut t, 11, vec![second], vec![]);
        catalog(
            &mut t,
            12,
            "redis-cache",
            "default",
            "abc-web",
            "abc2-second",
        );
        // And one the python job declares: it is not listed twice.
        let mut py = alloc("default", "py-alloc", "example-python", "abc3-node");
        py.task_group = "my-spy-app".into();
        place(&mut t, 13, vec![py], vec![]);
        catalog(
            &mut t,
            14,
            "python-logger",
            "default",
            "example-python",
            "py-alloc",
        );
        catalog(&mut t, 15, "redis-prod", "prod", "abc-prod", "abc2-prod");

        let r = fuzzy(&t, "jobs", "redis", "default", FuzzyLimits::default()).expect("valid");
        assert_eq!(
            fuzzy_ids(&r, SERVICES),
            [("redis-cache", vec!["default", "abc-web", "g"])]
        );
        assert_eq!(r.index, 15, "the catalog's index counts");
        let r = fuzzy(&t, "jobs", "redis", "*", FuzzyLimits::default()).expect("valid");
        assert_eq!(
            fuzzy_ids(&r, SERVICES),
            // Both start with the text: the shorter name is the closer.
            [
                ("redis-prod", vec!["prod", "abc-prod", "g"]),
                ("redis-cache", vec!["default", "abc-web", "g"]),
            ]
        );
        let r = fuzzy(&t, "jobs", "logger", "default", FuzzyLimits::default()).expect("valid");
        assert_eq!(
            fuzzy_ids(&r, SERVICES),
            [(
                "python-logger",
                vec!["default", "example-python", "my-spy-app", "my-python-task"]
            )]
        );
    }

    #[test]
    fn fuzzy_matches_come_closest_first_whatever_the_case() {
        let mut t = Tables::default();
        for (i, id) in ["my-api", "api-gateway", "API", "rapid", "apiary", "web"]
            .into_iter()
            .enumerate()
        {
            register(&mut t, i as u64 + 1, job("default", id));
        }
        let r = fuzzy(&t, "jobs", "api", "default", FuzzyLimits::default()).expect("valid");
        let ids: Vec<&str> = fuzzy_ids(&r, JOBS).into_iter().map(|(id, _)| id).collect();
        // Exact name, then names starting with it (shorter first), then holding it (earlier
        // first).
        assert_eq!(ids, ["API", "apiary", "api-gateway", "rapid", "my-api"]);
    }

    #[test]
    fn fuzzy_search_of_all_covers_allocs_nodes_and_prefixes_of_ids() {
        let t = cluster();
        let r = fuzzy(&t, "all", "lab", "*", FuzzyLimits::default()).expect("valid");
        assert_eq!(
            fuzzy_ids(&r, NODES),
            [
                ("nomad-lab1", vec!["abc3-node"]),
                ("nomad-lab2", vec!["fff3-node"]),
            ]
        );
        for empty in [
            JOBS,
            ALLOCS,
            EVALS,
            DEPLOYMENTS,
            PLUGINS,
            VOLUMES,
            NODE_POOLS,
        ] {
            assert!(r.matches[empty].is_empty(), "{empty}: {r:?}");
        }

        let r = fuzzy(&t, "all", "abc", "default", FuzzyLimits::default()).expect("valid");
        assert_eq!(fuzzy_ids(&r, JOBS), [("abc-web", vec!["default"])]);
        assert_eq!(
            fuzzy_ids(&r, ALLOCS),
            [("abc-web.g[0]", vec!["default", "abc2-alloc"])]
        );
        // Ids known by themselves are prefix-matched, without a scope.
        assert_eq!(fuzzy_ids(&r, EVALS), [("abc1-eval", vec![])]);
        assert_eq!(fuzzy_ids(&r, DEPLOYMENTS), [("abc4-deploy", vec![])]);
        assert_eq!(
            r.truncations.keys().collect::<Vec<_>>(),
            r.matches.keys().collect::<Vec<_>>()
        );

        let r = fuzzy(&t, "allocs", "batch", "default", FuzzyLimits::default()).expect("valid");
        assert_eq!(
            fuzzy_ids(&r, ALLOCS),
            [("zzz-batch.g[0]", vec!["default", "eee2-alloc"])]
        );
        assert_eq!(r.matches.keys().collect::<Vec<_>>(), ["allocs"]);
        let r = fuzzy(&t, "namespaces", "ro", "default", FuzzyLimits::default()).expect("valid");
        assert_eq!(fuzzy_ids(&r, NAMESPACES), [("prod", vec![])]);
    }

    #[test]
    fn fuzzy_results_are_truncated_at_the_limit_keeping_the_closest() {
        let mut t = Tables::default();
        for (i, id) in ["web-3", "web", "web-1", "old-web", "web-2"]
            .into_iter()
            .enumerate()
        {
            register(&mut t, i as u64 + 1, job("default", id));
        }
        let limits = FuzzyLimits {
            results: 3,
            ..Default::default()
        };
        let r = fuzzy(&t, "jobs", "web", "default", limits).expect("valid");
        let ids: Vec<&str> = fuzzy_ids(&r, JOBS).into_iter().map(|(id, _)| id).collect();
        assert_eq!(ids, ["web", "web-1", "web-2"]);
        assert!(r.truncations[JOBS], "5 matched, 3 listed");
        // Every job has group "g" and task "t": those were not truncated.
        assert!(!r.truncations[GROUPS]);

        let limits = FuzzyLimits {
            results: 5,
            ..Default::default()
        };
        let r = fuzzy(&t, "jobs", "web", "default", limits).expect("valid");
        assert_eq!(r.matches[JOBS].len(), 5);
        assert!(!r.truncations[JOBS]);

        // At Nomad's default of 100.
        let mut t = Tables::default();
        for i in 0..101u64 {
            register(&mut t, i + 1, job("default", &format!("svc-{i:03}")));
        }
        let r = fuzzy(&t, "jobs", "svc", "default", FuzzyLimits::default()).expect("valid");
        assert_eq!(r.matches[JOBS].len(), 100);
        assert_eq!(r.matches[JOBS][0].id, "svc-000");
        assert!(r.truncations[JOBS]);
    }
}
