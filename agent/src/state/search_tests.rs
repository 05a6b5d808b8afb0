//! The search over a small state built with the state tests' helpers.

use super::*;
use crate::state::tests as state_tests;
use crate::state::Command;
use api::search::PREFIX_LIMIT;
use api::*;
use state_tests::register;

/// The state tests' one-group job, in namespace `ns`.
fn job(ns: &str, id: &str) -> Job {
    Job {
        namespace: ns.into(),
        ..state_tests::job(id)
    }
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

/// The state tests' allocation, running, in namespace `ns`.
fn alloc(ns: &str, id: &str, job: &str, node: &str) -> Allocation {
    Allocation {
        namespace: ns.into(),
        client_status: ALLOC_CLIENT_RUNNING.into(),
        ..state_tests::alloc(id, job, node)
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
