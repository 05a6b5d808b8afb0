use super::*;
use api::*;

pub(super) fn job(id: &str) -> Job {
    let mut j = Job {
        id: id.into(),
        name: id.into(),
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

fn alloc(id: &str, job_id: &str, node: &str) -> Allocation {
    Allocation {
        id: id.into(),
        namespace: "default".into(),
        job_id: job_id.into(),
        node_id: node.into(),
        name: format!("{job_id}.g[0]"),
        task_group: "g".into(),
        desired_status: ALLOC_DESIRED_RUN.into(),
        client_status: ALLOC_CLIENT_PENDING.into(),
        ..Default::default()
    }
}

#[test]
fn every_changed_register_is_a_new_version_and_old_ones_are_capped() {
    let mut t = Tables::default();
    for i in 1..=8 {
        let mut j = job("web");
        j.meta.insert("build".into(), i.to_string());
        t.apply(
            i,
            &Command::JobRegister {
                job: Box::new(j),
                eval: None,
                now: i as i64,
            },
        );
    }
    let j = t.job("default", "web").unwrap();
    assert_eq!(j.version, 7);
    assert_eq!((j.create_index, j.job_modify_index), (1, 8));
    let versions = t.job_versions("default", "web");
    assert_eq!(versions.len(), tables::JOB_TRACKED_VERSIONS);
    assert_eq!(versions[0].version, 7, "newest first");

    // The same spec again: no new version, the job modify index and submit time stay.
    let mut same = job("web");
    same.meta.insert("build".into(), "8".into());
    t.apply(
        9,
        &Command::JobRegister {
            job: Box::new(same),
            eval: None,
            now: 99,
        },
    );
    let j = t.job("default", "web").unwrap();
    assert_eq!((j.version, j.job_modify_index, j.modify_index), (7, 8, 9));
    assert_eq!(j.submit_time, 8);
    assert_eq!(t.job_versions("default", "web")[0].version, 7);
}

#[test]
fn a_plan_never_rolls_back_what_the_client_reported() {
    // Scenario: the client reports running after the scheduler's snapshot; the plan that stops
    // the allocation keeps the client's status and task states.
    let mut t = Tables::default();
    t.apply(
        1,
        &Command::PlanApply {
            updated: vec![],
            placed: vec![alloc("a1", "web", "n1")],
            evals: vec![],
            now: 10,
            deployments: vec![],
            deployment_updates: vec![],
        },
    );
    let mut states = std::collections::BTreeMap::new();
    states.insert(
        "t".to_string(),
        TaskState {
            state: TASK_STATE_RUNNING.into(),
            ..Default::default()
        },
    );
    t.apply(
        2,
        &Command::AllocClientUpdate {
            updates: vec![AllocClientUpdate {
                id: "a1".into(),
                client_status: ALLOC_CLIENT_RUNNING.into(),
                client_description: String::new(),
                task_states: states,
                ..Default::default()
            }],
            evals: vec![],
            now: 20,
        },
    );
    let mut stop = alloc("a1", "web", "n1");
    stop.desired_status = ALLOC_DESIRED_STOP.into();
    t.apply(
        3,
        &Command::PlanApply {
            updated: vec![stop],
            placed: vec![],
            evals: vec![],
            now: 30,
            deployments: vec![],
            deployment_updates: vec![],
        },
    );
    let a = t.alloc("a1").unwrap();
    assert_eq!(a.desired_status, ALLOC_DESIRED_STOP);
    assert_eq!(a.client_status, ALLOC_CLIENT_RUNNING);
    assert_eq!(a.task_states["t"].state, TASK_STATE_RUNNING);
    assert_eq!((a.create_index, a.modify_index, a.create_time), (1, 3, 10));
    assert_eq!(t.allocs_for_node("n1").len(), 1);
    assert_eq!(t.table_index(Table::Allocs), 3);
}

#[test]
fn deregister_stops_or_purges() {
    let mut t = Tables::default();
    t.apply(
        1,
        &Command::JobRegister {
            job: Box::new(job("web")),
            eval: None,
            now: 0,
        },
    );
    t.apply(
        2,
        &Command::JobDeregister {
            namespace: "default".into(),
            job_id: "web".into(),
            purge: false,
            eval: None,
            now: 0,
        },
    );
    let j = t.job("default", "web").unwrap();
    assert!(j.stop);
    assert_eq!(t.job_status(&j), JOB_STATUS_DEAD);
    t.apply(
        3,
        &Command::JobDeregister {
            namespace: "default".into(),
            job_id: "web".into(),
            purge: true,
            eval: None,
            now: 0,
        },
    );
    assert!(t.job("default", "web").is_none());
    assert!(t.job_versions("default", "web").is_empty());
    // Deregistering what is gone is refused, and changes nothing.
    let res = t.apply(
        4,
        &Command::JobDeregister {
            namespace: "default".into(),
            job_id: "web".into(),
            purge: true,
            eval: None,
            now: 0,
        },
    );
    assert!(res.error.is_some());
}

#[test]
fn snapshot_image_round_trips() {
    let mut t = Tables::default();
    t.apply(
        1,
        &Command::JobRegister {
            job: Box::new(job("web")),
            eval: None,
            now: 0,
        },
    );
    t.apply(
        2,
        &Command::PlanApply {
            updated: vec![],
            placed: vec![alloc("a1", "web", "n1")],
            evals: vec![],
            now: 0,
            deployments: vec![],
            deployment_updates: vec![],
        },
    );
    let bytes = rmp_serde::to_vec_named(&t.to_image()).unwrap();
    let back = Tables::from_image(rmp_serde::from_slice(&bytes).unwrap());
    assert_eq!(back.index, 2);
    assert_eq!(back.allocs_for_job("default", "web").len(), 1);
    assert_eq!(back.job("default", "web").unwrap().version, 0);
    assert_eq!(back.table_index(Table::Allocs), 2);
}

#[tokio::test(start_paused = true)]
async fn waiting_past_index_zero_really_waits() {
    // Scenario: a client's blocking query on a cluster that never had an allocation waits for the
    // allocation table to pass index 0. It must wait the whole time (virtual here), not return at
    // once: returning at once made the query loop spin a core.
    let store = StateStore::default();
    let start = tokio::time::Instant::now();
    let snap = store
        .wait_past(Table::Allocs, 0, Duration::from_secs(60))
        .await;
    assert_eq!(snap.table_index(Table::Allocs), 0);
    assert!(tokio::time::Instant::now() - start >= Duration::from_secs(60));
    // wait_for keeps its meaning: a min_index of 0 answers at once.
    let start = tokio::time::Instant::now();
    store
        .wait_for(Table::Allocs, 0, Duration::from_secs(60))
        .await;
    assert_eq!(tokio::time::Instant::now(), start);
}
