//! ACL tokens and policies, end to end through the real agent, `nomadctl` and python-nomad.

use e2e::cluster::{job_json, Cluster};
use e2e::*;
use std::process::Command;
use std::time::Duration;

const READ_POLICY: &str =
    "namespace \"default\" {\n  policy = \"read\"\n}\nnode {\n  policy = \"read\"\n}\n";

/// The value of `key = value` in nomadctl's key/value output.
fn field(out: &str, key: &str) -> String {
    out.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(" = ")?;
            (k.trim() == key).then(|| v.trim().to_string())
        })
        .unwrap_or_default()
}

#[test]
fn tokens_and_policies_gate_every_request() {
    // Scenario: a dev agent with ACLs on, bootstrapped by the harness. A second bootstrap is
    // refused. Without a token, job registration and listing are 403 while health stays open.
    // A read policy applied with nomadctl (a broken one is refused with line:col) backs a
    // client token that reads jobs and nodes but cannot write; the management token does
    // everything; a deleted or unknown token is refused; no secret is ever listed.
    let dir = tempfile::tempdir().unwrap();
    let mut agent = Agent::dev_acl(dir.path()).unwrap();
    let base = agent.address();
    let admin = agent.token.clone().unwrap();

    let (status, body) = request("POST", &format!("{base}/v1/acl/bootstrap"), None).unwrap();
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("already done"), "{body}");

    let (status, body) =
        request("POST", &format!("{base}/v1/jobs"), Some(&job_json("anon"))).unwrap();
    assert_eq!(status, 403, "{body}");
    assert!(body.starts_with("Permission denied"), "{body}");
    let (status, _) = request("GET", &format!("{base}/v1/jobs"), None).unwrap();
    assert_eq!(status, 403);
    let (status, _) = request("GET", &format!("{base}/v1/agent/health"), None).unwrap();
    assert_eq!(status, 200);
    let (status, body) = request_with(
        "GET",
        &format!("{base}/v1/jobs"),
        None,
        Some("0b0b0b0b-dead-beef-0000-000000000000"),
    )
    .unwrap();
    assert_eq!(status, 403);
    assert!(body.contains("ACL token not found"), "{body}");

    // Policies through nomadctl, as the management token.
    let bad = dir.path().join("bad.hcl");
    std::fs::write(&bad, "namespace \"default\" {\n  policy = \"reed\"\n}\n").unwrap();
    let out = agent.ctl(&["acl", "policy", "apply", "readonly", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("2:"), "{}", stderr(&out));
    let good = dir.path().join("read.hcl");
    std::fs::write(&good, READ_POLICY).unwrap();
    let out = agent.ctl(&[
        "acl",
        "policy",
        "apply",
        "-description",
        "read all",
        "readonly",
        good.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("Successfully wrote \"readonly\" ACL policy!"));
    let out = agent.ctl(&["acl", "policy", "list"]);
    assert!(
        stdout(&out).contains("readonly") && stdout(&out).contains("read all"),
        "{}",
        stdout(&out)
    );
    let out = agent.ctl(&["acl", "policy", "info", "readonly"]);
    assert!(
        stdout(&out).contains("policy = \"read\""),
        "{}",
        stdout(&out)
    );

    let out = agent.ctl(&[
        "acl", "token", "create", "-name", "reader", "-type", "client", "-policy", "readonly",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let made = stdout(&out);
    let reader = field(&made, "Secret ID");
    let accessor = field(&made, "Accessor ID");
    assert_eq!(reader.len(), 36, "{made}");
    assert_eq!(field(&made, "Policies"), "[readonly]");

    // The management token registers; the reader reads and is refused writes.
    let (status, body) = request_with(
        "POST",
        &format!("{base}/v1/jobs"),
        Some(&job_json("acl-job")),
        Some(&admin),
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    for path in [
        "/v1/jobs",
        "/v1/job/acl-job",
        "/v1/nodes",
        "/v1/allocations",
    ] {
        let (status, body) =
            request_with("GET", &format!("{base}{path}"), None, Some(&reader)).unwrap();
        assert_eq!(status, 200, "{path}: {body}");
    }
    for (method, path, body) in [
        ("POST", "/v1/jobs", Some(job_json("reader-job"))),
        ("DELETE", "/v1/job/acl-job", None),
        ("GET", "/v1/acl/tokens", None),
        ("GET", "/v1/operator/raft/configuration", None),
    ] {
        let (status, text) = request_with(
            method,
            &format!("{base}{path}"),
            body.as_deref(),
            Some(&reader),
        )
        .unwrap();
        assert_eq!(status, 403, "{method} {path}: {text}");
    }
    let admin_token = agent.token.replace(reader.clone());
    let out = agent.ctl(&["acl", "token", "self"]);
    assert!(stdout(&out).contains("reader"), "{}", stdout(&out));
    let out = agent.ctl(&["job", "stop", "acl-job"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("Permission denied"),
        "{}",
        stderr(&out)
    );
    agent.token = admin_token;

    // Listings never carry a secret; a read of the token by accessor has none either.
    let tokens = agent.get("/v1/acl/tokens").unwrap();
    assert_eq!(tokens.as_array().unwrap().len(), 2, "{tokens}");
    assert!(!tokens.to_string().contains(&reader));
    let one = agent.get(&format!("/v1/acl/token/{accessor}")).unwrap();
    assert_eq!(one["SecretID"], "", "{one}");
    let out = agent.ctl(&["acl", "token", "list"]);
    assert!(stdout(&out).contains("Bootstrap Token") && stdout(&out).contains("reader"));

    let out = agent.ctl(&["acl", "token", "delete", &accessor]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (status, _) = request_with("GET", &format!("{base}/v1/jobs"), None, Some(&reader)).unwrap();
    assert_eq!(status, 403);
    let out = agent.ctl(&["acl", "policy", "delete", "readonly"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = agent.ctl(&["job", "stop", "-purge", "acl-job"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn python_nomad_works_with_a_token() {
    // Scenario: python-nomad, given the management token, writes a policy and a client token;
    // the client token reads and cannot write; no token is refused; a deleted token is refused.
    let have = Command::new("python3")
        .args(["-c", "import nomad"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        have,
        "python-nomad is not installed: pip install python-nomad (scripts/test installs it)"
    );
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::dev_acl(dir.path()).unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/python/test_python_nomad_acl.py"
    );
    let out = Command::new("python3")
        .args([
            script,
            &agent.http_port.to_string(),
            agent.token.as_deref().unwrap(),
        ])
        .output()
        .unwrap();
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(out.status.success(), "{text}\n{}", agent.log());
    assert!(text.contains(" passed, 0 failed"), "{text}");
}

#[test]
fn a_client_agent_checks_tokens_through_its_servers() {
    // Scenario: one server and one client-only agent, both with ACLs on. The client resolves
    // tokens over the rpc port: its own endpoints refuse no token and a token without the
    // agent rule, and accept the management token. A task's logs read through the server are
    // checked on the server and again on the client, with the caller's token passed along.
    let mut cluster = Cluster::start_with(1, "", "acl {\n  enabled = true\n}\n").unwrap();
    cluster.wait_leader(Duration::from_secs(30)).unwrap();
    let boot = cluster.http(0, "POST", "/v1/acl/bootstrap", None).unwrap();
    assert_eq!(boot.status, 200, "{}", boot.body);
    let admin = boot.json().unwrap()["SecretID"]
        .as_str()
        .unwrap()
        .to_string();
    let c = cluster
        .add_client_with("acl-client", &[], "acl {\n  enabled = true\n}\n")
        .unwrap();
    let client = cluster.clients[c].address();
    let server = cluster.address(0);

    let logs_policy = serde_json::json!({
        "Name": "logs",
        "Rules": "namespace \"default\" {\n  capabilities = [\"read-job\", \"read-logs\"]\n}\n"
    });
    let (status, body) = request_with(
        "POST",
        &format!("{server}/v1/acl/policy/logs"),
        Some(&logs_policy.to_string()),
        Some(&admin),
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let (status, body) = request_with(
        "POST",
        &format!("{server}/v1/acl/token"),
        Some(r#"{"Name": "logs", "Type": "client", "Policies": ["logs"]}"#),
        Some(&admin),
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let logs_token: serde_json::Value = serde_json::from_str(&body).unwrap();
    let logs_token = logs_token["SecretID"].as_str().unwrap().to_string();

    let self_url = format!("{client}/v1/agent/self");
    assert_eq!(request("GET", &self_url, None).unwrap().0, 403);
    assert_eq!(
        request_with("GET", &self_url, None, Some(&logs_token))
            .unwrap()
            .0,
        403
    );
    let (status, body) = request_with("GET", &self_url, None, Some(&admin)).unwrap();
    assert_eq!(status, 200, "{body}");

    // A task that prints, on the client; its logs through the server.
    let n = 9_700_000 + std::process::id();
    let _guard = TaskGuard(format!("sleep {n}"));
    let marker = format!("acl-out-{n}");
    let job = serde_json::json!({"Job": {"ID": "logs", "Type": "service", "TaskGroups": [{
        "Name": "g", "Tasks": [{"Name": "t", "Driver": "raw_exec",
        "Config": {"command": "/bin/sh", "args": ["-c", format!("echo {marker}; exec sleep {n}")]},
        "Resources": {"CPU": 20, "MemoryMB": 32}}]}]}});
    let (status, body) = request_with(
        "POST",
        &format!("{server}/v1/jobs"),
        Some(&job.to_string()),
        Some(&admin),
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let alloc = wait_for("the allocation to run", Duration::from_secs(60), || {
        let (_, body) = request_with(
            "GET",
            &format!("{server}/v1/job/logs/allocations"),
            None,
            Some(&admin),
        )
        .ok()?;
        let allocs: serde_json::Value = serde_json::from_str(&body).ok()?;
        allocs
            .as_array()?
            .iter()
            .find(|a| a["ClientStatus"] == "running")
            .map(|a| a["ID"].as_str().unwrap_or_default().to_string())
    })
    .unwrap();
    let logs = format!("{server}/v1/client/fs/logs/{alloc}?task=t&type=stdout&plain=true");
    assert_eq!(request("GET", &logs, None).unwrap().0, 403);
    let text = wait_for(
        "the task's output through the server",
        Duration::from_secs(30),
        || {
            let (status, body) = request_with("GET", &logs, None, Some(&logs_token)).ok()?;
            (status == 200 && body.contains(&marker)).then_some(body)
        },
    )
    .unwrap();
    assert!(text.contains(&marker));
    let (status, _) = request_with(
        "DELETE",
        &format!("{server}/v1/job/logs?purge=true"),
        None,
        Some(&admin),
    )
    .unwrap();
    assert_eq!(status, 200);
}

#[test]
fn namespaces_isolate_jobs_and_tokens() {
    // Scenario: with ACLs on, the management token creates namespaces team-a and team-b and a
    // job named `web` in each: two jobs, one per namespace, each listed only in its own. A job
    // for a namespace that does not exist is refused. A token whose policy reads team-a lists
    // team-a's jobs and is refused team-b's. A namespace holding a job cannot be deleted;
    // once the job is purged it can; `default` never can.
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::dev_acl(dir.path()).unwrap();
    let base = agent.address();
    let admin = agent.token.clone().unwrap();
    let as_admin = |method: &str, path: &str, body: Option<&str>| {
        request_with(method, &format!("{base}{path}"), body, Some(&admin)).unwrap()
    };
    for ns in ["team-a", "team-b"] {
        let out = agent.ctl(&[
            "namespace",
            "apply",
            "-description",
            &format!("{ns} jobs"),
            ns,
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(
            stdout(&out),
            format!("Successfully applied namespace {ns:?}!\n")
        );
    }
    let out = agent.ctl(&["namespace", "list"]);
    let names: Vec<String> = stdout(&out)
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .collect();
    assert_eq!(names, ["default", "team-a", "team-b"], "{}", stdout(&out));
    let (status, body) = as_admin(
        "PUT",
        "/v1/namespace/bad_name",
        Some(r#"{"Name": "bad_name"}"#),
    );
    assert_eq!(status, 400, "{body}");

    let job_in = |ns: &str| {
        let mut j: serde_json::Value = serde_json::from_str(&job_json("web")).unwrap();
        j["Job"]["Namespace"] = ns.into();
        j["Job"]["TaskGroups"][0]["Tasks"][0]["Config"] =
            serde_json::json!({"command": "/bin/true"});
        j["Job"]["Type"] = "batch".into();
        j.to_string()
    };
    for ns in ["team-a", "team-b"] {
        let (status, body) = as_admin("POST", "/v1/jobs", Some(&job_in(ns)));
        assert_eq!(status, 200, "{ns}: {body}");
    }
    let (status, body) = as_admin("POST", "/v1/jobs", Some(&job_in("nowhere")));
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("nowhere") && body.contains("does not exist"),
        "{body}"
    );
    let ids = |ns: &str| -> Vec<(String, String)> {
        let (_, body) = as_admin("GET", &format!("/v1/jobs?namespace={ns}"), None);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|j| {
                (
                    j["ID"].as_str().unwrap().into(),
                    j["Namespace"].as_str().unwrap().into(),
                )
            })
            .collect()
    };
    assert_eq!(ids("team-a"), [("web".to_string(), "team-a".to_string())]);
    assert_eq!(ids("team-b"), [("web".to_string(), "team-b".to_string())]);
    assert!(ids("default").is_empty());

    // A token scoped to team-a.
    let policy = dir.path().join("a.hcl");
    std::fs::write(&policy, "namespace \"team-a\" {\n  policy = \"read\"\n}\n").unwrap();
    let out = agent.ctl(&[
        "acl",
        "policy",
        "apply",
        "team-a-read",
        policy.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = agent.ctl(&[
        "acl",
        "token",
        "create",
        "-name",
        "a",
        "-type",
        "client",
        "-policy",
        "team-a-read",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let token_a = field(&stdout(&out), "Secret ID");
    let as_a =
        |path: &str| request_with("GET", &format!("{base}{path}"), None, Some(&token_a)).unwrap();
    assert_eq!(as_a("/v1/jobs?namespace=team-a").0, 200);
    assert_eq!(as_a("/v1/job/web?namespace=team-a").0, 200);
    let (status, body) = as_a("/v1/jobs?namespace=team-b");
    assert_eq!(status, 403, "{body}");
    assert_eq!(as_a("/v1/job/web?namespace=team-b").0, 403);
    // The namespace list shows the token only the namespaces it holds capabilities in.
    let (status, body) = as_a("/v1/namespaces");
    assert_eq!(status, 200, "{body}");
    let listed: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    let listed: Vec<&str> = listed.iter().filter_map(|n| n["Name"].as_str()).collect();
    assert_eq!(listed, ["team-a"], "{body}");
    let out = Command::new(nomadctl_bin())
        .args(["-namespace", "team-a", "job", "status"])
        .env("NOMAD_ADDR", &base)
        .env("NOMAD_TOKEN", &token_a)
        .output()
        .unwrap();
    assert!(
        stdout(&out).contains("web"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let out = Command::new(nomadctl_bin())
        .args(["job", "status"])
        .env("NOMAD_ADDR", &base)
        .env("NOMAD_NAMESPACE", "team-b")
        .env("NOMAD_TOKEN", &token_a)
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", stdout(&out));

    // Deleting: refused while a job lives there, and for default.
    let out = agent.ctl(&["namespace", "delete", "team-b"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("job"), "{}", stderr(&out));
    let (status, body) = as_admin("DELETE", "/v1/job/web?namespace=team-b&purge=true", None);
    assert_eq!(status, 200, "{body}");
    let out = agent.ctl(&["namespace", "delete", "team-b"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (status, _) = as_admin("GET", "/v1/namespace/team-b", None);
    assert_eq!(status, 404);
    let out = agent.ctl(&["namespace", "delete", "default"]);
    assert!(!out.status.success());
    let out = agent.ctl(&["namespace", "status", "team-a"]);
    assert_eq!(field(&stdout(&out), "Description"), "team-a jobs");
}

#[test]
fn exec_into_a_raw_exec_task_needs_alloc_node_exec() {
    // Scenario: with ACLs on, a raw_exec task runs. A token with alloc-exec may not exec into
    // it (the command would run unisolated on the host, so Nomad asks for alloc-node-exec as
    // well); a token with both may.
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::dev_acl(dir.path()).unwrap();
    let base = agent.address();
    let admin = agent.token.clone().unwrap();
    let mut job: serde_json::Value = serde_json::from_str(&job_json("shell")).unwrap();
    job["Job"]["TaskGroups"][0]["Tasks"][0]["Config"] =
        serde_json::json!({"command": "/bin/sh", "args": ["-c", "while true; do sleep 0.2; done"]});
    let (status, body) = request_with(
        "POST",
        &format!("{base}/v1/jobs"),
        Some(&job.to_string()),
        Some(&admin),
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let alloc = wait_for("the task running", Duration::from_secs(60), || {
        let (_, body) = request_with(
            "GET",
            &format!("{base}/v1/job/shell/allocations"),
            None,
            Some(&admin),
        )
        .ok()?;
        let v: serde_json::Value = serde_json::from_str(&body).ok()?;
        let a = v
            .as_array()?
            .iter()
            .find(|a| a["ClientStatus"] == "running")?
            .clone();
        a["ID"].as_str().map(String::from)
    })
    .unwrap();
    let token_with = |name: &str, caps: &str| {
        let policy = dir.path().join(format!("{name}.hcl"));
        std::fs::write(
            &policy,
            format!("namespace \"default\" {{\n  capabilities = [{caps}]\n}}\n"),
        )
        .unwrap();
        let out = agent.ctl(&["acl", "policy", "apply", name, policy.to_str().unwrap()]);
        assert!(out.status.success(), "{}", stderr(&out));
        let out = agent.ctl(&[
            "acl", "token", "create", "-name", name, "-type", "client", "-policy", name,
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        field(&stdout(&out), "Secret ID")
    };
    let exec_only = token_with("exec-only", "\"alloc-exec\", \"read-job\"");
    let node_exec = token_with(
        "node-exec",
        "\"alloc-exec\", \"alloc-node-exec\", \"read-job\"",
    );
    let addr = format!("127.0.0.1:{}", agent.http_port);
    let err = e2e::exec_ws::exec_as(
        Some(&exec_only),
        &addr,
        &alloc,
        "t",
        &["/bin/true"],
        false,
        None,
        b"",
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("403") && err.to_string().contains("alloc-node-exec"),
        "{err}"
    );
    let r = e2e::exec_ws::exec_as(
        Some(&node_exec),
        &addr,
        &alloc,
        "t",
        &["/bin/sh", "-c", "exit 6"],
        false,
        None,
        b"",
    )
    .unwrap();
    assert_eq!(r.exit_code, 6, "{r:?}");
    let err = e2e::exec_ws::exec_as(None, &addr, &alloc, "t", &["/bin/true"], false, None, b"")
        .unwrap_err();
    assert!(err.to_string().contains("403"), "{err}");

    // A browser's session: no header, the token in the first message (`ws_handshake`).
    use e2e::exec_ws::{exec_auth, Auth};
    let r = exec_auth(
        Auth::Handshake(&node_exec),
        &addr,
        &alloc,
        "t",
        &["/bin/sh", "-c", "read x; echo got-$x; exit 4"],
        false,
        None,
        b"hs\n",
    )
    .unwrap();
    assert_eq!((r.exit_code, r.stdout.as_str()), (4, "got-hs\n"), "{r:?}");
    for (token, why) in [
        (exec_only.as_str(), "alloc-node-exec"),
        ("", "Permission denied"),
    ] {
        let err = exec_auth(
            Auth::Handshake(token),
            &addr,
            &alloc,
            "t",
            &["/bin/true"],
            false,
            None,
            b"",
        )
        .unwrap_err();
        assert!(err.to_string().contains(why), "{err}");
    }
}
