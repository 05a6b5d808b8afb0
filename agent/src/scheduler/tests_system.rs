//! Scenario tests of the system scheduler.

use super::testutil::*;
use api::Constraint;

fn system_job() -> api::Job {
    let mut j = job(1);
    j.id = "agentd".into();
    j.job_type = "system".into();
    j.task_groups[0].name = "agent".into();
    j.task_groups[0].reschedule_policy = None;
    j
}

#[test]
fn one_alloc_per_feasible_ready_node() {
    let j = system_job();
    let s = state(
        vec![
            node("n1"),
            node("n2"),
            node("n3").no_drivers(),
            node("n4").status("down"),
            node("n5").dc("dc2"),
        ],
        &j,
    );
    let out = run(&s, &j);
    let p = placed(&s, &out);
    let nodes: Vec<&str> = p.iter().map(|a| a.node_id.as_str()).collect();
    let mut sorted = nodes.clone();
    sorted.sort();
    assert_eq!(sorted, vec!["n1", "n2"]);
    assert!(p.iter().all(|a| a.name == "agentd.agent[0]"));
    // Filtered nodes are not failures for a system job.
    assert!(out.eval.failed_tg_allocs.is_empty());
    assert!(out.blocked_eval.is_none());
    assert_eq!(out.eval.queued_allocations["agent"], 0);
}

#[test]
fn rerun_is_noop_and_new_node_gets_one() {
    let j = system_job();
    let mut s = state(vec![node("n1")], &j);
    let out = run(&s, &j);
    apply(&mut s, &out);
    assert!(run(&s, &j).plan.is_noop());
    s.upsert_node(node("n2").build());
    let out = run(&s, &j);
    let p = placed(&s, &out);
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].node_id, "n2");
}

#[test]
fn exhausted_node_is_reported_and_blocks() {
    let j = system_job();
    let s = state(
        vec![node("n1"), node("n2").mem(100), node("n3").mem(100)],
        &j,
    );
    let out = run(&s, &j);
    assert_eq!(placed(&s, &out).len(), 1);
    let m = &out.eval.failed_tg_allocs["agent"];
    assert_eq!(m.dimension_exhausted.get("memory"), Some(&1));
    assert_eq!(m.coalesced_failures, 1);
    assert_eq!(out.eval.queued_allocations["agent"], 2);
    assert!(out.blocked_eval.is_some());
}

#[test]
fn infeasible_node_and_job_stop_stop_allocs() {
    let j = system_job();
    let mut s = state(vec![node("n1"), node("n2")], &j);
    let out = run(&s, &j);
    apply(&mut s, &out);
    // n2 no longer satisfies a new constraint: its alloc stops; n1's is updated in place.
    let mut j2 = j.clone();
    j2.constraints.push(Constraint {
        l_target: "${node.unique.id}".into(),
        operand: "=".into(),
        r_target: "n1".into(),
    });
    j2.version = 1;
    j2.job_modify_index = 3;
    s.upsert_job(j2.clone());
    let out = run(&s, &j2);
    let st = stopped(&out);
    assert_eq!(st.len(), 1);
    assert_eq!(st[0].node_id, "n2");
    apply(&mut s, &out);

    let mut stop = j2.clone();
    stop.stop = true;
    s.upsert_job(stop.clone());
    let out = run(&s, &stop);
    assert_eq!(stopped(&out).len(), 1);
    assert_eq!(stopped(&out)[0].node_id, "n1");
}

#[test]
fn down_node_allocs_are_lost_not_moved() {
    let j = system_job();
    let mut s = state(vec![node("n1"), node("n2")], &j);
    let out = run(&s, &j);
    apply(&mut s, &out);
    s.upsert_node(node("n2").status("down").build());
    let out = run(&s, &j);
    let st = stopped(&out);
    assert_eq!(st.len(), 1);
    assert_eq!(st[0].client_status, "lost");
    assert!(placed(&s, &out).is_empty());
}

#[test]
fn a_sysbatch_job_runs_once_per_node_and_again_for_a_new_version() {
    // Scenario: a sysbatch job on two nodes places one allocation on each. Once they complete
    // (or fail), evaluating again places nothing; a new version of the job runs once more on
    // every node.
    let mut j = system_job();
    j.job_type = "sysbatch".into();
    let mut s = state(vec![node("n1"), node("n2")], &j);
    let out = run(&s, &j);
    let first: Vec<String> = placed(&s, &out).iter().map(|a| a.id.clone()).collect();
    assert_eq!(first.len(), 2);
    apply(&mut s, &out);
    set_client_status(&mut s, &first[0], "complete", NOW);
    set_client_status(&mut s, &first[1], "failed", NOW);
    let out = run(&s, &j);
    assert!(placed(&s, &out).is_empty() && stopped(&out).is_empty());

    let mut v2 = j.clone();
    v2.version = 1;
    v2.job_modify_index = 7;
    s.upsert_job(v2.clone());
    let out = run(&s, &v2);
    assert_eq!(placed(&s, &out).len(), 2);
}
