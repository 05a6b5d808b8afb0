//! Scenario: three servers and a client agent run with mutual TLS on the rpc port and HTTPS with
//! client certificates on the API, from certificates that `nomadctl tls` made. A job runs and its
//! logs come through a server (which asks the client over HTTPS), and so does an `alloc exec`
//! session (a WebSocket over HTTPS, relayed over HTTPS). A plaintext rpc connection is
//! refused; a server that holds only a client certificate never joins; `nomadctl` without the CA
//! or without a client certificate fails saying which variable to set; and SIGHUP with new
//! certificates keeps the cluster up while new connections get the new certificate.

use e2e::cluster::Cluster;
use e2e::tls::TlsFiles;
use e2e::*;
use serde_json::json;
use std::io::{Read, Write};
use std::process::Command;
use std::time::Duration;

const ELECTION: Duration = Duration::from_secs(60);
const PLACEMENT: Duration = Duration::from_secs(60);

/// `nomadctl` against `addr` with exactly the environment given (no NOMAD_* from the harness).
fn nomadctl_with(addr: &str, env: &[(String, String)], args: &[&str]) -> std::process::Output {
    Command::new(nomadctl_bin())
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("NOMAD_ADDR", addr)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .expect("running nomadctl")
}

fn echo_job(id: &str) -> String {
    json!({"Job": {
        "ID": id, "Name": id, "Type": "service", "Datacenters": ["dc1"],
        "TaskGroups": [{"Name": "g", "Count": 1, "Tasks": [{
            "Name": "t", "Driver": "raw_exec",
            "Config": {"command": "/bin/sh", "args": ["-c", "echo over-tls; exec sleep 3600"]},
            "Resources": {"CPU": 20, "MemoryMB": 32}
        }]}]
    }})
    .to_string()
}

#[test]
fn a_tls_cluster_refuses_plaintext_and_client_certificates_and_reloads_on_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let certs = TlsFiles::create(&dir.path().join("tls")).unwrap();
    let mut cluster = Cluster::start_tls(3, certs.clone()).unwrap();
    let leader = cluster.wait_leader(ELECTION).unwrap();
    cluster.add_client("tls-client").unwrap();

    // A job placed on the TLS client; its log read through a server, which proxies over HTTPS.
    let reply = cluster
        .http(leader, "POST", "/v1/jobs", Some(&echo_job("tls-echo")))
        .unwrap();
    assert!(reply.is_success(), "register: {reply:?}");
    let alloc = wait_for("the job's allocation to run", PLACEMENT, || {
        let allocs = cluster
            .http(leader, "GET", "/v1/job/tls-echo/allocations", None)
            .ok()?
            .json()
            .ok()?;
        allocs.as_array()?.iter().find_map(|a| {
            (a["ClientStatus"] == "running").then(|| a["ID"].as_str().unwrap_or("").to_string())
        })
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", cluster.report()));
    let logs = wait_for("the task's log through the server", PLACEMENT, || {
        let out = cluster.ctl(leader, &["alloc", "logs", &alloc]);
        let text = stdout(&out);
        text.contains("over-tls").then_some(text)
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", cluster.report()));
    assert!(logs.contains("over-tls"));
    // `alloc exec` over HTTPS through a server, which relays the WebSocket to the client over
    // HTTPS with its own certificate.
    let out = cluster.ctl(
        leader,
        &[
            "alloc",
            "exec",
            "-i=false",
            &alloc,
            "/bin/sh",
            "-c",
            "echo exec-over-tls; exit 3",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(stdout(&out), "exec-over-tls\n");

    // Plaintext on the rpc port: the protocol byte of plain rpc, then a ping's frame.
    let mut plain =
        std::net::TcpStream::connect(("127.0.0.1", cluster.servers[leader].rpc_port)).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let _ = plain.write_all(&[0x01, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0xc0]);
    let mut buf = [0u8; 64];
    match plain.read(&mut buf) {
        Ok(0) | Err(_) => {}
        Ok(n) => panic!("a plaintext rpc peer got {n} bytes of answer"),
    }
    wait_for("the refusal in the server's log", ELECTION, || {
        cluster
            .log(leader)
            .contains("plaintext rpc connection refused")
            .then_some(())
    })
    .unwrap();

    // A server with a client certificate: every discovery it tries is refused.
    let intruder_dir = dir.path().join("intruder");
    std::fs::create_dir_all(&intruder_dir).unwrap();
    let config = intruder_dir.join("server.hcl");
    std::fs::write(
        &config,
        format!(
            "server {{\n  enabled = true\n  bootstrap_expect = 3\n}}\n{}",
            certs.agent_block("client")
        ),
    )
    .unwrap();
    let (http_port, rpc_port) = (free_port(), free_port());
    let mut args: Vec<String> = [
        "--server",
        "--data-dir",
        &intruder_dir.join("data").display().to_string(),
        "--bind",
        "127.0.0.1",
        "--http-port",
        &http_port.to_string(),
        "--rpc-port",
        &rpc_port.to_string(),
        "--node",
        "intruder",
        "--config",
        &config.display().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for i in 0..3 {
        args.extend(["--retry-join".to_string(), cluster.rpc_address(i)]);
    }
    let intruder = Agent::with_args_tls(
        intruder_dir.join("data"),
        intruder_dir.join("agent.log"),
        (http_port, rpc_port),
        args,
        Vec::new(),
        Some(certs.clone()),
    )
    .unwrap();
    wait_for("the intruder to be refused", ELECTION, || {
        intruder.log().contains("permission denied").then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", intruder.log()));
    let config = cluster.raft_configuration(leader, false).unwrap();
    let servers = config["Servers"].as_array().cloned().unwrap_or_default();
    assert_eq!(servers.len(), 3, "raft configuration: {config}");
    drop(intruder);

    // nomadctl: without the CA, without a client certificate, then with both.
    let addr = cluster.address(leader);
    let ca_only = vec![("NOMAD_CACERT".to_string(), certs.ca.display().to_string())];
    let out = nomadctl_with(&addr, &[], &["server", "members"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("NOMAD_CACERT"), "{}", stderr(&out));
    let out = nomadctl_with(&addr, &ca_only, &["server", "members"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("NOMAD_CLIENT_CERT"),
        "{}",
        stderr(&out)
    );
    let out = nomadctl_with(&addr, &certs.cli_env(), &["server", "members"]);
    assert!(out.status.success(), "{}", stderr(&out));

    // SIGHUP with new server certificates that also carry "reloaded.test".
    let mut by_name = certs.cli_env();
    by_name.push(("NOMAD_TLS_SERVER_NAME".into(), "reloaded.test".into()));
    let out = nomadctl_with(&addr, &by_name, &["server", "members"]);
    assert!(
        !out.status.success(),
        "the old certificate has no reloaded.test"
    );
    let renewed = dir.path().join("renewed");
    std::fs::create_dir_all(&renewed).unwrap();
    std::fs::copy(&certs.ca, renewed.join("nomad-agent-ca.pem")).unwrap();
    std::fs::copy(&certs.ca_key, renewed.join("nomad-agent-ca-key.pem")).unwrap();
    let maker = TlsFiles {
        dir: renewed.clone(),
        ca: renewed.join("nomad-agent-ca.pem"),
        ca_key: renewed.join("nomad-agent-ca-key.pem"),
    };
    maker
        .nomadctl(&[
            "tls",
            "cert",
            "create",
            "-server",
            "-additional-dnsname",
            "reloaded.test",
        ])
        .unwrap();
    let (new_cert, new_key) = maker.pair("server");
    let (cert, key) = certs.pair("server");
    std::fs::copy(&new_cert, &cert).unwrap();
    std::fs::copy(&new_key, &key).unwrap();
    for i in 0..3 {
        let pid = cluster.servers[i].pid().expect("server running") as i32;
        unsafe { libc::kill(pid, libc::SIGHUP) };
    }
    for i in 0..3 {
        wait_for("the server to reload its certificates", ELECTION, || {
            cluster
                .log(i)
                .contains("reloaded the TLS certificates")
                .then_some(())
        })
        .unwrap();
    }
    let out = nomadctl_with(&addr, &by_name, &["server", "members"]);
    assert!(out.status.success(), "after reload: {}", stderr(&out));

    // The cluster stayed up: one leader, writes commit, the client is still ready.
    let leader = cluster.wait_leader(ELECTION).unwrap();
    let reply = cluster
        .http(leader, "POST", "/v1/jobs", Some(&echo_job("after-reload")))
        .unwrap();
    assert!(reply.is_success(), "register after reload: {reply:?}");
    let nodes = cluster.http(leader, "GET", "/v1/nodes", None).unwrap();
    let nodes = nodes.json().unwrap();
    assert!(
        nodes
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["Status"] == "ready"),
        "{nodes}"
    );
}
