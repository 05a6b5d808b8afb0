//! Affinity and spread through the whole path: a job file's blocks, the servers' scheduler and
//! four real client agents that differ only in their meta.

use e2e::cluster::Cluster;
use e2e::*;
use std::collections::BTreeMap;
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(60);

const JOB: &str = r#"
job "prefs" {
  datacenters = ["*"]
  type        = "batch"

  spread {
    attribute = "${meta.zone}"
    weight    = 100
  }

  group "g" {
    count = 2

    affinity {
      attribute = "${meta.disk}"
      value     = "ssd"
      weight    = 100
    }

    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/true"
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
"#;

#[test]
fn allocations_follow_the_affinity_and_the_spread() {
    // Scenario: four clients: zone a and zone b, each with one ssd node and one hdd node.
    // A group of two with an affinity for ssd and a spread over zones gets one allocation per
    // zone, each on that zone's ssd node.
    let mut c = Cluster::start(1, "").unwrap();
    c.wait_leader(SETTLE).unwrap();
    for (name, zone, disk) in [
        ("a-ssd", "a", "ssd"),
        ("a-hdd", "a", "hdd"),
        ("b-ssd", "b", "ssd"),
        ("b-hdd", "b", "hdd"),
    ] {
        let meta = format!(
            "client {{\n  meta {{\n    zone = \"{zone}\"\n    disk = \"{disk}\"\n  }}\n}}\n"
        );
        c.add_client_with(name, &[], &meta).unwrap();
    }
    let names = c.wait_ready_nodes(4, "Name", SETTLE).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("prefs.nomad.hcl");
    std::fs::write(&file, JOB).unwrap();
    let out = c.ctl(0, &["job", "run", "-detach", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let allocs = wait_for("two allocations placed", SETTLE, || {
        let list = c
            .http(0, "GET", "/v1/job/prefs/allocations", None)
            .ok()?
            .json()
            .ok()?;
        let list = list.as_array()?.clone();
        (list.len() == 2).then_some(list)
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", c.report()));
    let mut per_node: BTreeMap<&str, usize> = BTreeMap::new();
    for a in &allocs {
        let name = &names[a["NodeID"].as_str().unwrap()];
        *per_node.entry(name.as_str()).or_default() += 1;
    }
    assert_eq!(
        per_node,
        BTreeMap::from([("a-ssd", 1), ("b-ssd", 1)]),
        "{per_node:?}"
    );
}

#[test]
fn a_spread_over_datacenters_splits_the_group_evenly() {
    // Scenario: three clients in dc1 and one in dc2. Job anti-affinity alone would put a group
    // of four one per node, three in dc1; a spread over ${node.datacenter} puts two in each.
    let mut c = Cluster::start(1, "").unwrap();
    c.wait_leader(SETTLE).unwrap();
    for (name, dc) in [("a", "dc1"), ("b", "dc1"), ("c", "dc1"), ("d", "dc2")] {
        c.add_client_with(name, &[], &format!("datacenter = \"{dc}\"\n"))
            .unwrap();
    }
    let dcs = c.wait_ready_nodes(4, "Datacenter", SETTLE).unwrap();
    assert_eq!(dcs.values().filter(|d| *d == "dc2").count(), 1, "{dcs:?}");

    let job = r#"
job "halves" {
  datacenters = ["dc1", "dc2"]
  type        = "batch"
  spread {
    attribute = "${node.datacenter}"
  }
  group "g" {
    count = 4
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
        args    = ["3604"]
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
"#;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("halves.nomad.hcl");
    std::fs::write(&file, job).unwrap();
    let out = c.ctl(0, &["job", "run", "-detach", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let allocs = wait_for("four allocations placed", SETTLE, || {
        let list = c
            .http(0, "GET", "/v1/job/halves/allocations", None)
            .ok()?
            .json()
            .ok()?;
        let list = list.as_array()?.clone();
        (list.len() == 4).then_some(list)
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", c.report()));
    let mut per_dc: BTreeMap<&str, usize> = BTreeMap::new();
    for a in &allocs {
        let dc = &dcs[a["NodeID"].as_str().unwrap()];
        *per_dc.entry(dc.as_str()).or_default() += 1;
    }
    assert_eq!(
        per_dc,
        BTreeMap::from([("dc1", 2), ("dc2", 2)]),
        "{per_dc:?}"
    );
}
