//! The watcher's decisions on hand-built states: failure (with and without a rollback),
//! success, progress deadlines, automatic promotion, and progress that asks for an evaluation.

use super::*;
use crate::state::{Command, DeploymentStatusUpdate};

const S: i64 = 1_000_000_000;

/// The watcher's decision on `d` with its counts made from `t`.
fn decide(
    t: &Tables,
    d: &Arc<Deployment>,
    now: i64,
    seen: Option<(usize, usize)>,
) -> Option<Decision> {
    super::decide(t, d, now, seen, &health_counts(t, d))
}

fn job(build: &str) -> Job {
    let mut j = Job {
        id: "web".into(),
        name: "web".into(),
        task_groups: vec![TaskGroup {
            name: "g".into(),
            count: 2,
            tasks: vec![Task {
                name: "t".into(),
                driver: "raw_exec".into(),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    j.meta.insert("build".into(), build.into());
    j.canonicalize();
    j
}

fn deployment(version: u64, canaries: i64, auto_promote: bool, auto_revert: bool) -> Deployment {
    Deployment {
        id: format!("d{version}"),
        namespace: "default".into(),
        job_id: "web".into(),
        job_version: version,
        task_groups: [(
            "g".to_string(),
            DeploymentState {
                desired_total: 2,
                desired_canaries: canaries,
                auto_promote,
                auto_revert,
                progress_deadline: 600 * S,
                require_progress_by: api::time::rfc3339_nanos(1000 * S),
                ..Default::default()
            },
        )]
        .into(),
        status: DEPLOYMENT_STATUS_RUNNING.into(),
        ..Default::default()
    }
}

fn alloc(id: &str, d: &str, canary: bool) -> Allocation {
    Allocation {
        id: id.into(),
        namespace: "default".into(),
        job_id: "web".into(),
        task_group: "g".into(),
        name: "web.g[0]".into(),
        desired_status: ALLOC_DESIRED_RUN.into(),
        client_status: ALLOC_CLIENT_RUNNING.into(),
        deployment_id: d.into(),
        deployment_status: canary.then(|| AllocDeploymentStatus {
            canary: true,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// v0 stable, v1 the job now, deployment `d` of v1 with `allocs` placed.
fn tables(d: Deployment, allocs: Vec<Allocation>) -> Tables {
    let mut t = Tables::default();
    let reg = |t: &mut Tables, i, b: &str| {
        t.apply(
            i,
            &Command::JobRegister {
                job: Box::new(job(b)),
                eval: None,
                now: i as i64,
            },
        );
    };
    reg(&mut t, 1, "v0");
    let mut d0 = deployment(0, 0, false, false);
    d0.status = DEPLOYMENT_STATUS_RUNNING.into();
    t.apply(
        2,
        &Command::PlanApply {
            jobs: vec![],
            updated: vec![],
            placed: vec![],
            evals: vec![],
            now: 0,
            deployments: vec![d0],
            deployment_updates: vec![DeploymentStatusUpdate {
                deployment_id: "d0".into(),
                status: DEPLOYMENT_STATUS_SUCCESSFUL.into(),
                status_description: String::new(),
            }],
        },
    );
    reg(&mut t, 3, "v1");
    t.apply(
        4,
        &Command::PlanApply {
            jobs: vec![],
            updated: vec![],
            placed: allocs,
            evals: vec![],
            now: 0,
            deployments: vec![d],
            deployment_updates: vec![],
        },
    );
    t
}

fn judge(t: &mut Tables, index: u64, id: &str, healthy: bool) {
    t.apply(
        index,
        &Command::AllocClientUpdate {
            updates: vec![AllocClientUpdate {
                id: id.into(),
                client_status: ALLOC_CLIENT_RUNNING.into(),
                deployment_status: Some(AllocDeploymentStatus {
                    healthy: Some(healthy),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            evals: vec![],
            now: 500 * S,
        },
    );
}

fn decide_now(t: &Tables, seen: Option<(usize, usize)>) -> Option<Decision> {
    let d = t.deployment("d1").unwrap();
    decide(t, &d, 600 * S, seen)
}

/// `deployment` without a progress deadline: the first unhealthy allocation fails it.
fn deployment_without_deadline(auto_revert: bool) -> Deployment {
    let mut d = deployment(1, 0, false, auto_revert);
    for g in d.task_groups.values_mut() {
        g.progress_deadline = 0;
        g.require_progress_by = String::new();
    }
    d
}

#[test]
fn with_a_progress_deadline_an_unhealthy_allocation_is_replaced_not_fatal() {
    // Scenario: progress_deadline 600 s. An allocation is judged unhealthy: the watcher asks for
    // an evaluation (which replaces it) instead of failing; the deadline fails it later.
    let mut t = tables(deployment(1, 0, false, true), vec![alloc("a", "d1", false)]);
    judge(&mut t, 5, "a", false);
    assert!(matches!(
        decide_now(&t, Some((0, 0))),
        Some(Decision::Continue { .. })
    ));
    assert_eq!(decide_now(&t, Some((0, 1))), None, "already acted on");
    let d = t.deployment("d1").unwrap();
    assert!(matches!(
        decide(&t, &d, 2000 * S, Some((0, 1))),
        Some(Decision::Fail { .. })
    ));
}

#[test]
fn an_unhealthy_allocation_fails_the_deployment_and_rolls_back_when_asked() {
    let mut t = tables(
        deployment_without_deadline(true),
        vec![alloc("a", "d1", false)],
    );
    assert!(t.job_versions("default", "web")[1].stable, "v0 is stable");
    judge(&mut t, 5, "a", false);
    match decide_now(&t, None) {
        Some(Decision::Fail {
            description,
            revert_to: Some(j),
            ..
        }) => {
            assert_eq!(j.version, 0);
            assert_eq!(
                description,
                "Failed due to unhealthy allocations - rolling back to job version 0"
            );
        }
        other => panic!("{other:?}"),
    }
    let mut t = tables(
        deployment_without_deadline(false),
        vec![alloc("a", "d1", false)],
    );
    judge(&mut t, 5, "a", false);
    assert!(matches!(
        decide_now(&t, None),
        Some(Decision::Fail {
            revert_to: None,
            ..
        })
    ));
}

#[test]
fn progress_continues_and_success_ends_it() {
    let mut t = tables(
        deployment(1, 0, false, false),
        vec![alloc("a", "d1", false), alloc("b", "d1", false)],
    );
    // A new leader has nothing to kick while nothing is healthy.
    assert_eq!(decide_now(&t, None), None);
    assert_eq!(decide_now(&t, Some((0, 0))), None, "nothing new");
    judge(&mut t, 5, "a", true);
    assert!(matches!(
        decide_now(&t, Some((0, 0))),
        Some(Decision::Continue { .. })
    ));
    assert!(matches!(
        decide_now(&t, None),
        Some(Decision::Continue { .. })
    ));
    judge(&mut t, 6, "b", true);
    assert!(matches!(
        decide_now(&t, Some((1, 0))),
        Some(Decision::Succeed { .. })
    ));
    let d = t.deployment("d1").unwrap();
    assert_eq!(d.task_groups["g"].healthy_allocs, 2);
    assert_eq!(d.task_groups["g"].placed_allocs, 2);
}

#[test]
fn a_missed_progress_deadline_fails_it() {
    let t = tables(
        deployment(1, 0, false, false),
        vec![alloc("a", "d1", false)],
    );
    let d = t.deployment("d1").unwrap();
    match decide(&t, &d, 2000 * S, Some((0, 0))) {
        Some(Decision::Fail { description, .. }) => {
            assert_eq!(description, DEPLOYMENT_DESC_PROGRESS_DEADLINE)
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn healthy_canaries_promote_themselves_only_with_auto_promote() {
    for auto in [true, false] {
        let mut t = tables(deployment(1, 1, auto, false), vec![alloc("c", "d1", true)]);
        assert_eq!(
            t.deployment("d1").unwrap().task_groups["g"].placed_canaries,
            ["c"]
        );
        judge(&mut t, 5, "c", true);
        let decision = decide_now(&t, Some((1, 0)));
        assert_eq!(
            matches!(decision, Some(Decision::Promote { .. })),
            auto,
            "{decision:?}"
        );
        assert!(
            t.alloc("c")
                .unwrap()
                .deployment_status
                .clone()
                .unwrap()
                .canary,
            "the client's report keeps the canary flag"
        );
    }
}

#[test]
fn a_verdict_on_an_outdated_deployment_is_refused_and_rolls_nothing_back() {
    // Scenario: the watcher decides to fail d1 (with a rollback to v0), but a v2 is registered
    // before its decision is applied: the decision is refused, the job stays on v2.
    let mut t = tables(deployment(1, 0, false, true), vec![alloc("a", "d1", false)]);
    t.apply(
        5,
        &Command::JobRegister {
            job: Box::new(job("v2")),
            eval: None,
            now: 5,
        },
    );
    let v0 = t.job_versions("default", "web").last().cloned().unwrap();
    let res = t.apply(
        6,
        &Command::DeploymentStatus {
            update: DeploymentStatusUpdate {
                deployment_id: "d1".into(),
                status: DEPLOYMENT_STATUS_FAILED.into(),
                status_description: "late".into(),
            },
            revert_to: Some(Box::new((*v0).clone())),
            evals: vec![],
            now: 6,
        },
    );
    let err = res.error.expect("refused");
    assert!(err.contains("no longer at version 1"), "{err}");
    assert_eq!(t.job("default", "web").unwrap().version, 2);
    assert_eq!(
        t.deployment("d1").unwrap().status,
        DEPLOYMENT_STATUS_RUNNING
    );
}

#[test]
fn a_verdict_made_for_an_earlier_deployment_is_not_counted() {
    // Scenario: the client judged allocation "a" unhealthy for deployment d0, and its report
    // arrives after "a" moved into d1: d1 counts nothing and does not fail.
    let mut t = tables(
        deployment(1, 0, false, false),
        vec![alloc("a", "d1", false)],
    );
    t.apply(
        5,
        &Command::AllocClientUpdate {
            updates: vec![AllocClientUpdate {
                id: "a".into(),
                client_status: ALLOC_CLIENT_RUNNING.into(),
                deployment_status: Some(AllocDeploymentStatus {
                    healthy: Some(false),
                    ..Default::default()
                }),
                deployment_id: "d0".into(),
                ..Default::default()
            }],
            evals: vec![],
            now: 500 * S,
        },
    );
    let a = t.alloc("a").unwrap();
    assert!(a.deployment_status.is_none(), "{:?}", a.deployment_status);
    assert_eq!(
        t.deployment("d1").unwrap().task_groups["g"].unhealthy_allocs,
        0
    );
    assert_eq!(decide_now(&t, Some((0, 0))), None);
}

#[test]
fn a_paused_deployment_misses_no_deadline_and_resumes_with_a_fresh_one() {
    // Scenario: d1 is paused past its progress deadline: no decision. Resumed at 5000 s, its
    // deadline starts again from then.
    let mut t = tables(
        deployment(1, 0, false, false),
        vec![alloc("a", "d1", false)],
    );
    let status = |t: &mut Tables, index, status: &str, now| {
        let res = t.apply(
            index,
            &Command::DeploymentStatus {
                update: DeploymentStatusUpdate {
                    deployment_id: "d1".into(),
                    status: status.into(),
                    status_description: String::new(),
                },
                revert_to: None,
                evals: vec![],
                now,
            },
        );
        assert!(res.error.is_none(), "{res:?}");
    };
    status(&mut t, 5, DEPLOYMENT_STATUS_PAUSED, 900 * S);
    let d = t.deployment("d1").unwrap();
    assert_eq!(decide(&t, &d, 2000 * S, Some((0, 0))), None);
    status(&mut t, 6, DEPLOYMENT_STATUS_RUNNING, 5000 * S);
    let d = t.deployment("d1").unwrap();
    assert_eq!(
        d.task_groups["g"].require_progress_by,
        api::time::rfc3339_nanos(5600 * S)
    );
    assert_eq!(decide(&t, &d, 5100 * S, Some((0, 0))), None);
}
