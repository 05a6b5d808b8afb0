//! Scenario tests of affinities and spreads: soft preferences that move scores, never filter.

use super::testutil::*;
use api::{Affinity, Spread, SpreadTarget};
use std::collections::BTreeMap;

fn nodes_by(out: &[&api::Allocation]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for a in out {
        *m.entry(a.node_id.clone()).or_default() += 1;
    }
    m
}

#[test]
fn an_affinity_draws_allocations_to_matching_nodes_and_a_negative_one_repels() {
    // Scenario: six identical nodes, two of them with rack=a. A group of two with a strong
    // affinity for rack a lands on both rack-a nodes (anti-affinity keeps them apart); with a
    // negative weight, neither lands there. No node is filtered either way.
    let nodes = || {
        (1..=6)
            .map(|i| {
                let n = node(&format!("n{i}"));
                if i <= 2 {
                    n.attr("rack", "a")
                } else {
                    n.attr("rack", "b")
                }
            })
            .collect::<Vec<_>>()
    };
    let mut j = job(2);
    j.task_groups[0].affinities.push(Affinity {
        l_target: "${attr.rack}".into(),
        r_target: "a".into(),
        weight: 100,
        ..Affinity::default()
    });
    let s = state(nodes(), &j);
    let out = run(&s, &j);
    let p = placed(&s, &out);
    assert_eq!(
        nodes_by(&p).keys().cloned().collect::<Vec<_>>(),
        vec!["n1", "n2"]
    );
    assert_eq!(p[0].metrics.as_ref().map(|m| m.nodes_filtered), Some(0));

    j.task_groups[0].affinities[0].weight = -100;
    let s = state(nodes(), &j);
    let out = run(&s, &j);
    let p = placed(&s, &out);
    assert_eq!(p.len(), 2);
    assert!(p.iter().all(|a| a.node_id != "n1" && a.node_id != "n2"));
}

#[test]
fn a_spread_shares_a_group_over_datacenters_evenly_or_by_target() {
    // Scenario: three nodes in dc1 and three in dc2 (dc1's are bigger, so bin-packing alone
    // would fill them first). A group of six with a spread over ${node.datacenter} gets three
    // in each; a group of four with targets of 75% and 25% gets three and one.
    let nodes = || {
        (1..=6)
            .map(|i| {
                let n = node(&format!("n{i}"));
                if i <= 3 {
                    n.dc("dc1").cpu(8000)
                } else {
                    n.dc("dc2")
                }
            })
            .collect::<Vec<_>>()
    };
    let per_dc = |p: &[&api::Allocation]| {
        let mut m: BTreeMap<&str, usize> = BTreeMap::new();
        for a in p {
            let dc = if a.node_id.as_str() <= "n3" {
                "dc1"
            } else {
                "dc2"
            };
            *m.entry(dc).or_default() += 1;
        }
        m
    };
    let mut j = job(6);
    j.datacenters = vec!["*".into()];
    j.spreads.push(Spread {
        attribute: "${node.datacenter}".into(),
        weight: 100,
        ..Spread::default()
    });
    let s = state(nodes(), &j);
    let out = run(&s, &j);
    let p = placed(&s, &out);
    assert_eq!(per_dc(&p), BTreeMap::from([("dc1", 3), ("dc2", 3)]));

    j.spreads[0].targets = vec![
        SpreadTarget {
            value: "dc1".into(),
            percent: 75,
        },
        SpreadTarget {
            value: "dc2".into(),
            percent: 25,
        },
    ];
    j.task_groups[0].count = 4;
    let s = state(nodes(), &j);
    let out = run(&s, &j);
    let p = placed(&s, &out);
    assert_eq!(per_dc(&p), BTreeMap::from([("dc1", 3), ("dc2", 1)]));
}
