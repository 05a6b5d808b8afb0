//! The service catalog table: what clients write, and what the state machine drops on its own.

use super::*;
use api::*;

fn alloc(id: &str, node: &str) -> Allocation {
    Allocation {
        id: id.into(),
        namespace: "default".into(),
        job_id: "web".into(),
        node_id: node.into(),
        name: "web.g[0]".into(),
        task_group: "g".into(),
        desired_status: ALLOC_DESIRED_RUN.into(),
        client_status: ALLOC_CLIENT_RUNNING.into(),
        ..Default::default()
    }
}

fn reg(alloc: &str, node: &str, port: i64) -> ServiceRegistration {
    ServiceRegistration {
        id: format!("_nomad-task-{alloc}-t-web-http"),
        service_name: "web".into(),
        namespace: "default".into(),
        node_id: node.into(),
        datacenter: "dc1".into(),
        job_id: "web".into(),
        alloc_id: alloc.into(),
        address: "127.0.0.1".into(),
        port,
        ..Default::default()
    }
}

/// Tables holding allocations a1 (on n1) and a2 (on n2), both running, on ready nodes.
fn placed() -> Tables {
    let mut t = Tables::default();
    for n in ["n1", "n2"] {
        t.apply(
            1,
            &Command::NodeRegister {
                node: Box::new(Node {
                    id: n.into(),
                    name: n.into(),
                    status: NODE_STATUS_READY.into(),
                    ..Default::default()
                }),
                evals: vec![],
                now: 0,
                secret_hash: String::new(),
            },
        );
    }
    t.apply(
        2,
        &Command::PlanApply {
            jobs: vec![],
            updated: vec![],
            placed: vec![alloc("a1", "n1"), alloc("a2", "n2")],
            evals: vec![],
            now: 0,
            deployments: vec![],
            deployment_updates: vec![],
        },
    );
    t
}

/// A plan stops allocation a1.
fn stop_a1(t: &mut Tables, index: u64) {
    let mut stop = alloc("a1", "n1");
    stop.desired_status = ALLOC_DESIRED_STOP.into();
    t.apply(
        index,
        &Command::PlanApply {
            jobs: vec![],
            updated: vec![stop],
            placed: vec![],
            evals: vec![],
            now: 0,
            deployments: vec![],
            deployment_updates: vec![],
        },
    );
}

fn upsert(t: &mut Tables, index: u64, regs: Vec<ServiceRegistration>) {
    t.apply(
        index,
        &Command::ServiceUpdate {
            upsert: regs,
            delete: vec![],
        },
    );
}

#[test]
fn registrations_keep_their_create_index_and_identical_writes_change_nothing() {
    let mut t = placed();
    upsert(
        &mut t,
        3,
        vec![reg("a1", "n1", 8080), reg("a2", "n2", 8081)],
    );
    assert_eq!(t.services_by_name("default", "web").len(), 2);
    assert_eq!(t.table_index(Table::Services), 3);
    upsert(&mut t, 4, vec![reg("a1", "n1", 8080)]);
    assert_eq!(t.table_index(Table::Services), 3, "same content: no change");
    let mut critical = reg("a1", "n1", 8080);
    critical.check_status = CHECK_CRITICAL.into();
    upsert(&mut t, 5, vec![critical]);
    let r = t.service_registration("_nomad-task-a1-t-web-http").unwrap();
    assert_eq!((r.create_index, r.modify_index), (3, 5));
    assert!(!r.healthy());
    t.apply(
        6,
        &Command::ServiceUpdate {
            upsert: vec![],
            delete: vec![r.id.clone()],
        },
    );
    assert_eq!(t.services_by_name("default", "web").len(), 1);
    assert!(t.services_for_alloc("a1").is_empty());
    assert_eq!(t.table_index(Table::Services), 6);
}

#[test]
fn finished_or_unknown_allocations_cannot_register() {
    // Scenario: a client's report races the plan that stopped its allocation; the stopped
    // allocation must not come back into the catalog.
    let mut t = placed();
    stop_a1(&mut t, 3);
    upsert(&mut t, 4, vec![reg("a1", "n1", 1), reg("nope", "n1", 2)]);
    assert!(t.services_by_name("default", "web").is_empty());
    assert_eq!(t.table_index(Table::Services), 0);
}

#[test]
fn stops_losses_and_dead_nodes_leave_the_catalog() {
    let mut t = placed();
    upsert(&mut t, 3, vec![reg("a1", "n1", 1), reg("a2", "n2", 2)]);
    // A plan stops a1: its instance goes at once, before its client deregisters it.
    stop_a1(&mut t, 4);
    assert!(t.services_for_alloc("a1").is_empty());
    assert_eq!(t.services_for_alloc("a2").len(), 1);
    // n2 goes down: everything registered from it goes.
    t.apply(
        5,
        &Command::NodeStatus {
            node_id: "n2".into(),
            status: NODE_STATUS_DOWN.into(),
            evals: vec![],
            now: 0,
        },
    );
    assert!(t.services_for_node("n2").is_empty());
    assert_eq!(t.table_index(Table::Services), 5);

    // A client reporting its allocation failed takes it out too.
    let mut t = placed();
    upsert(&mut t, 3, vec![reg("a1", "n1", 1)]);
    t.apply(
        4,
        &Command::AllocClientUpdate {
            updates: vec![AllocClientUpdate {
                id: "a1".into(),
                client_status: ALLOC_CLIENT_FAILED.into(),
                ..Default::default()
            }],
            evals: vec![],
            now: 0,
        },
    );
    assert!(t.services_for_alloc("a1").is_empty());
}

#[test]
fn the_catalog_survives_a_snapshot() {
    let mut t = placed();
    upsert(&mut t, 3, vec![reg("a1", "n1", 1)]);
    let bytes = rmp_serde::to_vec_named(&t.to_image()).unwrap();
    let back = Tables::from_image(rmp_serde::from_slice(&bytes).unwrap());
    assert_eq!(back.services_by_name("default", "web").len(), 1);
    assert_eq!(back.services_for_node("n1").len(), 1);
    assert_eq!(back.table_index(Table::Services), 3);
}
