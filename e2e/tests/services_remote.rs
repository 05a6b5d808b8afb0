//! The lab's "done when", with real processes: one server agent runs the template renderer in
//! front of nginx, three client agents run a count-2 job of httpd instances. The client running
//! one copy is killed -9: once its node is marked down its registration leaves the catalog (its
//! orphaned httpd still answers, but nginx no longer sends to it), the replacement is registered
//! on another client, and nginx reaches it. The clients run a template of their own too, fed
//! through their servers: their files follow the same changes.

use e2e::cluster::Cluster;
use e2e::nginx::{self, Nginx};
use e2e::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(90);

fn job(marker: &str) -> Value {
    let script = format!(
        "mkdir -p local/www && echo \"instance $NOMAD_ALLOC_ID\" > local/www/index.html && \
         exec busybox httpd -f -r {marker} -p 127.0.0.1:$NOMAD_PORT_http -h local/www"
    );
    serde_json::json!({"Job": {
        "ID": "lab", "Name": "lab", "Type": "service", "Datacenters": ["dc1"],
        "TaskGroups": [{
            "Name": "web", "Count": 2,
            "Networks": [{"DynamicPorts": [{"Label": "http"}]}],
            "Services": [{
                "Name": "lab", "PortLabel": "http",
                "Checks": [{"Name": "alive", "Type": "http", "Path": "/",
                            "Interval": 1_000_000_000u64, "Timeout": 1_000_000_000u64}]
            }],
            "Tasks": [{
                "Name": "httpd", "Driver": "raw_exec",
                "Config": {"command": "/bin/sh", "args": ["-c", script]},
                "Resources": {"CPU": 20, "MemoryMB": 32}
            }]
        }]
    }})
}

fn registrations(c: &Cluster) -> Vec<Value> {
    c.http(0, "GET", "/v1/service/lab", None)
        .ok()
        .and_then(|r| r.json().ok())
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
}

#[test]
fn nginx_keeps_serving_when_a_client_dies() {
    let dir = tempfile::tempdir().unwrap();
    let nginx = Nginx::start(&dir.path().join("nginx")).unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let mut c = Cluster::start_with(
        1,
        "",
        &nginx::renderer_config(&nginx, &nginx::repo_template(), &listen),
    )
    .unwrap();
    c.wait_leader(SETTLE).unwrap();
    let view_template = dir.path().join("view.j2");
    std::fs::write(
        &view_template,
        "{% for i in services.lab|default([]) %}{{ i.alloc_id }}\n{% endfor %}",
    )
    .unwrap();
    let view = |name: &str| dir.path().join(format!("view-{name}.txt"));
    for name in ["client-a", "client-b", "client-c"] {
        let config = format!(
            "template {{\n  source = \"{}\"\n  destination = \"{}\"\n}}\n",
            view_template.display(),
            view(name).display()
        );
        c.add_client_with(name, &[], &config).unwrap();
    }
    let viewed = |name: &str| -> BTreeSet<String> {
        std::fs::read_to_string(view(name))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    };
    let marker = format!("{}", 9_100_000 + std::process::id());
    let _guard = TaskGuard(marker.clone());
    let reply = c
        .http(0, "POST", "/v1/jobs", Some(&job(&marker).to_string()))
        .unwrap();
    assert!(reply.is_success(), "{}", reply.body);
    let url = format!("http://{listen}/lab/");

    let regs = wait_for("two passing instances", SETTLE, || {
        let r = registrations(&c);
        (r.len() == 2 && r.iter().all(|r| r["CheckStatus"] == "passing")).then_some(r)
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", c.clients[0].log()));
    let first: BTreeSet<String> = regs
        .iter()
        .map(|r| r["AllocID"].as_str().unwrap().to_string())
        .collect();
    wait_for("nginx to reach both", SETTLE, || {
        (nginx::reached_instances(&url, 6) == first).then_some(())
    })
    .unwrap();
    wait_for("the clients' own renders", SETTLE, || {
        ["client-a", "client-b", "client-c"]
            .iter()
            .all(|n| viewed(n) == first)
            .then_some(())
    })
    .unwrap();

    // Kill the client agent that runs the first registration's copy.
    let victim_node = regs[0]["NodeID"].as_str().unwrap().to_string();
    let victim_alloc = regs[0]["AllocID"].as_str().unwrap().to_string();
    let nodes = c.http(0, "GET", "/v1/nodes", None).unwrap().json().unwrap();
    let victim_name = nodes
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["ID"] == victim_node.as_str())
        .map(|n| n["Name"].as_str().unwrap().to_string())
        .unwrap();
    let victim = ["client-a", "client-b", "client-c"]
        .iter()
        .position(|n| *n == victim_name)
        .unwrap();
    c.kill_client(victim);

    // Down, its registration gone, a replacement registered elsewhere, and nginx on it.
    let after = wait_for("the replacement registered", SETTLE, || {
        let r = registrations(&c);
        let ok = r.len() == 2
            && r.iter()
                .all(|r| r["CheckStatus"] == "passing" && r["NodeID"] != victim_node.as_str());
        ok.then_some(r)
    })
    .unwrap_or_else(|e| panic!("{e}\n{:#?}", registrations(&c)));
    let now: BTreeSet<String> = after
        .iter()
        .map(|r| r["AllocID"].as_str().unwrap().to_string())
        .collect();
    assert!(!now.contains(&victim_alloc));
    wait_for(
        "nginx to reach the survivor and the replacement",
        SETTLE,
        || (nginx::reached_instances(&url, 8) == now).then_some(()),
    )
    .unwrap();
    let conf = std::fs::read_to_string(nginx.services_conf()).unwrap();
    assert_eq!(conf.matches("    server 127.0.0.1:").count(), 2, "{conf}");
    for (i, name) in ["client-a", "client-b", "client-c"].iter().enumerate() {
        if i != victim {
            wait_for("a surviving client's render", SETTLE, || {
                (viewed(name) == now).then_some(())
            })
            .unwrap();
        }
    }
}
