//! Scenario tests of `disconnect`: allocations on a node that missed its heartbeats turn
//! `unknown` and are replaced elsewhere; when the node returns, `reconcile` keeps one copy; past
//! `lost_after` they are lost. Without the block they are lost at once.

use super::reconcile::DESC_RECONNECT_LOSER;
use super::testutil::*;
use super::MemState;
use api::{DisconnectStrategy, Job, ALLOC_CLIENT_UNKNOWN};
use std::time::Duration;

const LOST_AFTER: i64 = 600 * SEC;

fn job_with(reconcile: &str, replace: Option<bool>) -> Job {
    let mut j = job(1);
    j.task_groups[0].disconnect = Some(DisconnectStrategy {
        lost_after: Duration::from_nanos(LOST_AFTER as u64),
        replace,
        reconcile: reconcile.into(),
        ..Default::default()
    });
    j
}

/// One running allocation, and its node (of n1, n2) disconnected at NOW.
fn running_then_cut(j: &Job) -> (MemState, String, String) {
    let mut s = state(vec![node("n1"), node("n2")], j);
    let out = run(&s, j);
    let a = placed(&s, &out)[0].clone();
    apply(&mut s, &out);
    set_client_status(&mut s, &a.id, "running", NOW);
    s.upsert_node(node(&a.node_id).disconnected_at(NOW).build());
    (s, a.id, a.node_id)
}

fn updated<'o>(out: &'o super::SchedulerOutcome, id: &str) -> Option<&'o api::Allocation> {
    out.plan
        .node_allocation
        .values()
        .flatten()
        .find(|a| a.id == id)
}

#[test]
fn a_disconnected_copy_turns_unknown_and_is_replaced_once() {
    // Scenario: the node of a running allocation disconnects. The allocation is marked unknown
    // with an evaluation due at lost_after, and a copy starts on the other node; evaluating
    // again changes nothing.
    let j = job_with("", None);
    let (mut s, orig, cut) = running_then_cut(&j);
    let out = run_at(&s, &j, NOW + SEC);
    let u = updated(&out, &orig).expect("the original is updated");
    assert_eq!(u.client_status, ALLOC_CLIENT_UNKNOWN);
    assert!(u.needs_to_reconnect());
    assert_eq!(out.followup_evals.len(), 1);
    assert_eq!(out.followup_evals[0].wait_until, NOW + LOST_AFTER);
    assert_eq!(u.followup_eval_id, out.followup_evals[0].id);
    let p = placed(&s, &out);
    assert_eq!(p.len(), 1);
    assert_ne!(p[0].node_id, cut);
    assert_eq!(p[0].name, "web.web[0]");
    assert!(stopped(&out).is_empty());
    apply(&mut s, &out);
    let repl = p[0].id.clone();
    set_client_status(&mut s, &repl, "running", NOW + 2 * SEC);

    let out = run_at(&s, &j, NOW + 3 * SEC);
    assert!(placed(&s, &out).is_empty() && stopped(&out).is_empty());
    assert!(out.plan.node_allocation.values().flatten().next().is_none());
}

#[test]
fn without_replace_the_name_waits_for_its_node() {
    let j = job_with("", Some(false));
    let (s, orig, _) = running_then_cut(&j);
    let out = run_at(&s, &j, NOW + SEC);
    assert!(placed(&s, &out).is_empty());
    assert_eq!(
        updated(&out, &orig).map(|a| a.client_status.as_str()),
        Some(ALLOC_CLIENT_UNKNOWN)
    );
}

/// Disconnect, replace, then the node returns and the original reports running again.
fn reconnected(reconcile: &str) -> (MemState, Job, String, String) {
    let j = job_with(reconcile, None);
    let (mut s, orig, cut) = running_then_cut(&j);
    let out = run_at(&s, &j, NOW + SEC);
    let repl = placed(&s, &out)[0].id.clone();
    apply(&mut s, &out);
    set_client_status(&mut s, &repl, "running", NOW + 2 * SEC);
    s.upsert_node(node(&cut).build());
    set_client_status(&mut s, &orig, "running", NOW + 5 * SEC);
    (s, j, orig, repl)
}

#[test]
fn on_reconnect_reconcile_picks_the_copy_that_stays() {
    // Scenario: for each strategy, the node returns after a replacement started: one copy is
    // stopped with the reconnect description, and a kept original is the servers' again.
    for (strategy, keeps_original) in [
        ("keep_original", true),
        ("keep_replacement", false),
        // The replacement started later and never restarted: the original ran longest.
        ("longest_running", true),
    ] {
        let (mut s, j, orig, repl) = reconnected(strategy);
        if strategy == "longest_running" {
            for (id, started) in [(&orig, NOW - 100 * SEC), (&repl, NOW + 2 * SEC)] {
                let mut a = (*s.alloc(id).unwrap()).clone();
                a.task_states.insert(
                    "app".into(),
                    api::TaskState {
                        state: "running".into(),
                        started_at: api::time::rfc3339_nanos(started),
                        ..Default::default()
                    },
                );
                s.upsert_alloc(a);
            }
        }
        let out = run_at(&s, &j, NOW + 6 * SEC);
        let stops = stopped(&out);
        assert_eq!(stops.len(), 1, "{strategy}");
        let (loser, winner) = if keeps_original {
            (&repl, &orig)
        } else {
            (&orig, &repl)
        };
        assert_eq!(&stops[0].id, loser, "{strategy}");
        assert_eq!(stops[0].desired_description, DESC_RECONNECT_LOSER);
        assert!(placed(&s, &out).is_empty(), "{strategy}");
        if keeps_original {
            let kept = updated(&out, winner).expect("the original is updated");
            assert!(!kept.needs_to_reconnect(), "{strategy}");
        }
    }
}

#[test]
fn best_score_keeps_the_copy_placed_on_the_better_node() {
    for (orig_score, keeps_original) in [(0.9, true), (0.1, false)] {
        let (mut s, j, orig, repl) = reconnected("");
        let mut a = (*s.alloc(&orig).unwrap()).clone();
        a.placement_score = Some(orig_score);
        s.upsert_alloc(a);
        let mut r = (*s.alloc(&repl).unwrap()).clone();
        r.placement_score = Some(0.5);
        s.upsert_alloc(r);
        let out = run_at(&s, &j, NOW + 6 * SEC);
        let loser = if keeps_original { &repl } else { &orig };
        assert_eq!(&stopped(&out)[0].id, loser);
    }
}

#[test]
fn past_lost_after_the_copy_is_lost_and_not_placed_twice() {
    // Scenario: the node never returns. At lost_after the original is lost; the replacement
    // that already runs keeps the name, so nothing new is placed.
    let j = job_with("", None);
    let (mut s, orig, _) = running_then_cut(&j);
    let out = run_at(&s, &j, NOW + SEC);
    apply(&mut s, &out);
    let out = run_at(&s, &j, NOW + LOST_AFTER + SEC);
    let stops = stopped(&out);
    assert_eq!(stops.len(), 1);
    assert_eq!(stops[0].id, orig);
    assert_eq!(stops[0].client_status, "lost");
    assert!(placed(&s, &out).is_empty());
}

#[test]
fn without_disconnect_rules_a_disconnected_node_loses_its_allocations() {
    let j = job(1);
    let (s, orig, cut) = running_then_cut(&j);
    let out = run_at(&s, &j, NOW + SEC);
    let stops = stopped(&out);
    assert_eq!((stops.len(), stops[0].id.as_str()), (1, orig.as_str()));
    assert_eq!(stops[0].client_status, "lost");
    let p = placed(&s, &out);
    assert_eq!(p.len(), 1);
    assert_ne!(p[0].node_id, cut);
    assert_eq!(p[0].previous_allocation, orig);
}

#[test]
fn max_client_disconnect_is_the_same_as_lost_after_with_replace() {
    let mut j = job(1);
    j.task_groups[0].max_client_disconnect = Some(Duration::from_secs(600));
    let (s, orig, _) = running_then_cut(&j);
    let out = run_at(&s, &j, NOW + SEC);
    assert_eq!(
        updated(&out, &orig).map(|a| a.client_status.as_str()),
        Some(ALLOC_CLIENT_UNKNOWN)
    );
    assert_eq!(placed(&s, &out).len(), 1);
}

#[test]
fn a_system_job_copy_waits_unknown_and_is_kept_on_reconnect() {
    let mut j = job_with("", None);
    j.id = "agentd".into();
    j.job_type = "system".into();
    j.task_groups[0].reschedule_policy = None;
    let (mut s, orig, cut) = running_then_cut(&j);
    let out = run_at(&s, &j, NOW + SEC);
    assert_eq!(
        updated(&out, &orig).map(|a| a.client_status.as_str()),
        Some(ALLOC_CLIENT_UNKNOWN)
    );
    assert!(stopped(&out).is_empty());
    apply(&mut s, &out);
    s.upsert_node(node(&cut).build());
    set_client_status(&mut s, &orig, "running", NOW + 5 * SEC);
    let out = run_at(&s, &j, NOW + 6 * SEC);
    let kept = updated(&out, &orig).expect("the copy is kept");
    assert!(!kept.needs_to_reconnect());
    assert!(stopped(&out).is_empty());
}

#[test]
fn a_failed_replacement_is_rescheduled_by_its_policy_not_placed_at_once() {
    // Scenario: the original waits unknown on its disconnected node; its replacement fails.
    // The name is rescheduled as any failure is (after the policy's delay, linked to the failed
    // copy), not placed again at once beside the waiting original.
    let j = job_with("", None);
    let (mut s, _orig, _) = running_then_cut(&j);
    let out = run_at(&s, &j, NOW + SEC);
    let repl = placed(&s, &out)[0].id.clone();
    apply(&mut s, &out);
    set_client_status(&mut s, &repl, "failed", NOW + 2 * SEC);
    let out = run_at(&s, &j, NOW + 3 * SEC);
    let p = placed(&s, &out);
    assert!(
        p.iter().all(|a| a.previous_allocation == repl),
        "a placement not linked to the failed replacement: {p:?}"
    );
    if p.is_empty() {
        // The policy's delay: a follow-up evaluation instead.
        assert_eq!(out.followup_evals.len(), 1);
    }
}

#[test]
fn a_reconnected_copy_that_is_outdated_is_replaced_and_stays_stopped() {
    // Scenario: the job changed while the node was away; the original reconnects and wins
    // (keep_original), but runs the old version: the plan stops it for the update, and its
    // reconnect state rides on that stop rather than a second copy that would undo it.
    let (mut s, j, orig, _repl) = reconnected("keep_original");
    let mut v2 = destructive_version(&j, 9);
    v2.task_groups[0].update = None;
    s.upsert_job(v2.clone());
    let out = run_at(&s, &v2, NOW + 6 * SEC);
    let copies: Vec<&api::Allocation> = out
        .plan
        .node_update
        .values()
        .chain(out.plan.node_allocation.values())
        .flatten()
        .filter(|a| a.id == orig)
        .collect();
    assert_eq!(
        copies.len(),
        1,
        "one copy of the original in the plan: {copies:?}"
    );
    assert_eq!(copies[0].desired_status, "stop");
    assert!(!copies[0].needs_to_reconnect());
}

#[test]
fn copies_on_one_disconnected_node_share_one_timeout_evaluation() {
    // Scenario: two allocations of the group run on n1, which disconnects; both turn unknown
    // with the same lost_after, and the plan carries one evaluation for that time, not two.
    let j = job_with("", None);
    let mut j2 = j.clone();
    j2.task_groups[0].count = 2;
    let mut s = state(vec![node("n1")], &j2);
    let out = run(&s, &j2);
    let ids: Vec<String> = placed(&s, &out).iter().map(|a| a.id.clone()).collect();
    apply(&mut s, &out);
    for id in &ids {
        set_client_status(&mut s, id, "running", NOW);
    }
    s.upsert_node(node("n1").disconnected_at(NOW).build());
    s.upsert_node(node("n2").build());
    let out = run_at(&s, &j2, NOW + SEC);
    let unknown: Vec<&api::Allocation> = ids.iter().filter_map(|id| updated(&out, id)).collect();
    assert_eq!(unknown.len(), 2);
    assert_eq!(out.followup_evals.len(), 1);
    assert!(unknown
        .iter()
        .all(|a| a.followup_eval_id == out.followup_evals[0].id));
}
