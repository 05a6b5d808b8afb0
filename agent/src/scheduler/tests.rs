//! Scenario tests of the service and batch scheduler.

use super::testutil::*;
use super::{MemState, SchedulerContext};
use api::Constraint;
use std::time::Duration;

#[test]
fn places_on_the_only_feasible_node() {
    let j = job(1);
    let s = state(
        vec![node("n1").no_drivers().driver("docker"), node("n2")],
        &j,
    );
    let out = run(&s, &j);
    let p = placed(&s, &out);
    assert_eq!(p.len(), 1);
    let a = p[0];
    assert_eq!(a.node_id, "n2");
    assert_eq!(a.name, "web.web[0]");
    assert_eq!(a.id.len(), 36);
    assert_eq!(
        (a.desired_status.as_str(), a.client_status.as_str()),
        ("run", "pending")
    );
    assert_eq!(a.allocated_resources.cpu(), 500);
    assert_eq!(a.allocated_resources.memory_mb(), 256);
    assert!(a.job.is_some());
    let m = a.metrics.clone().unwrap_or_default();
    assert_eq!(m.constraint_filtered.get("missing drivers"), Some(&1));
    assert_eq!(
        (m.nodes_evaluated, m.nodes_filtered, m.nodes_in_pool),
        (2, 1, 2)
    );
    assert_eq!(m.nodes_available.get("dc1"), Some(&2));
    assert_eq!(out.eval.status, "complete");
    assert_eq!(out.eval.queued_allocations.get("web"), Some(&0));
    assert!(out.blocked_eval.is_none());
    assert!(out.eval.failed_tg_allocs.is_empty());
}

#[test]
fn missing_driver_everywhere_fails_with_metric() {
    let j = job(2);
    let s = state(
        vec![
            node("n1").no_drivers(),
            node("n2").no_drivers(),
            node("n3").dc("dc2"),
        ],
        &j,
    );
    let out = run(&s, &j);
    assert!(placed(&s, &out).is_empty());
    let m = &out.eval.failed_tg_allocs["web"];
    assert_eq!(m.constraint_filtered.get("missing drivers"), Some(&2));
    assert_eq!(
        (m.nodes_evaluated, m.nodes_filtered, m.coalesced_failures),
        (2, 2, 1)
    );
    assert_eq!(out.eval.queued_allocations["web"], 2);
    let blocked = out
        .blocked_eval
        .as_ref()
        .map(|e| (e.status.as_str(), e.triggered_by.as_str()));
    assert_eq!(blocked, Some(("blocked", "queued-allocs")));
    assert_eq!(
        out.eval.blocked_eval,
        out.blocked_eval
            .as_ref()
            .map(|e| e.id.clone())
            .unwrap_or_default()
    );
    assert_eq!(out.eval.status, "complete");
}

#[test]
fn memory_exhaustion_blocks_and_queues() {
    let j = job(5);
    let s = state(vec![node("n1").mem(600)], &j);
    let out = run(&s, &j);
    assert_eq!(placed(&s, &out).len(), 2);
    let m = &out.eval.failed_tg_allocs["web"];
    assert_eq!(m.dimension_exhausted.get("memory"), Some(&1));
    assert_eq!(m.nodes_exhausted, 1);
    assert_eq!(m.coalesced_failures, 2);
    assert_eq!(out.eval.queued_allocations["web"], 3);
    let b = out
        .blocked_eval
        .as_ref()
        .map(|b| (b.previous_eval.clone(), b.job_id.clone()));
    assert_eq!(b, Some((out.eval.id.clone(), "web".to_string())));
}

#[test]
fn cpu_exhaustion_counts_dimension() {
    let j = job(2);
    let s = state(vec![node("n1").cpu(700)], &j);
    let out = run(&s, &j);
    assert_eq!(placed(&s, &out).len(), 1);
    assert_eq!(
        out.eval.failed_tg_allocs["web"]
            .dimension_exhausted
            .get("cpu"),
        Some(&1)
    );
}

fn constrained(c: (&str, &str, &str)) -> api::Job {
    let mut j = job(1);
    j.task_groups[0].constraints.push(Constraint {
        l_target: c.0.into(),
        operand: c.1.into(),
        r_target: c.2.into(),
    });
    j
}

#[test]
fn constraint_operators_pick_the_matching_node() {
    let cases = [
        ("${attr.kernel.name}", "=", "windows"),
        ("${attr.os}", "!=", "ubuntu"),
        ("${attr.cpu.numcores}", ">=", "8"),
        ("${attr.cpu.numcores}", "<", "8"),
        ("${attr.os}", "regexp", "^deb"),
        ("${attr.kernel.version}", "version", ">= 5.0, < 6"),
        ("${attr.tags}", "set_contains", "ssd,gpu"),
        ("${attr.tags}", "set_contains_any", "gpu,x"),
        ("${attr.special}", "is_set", ""),
        ("${meta.rack}", "is_not_set", ""),
        ("${node.unique.name}", "=", "name-b"),
    ];
    // Node "a" fails every constraint, node "b" passes all but the "<" one (flip side in `want`).
    let a = node("a")
        .attr("os", "ubuntu")
        .attr("cpu.numcores", "4")
        .attr("kernel.version", "4.19.0")
        .attr("tags", "ssd");
    let mut a = a.build();
    a.meta.insert("rack".into(), "r1".into());
    a.attributes.insert("kernel.name".into(), "linux".into());
    let b = node("b")
        .attr("kernel.name", "windows")
        .attr("os", "debian")
        .attr("cpu.numcores", "16")
        .attr("kernel.version", "5.10.0-28-amd64")
        .attr("tags", "ssd,gpu")
        .attr("special", "1");
    for c in cases {
        let j = constrained(c);
        let mut s = state(vec![b.clone()], &j);
        s.upsert_node(a.clone());
        let out = run(&s, &j);
        let p = placed(&s, &out);
        let want = if c.1 == "<" { "a" } else { "b" };
        assert_eq!(p.len(), 1, "{c:?}");
        assert_eq!(p[0].node_id, want, "{c:?}");
        let loser = if want == "a" { "b" } else { "a" };
        let key = format!("{} {} {}", c.0, c.1, c.2);
        let m = p[0].metrics.clone().unwrap_or_default();
        assert_eq!(
            m.constraint_filtered.get(&key),
            Some(&1),
            "{c:?} should filter {loser}"
        );
    }
}

#[test]
fn job_level_constraint_and_datacenter_glob() {
    let mut j = job(2);
    j.datacenters = vec!["eu-*".into()];
    j.constraints.push(Constraint {
        l_target: "${node.datacenter}".into(),
        operand: "!=".into(),
        r_target: "eu-2".into(),
    });
    let s = state(
        vec![
            node("n1").dc("eu-1"),
            node("n2").dc("eu-2"),
            node("n3").dc("us-1"),
        ],
        &j,
    );
    let out = run(&s, &j);
    let p = placed(&s, &out);
    assert_eq!(p.len(), 2);
    assert!(p.iter().all(|a| a.node_id == "n1"));
    let m = p[0].metrics.clone().unwrap_or_default();
    assert_eq!(m.nodes_in_pool, 2);
}

#[test]
fn distinct_hosts_spreads_and_fails_when_out_of_nodes() {
    let mut j = job(3);
    j.constraints.push(Constraint {
        operand: "distinct_hosts".into(),
        r_target: "true".into(),
        ..Constraint::default()
    });
    let s = state(vec![node("n1"), node("n2")], &j);
    let out = run(&s, &j);
    let p = placed(&s, &out);
    assert_eq!(p.len(), 2);
    assert_ne!(p[0].node_id, p[1].node_id);
    let m = &out.eval.failed_tg_allocs["web"];
    assert_eq!(m.constraint_filtered.get("distinct_hosts"), Some(&2));
}

#[test]
fn count_up_adds_and_count_down_stops_highest() {
    let j = job(2);
    let mut s = state(vec![node("n1"), node("n2")], &j);
    let out = run(&s, &j);
    apply(&mut s, &out);
    let mut j3 = j.clone();
    j3.task_groups[0].count = 4;
    j3.version = 1;
    j3.job_modify_index = 10;
    s.upsert_job(j3.clone());
    let out = run(&s, &j3);
    let names: Vec<&str> = placed(&s, &out).iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, vec!["web.web[2]", "web.web[3]"]);
    // The two existing ones only changed count: updated in place.
    let inplace = out
        .plan
        .node_allocation
        .values()
        .flatten()
        .filter(|a| s.alloc(&a.id).is_some());
    assert_eq!(inplace.count(), 2);
    assert!(stopped(&out).is_empty());
    apply(&mut s, &out);

    let mut j1 = j3.clone();
    j1.task_groups[0].count = 1;
    j1.version = 2;
    j1.job_modify_index = 11;
    s.upsert_job(j1.clone());
    let out = run(&s, &j1);
    let names: Vec<&str> = stopped(&out).iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, vec!["web.web[1]", "web.web[2]", "web.web[3]"]);
    assert!(stopped(&out).iter().all(|a| a.desired_status == "stop"
        && a.desired_description == "alloc not needed due to job update"));
    assert!(placed(&s, &out).is_empty());
}

#[test]
fn job_stop_and_purge_stop_everything() {
    let j = job(3);
    let mut s = state(vec![node("n1")], &j);
    let out = run(&s, &j);
    apply(&mut s, &out);
    let mut stopped_job = j.clone();
    stopped_job.stop = true;
    s.upsert_job(stopped_job.clone());
    let out = run(&s, &stopped_job);
    assert_eq!(stopped(&out).len(), 3);
    assert!(placed(&s, &out).is_empty());
    assert!(out.blocked_eval.is_none());
    s.remove_job("default", "web");
    let out = run(&s, &j);
    assert_eq!(stopped(&out).len(), 3);
    assert_eq!(out.eval.status, "complete");
}

#[test]
fn destructive_update_replaces_in_place_update_keeps() {
    let j = job(2);
    let mut s = state(vec![node("n1")], &j);
    let out = run(&s, &j);
    apply(&mut s, &out);
    let old_ids: Vec<String> = placed(&MemState::new(), &out)
        .iter()
        .map(|a| a.id.clone())
        .collect();

    // Meta only: in place.
    let mut meta = j.clone();
    meta.meta.insert("owner".into(), "ops".into());
    meta.version = 1;
    meta.job_modify_index = 5;
    s.upsert_job(meta.clone());
    let out = run(&s, &meta);
    assert!(stopped(&out).is_empty());
    assert!(placed(&s, &out).is_empty());
    let updated: Vec<_> = out.plan.node_allocation.values().flatten().collect();
    assert_eq!(updated.len(), 2);
    assert!(updated
        .iter()
        .all(|a| a.job_version == 1 && old_ids.contains(&a.id)));
    apply(&mut s, &out);

    // Task config: destructive. The node has room for both, but old ones free theirs first.
    // (Without an update block nothing limits how many are replaced at once.)
    let mut cfg = destructive_version(&meta, 6);
    cfg.task_groups[0].update = None;
    s.upsert_job(cfg.clone());
    let out = run(&s, &cfg);
    let st = stopped(&out);
    assert_eq!(st.len(), 2);
    assert!(st
        .iter()
        .all(|a| a.desired_description == "alloc is being updated due to job update"));
    let p = placed(&s, &out);
    assert_eq!(p.len(), 2);
    for a in &p {
        assert!(old_ids.contains(&a.previous_allocation));
        assert_eq!(a.job_version, 2);
    }
    for a in &st {
        assert!(p.iter().any(|n| n.id == a.next_allocation));
    }
}

#[test]
fn destructive_update_frees_resources_for_its_replacement() {
    let j = job(1);
    // Room for exactly one allocation.
    let mut s = state(vec![node("n1").mem(300)], &j);
    let out = run(&s, &j);
    apply(&mut s, &out);
    let mut v2 = j.clone();
    v2.task_groups[0].tasks[0]
        .env
        .insert("A".into(), "1".into());
    v2.version = 1;
    v2.job_modify_index = 2;
    s.upsert_job(v2.clone());
    let out = run(&s, &v2);
    assert_eq!(placed(&s, &out).len(), 1);
    assert_eq!(stopped(&out).len(), 1);
}

#[test]
fn static_port_collision_moves_or_fails() {
    let j = with_ports(job(1), &[("http", 8080)], &[]);
    let s = state(vec![node("n1").reserved_ports("8080"), node("n2")], &j);
    let out = run(&s, &j);
    let p = placed(&s, &out);
    assert_eq!(p[0].node_id, "n2");
    assert_eq!(p[0].allocated_resources.shared.ports[0].value, 8080);
    assert_eq!(p[0].allocated_resources.shared.ports[0].host_ip, "10.0.0.2");

    let j = with_ports(job(2), &[("http", 8080)], &[]);
    let s = state(vec![node("n1")], &j);
    let out = run(&s, &j);
    assert_eq!(placed(&s, &out).len(), 1);
    let m = &out.eval.failed_tg_allocs["web"];
    assert_eq!(
        m.dimension_exhausted
            .get("network: reserved port collision http=8080"),
        Some(&1)
    );
}

#[test]
fn dynamic_ports_are_distinct_on_one_node() {
    let j = with_ports(job(6), &[], &["http", "admin"]);
    let s = state(vec![node("n1")], &j);
    let out = run(&s, &j);
    let p = placed(&s, &out);
    assert_eq!(p.len(), 6);
    let mut ports: Vec<i64> = p
        .iter()
        .flat_map(|a| a.allocated_resources.shared.ports.iter().map(|p| p.value))
        .collect();
    assert!(ports.iter().all(|v| (20000..=32000).contains(v)));
    ports.sort();
    ports.dedup();
    assert_eq!(ports.len(), 12);
}

#[test]
fn lost_allocs_on_a_down_node_are_replaced_elsewhere() {
    let j = job(1);
    let mut s = state(vec![node("n1")], &j);
    let out = run(&s, &j);
    apply(&mut s, &out);
    let old = placed(&MemState::new(), &out)[0].id.clone();
    s.upsert_node(node("n1").status("down").build());
    s.upsert_node(node("n2").build());
    let out = run(&s, &j);
    let st = stopped(&out);
    assert_eq!(st.len(), 1);
    assert_eq!(
        (st[0].client_status.as_str(), st[0].desired_status.as_str()),
        ("lost", "stop")
    );
    assert_eq!(
        st[0].desired_description,
        "alloc is lost since its node is down"
    );
    let p = placed(&s, &out);
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].node_id, "n2");
    assert_eq!(p[0].previous_allocation, old);
    assert_eq!(st[0].next_allocation, p[0].id);
}

#[test]
fn draining_node_migrates() {
    let j = job(1);
    let mut s = state(vec![node("n1")], &j);
    let out = run(&s, &j);
    apply(&mut s, &out);
    s.upsert_node(node("n1").drain().build());
    s.upsert_node(node("n2").build());
    let out = run(&s, &j);
    assert_eq!(
        stopped(&out)[0].desired_description,
        "alloc is being migrated"
    );
    assert_eq!(placed(&s, &out)[0].node_id, "n2");
}

#[test]
fn a_drain_migrates_max_parallel_at_a_time() {
    // Scenario: three allocations on a node that starts draining, migrate.max_parallel = 1:
    // one moves; while its replacement is pending or running but not yet healthy no other
    // moves; once its client reports it healthy, the next does.
    let mut j = job(3);
    j.task_groups[0].migrate = Some(api::MigrateStrategy {
        max_parallel: 1,
        ..Default::default()
    });
    let mut s = state(vec![node("n1")], &j);
    let out = run(&s, &j);
    apply(&mut s, &out);
    s.upsert_node(node("n1").drain().build());
    s.upsert_node(node("n2").build());
    let out = run(&s, &j);
    assert_eq!(stopped(&out).len(), 1);
    let first = placed(&s, &out);
    assert_eq!(first.len(), 1);
    apply(&mut s, &out);
    let again = run(&s, &j);
    assert!(
        stopped(&again).is_empty(),
        "moved more while one is in flight"
    );
    let mut running = (*s.alloc(&first[0].id).unwrap()).clone();
    running.client_status = "running".into();
    s.upsert_alloc(running.clone());
    assert!(
        stopped(&run(&s, &j)).is_empty(),
        "running is not enough: the replacement must be healthy"
    );
    running.deployment_status = Some(api::AllocDeploymentStatus {
        healthy: Some(true),
        ..Default::default()
    });
    s.upsert_alloc(running);
    let next = run(&s, &j);
    assert_eq!(stopped(&next).len(), 1);
}

fn batch_job(attempts: i32) -> api::Job {
    let mut j = job(1);
    j.job_type = "batch".into();
    let p = j.task_groups[0].reschedule_policy.get_or_insert_with(|| {
        api::ReschedulePolicy::default_for("batch").unwrap_or_else(|| unreachable!())
    });
    p.attempts = attempts;
    p.unlimited = false;
    p.delay = Duration::from_secs(5);
    p.delay_function = "constant".into();
    p.interval = Duration::from_secs(3600);
    j
}

#[test]
fn failed_alloc_is_rescheduled_until_attempts_run_out() {
    let j = batch_job(1);
    let mut s = state(vec![node("n1"), node("n2")], &j);
    let out = run(&s, &j);
    apply(&mut s, &out);
    let first = placed(&MemState::new(), &out)[0].clone();
    set_client_status(&mut s, &first.id, "failed", NOW - 10 * SEC);

    let out = run(&s, &j);
    let p = placed(&s, &out);
    assert_eq!(p.len(), 1);
    let second = p[0].clone();
    assert_eq!(second.previous_allocation, first.id);
    assert_ne!(
        second.node_id, first.node_id,
        "the previous node is penalized"
    );
    let tracker = second.reschedule_tracker.clone().unwrap_or_default();
    assert_eq!(tracker.events.len(), 1);
    assert_eq!(tracker.events[0].prev_alloc_id, first.id);
    let st = stopped(&out);
    assert_eq!(st[0].id, first.id);
    assert_eq!(st[0].client_status, "failed");
    assert_eq!(st[0].next_allocation, second.id);
    apply(&mut s, &out);

    set_client_status(&mut s, &second.id, "failed", NOW - 5 * SEC);
    let out = run(&s, &j);
    assert!(out.plan.is_noop(), "attempts exhausted: stays failed");
    assert!(out.followup_evals.is_empty());
}

#[test]
fn delayed_reschedule_creates_a_followup_eval() {
    let j = batch_job(3);
    let mut s = state(vec![node("n1")], &j);
    let out = run(&s, &j);
    apply(&mut s, &out);
    let first = placed(&MemState::new(), &out)[0].clone();
    set_client_status(&mut s, &first.id, "failed", NOW);
    // The task's FinishedAt, one second before NOW, is the failure time.
    if let Some(a) = s.alloc(&first.id) {
        let mut a = (*a).clone();
        let ts = api::TaskState {
            state: "dead".into(),
            failed: true,
            finished_at: "2023-11-14T22:13:19Z".into(),
            ..api::TaskState::default()
        };
        a.task_states.insert("app".into(), ts);
        s.upsert_alloc(a);
    }
    let out = run(&s, &j);
    assert!(placed(&s, &out).is_empty());
    assert_eq!(out.followup_evals.len(), 1);
    let f = &out.followup_evals[0];
    assert_eq!(
        (f.status.as_str(), f.triggered_by.as_str()),
        ("pending", "alloc-failure")
    );
    assert_eq!(f.wait_until, NOW + 4 * SEC);
    let marked: Vec<_> = out.plan.node_allocation.values().flatten().collect();
    assert_eq!(marked[0].followup_eval_id, f.id);
    apply(&mut s, &out);
    // Running again before the time: nothing new.
    assert!(run(&s, &j).plan.is_noop());
    // At the time: replaced.
    let out = run_at(&s, &j, NOW + 4 * SEC);
    assert_eq!(placed(&s, &out).len(), 1);
}

#[test]
fn batch_complete_is_not_replaced_service_is() {
    let j = batch_job(1);
    let mut s = state(vec![node("n1")], &j);
    let out = run(&s, &j);
    apply(&mut s, &out);
    let id = placed(&MemState::new(), &out)[0].id.clone();
    set_client_status(&mut s, &id, "complete", NOW);
    assert!(run(&s, &j).plan.is_noop());

    let j = job(1);
    let mut s = state(vec![node("n1")], &j);
    let out = run(&s, &j);
    apply(&mut s, &out);
    let id = placed(&MemState::new(), &out)[0].id.clone();
    set_client_status(&mut s, &id, "complete", NOW);
    assert_eq!(placed(&s, &run(&s, &j)).len(), 1);
}

#[test]
fn lost_client_status_is_replaced_immediately() {
    let j = job(1);
    let mut s = state(vec![node("n1")], &j);
    let out = run(&s, &j);
    apply(&mut s, &out);
    let id = placed(&MemState::new(), &out)[0].id.clone();
    set_client_status(&mut s, &id, "lost", NOW);
    let out = run(&s, &j);
    assert_eq!(placed(&s, &out)[0].previous_allocation, id);
    assert_eq!(stopped(&out)[0].desired_status, "stop");
}

#[test]
fn same_seed_same_plan() {
    let j = with_ports(job(20), &[], &["http"]);
    let nodes = || {
        (0..30)
            .map(|i| node(&format!("n{i:02}")).mem(1024 + 64 * i))
            .collect()
    };
    let s = state(nodes(), &j);
    let e = eval_for(&j);
    let ctx = SchedulerContext::new(NOW, 42);
    let a = super::schedule(&e, &s, &ctx);
    let b = super::schedule(&e, &s, &ctx);
    assert_eq!(
        format!("{:?}", a.plan.node_allocation),
        format!("{:?}", b.plan.node_allocation)
    );
    let c = super::schedule(&e, &s, &SchedulerContext::new(NOW, 43));
    assert_ne!(
        format!("{:?}", a.plan.node_allocation),
        format!("{:?}", c.plan.node_allocation)
    );
}

#[test]
fn binpack_prefers_the_fuller_node_and_antiaffinity_spreads() {
    let j = job(1);
    let mut s = state(vec![node("big").cpu(40000).mem(81920), node("small")], &j);
    let out = run(&s, &j);
    assert_eq!(placed(&s, &out)[0].node_id, "small");
    apply(&mut s, &out);
    let mut j4 = j.clone();
    j4.task_groups[0].count = 2;
    s.upsert_job(j4.clone());
    // Second alloc: small is fuller, but anti-affinity (-2/2) outweighs bin-packing.
    let out = run(&s, &j4);
    assert_eq!(placed(&s, &out)[0].node_id, "big");
}

#[test]
fn unknown_eval_type_fails() {
    let mut j = job(1);
    j.job_type = "sysbatch-ish".into();
    let s = state(vec![node("n1")], &j);
    let out = run(&s, &j);
    assert_eq!(out.eval.status, "failed");
    assert!(out.plan.is_noop());
}

#[test]
fn an_evaluation_past_its_budget_fails_with_the_reason_and_places_nothing() {
    // A deadline already past: the first budget check stops placement; the evaluation fails
    // (no leader runs it again) and the plan places nothing, rather than half of the job.
    let j = job(600);
    let s = state((0..3).map(|i| node(&format!("n{i}"))).collect(), &j);
    let ctx = SchedulerContext {
        deadline: Some(std::time::Instant::now()),
        ..SchedulerContext::new(NOW, 42)
    };
    let out = super::schedule(&eval_for(&j), &s, &ctx);
    assert_eq!(out.eval.status, "failed");
    assert!(
        out.eval.status_description.contains("budget")
            && out.eval.status_description.contains("of 600"),
        "{}",
        out.eval.status_description
    );
    assert!(out.plan.node_allocation.is_empty());
    assert!(out.blocked_eval.is_none());
    // Without a deadline the same evaluation places every copy the nodes can hold.
    let out = super::schedule(&eval_for(&j), &s, &SchedulerContext::new(NOW, 42));
    assert_eq!(out.eval.status, "complete");
    assert!(!out.plan.node_allocation.is_empty());
}
