//! Garbage collection over a table of jobs, evaluations, allocations and nodes: what is old and
//! terminal goes, what a live job needs stays, and apply refuses what came back to life.

use super::*;
use api::*;
use std::time::Duration;

const HOUR: i64 = 3_600_000_000_000;

fn job(id: &str, job_type: &str, stop: bool) -> Job {
    let mut j = super::tests::job(id);
    j.job_type = job_type.into();
    j.stop = stop;
    j
}

fn eval(id: &str, job: &Job, status: &str, at: i64) -> Evaluation {
    Evaluation {
        id: id.into(),
        namespace: "default".into(),
        eval_type: job.job_type.clone(),
        job_id: job.id.clone(),
        status: status.into(),
        modify_time: at,
        ..Default::default()
    }
}

fn alloc(id: &str, eval: &str, job: &str, node: &str, status: &str, at: i64) -> Allocation {
    Allocation {
        id: id.into(),
        eval_id: eval.into(),
        namespace: "default".into(),
        job_id: job.into(),
        node_id: node.into(),
        task_group: "g".into(),
        desired_status: ALLOC_DESIRED_RUN.into(),
        client_status: status.into(),
        modify_time: at,
        ..Default::default()
    }
}

fn put_job(t: &mut Tables, j: Job, index: u64) {
    t.apply(
        index,
        &Command::JobRegister {
            job: Box::new(j),
            eval: None,
            now: 0,
        },
    );
}

/// A finished batch job, a running service job with one replaced (failed) allocation, and a
/// stopped service job: all of it a day old.
fn cluster() -> Tables {
    let mut t = Tables::default();
    let batch = job("report", JOB_TYPE_BATCH, false);
    let web = job("web", JOB_TYPE_SERVICE, false);
    let old = job("old", JOB_TYPE_SERVICE, true);
    put_job(&mut t, batch.clone(), 1);
    put_job(&mut t, web.clone(), 2);
    put_job(&mut t, old.clone(), 3);
    t.put_eval(eval("e-report", &batch, EVAL_STATUS_COMPLETE, 0));
    t.put_alloc(alloc(
        "a-report",
        "e-report",
        "report",
        "n1",
        ALLOC_CLIENT_COMPLETE,
        0,
    ));
    t.put_eval(eval("e-web-1", &web, EVAL_STATUS_COMPLETE, 0));
    t.put_alloc(alloc(
        "a-web-failed",
        "e-web-1",
        "web",
        "n1",
        ALLOC_CLIENT_FAILED,
        0,
    ));
    t.put_eval(eval("e-web-2", &web, EVAL_STATUS_COMPLETE, 0));
    t.put_alloc(alloc(
        "a-web",
        "e-web-2",
        "web",
        "n1",
        ALLOC_CLIENT_RUNNING,
        0,
    ));
    t.put_eval(eval("e-old", &old, EVAL_STATUS_COMPLETE, 0));
    t.put_alloc(alloc(
        "a-old",
        "e-old",
        "old",
        "n2",
        ALLOC_CLIENT_COMPLETE,
        0,
    ));
    t
}

fn ids(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn nothing_is_collected_before_its_threshold() {
    let t = cluster();
    let c = t.gc_candidates(HOUR / 2, &GcThresholds::default(), 1000);
    assert!(c.is_empty(), "{c:?}");
}

#[test]
fn dead_jobs_and_finished_evaluations_go_a_running_job_stays() {
    let mut t = cluster();
    let c = t.gc_candidates(30 * HOUR, &GcThresholds::default(), 1000);
    let jobs: Vec<&str> = c.jobs.iter().map(|(k, _)| k.1.as_str()).collect();
    assert_eq!(jobs, ["old", "report"]);
    assert_eq!(ids(&c.evals), ["e-old", "e-report", "e-web-1"]);
    assert_eq!(ids(&c.allocs), ["a-old", "a-report", "a-web-failed"]);

    let n = t.apply_gc(10, &c);
    assert_eq!((n.jobs, n.evals, n.allocs), (2, 3, 3));
    assert!(t.job("default", "report").is_none());
    assert!(t.job_versions("default", "old").is_empty());
    let web = t.job("default", "web").expect("the running job stays");
    assert_eq!(t.job_status(&web), JOB_STATUS_RUNNING);
    let left: Vec<String> = t.allocs().map(|a| a.id.clone()).collect();
    assert_eq!(left, ["a-web"]);
    assert_eq!(t.evals_for_job("default", "web").len(), 1);
    assert!(t.allocs_for_node("n2").is_empty());
    assert_eq!(t.table_index(Table::Allocs), 10);
    // Nothing left to collect.
    assert!(t
        .gc_candidates(30 * HOUR, &GcThresholds::default(), 1000)
        .is_empty());
}

#[test]
fn a_batch_jobs_evaluations_stay_while_the_job_lives() {
    // A batch job that is still pending (a new evaluation queued) keeps its finished ones, or it
    // would run them again.
    let mut t = cluster();
    let batch = t.job("default", "report").unwrap();
    t.put_eval(eval("e-report-2", &batch, EVAL_STATUS_PENDING, 0));
    let c = t.gc_candidates(30 * HOUR, &GcThresholds::FORCE, 1000);
    assert!(!c.evals.contains(&"e-report".to_string()), "{c:?}");
    assert!(!c.jobs.iter().any(|(k, _)| k.1 == "report"));
}

#[test]
fn a_job_registered_again_after_the_choice_is_kept() {
    let mut t = cluster();
    let c = t.gc_candidates(30 * HOUR, &GcThresholds::FORCE, 1000);
    assert!(c.jobs.iter().any(|(k, _)| k.1 == "old"));
    // Between the leader's choice and the apply, the operator runs the job again.
    put_job(&mut t, job("old", JOB_TYPE_SERVICE, false), 20);
    t.apply_gc(21, &c);
    assert!(t.job("default", "old").is_some());
}

#[test]
fn down_nodes_go_after_their_threshold_with_nothing_live() {
    let mut t = cluster();
    for (id, status) in [
        ("n1", NODE_STATUS_DOWN),
        ("n2", NODE_STATUS_DOWN),
        ("n3", "ready"),
    ] {
        t.nodes.insert(
            id.into(),
            std::sync::Arc::new(Node {
                id: id.into(),
                status: status.into(),
                status_updated_at: 0,
                modify_index: 5,
                ..Default::default()
            }),
        );
    }
    let th = GcThresholds {
        node: Duration::from_secs(3600),
        ..GcThresholds::default()
    };
    let c = t.gc_candidates(2 * HOUR, &th, 1000);
    // n1 still holds web's running allocation; n3 is up.
    assert_eq!(c.nodes, [("n2".to_string(), 5)]);
    t.apply_gc(30, &c);
    assert!(t.node("n2").is_none() && t.node("n1").is_some());
}

#[test]
fn a_collection_is_bounded() {
    let t = cluster();
    let c = t.gc_candidates(30 * HOUR, &GcThresholds::FORCE, 2);
    assert!(
        c.len() <= 4,
        "one job brings its evaluations and allocations: {c:?}"
    );
    assert!(!c.is_empty());
}
