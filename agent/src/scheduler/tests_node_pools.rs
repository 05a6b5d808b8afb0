//! Scenario tests of node pools: a job places only on the nodes of its pool, `all` on any.

use super::testutil::*;

fn nodes() -> Vec<NodeB> {
    vec![
        node("n1"),
        node("n2").pool("gpu"),
        node("n3").pool("gpu"),
        node("n4").pool("batch"),
    ]
}

fn placed_on(j: &api::Job) -> Vec<String> {
    let s = state(nodes(), j);
    let out = run(&s, j);
    let mut on: Vec<String> = placed(&s, &out).iter().map(|a| a.node_id.clone()).collect();
    on.sort();
    on.dedup();
    on
}

#[test]
fn a_service_job_places_only_in_its_pool() {
    // Scenario: four nodes, one in default, two in gpu, one in batch. A job that names no pool
    // uses default; one in gpu uses both gpu nodes; one in `all` may use every node; one in a
    // pool without ready nodes places nothing and says no node was in its pool.
    let mut j = job(4);
    assert_eq!(placed_on(&j), ["n1"]);
    j.node_pool = "gpu".into();
    assert_eq!(placed_on(&j), ["n2", "n3"]);
    j.node_pool = "all".into();
    assert_eq!(placed_on(&j), ["n1", "n2", "n3", "n4"]);

    j.node_pool = "empty".into();
    let s = state(nodes(), &j);
    let out = run(&s, &j);
    assert!(placed(&s, &out).is_empty());
    let failed = &out.eval.failed_tg_allocs["web"];
    assert_eq!(failed.nodes_evaluated, 0);
    assert_eq!(failed.nodes_in_pool, 0);
}

#[test]
fn a_system_job_runs_on_every_node_of_its_pool() {
    // Scenario: a system job in pool gpu runs on the two gpu nodes and nowhere else.
    let mut j = job(1);
    j.id = "agentd".into();
    j.job_type = "system".into();
    j.task_groups[0].reschedule_policy = None;
    j.node_pool = "gpu".into();
    assert_eq!(placed_on(&j), ["n2", "n3"]);
}
