//! Scenario tests of `ephemeral_disk`: its size is reserved on the node, and a sticky group's
//! replacement stays on its predecessor's node when that node can take it.

use super::testutil::*;
use super::MemState;
use api::EphemeralDisk;

fn with_disk(mut j: api::Job, size_mb: i64, sticky: bool) -> api::Job {
    j.task_groups[0].ephemeral_disk = Some(EphemeralDisk {
        size_mb,
        sticky,
        migrate: false,
    });
    j
}

#[test]
fn the_disk_is_reserved_and_a_full_node_is_exhausted_on_disk() {
    // Scenario: nodes with 100 GB of disk. Groups without the block reserve Nomad's 300 MB; a
    // group of three 40 GB disks fits two on one node and not a third; on a one-node cluster
    // the third fails with the disk dimension exhausted.
    let j = job(1);
    let s = state(vec![node("n1")], &j);
    let out = run(&s, &j);
    assert_eq!(placed(&s, &out)[0].allocated_resources.shared.disk_mb, 300);

    let j = with_disk(job(3), 40_000, false);
    let s = state(vec![node("n1")], &j);
    let out = run(&s, &j);
    assert_eq!(placed(&s, &out).len(), 2);
    let failed = &out.eval.failed_tg_allocs["web"];
    assert_eq!(failed.dimension_exhausted.get("disk"), Some(&1));
}

#[test]
fn a_sticky_replacement_stays_on_its_node() {
    // Scenario: eight nodes; a sticky group of two is updated destructively. Each replacement
    // lands on the node its predecessor ran on, although bin-packing alone would move some.
    let nodes: Vec<NodeB> = (1..=8).map(|i| node(&format!("n{i}"))).collect();
    for sticky in [true, false] {
        let mut j = with_disk(job(2), 1000, sticky);
        // Without an update block both are replaced at once.
        j.task_groups[0].update = None;
        let mut s = state(nodes.clone(), &j);
        let out = run(&s, &j);
        apply(&mut s, &out);
        let before: Vec<(String, String)> = placed(&MemState::new(), &out)
            .iter()
            .map(|a| (a.id.clone(), a.node_id.clone()))
            .collect();
        let v2 = destructive_version(&j, 9);
        s.upsert_job(v2.clone());
        let out = run(&s, &v2);
        let p = placed(&s, &out);
        assert_eq!(p.len(), 2);
        let same = p
            .iter()
            .filter(|a| {
                before
                    .iter()
                    .any(|(id, n)| *id == a.previous_allocation && *n == a.node_id)
            })
            .count();
        if sticky {
            assert_eq!(same, 2, "sticky replacements moved");
        } else {
            assert!(
                same < 2,
                "without sticky, bin-packing should move at least one"
            );
        }
    }
}
