use super::*;
use api::*;
use std::sync::Arc;

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

/// Registers `job` at `index` (no evaluation).
pub(super) fn register(t: &mut Tables, index: u64, job: Job) {
    t.apply(
        index,
        &Command::JobRegister {
            job: Box::new(job),
            eval: None,
            now: 0,
        },
    );
}

/// A plan's commit: `updated` and `placed` allocations, the job versions they run in `jobs`.
fn plan(updated: Vec<Allocation>, placed: Vec<Allocation>, jobs: Vec<Arc<Job>>) -> Command {
    Command::PlanApply {
        jobs,
        updated,
        placed,
        evals: vec![],
        now: 0,
        deployments: vec![],
        deployment_updates: vec![],
    }
}

pub(super) fn alloc(id: &str, job_id: &str, node: &str) -> Allocation {
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
            jobs: vec![],
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
                task_states: states.into(),
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
            jobs: vec![],
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
    register(&mut t, 1, job("web"));
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
    register(&mut t, 1, job("web"));
    t.apply(2, &plan(vec![], vec![alloc("a1", "web", "n1")], vec![]));
    t.apply(
        3,
        &Command::NamespaceUpsert {
            namespaces: vec![api::namespace::Namespace {
                name: "team-a".into(),
                ..Default::default()
            }],
        },
    );
    t.apply(
        4,
        &Command::ScalingEventAdd {
            namespace: "default".into(),
            job_id: "web".into(),
            group: "g".into(),
            event: api::ScalingEvent {
                count: Some(3),
                message: "more".into(),
                ..Default::default()
            },
        },
    );
    let bytes = rmp_serde::to_vec_named(&t.to_image()).unwrap();
    let back = Tables::from_image(rmp_serde::from_slice(&bytes).unwrap());
    assert_eq!(back.index, 4);
    assert_eq!(back.allocs_for_job("default", "web").len(), 1);
    assert_eq!(back.job("default", "web").unwrap().version, 0);
    assert_eq!(back.table_index(Table::Allocs), 2);
    assert!(back.namespace_exists("team-a"));
    assert_eq!(back.table_index(Table::Namespaces), 3);
    let events = back
        .scaling_events
        .get(&("default".to_string(), "web".to_string()))
        .unwrap();
    assert_eq!(events["g"][0].message, "more");
    assert_eq!(events["g"][0].create_index, 4);
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

#[test]
fn allocations_share_one_copy_of_their_job_version() {
    // Scenario: a plan places 500 allocations of a job whose spec is large. The command carries
    // the job once and the allocations none; in the state, in an image and after a restore,
    // all 500 point at one copy. A version no longer tracked stays with the allocations that
    // still run it.
    let mut t = Tables::default();
    let mut big = job("web");
    big.meta.insert("blob".into(), "x".repeat(20_000));
    register(&mut t, 1, big);
    let v0 = t.job("default", "web").unwrap();
    let mut placed: Vec<Allocation> = (0..500)
        .map(|i| alloc(&format!("a{i:03}"), "web", "n1"))
        .collect();
    // As the plan applier sends them: the job taken out, written once (a copy, as decoding
    // from the log makes it).
    for a in &mut placed {
        a.job = Some(Arc::new((*v0).clone()));
    }
    let jobs = api::alloc_jobs::detach_jobs(placed.iter_mut());
    assert_eq!(jobs.len(), 1);
    t.apply(2, &plan(vec![], placed, jobs));
    let shares = |t: &Tables, job: &Arc<Job>| {
        t.allocs()
            .all(|a| a.job.as_ref().is_some_and(|j| Arc::ptr_eq(j, job)))
    };
    assert!(
        shares(&t, &v0),
        "every allocation points at the state's job"
    );

    // A stop sent without the job keeps the version the allocation ran.
    let mut stop = (*t.alloc("a000").unwrap()).clone();
    stop.job = None;
    stop.desired_status = ALLOC_DESIRED_STOP.into();
    t.apply(3, &plan(vec![stop], vec![], vec![]));
    assert!(shares(&t, &v0));

    // Newer versions push v0 out of the tracked versions; its allocations keep it.
    for i in 0..tables::JOB_TRACKED_VERSIONS as u64 + 2 {
        let mut j = job("web");
        j.meta.insert("build".into(), i.to_string());
        register(&mut t, 10 + i, j);
    }
    assert!(t.job_version("default", "web", 0).is_none());

    let bytes = rmp_serde::to_vec_named(&t.to_image()).unwrap();
    assert!(
        bytes.len() < 3 * 20_000 + 500 * 1_000,
        "the 20 kB job is written once, not per allocation: {} bytes",
        bytes.len()
    );
    let back = Tables::from_image(rmp_serde::from_slice(&bytes).unwrap());
    let restored = back.alloc("a001").unwrap().job.clone().unwrap();
    assert_eq!(restored.meta.get("blob").map(String::len), Some(20_000));
    assert!(shares(&back, &restored));
    assert_eq!(
        back.alloc("a000").unwrap().desired_status,
        ALLOC_DESIRED_STOP
    );
    // Equal resources are held once too.
    let first = back.alloc("a000").unwrap().allocated_resources.clone();
    assert!(back
        .allocs()
        .all(|a| Arc::ptr_eq(&a.allocated_resources, &first)));
}

#[test]
fn an_image_writes_shared_resources_and_metrics_once() {
    // Scenario: 300 placements of one plan share their resources and placement metrics, and one
    // more has its own. The image holds two of each, not 301; restored, the 300 share again, the
    // odd one keeps its own, and an image without the shared lists (as written before) keeps
    // what its allocations carry.
    let mut t = Tables::default();
    register(&mut t, 1, job("web"));
    let resources = Arc::new(api::AllocatedResources {
        shared: api::AllocatedSharedResources {
            disk_mb: 300,
            ..Default::default()
        },
        ..Default::default()
    });
    let metrics = Arc::new(api::AllocationMetric {
        nodes_evaluated: 5000,
        ..Default::default()
    });
    let mut placed: Vec<Allocation> = (0..300)
        .map(|i| {
            let mut a = alloc(&format!("a{i:03}"), "web", "n1");
            a.allocated_resources = resources.clone();
            a.metrics = Some(metrics.clone());
            a
        })
        .collect();
    let mut odd = alloc("b000", "web", "n2");
    odd.allocated_resources = Arc::new(api::AllocatedResources::default());
    odd.metrics = Some(Arc::new(api::AllocationMetric {
        nodes_evaluated: 7,
        ..Default::default()
    }));
    placed.push(odd);
    t.apply(2, &plan(vec![], placed, vec![]));

    let image = t.to_image();
    assert_eq!(image.alloc_resources.len(), 2);
    assert_eq!(image.alloc_metrics.len(), 2);
    let bytes = rmp_serde::to_vec_named(&image).unwrap();
    let back = Tables::from_image(rmp_serde::from_slice(&bytes).unwrap());
    let a0 = back.alloc("a000").unwrap();
    assert_eq!(a0.allocated_resources.shared.disk_mb, 300);
    assert_eq!(a0.metrics.as_ref().unwrap().nodes_evaluated, 5000);
    let shared = back.allocs().filter(|a| a.id.starts_with('a')).all(|a| {
        Arc::ptr_eq(&a.allocated_resources, &a0.allocated_resources)
            && Arc::ptr_eq(a.metrics.as_ref().unwrap(), a0.metrics.as_ref().unwrap())
    });
    assert!(shared, "the 300 placements share one copy again");
    let b = back.alloc("b000").unwrap();
    assert_eq!(b.allocated_resources.shared.disk_mb, 0);
    assert_eq!(b.metrics.as_ref().unwrap().nodes_evaluated, 7);

    // An image from before: allocations carry their own, and no shared lists.
    let mut before = t.to_image();
    before.alloc_resources.clear();
    before.alloc_resources_of.clear();
    before.alloc_metrics.clear();
    before.alloc_metrics_of.clear();
    let back = Tables::from_image(before);
    let a1 = back.alloc("a001").unwrap();
    assert_eq!(a1.allocated_resources.shared.disk_mb, 300);
    assert_eq!(a1.metrics.as_ref().unwrap().nodes_evaluated, 5000);
}

#[test]
fn commands_written_before_compaction_still_share_the_job() {
    // Scenario: a log written by an older agent embeds the job in every placed allocation.
    // Replaying it still leaves one copy in memory.
    let mut t = Tables::default();
    register(&mut t, 1, job("web"));
    let v0 = t.job("default", "web").unwrap();
    let placed = (0..10)
        .map(|i| Allocation {
            job: Some(Arc::new((*v0).clone())),
            ..alloc(&format!("a{i}"), "web", "n1")
        })
        .collect();
    t.apply(2, &plan(vec![], placed, vec![]));
    assert!(t
        .allocs()
        .all(|a| a.job.as_ref().is_some_and(|j| Arc::ptr_eq(j, &v0))));
}

#[test]
fn job_tallies_kept_along_the_way_match_a_recount_and_answer_summary_and_status() {
    // Scenario: four allocations of one job are placed, report running, healthy, unhealthy and
    // failed, one is stopped, and the finished ones are collected; after every step the tallies
    // kept by the writes (the job's, and each node's) equal ones counted afresh from the
    // allocations, and the job's summary and status read from them.
    fn recount(t: &Tables) -> OrdMapOfTallies {
        let mut out = std::collections::BTreeMap::new();
        for a in t.allocs() {
            let key = (a.namespace.clone(), a.job_id.clone());
            out.entry(key)
                .or_insert_with(alloc_tally::JobTally::default)
                .count(a, 1);
        }
        out
    }
    type OrdMapOfTallies = std::collections::BTreeMap<JobKey, alloc_tally::JobTally>;
    fn kept(t: &Tables) -> OrdMapOfTallies {
        t.alloc_tallies
            .iter()
            .map(|(k, v)| (k.clone(), (**v).clone()))
            .collect()
    }
    let mut t = Tables::default();
    register(&mut t, 1, job("web"));
    let j = t.job("default", "web").unwrap();
    let placed: Vec<Allocation> = (0..4)
        .map(|i| Allocation {
            deployment_id: "d1".into(),
            ..alloc(&format!("a{i}"), "web", "n1")
        })
        .collect();
    t.apply(2, &plan(vec![], placed, vec![j]));
    assert_eq!(kept(&t), recount(&t));
    assert_node_tallies_match_a_recount(&t);
    assert_eq!(
        t.job_summary(&t.job("default", "web").unwrap()).summary["g"].starting,
        4
    );
    let report = |id: &str, status: &str, healthy: Option<bool>| AllocClientUpdate {
        id: id.into(),
        client_status: status.into(),
        deployment_status: healthy.map(|h| AllocDeploymentStatus {
            healthy: Some(h),
            ..Default::default()
        }),
        deployment_id: "d1".into(),
        ..Default::default()
    };
    t.apply(
        3,
        &Command::AllocClientUpdate {
            updates: vec![
                report("a0", ALLOC_CLIENT_RUNNING, Some(true)),
                report("a1", ALLOC_CLIENT_RUNNING, Some(true)),
                report("a2", ALLOC_CLIENT_RUNNING, Some(false)),
                report("a3", ALLOC_CLIENT_FAILED, None),
            ],
            evals: vec![],
            now: 3,
        },
    );
    assert_eq!(kept(&t), recount(&t));
    assert_node_tallies_match_a_recount(&t);
    let web = t.alloc_tally("default", "web").unwrap();
    assert_eq!((web.total, web.live), (4, 3));
    assert_eq!(web.deployments["d1"].healthy_live["g"], 2);
    assert_eq!(web.deployments["d1"].unhealthy_verdicts(), 1);
    let s = t.job_summary(&t.job("default", "web").unwrap());
    assert_eq!((s.summary["g"].running, s.summary["g"].failed), (3, 1));
    // The operator stops a healthy one: it no longer counts as live and healthy.
    t.apply(
        4,
        &Command::AllocStop {
            alloc_id: "a0".into(),
            eval: Box::default(),
            now: 4,
        },
    );
    assert_eq!(kept(&t), recount(&t));
    assert_node_tallies_match_a_recount(&t);
    assert_eq!(
        t.alloc_tally("default", "web").unwrap().deployments["d1"].healthy_live["g"],
        1
    );
    t.apply(
        5,
        &Command::GarbageCollect {
            collect: GcCandidates {
                allocs: vec!["a0".into(), "a3".into()],
                ..Default::default()
            },
        },
    );
    assert_eq!(kept(&t), recount(&t));
    assert_node_tallies_match_a_recount(&t);
    assert_eq!(t.alloc_tally("default", "web").unwrap().total, 2);
    assert_eq!(
        t.sizes(),
        TableSizes {
            jobs: 1,
            nodes: 0,
            allocs: 2,
            // The stop's evaluation.
            evals: 1
        }
    );
    assert_eq!(
        t.job_status(&t.job("default", "web").unwrap()),
        JOB_STATUS_RUNNING
    );
}

#[test]
fn a_clients_own_report_does_not_move_its_nodes_allocation_index() {
    // Scenario: a placement moves node n1's allocation index (its client's query wakes); the
    // client's report that the allocation runs does not (the client knows what it reported);
    // an operator's stop does.
    let mut t = Tables::default();
    register(&mut t, 1, job("web"));
    let j = t.job("default", "web").unwrap();
    t.apply(2, &plan(vec![], vec![alloc("a1", "web", "n1")], vec![j]));
    assert_eq!(t.node_allocs_index("n1"), 2);
    // (The store takes these after each apply.)
    t.alloc_nodes_touched.clear();
    t.apply(
        3,
        &Command::AllocClientUpdate {
            updates: vec![AllocClientUpdate {
                id: "a1".into(),
                client_status: ALLOC_CLIENT_RUNNING.into(),
                ..Default::default()
            }],
            evals: vec![],
            now: 3,
        },
    );
    assert_eq!(t.alloc("a1").unwrap().client_status, ALLOC_CLIENT_RUNNING);
    assert_eq!(t.node_allocs_index("n1"), 2);
    assert!(t.alloc_nodes_touched.is_empty());
    t.apply(
        4,
        &Command::AllocStop {
            alloc_id: "a1".into(),
            eval: Box::default(),
            now: 4,
        },
    );
    assert_eq!(t.node_allocs_index("n1"), 4);
}

/// Every node's tally, as the writes kept it, equals one summed afresh over its allocations.
fn assert_node_tallies_match_a_recount(t: &Tables) {
    let mut recount: std::collections::BTreeMap<String, NodeTally> = Default::default();
    for a in t.allocs().filter(|a| !a.terminal()) {
        recount.entry(a.node_id.clone()).or_default().count(a, 1);
    }
    let kept: std::collections::BTreeMap<String, NodeTally> = t
        .node_tallies
        .iter()
        .map(|(k, v)| (k.to_string(), (**v).clone()))
        .collect();
    assert_eq!(kept, recount);
}
