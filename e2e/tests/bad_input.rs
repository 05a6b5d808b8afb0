//! Scenario: bad job files, bad agent config files and bad API bodies are refused with errors that
//! say what to fix, and change nothing.

use e2e::*;
use std::process::Command;
use std::time::Duration;

#[test]
fn bad_job_file_names_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::dev(dir.path()).unwrap();
    let file = dir.path().join("bad.nomad.hcl");
    std::fs::write(
        &file,
        "job \"bad\" {\n  group \"g\" {\n    coutn = 2\n    task \"t\" {\n      driver = \"raw_exec\"\n    }\n  }\n}\n",
    )
    .unwrap();
    for verb in [
        &["job", "validate"][..],
        &["job", "run"][..],
        &["job", "plan"][..],
    ] {
        let mut args = verb.to_vec();
        args.push(file.to_str().unwrap());
        let out = agent.ctl(&args);
        assert!(!out.status.success(), "{verb:?} must fail");
        if verb[1] == "plan" {
            assert_eq!(
                out.status.code(),
                Some(255),
                "plan's error exit code, as Nomad's"
            );
        }
        let err = stderr(&out);
        assert!(err.contains("bad.nomad.hcl:3:5"), "{verb:?}: {err}");
        assert!(err.contains("count"), "suggests the right name: {err}");
    }
    // Nothing was registered.
    let jobs = agent.get("/v1/jobs").unwrap();
    assert_eq!(jobs.as_array().map(Vec::len), Some(0));
}

#[test]
fn bad_api_bodies_get_400_and_unknown_ids_404() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::dev(dir.path()).unwrap();
    let base = agent.address();
    let (code, body) = request("POST", &format!("{base}/v1/jobs"), Some("{not json")).unwrap();
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("invalid request body"), "{body}");
    let (code, body) = request(
        "POST",
        &format!("{base}/v1/jobs"),
        Some(r#"{"Job": {"ID": "x", "TaskGroups": []}}"#),
    )
    .unwrap();
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("no task groups"), "{body}");
    let (code, _) = request("GET", &format!("{base}/v1/job/nope"), None).unwrap();
    assert_eq!(code, 404);
    let (code, _) = request("GET", &format!("{base}/v1/allocation/nope"), None).unwrap();
    assert_eq!(code, 404);
    // Stopping a job that does not exist succeeds with an evaluation, as in Nomad, and that
    // evaluation completes without placing anything.
    let (code, body) = request("DELETE", &format!("{base}/v1/job/nope"), None).unwrap();
    assert_eq!(code, 200, "{body}");
    let resp: serde_json::Value = serde_json::from_str(&body).unwrap();
    let eval_id = resp["EvalID"].as_str().unwrap().to_string();
    assert!(!eval_id.is_empty(), "{body}");
    wait_for(
        "the evaluation of a missing job to complete",
        Duration::from_secs(30),
        || {
            agent
                .get(&format!("/v1/evaluation/{eval_id}"))
                .ok()
                .filter(|e| e["Status"] == "complete")
        },
    )
    .unwrap();
    let (code, body) = request(
        "POST",
        &format!("{base}/v1/jobs/parse"),
        Some(r#"{"JobHCL": "job \"x\" {\n  grop \"g\" {}\n}"}"#),
    )
    .unwrap();
    assert_eq!(code, 400, "{body}");
    assert!(body.contains(":2:3"), "{body}");
    let jobs = agent.get("/v1/jobs").unwrap();
    assert_eq!(jobs.as_array().map(Vec::len), Some(0));
    // The API parses HCL like Nomad's /v1/jobs/parse.
    let (code, body) = request(
        "POST",
        &format!("{base}/v1/jobs/parse"),
        Some(r#"{"JobHCL": "job \"x\" {\n  group \"g\" {\n    task \"t\" {\n      driver = \"raw_exec\"\n    }\n  }\n}", "Canonicalize": true}"#),
    )
    .unwrap();
    assert_eq!(code, 200, "{body}");
    let job: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(job["ID"], "x");
    assert_eq!(job["TaskGroups"][0]["Tasks"][0]["Driver"], "raw_exec");
    // Every body has a limit (8 MiB): a larger one is 413 on any route that reads one. The
    // agent answers once the limit is passed and hangs up, so the rest of the body is sent from
    // another thread that ignores the broken pipe.
    for path in [
        "/v1/jobs",
        "/v1/job/x/plan",
        "/v1/jobs/parse",
        "/v1/acl/bootstrap",
        "/v1/agent/template/render",
    ] {
        use std::io::{Read, Write};
        let mut conn = std::net::TcpStream::connect(("127.0.0.1", agent.http_port)).unwrap();
        conn.set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .unwrap();
        let mut writer = conn.try_clone().unwrap();
        let len = 9 << 20;
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             Content-Length: {len}\r\n\r\n"
        );
        let sender = std::thread::spawn(move || {
            let _ = writer.write_all(head.as_bytes());
            let _ = writer.write_all(&vec![b' '; len]);
        });
        let mut answer = [0u8; 64];
        let n = conn.read(&mut answer).unwrap();
        let status = String::from_utf8_lossy(&answer[..n]);
        drop(conn);
        let _ = sender.join();
        assert!(status.starts_with("HTTP/1.1 413"), "{path}: {status}");
    }
}

#[test]
fn bad_config_file_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("agent.hcl");
    std::fs::write(
        &cfg,
        "data_dir = \"/tmp/x\"\nsever {\n  enabled = true\n}\n",
    )
    .unwrap();
    let out = Command::new(agent_bin())
        .args(["--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("agent.hcl:2:1"), "{err}");
    assert!(err.contains("server"), "{err}");

    // What the agent does not implement stops it too, by name: nothing is accepted and ignored.
    for (text, want) in [
        (
            "name = \"a\"\nvault {}\n",
            "agent.hcl:2:1: vault is not supported",
        ),
        (
            "tls {\n  foo = 1\n}\n",
            "agent.hcl:2:3: unknown attribute \"foo\" in the tls block",
        ),
        ("name = \"a\"\n\nnot_a_key = 1\n", "agent.hcl:3:1: unknown"),
    ] {
        std::fs::write(&cfg, text).unwrap();
        let out = Command::new(agent_bin())
            .args(["--config", cfg.to_str().unwrap(), "--client"])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{text}");
        let err = stderr(&out);
        assert!(err.contains(want), "{text}: {err}");
    }
}

#[test]
fn reverting_or_promoting_what_does_not_exist_is_refused_with_a_message() {
    // Scenario: a job with one version. Reverting it to version 7 is a 404 that names the
    // version (and nomadctl exits non-zero with it); promoting or failing an unknown deployment
    // is a 404 too; the job is unchanged.
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::dev(dir.path()).unwrap();
    let base = agent.address();
    let marker = format!("{}", 9_600_000 + std::process::id());
    let _guard = TaskGuard(format!("sleep {marker}"));
    let job = format!(
        r#"{{"Job": {{"ID": "rv", "Type": "service", "TaskGroups": [{{"Name": "g", "Tasks": [
            {{"Name": "t", "Driver": "raw_exec", "Config": {{"command": "/bin/sleep", "args": ["{marker}"]}},
              "Resources": {{"CPU": 20, "MemoryMB": 16}}}}]}}]}}}}"#
    );
    let (code, body) = request("POST", &format!("{base}/v1/jobs"), Some(&job)).unwrap();
    assert_eq!(code, 200, "{body}");
    let (code, body) = request(
        "POST",
        &format!("{base}/v1/job/rv/revert"),
        Some(r#"{"JobID": "rv", "JobVersion": 7}"#),
    )
    .unwrap();
    assert_eq!(code, 404, "{body}");
    assert!(body.contains('7'), "{body}");
    let out = agent.ctl(&["job", "revert", "rv", "7"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains('7'), "{}", stderr(&out));
    for verb in ["promote", "fail"] {
        let (code, body) = request(
            "POST",
            &format!("{base}/v1/deployment/{verb}/nope"),
            Some(r#"{"DeploymentID": "nope", "All": true}"#),
        )
        .unwrap();
        assert_eq!(code, 404, "{verb}: {body}");
        assert!(body.contains("nope"), "{body}");
        let out = agent.ctl(&["deployment", verb, "nope"]);
        assert!(!out.status.success(), "{verb}");
    }
    let job = agent.get("/v1/job/rv").unwrap();
    assert_eq!(job["Version"], 0);
    let out = agent.ctl(&["job", "stop", "-purge", "rv"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_group_count_beyond_the_maximum_is_refused_at_register_and_plan() {
    // Scenario: a job asks for two billion copies of one group. Register and plan refuse it with
    // the cluster's maximum in the message; nothing is registered and no evaluation runs.
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::dev(dir.path()).unwrap();
    let base = agent.address();
    let job = r#"{"Job": {"ID": "huge", "Name": "huge", "Datacenters": ["dc1"],
        "TaskGroups": [{"Name": "g", "Count": 2000000000,
            "Tasks": [{"Name": "t", "Driver": "raw_exec", "Config": {"command": "/bin/true"}}]}]}}"#;
    for path in ["/v1/jobs", "/v1/job/huge/plan"] {
        let (code, body) = request("POST", &format!("{base}{path}"), Some(job)).unwrap();
        assert_eq!(code, 400, "{path}: {body}");
        assert!(
            body.contains("count 2000000000") && body.contains("maximum of 100000"),
            "{path}: {body}"
        );
    }
    let jobs = agent.get("/v1/jobs").unwrap();
    assert_eq!(jobs.as_array().map(Vec::len), Some(0));
    let evals = agent.get("/v1/evaluations").unwrap();
    assert_eq!(evals.as_array().map(Vec::len), Some(0));
}
