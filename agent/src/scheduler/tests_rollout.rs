//! Scenario tests of rollouts: deployments created by the scheduler, `max_parallel`, canaries
//! and their promotion, and deployments cancelled by a newer version or a stopped job.

use super::testutil::*;
use super::{MemState, SchedulerOutcome, StateView};
use api::*;

/// A job of `count` copies with an update block, placed and healthy at version 0.
fn running(count: i32, update: UpdateStrategy) -> (MemState, Job) {
    let mut j = job(count);
    j.task_groups[0].update = Some(update);
    let mut s = state(vec![node("n1"), node("n2"), node("n3")], &j);
    let out = run(&s, &j);
    assert!(
        out.plan.deployment.is_some(),
        "a first version rolls out too"
    );
    apply(&mut s, &out);
    for a in placed(&MemState::new(), &out) {
        set_healthy(&mut s, &a.id, true);
    }
    let mut d = (*s.latest_deployment("default", "web").unwrap()).clone();
    d.status = DEPLOYMENT_STATUS_SUCCESSFUL.into();
    s.upsert_deployment(d);
    (s, j)
}

/// Version `v` of `j` with a changed task config (a destructive update).
fn changed(j: &Job, v: u64) -> Job {
    let mut n = j.clone();
    n.task_groups[0].tasks[0]
        .config
        .insert("command".into(), format!("/bin/v{v}").into());
    n.version = v;
    n.job_modify_index = 10 + v;
    n
}

fn rolling(max_parallel: i32, canary: i32) -> UpdateStrategy {
    UpdateStrategy {
        max_parallel,
        canary,
        ..UpdateStrategy::default()
    }
}

/// Three copies, max_parallel 1: version 1 registered and its first replacement placed.
fn first_replacement_of_three() -> (MemState, Job, Vec<Allocation>) {
    let (mut s, j) = running(3, rolling(1, 0));
    let v1 = changed(&j, 1);
    s.upsert_job(v1.clone());
    let out = run(&s, &v1);
    let first = new_allocs(&s, &out);
    apply(&mut s, &out);
    (s, v1, first)
}

fn new_allocs(s: &MemState, out: &SchedulerOutcome) -> Vec<Allocation> {
    placed(s, out).into_iter().cloned().collect()
}

#[test]
fn destructive_updates_roll_max_parallel_at_a_time() {
    // Scenario: three copies, max_parallel 1. A new version replaces one copy; nothing more
    // happens until the replacement is healthy; then the next one goes.
    let (mut s, j) = running(3, rolling(1, 0));
    let v1 = changed(&j, 1);
    s.upsert_job(v1.clone());
    let out = run(&s, &v1);
    let d = out
        .plan
        .deployment
        .clone()
        .expect("a deployment for version 1");
    assert_eq!(
        (d.job_version, d.status.as_str()),
        (1, DEPLOYMENT_STATUS_RUNNING)
    );
    assert_eq!(d.task_groups["web"].desired_total, 3);
    assert_eq!(out.eval.deployment_id, d.id);
    let first = new_allocs(&s, &out);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].deployment_id, d.id);
    assert_eq!(stopped(&out).len(), 1);
    apply(&mut s, &out);

    // Not healthy yet: nothing moves.
    let out = run(&s, &v1);
    assert!(out.plan.is_noop(), "{:?}", out.plan);

    set_healthy(&mut s, &first[0].id, true);
    let out = run(&s, &v1);
    assert!(out.plan.deployment.is_none(), "the same deployment goes on");
    assert_eq!(new_allocs(&s, &out).len(), 1);
    assert_eq!(stopped(&out).len(), 1);
}

#[test]
fn canaries_wait_for_promotion_then_take_their_places() {
    // Scenario: canary = 1. The new version places one canary beside the old copies and stops
    // nothing; promoted, the canary replaces the old copy of its name and the rest rolls.
    let (mut s, j) = running(2, rolling(2, 1));
    let v1 = changed(&j, 1);
    s.upsert_job(v1.clone());
    let out = run(&s, &v1);
    let d = out.plan.deployment.clone().unwrap();
    assert_eq!(d.task_groups["web"].desired_canaries, 1);
    assert_eq!(d.status_description, DEPLOYMENT_DESC_NEEDS_PROMOTION);
    let canaries = new_allocs(&s, &out);
    assert_eq!(canaries.len(), 1);
    assert!(canaries[0].deployment_status.as_ref().unwrap().canary);
    assert!(stopped(&out).is_empty(), "the old copies keep serving");
    apply(&mut s, &out);
    set_healthy(&mut s, &canaries[0].id, true);
    assert!(run(&s, &v1).plan.is_noop(), "waits for promotion");

    let mut promoted = (*s.latest_deployment("default", "web").unwrap()).clone();
    promoted.task_groups.get_mut("web").unwrap().promoted = true;
    s.upsert_deployment(promoted);
    let out = run(&s, &v1);
    let st = stopped(&out);
    assert_eq!(
        st.len(),
        2,
        "the canary's old namesake, and one rolled copy"
    );
    assert!(st.iter().any(|a| a.name == canaries[0].name
        && a.desired_description == "alloc was replaced by a promoted canary"));
    assert_eq!(new_allocs(&s, &out).len(), 1);
}

#[test]
fn a_newer_version_or_a_stop_cancels_the_deployment() {
    let (mut s, j) = running(2, rolling(1, 0));
    let v1 = changed(&j, 1);
    s.upsert_job(v1.clone());
    let out = run(&s, &v1);
    let d1 = out.plan.deployment.clone().unwrap();
    apply(&mut s, &out);
    let v2 = changed(&v1, 2);
    s.upsert_job(v2.clone());
    let out = run(&s, &v2);
    assert_eq!(out.plan.deployment_updates.len(), 1);
    assert_eq!(out.plan.deployment_updates[0].deployment_id, d1.id);
    assert_eq!(
        out.plan.deployment_updates[0].status_description,
        DEPLOYMENT_DESC_NEWER_JOB
    );
    assert_eq!(out.plan.deployment.as_ref().unwrap().job_version, 2);
    apply(&mut s, &out);
    let mut stopped_job = v2.clone();
    stopped_job.stop = true;
    s.upsert_job(stopped_job.clone());
    let out = run(&s, &stopped_job);
    assert_eq!(
        out.plan.deployment_updates[0].status_description,
        DEPLOYMENT_DESC_STOPPED_JOB
    );
}

#[test]
fn a_failed_deployment_rolls_no_further() {
    let (mut s, j) = running(3, rolling(1, 0));
    let v1 = changed(&j, 1);
    s.upsert_job(v1.clone());
    let out = run(&s, &v1);
    apply(&mut s, &out);
    let new = new_allocs(&MemState::new(), &out);
    set_healthy(&mut s, &new[0].id, false);
    let mut d = (*s.latest_deployment("default", "web").unwrap()).clone();
    d.status = DEPLOYMENT_STATUS_FAILED.into();
    s.upsert_deployment(d);
    let out = run(&s, &v1);
    assert!(stopped(&out).is_empty() && new_allocs(&s, &out).is_empty());
}

#[test]
fn an_unhealthy_replacement_is_replaced_while_the_deployment_runs() {
    // Scenario: max_parallel 1. The first replacement runs but its client judges it unhealthy
    // (its checks never passed): the next evaluation stops it and places another in its name,
    // in the same deployment, and no other old copy is touched meanwhile.
    let (mut s, v1, first) = first_replacement_of_three();
    set_healthy(&mut s, &first[0].id, false);
    let out = run(&s, &v1);
    let stops = stopped(&out);
    assert_eq!(stops.len(), 1, "{stops:?}");
    assert_eq!(stops[0].id, first[0].id);
    assert_eq!(
        stops[0].desired_description,
        super::reconcile::DESC_UNHEALTHY
    );
    let again = new_allocs(&s, &out);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].name, first[0].name);
    assert_eq!(again[0].deployment_id, first[0].deployment_id);
    assert_eq!(again[0].previous_allocation, first[0].id);
}

#[test]
fn a_failed_replacement_holds_the_rest_of_the_rollout_back() {
    // Scenario: max_parallel 1. The first replacement's task fails and its client reports it
    // unhealthy: no other old copy is replaced, however many evaluations run, until it is
    // replaced (by its reschedule policy) or the deployment ends.
    let (mut s, v1, first) = first_replacement_of_three();
    set_healthy(&mut s, &first[0].id, false);
    let mut failed = (*s.alloc(&first[0].id).unwrap()).clone();
    failed.client_status = "failed".into();
    s.upsert_alloc(failed);
    for _ in 0..3 {
        let out = run(&s, &v1);
        assert!(
            stopped(&out)
                .iter()
                .all(|a| a.desired_description != super::reconcile::DESC_UPDATING),
            "an old copy was replaced: {:?}",
            stopped(&out)
        );
    }
}

#[test]
fn a_paused_deployment_rolls_no_further_until_resumed() {
    // Scenario: max_parallel 1; the first replacement turns healthy while the deployment is
    // paused: nothing else is replaced; resumed, the next copy goes.
    let (mut s, v1, first) = first_replacement_of_three();
    let set_status = |s: &mut MemState, status: &str| {
        let mut d = (*s.latest_deployment("default", "web").unwrap()).clone();
        d.status = status.into();
        s.upsert_deployment(d);
    };
    set_status(&mut s, DEPLOYMENT_STATUS_PAUSED);
    set_healthy(&mut s, &first[0].id, true);
    let out = run(&s, &v1);
    assert!(out.plan.is_noop(), "{:?}", out.plan);
    set_status(&mut s, DEPLOYMENT_STATUS_RUNNING);
    let out = run(&s, &v1);
    assert_eq!(new_allocs(&s, &out).len(), 1);
}
