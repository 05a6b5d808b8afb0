//! Scenario: one dev agent, driven as an operator's script drives Nomad's API. The JSON that
//! `job run -output` prints registers as is, and so does a job with explicit `null`s where
//! Nomad's own tooling writes them. Lists answer
//! `?filter=` and page with `?per_page=`/`?next_token=`. `job eval -force-reschedule` replaces a
//! failed allocation its policy would leave failed. The job's scale status, validation, node
//! evaluation, regions, the agent's servers and host data answer in Nomad's shape; the new
//! endpoints refuse bad bodies (400), unknown ids (404) and wrong methods (405) with messages.

use e2e::cluster::{send, Reply};
use e2e::*;
use serde_json::{json, Value};
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(60);

fn call(agent: &Agent, method: &str, path: &str, body: Option<&str>) -> Reply {
    send(method, &format!("{}{path}", agent.address()), body).unwrap()
}

fn ok_json(agent: &Agent, method: &str, path: &str, body: Option<&str>) -> Value {
    let r = call(agent, method, path, body);
    assert_eq!(r.status, 200, "{method} {path}: {}", r.body);
    r.json().unwrap()
}

fn array(v: &Value) -> Vec<Value> {
    v.as_array().cloned().unwrap_or_default()
}

fn job(id: &str, job_type: &str, count: u32, command: &str, args: &[&str]) -> String {
    json!({"Job": {
        "ID": id, "Name": id, "Type": job_type, "Datacenters": ["dc1"],
        "Meta": {"team": "payments"},
        "TaskGroups": [{"Name": "g", "Count": count,
            "RestartPolicy": {"Attempts": 0, "Mode": "fail"},
            "ReschedulePolicy": {"Attempts": 0, "Unlimited": false},
            "Tasks": [{"Name": "t", "Driver": "raw_exec",
                "Config": {"command": command, "args": args},
                "Resources": {"CPU": 20, "MemoryMB": 16}}]}]}})
    .to_string()
}

fn allocs_of(agent: &Agent, job: &str) -> Vec<Value> {
    array(
        &agent
            .get(&format!("/v1/job/{job}/allocations"))
            .unwrap_or_default(),
    )
}

#[test]
fn nomad_api_scripts_work_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::dev(dir.path()).unwrap();

    // A job file printed by `job run -output`: the API's JSON, nulls included, registers as is.
    let file = dir.path().join("out.nomad.hcl");
    std::fs::write(
        &file,
        "job \"printed\" {\n  datacenters = [\"dc1\"]\n  group \"g\" {\n    task \"t\" {\n      driver = \"raw_exec\"\n      config {\n        command = \"/bin/sleep\"\n        args = [\"3600\"]\n      }\n    }\n  }\n}\n",
    )
    .unwrap();
    let out = agent.ctl(&["job", "run", "-output", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = stdout(&out);
    assert!(printed.starts_with("{\n  \"Job\": {"), "{printed}");
    assert!(
        agent.get("/v1/job/printed").is_err(),
        "-output registers nothing"
    );
    let r = call(&agent, "POST", "/v1/jobs", Some(&printed));
    assert_eq!(r.status, 200, "{}", r.body);
    // Nulls where Nomad's own JSON has them, at the top and deep in the job.
    let mut with_nulls: Value =
        serde_json::from_str(&job("nulls", "batch", 1, "/bin/true", &[])).unwrap();
    with_nulls["Job"]["Region"] = Value::Null;
    with_nulls["Job"]["Constraints"] = Value::Null;
    with_nulls["Job"]["Update"] = Value::Null;
    with_nulls["Job"]["TaskGroups"][0]["Count"] = Value::Null;
    with_nulls["Job"]["TaskGroups"][0]["Tasks"][0]["Env"] = Value::Null;
    with_nulls["Job"]["TaskGroups"][0]["Tasks"][0]["Resources"]["Networks"] = Value::Null;
    let r = call(&agent, "POST", "/v1/jobs", Some(&with_nulls.to_string()));
    assert_eq!(r.status, 200, "{}", r.body);
    let registered = agent.get("/v1/job/nulls").unwrap();
    assert_eq!(registered["Region"], "global");
    assert_eq!(registered["TaskGroups"][0]["Count"], 1);

    // A running service and a batch job whose only allocation fails for good.
    let marker = format!("{}", 8_500_000 + std::process::id());
    for body in [
        job("svc", "service", 2, "/bin/sleep", &[&marker]),
        job("flaky", "batch", 1, "/bin/false", &[]),
    ] {
        let r = call(&agent, "POST", "/v1/jobs", Some(&body));
        assert_eq!(r.status, 200, "{}", r.body);
    }
    wait_for("svc running twice and flaky failed", SETTLE, || {
        let running = allocs_of(&agent, "svc")
            .iter()
            .filter(|a| a["ClientStatus"] == "running")
            .count();
        let failed = allocs_of(&agent, "flaky")
            .iter()
            .filter(|a| a["ClientStatus"] == "failed")
            .count();
        (running == 2 && failed == 1).then_some(())
    })
    .unwrap();
    let failed_id = allocs_of(&agent, "flaky")[0]["ID"]
        .as_str()
        .unwrap()
        .to_string();

    // job eval: a plain evaluation places nothing new; -force-reschedule replaces the failure.
    let r = ok_json(&agent, "POST", "/v1/job/flaky/evaluate", Some("{}"));
    assert!(r["EvalID"].as_str().is_some_and(|s| !s.is_empty()), "{r}");
    let out = agent.ctl(&["job", "eval", "-force-reschedule", "-detach", "flaky"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("Created eval ID: \""),
        "{}",
        stdout(&out)
    );
    let replacement = wait_for("a replacement of the failed allocation", SETTLE, || {
        allocs_of(&agent, "flaky")
            .into_iter()
            .find(|a| a["PreviousAllocation"] == failed_id.as_str())
    })
    .unwrap();
    assert_ne!(replacement["ID"], failed_id.as_str());
    let old = agent.get(&format!("/v1/allocation/{failed_id}")).unwrap();
    assert_eq!(old["DesiredTransition"]["ForceReschedule"], true, "{old}");

    // Scale status: what the group asks and what runs.
    let scale = wait_for("svc's scale status", SETTLE, || {
        let s = agent.get("/v1/job/svc/scale").ok()?;
        (s["TaskGroups"]["g"]["Running"] == 2).then_some(s)
    })
    .unwrap();
    assert_eq!(scale["TaskGroups"]["g"]["Desired"], 2, "{scale}");
    assert_eq!(scale["TaskGroups"]["g"]["Placed"], 2, "{scale}");
    assert_eq!(scale["JobStopped"], false);
    assert_eq!(
        ok_json(&agent, "GET", "/v1/scaling/policies", None),
        json!([])
    );
    // Scaling: the CLI and the API change the count and record the request as an event.
    let out = agent.ctl(&["job", "scale", "-detach", "svc", "g", "3"]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_for("three running copies of svc", SETTLE, || {
        let s = agent.get("/v1/job/svc/scale").ok()?;
        (s["TaskGroups"]["g"]["Running"] == 3).then_some(())
    })
    .unwrap();
    let r = ok_json(
        &agent,
        "POST",
        "/v1/job/svc/scale",
        Some(
            r#"{"Count": 2, "Target": {"Group": "g"}, "Message": "back to two", "Meta": {"by": "test"}}"#,
        ),
    );
    assert!(r["EvalID"].as_str().is_some_and(|e| !e.is_empty()), "{r}");
    let r = ok_json(
        &agent,
        "POST",
        "/v1/job/svc/scale",
        Some(
            r#"{"Count": null, "Target": {"Group": "g"}, "Message": "autoscaler hiccup", "Error": true}"#,
        ),
    );
    assert_eq!(r["EvalID"], "", "an event alone evaluates nothing: {r}");
    // Back to two: the third copy stopped on the client too, not only in the servers' view.
    let scale = wait_for("svc back to two", SETTLE, || {
        let s = agent.get("/v1/job/svc/scale").ok()?;
        let running = allocs_of(&agent, "svc")
            .iter()
            .filter(|a| a["ClientStatus"] == "running")
            .count();
        (s["TaskGroups"]["g"]["Running"] == 2 && running == 2).then_some(s)
    })
    .unwrap();
    let events = array(&scale["TaskGroups"]["g"]["Events"]);
    assert_eq!(events.len(), 3, "{scale}");
    assert_eq!(events[0]["Message"], "autoscaler hiccup");
    assert_eq!(events[0]["Error"], true);
    assert_eq!(events[1]["Count"], 2);
    assert_eq!(events[1]["PreviousCount"], 3);
    assert_eq!(events[1]["Meta"]["by"], "test");
    assert_eq!(events[2]["Count"], 3);
    assert_eq!(scale["TaskGroups"]["g"]["Desired"], 2);
    for (body, status, says) in [
        (r#"{"Count": 1}"#, 400, "Group"),
        (r#"{"Count": -1, "Target": {"Group": "g"}}"#, 400, "-1"),
        (r#"{"Count": 1, "Target": {"Group": "nope"}}"#, 404, "nope"),
        (
            r#"{"Count": 200000, "Target": {"Group": "g"}}"#,
            400,
            "maximum",
        ),
    ] {
        let r = call(&agent, "POST", "/v1/job/svc/scale", Some(body));
        assert_eq!(r.status, status, "{body}: {}", r.body);
        assert!(r.body.contains(says), "{body}: {}", r.body);
    }

    // Filters select on the JSON the list answers with.
    let jobs = ok_json(
        &agent,
        "GET",
        "/v1/jobs?filter=Type%20%3D%3D%20%22batch%22",
        None,
    );
    let mut ids: Vec<&str> = jobs
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|j| j["ID"].as_str())
        .collect();
    ids.sort();
    assert_eq!(ids, ["flaky", "nulls"]);
    let running = ok_json(
        &agent,
        "GET",
        "/v1/allocations?filter=ClientStatus%20%3D%3D%20%22running%22%20and%20JobID%20%3D%3D%20%22svc%22",
        None,
    );
    assert_eq!(array(&running).len(), 2, "{running}");
    let evals = ok_json(
        &agent,
        "GET",
        "/v1/evaluations?filter=JobID%20%3D%3D%20%22flaky%22",
        None,
    );
    assert!(
        array(&evals).len() >= 3,
        "register, eval and forced eval: {evals}"
    );
    assert!(array(&evals).iter().all(|e| e["JobID"] == "flaky"));
    let nodes = ok_json(
        &agent,
        "GET",
        "/v1/nodes?filter=Status%20%3D%3D%20%22ready%22",
        None,
    );
    assert_eq!(array(&nodes).len(), 1);
    let r = call(&agent, "GET", "/v1/jobs?filter=Type%20%3D%3D", None);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("column"), "{}", r.body);

    // Paging: per_page items, and X-Nomad-NextToken naming where the next page starts.
    for list in [
        "/v1/allocations",
        "/v1/evaluations",
        "/v1/jobs",
        "/v1/nodes",
    ] {
        let all = array(&ok_json(&agent, "GET", list, None));
        let mut seen = Vec::new();
        let mut token = String::new();
        loop {
            let r = call(
                &agent,
                "GET",
                &format!("{list}?per_page=2&next_token={token}"),
                None,
            );
            assert_eq!(r.status, 200, "{list}: {}", r.body);
            let page = array(&r.json().unwrap());
            assert!(page.len() <= 2, "{list}");
            seen.extend(page.iter().map(|v| v["ID"].clone()));
            match r.header("X-Nomad-NextToken") {
                Some(t) => token = t.to_string(),
                None => break,
            }
        }
        let mut want: Vec<Value> = all.iter().map(|v| v["ID"].clone()).collect();
        assert_eq!(seen.len(), want.len(), "{list}: pages cover the list once");
        seen.sort_by_key(|v| v.to_string());
        want.sort_by_key(|v| v.to_string());
        assert_eq!(seen, want, "{list}");
    }

    // Lists with Nomad's extra fields.
    let jobs = ok_json(&agent, "GET", "/v1/jobs?meta=true", None);
    assert!(
        array(&jobs).iter().any(|j| j["Meta"]["team"] == "payments"),
        "{jobs}"
    );
    assert!(array(&ok_json(&agent, "GET", "/v1/jobs", None))
        .iter()
        .all(|j| j.get("Meta").is_none()));
    let nodes = ok_json(&agent, "GET", "/v1/nodes?resources=true&os=true", None);
    let node = &array(&nodes)[0];
    assert!(
        node["NodeResources"]["Memory"]["MemoryMB"]
            .as_i64()
            .unwrap_or(0)
            > 0,
        "{node}"
    );
    assert!(node["Attributes"]["os.name"].is_string(), "{node}");
    let node_id = node["ID"].as_str().unwrap().to_string();

    // A node evaluation: one per job with allocations there.
    let r = ok_json(
        &agent,
        "POST",
        &format!("/v1/node/{node_id}/evaluate"),
        Some("{}"),
    );
    assert!(!array(&r["EvalIDs"]).is_empty(), "{r}");

    // Validation answers 200 with the reasons; a body that is not a job is a 400.
    let r = ok_json(
        &agent,
        "POST",
        "/v1/validate/job",
        Some(&job("ok", "batch", 1, "/bin/true", &[])),
    );
    assert_eq!(r["ValidationErrors"], json!([]), "{r}");
    assert_eq!(r["Error"], "");
    let r = ok_json(
        &agent,
        "POST",
        "/v1/validate/job",
        Some(r#"{"Job": {"ID": "bad", "TaskGroups": []}}"#),
    );
    assert!(!array(&r["ValidationErrors"]).is_empty(), "{r}");
    assert!(
        agent.get("/v1/job/bad").is_err(),
        "validation registers nothing"
    );

    // Search, by prefix and fuzzy, over every kind of object.
    let found = ok_json(
        &agent,
        "POST",
        "/v1/search",
        Some(r#"{"Prefix": "fla", "Context": "jobs"}"#),
    );
    assert_eq!(found["Matches"]["jobs"], json!(["flaky"]), "{found}");
    let found = ok_json(
        &agent,
        "POST",
        "/v1/search",
        Some(&format!(
            r#"{{"Prefix": "{}", "Context": "all"}}"#,
            &node_id[..6]
        )),
    );
    assert!(
        array(&found["Matches"]["nodes"])
            .iter()
            .any(|n| n == node_id.as_str()),
        "{found}"
    );
    let fuzzy = ok_json(
        &agent,
        "POST",
        "/v1/search/fuzzy",
        Some(r#"{"Text": "lak", "Context": "all"}"#),
    );
    assert!(
        array(&fuzzy["Matches"]["jobs"])
            .iter()
            .any(|m| m["ID"] == "flaky"),
        "{fuzzy}"
    );
    let r = call(
        &agent,
        "POST",
        "/v1/search",
        Some(r#"{"Prefix": "x", "Context": "widgets"}"#),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("widgets"), "{}", r.body);
    let r = call(
        &agent,
        "POST",
        "/v1/search/fuzzy",
        Some(r#"{"Text": "x", "Context": "all"}"#),
    );
    assert_eq!(r.status, 400, "{}", r.body);

    // The agent itself.
    assert_eq!(
        ok_json(&agent, "GET", "/v1/regions", None),
        json!(["global"])
    );
    let servers = ok_json(&agent, "GET", "/v1/agent/servers", None);
    assert_eq!(array(&servers).len(), 1, "{servers}");
    let r = call(&agent, "PUT", "/v1/agent/servers?address=127.0.0.1:1", None);
    assert_eq!(
        r.status, 400,
        "a dev agent's in-process server stays: {}",
        r.body
    );
    let host = ok_json(&agent, "GET", "/v1/agent/host", None);
    assert!(
        host["HostData"]["OS"]
            .as_str()
            .is_some_and(|s| s.contains("Linux")),
        "{host}"
    );
    ok_json(&agent, "PUT", "/v1/system/reconcile/summaries", None);
    let out = agent.ctl(&["agent-info"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("raft\n  applied_index = "),
        "{}",
        stdout(&out)
    );
    let out = agent.ctl(&["node", "status", "-verbose", &node_id]);
    assert!(out.status.success(), "{}", stderr(&out));
    for section in ["Drivers", "raw_exec", "Attributes", "Meta"] {
        assert!(
            stdout(&out).contains(section),
            "{section}: {}",
            stdout(&out)
        );
    }

    // alloc stop: the allocation is replaced.
    let victim = allocs_of(&agent, "svc")
        .into_iter()
        .find(|a| a["ClientStatus"] == "running")
        .unwrap();
    let victim_id = victim["ID"].as_str().unwrap().to_string();
    let out = agent.ctl(&["alloc", "stop", "-detach", &victim_id]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_for(
        "svc back to two running, without the stopped one",
        SETTLE,
        || {
            let allocs = allocs_of(&agent, "svc");
            let running: Vec<&Value> = allocs
                .iter()
                .filter(|a| a["ClientStatus"] == "running")
                .collect();
            (running.len() == 2 && running.iter().all(|a| a["ID"] != victim_id.as_str()))
                .then_some(())
        },
    )
    .unwrap();

    // Bad input on the new endpoints.
    for (method, path, body, status, says) in [
        ("GET", "/v1/job/svc/evaluate", None, 405, "Invalid method"),
        ("DELETE", "/v1/validate/job", None, 405, "Invalid method"),
        ("POST", "/v1/job/nope/evaluate", Some("{}"), 404, "nope"),
        (
            "POST",
            "/v1/job/svc/evaluate",
            Some("{\"EvalOptions\": 3"),
            400,
            "invalid request body",
        ),
        (
            "POST",
            "/v1/job/svc/evaluate",
            Some("{\"JobID\": \"other\"}"),
            400,
            "does not match",
        ),
        (
            "POST",
            "/v1/validate/job",
            Some("[1, 2]"),
            400,
            "invalid request body",
        ),
        ("GET", "/v1/job/nope/scale", None, 404, "nope"),
        ("GET", "/v1/scaling/policy/p1", None, 404, "p1"),
        (
            "POST",
            "/v1/node/00000000-0000-0000-0000-000000000000/evaluate",
            None,
            404,
            "node",
        ),
        ("GET", "/v1/nodes?resources=maybe", None, 400, "resources"),
        ("PUT", "/v1/agent/servers", None, 400, "address"),
        ("GET", "/v1/agent/host?node_id=x", None, 400, "node_id"),
    ] {
        let r = call(&agent, method, path, body);
        assert_eq!(r.status, status, "{method} {path}: {}", r.body);
        assert!(r.body.contains(says), "{method} {path}: {}", r.body);
    }
}

/// The task of the allocation tests: leaves a file, records the signals it gets, and links to a
/// host file it must not be possible to read through the API.
const SIGNAL_SCRIPT: &str = "trap 'echo got-usr1 >> \"$NOMAD_TASK_DIR/signals\"' USR1; \
    echo hello > \"$NOMAD_TASK_DIR/greeting\"; ln -sf /etc/shadow \"$NOMAD_TASK_DIR/shadow\"; \
    echo start >> \"$NOMAD_ALLOC_DIR/starts\"; while true; do sleep 0.2; done";

fn task_state(agent: &Agent, alloc: &str) -> Value {
    agent
        .get(&format!("/v1/allocation/{alloc}"))
        .map(|a| a["TaskStates"]["t"].clone())
        .unwrap_or_default()
}

#[test]
fn an_allocations_files_signals_restarts_stats_and_gc() {
    // Scenario: one task on a dev agent. Its directory is listed, read and streamed through the
    // fs endpoints and `alloc fs`, and nothing outside it (`..`, a symlink to /etc/shadow, the
    // secrets directory) can be read. `alloc signal` reaches the task's trap; `alloc restart`
    // starts it again without counting against its policy; the stats endpoints measure it and
    // the host; once stopped, its directory is collected on request.
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::dev(dir.path()).unwrap();
    let r = call(
        &agent,
        "POST",
        "/v1/jobs",
        Some(&job(
            "files",
            "service",
            1,
            "/bin/sh",
            &["-c", SIGNAL_SCRIPT],
        )),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let alloc = wait_for("the task running with its file written", SETTLE, || {
        let a = allocs_of(&agent, "files")
            .into_iter()
            .find(|a| a["ClientStatus"] == "running")?;
        let id = a["ID"].as_str()?.to_string();
        let r = call(
            &agent,
            "GET",
            &format!("/v1/client/fs/cat/{id}?path=t/local/greeting"),
            None,
        );
        (r.status == 200 && r.body == "hello\n").then_some(id)
    })
    .unwrap();
    let fs = |op: &str, query: &str| {
        call(
            &agent,
            "GET",
            &format!("/v1/client/fs/{op}/{alloc}?{query}"),
            None,
        )
    };

    // Listing, stat, ranges and the stream.
    let root = fs("ls", "path=/").json().unwrap();
    let names: Vec<String> = array(&root)
        .iter()
        .filter_map(|f| f["Name"].as_str().map(String::from))
        .collect();
    assert_eq!(names, ["alloc", "t"], "{root}");
    assert_eq!(root[0]["IsDir"], true);
    let local = fs("ls", "path=t/local").json().unwrap();
    assert!(
        array(&local)
            .iter()
            .any(|f| f["Name"] == "greeting" && f["Size"] == 6),
        "{local}"
    );
    let st = fs("stat", "path=t/local/greeting").json().unwrap();
    assert_eq!(st["Size"], 6);
    assert!(st["FileMode"].as_str().unwrap().starts_with('-'), "{st}");
    assert_eq!(
        fs("readat", "path=t/local/greeting&offset=1&limit=3").body,
        "ell"
    );
    let frame: Value =
        serde_json::from_str(&fs("stream", "path=t/local/greeting&follow=false").body).unwrap();
    assert_eq!(frame["Data"], "aGVsbG8K", "{frame}");
    assert_eq!(frame["Offset"], 6);

    // Nothing outside the allocation directory.
    for (path, says) in [
        ("../../etc/shadow", "leaves the allocation directory"),
        ("t/local/shadow", "outside the allocation directory"),
        ("t/secrets", "secrets"),
    ] {
        for op in ["cat", "ls", "stat", "readat", "stream"] {
            let r = fs(op, &format!("path={path}"));
            assert_eq!(r.status, 403, "{op} {path}: {}", r.body);
            assert!(r.body.contains(says), "{op} {path}: {}", r.body);
        }
    }
    assert_eq!(fs("cat", "path=t/local/nothing").status, 404);
    let out = agent.ctl(&["alloc", "fs", &alloc, "../../etc/shadow"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("leaves the allocation directory"),
        "{}",
        stderr(&out)
    );
    let out = agent.ctl(&["alloc", "fs", &alloc, "t/local"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("Mode"), "{}", stdout(&out));
    assert!(stdout(&out).contains("greeting"), "{}", stdout(&out));
    let out = agent.ctl(&["alloc", "fs", &alloc, "t/local/greeting"]);
    assert_eq!(stdout(&out), "hello\n");

    // Signals reach the task, through the API and the CLI.
    let r = call(
        &agent,
        "POST",
        &format!("/v1/client/allocation/{alloc}/signal"),
        Some(r#"{"Task": "t", "Signal": "SIGUSR1"}"#),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let out = agent.ctl(&["alloc", "signal", "-s", "SIGUSR1", &alloc, "t"]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_for("two signals recorded by the task", SETTLE, || {
        let r = fs("cat", "path=t/local/signals");
        (r.body.matches("got-usr1").count() == 2).then_some(())
    })
    .unwrap();
    wait_for(
        "the Signaling event reported to the servers",
        SETTLE,
        || {
            let events = task_state(&agent, &alloc)["Events"].clone();
            array(&events)
                .iter()
                .any(|e| e["Type"] == "Signaling")
                .then_some(())
        },
    )
    .unwrap();
    let r = call(
        &agent,
        "POST",
        &format!("/v1/client/allocation/{alloc}/signal"),
        Some(r#"{"Signal": "SIGNOPE"}"#),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    let r = call(
        &agent,
        "POST",
        &format!("/v1/client/allocation/{alloc}/signal"),
        Some(r#"{"Task": "nope", "Signal": "SIGUSR1"}"#),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("nope"), "{}", r.body);

    // Restarts in place, not counted against the policy (which allows none here).
    let r = call(
        &agent,
        "POST",
        &format!("/v1/client/allocation/{alloc}/restart"),
        Some("{}"),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let out = agent.ctl(&["alloc", "restart", &alloc, "t"]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_for("the task started three times and running", SETTLE, || {
        let starts = fs("cat", "path=alloc/starts").body;
        let st = task_state(&agent, &alloc);
        (starts.lines().count() == 3 && st["State"] == "running" && st["Restarts"] == 2)
            .then_some(())
    })
    .unwrap();
    let a = agent.get(&format!("/v1/allocation/{alloc}")).unwrap();
    assert_eq!(a["ClientStatus"], "running", "{a}");

    // Measured usage: the task's processes and the host.
    let usage = ok_json(
        &agent,
        "GET",
        &format!("/v1/client/allocation/{alloc}/stats"),
        None,
    );
    assert!(
        usage["Tasks"]["t"]["ResourceUsage"]["MemoryStats"]["RSS"]
            .as_u64()
            .unwrap_or(0)
            > 0,
        "{usage}"
    );
    assert!(
        usage["ResourceUsage"]["CpuStats"]["Percent"].is_number(),
        "{usage}"
    );
    let host = ok_json(&agent, "GET", "/v1/client/stats", None);
    assert!(host["Memory"]["Total"].as_u64().unwrap_or(0) > 0, "{host}");
    assert!(!array(&host["CPU"]).is_empty(), "{host}");
    let node_id = agent.get("/v1/nodes").unwrap()[0]["ID"]
        .as_str()
        .unwrap()
        .to_string();
    let out = agent.ctl(&["node", "status", "-stats", &node_id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("Host Resource Utilization"),
        "{}",
        stdout(&out)
    );

    // Collection: refused while running, done once stopped.
    let r = call(
        &agent,
        "GET",
        &format!("/v1/client/allocation/{alloc}/gc"),
        None,
    );
    assert_eq!(r.status, 400, "{}", r.body);
    let r = call(&agent, "DELETE", "/v1/job/files", None);
    assert_eq!(r.status, 200, "{}", r.body);
    wait_for("the allocation finished", SETTLE, || {
        let a = agent.get(&format!("/v1/allocation/{alloc}")).ok()?;
        (a["ClientStatus"] == "complete").then_some(())
    })
    .unwrap();
    // The client's view of the allocation ends a little after the servers' status changes.
    wait_for("the allocation collected on request", SETTLE, || {
        let r = call(
            &agent,
            "GET",
            &format!("/v1/client/allocation/{alloc}/gc"),
            None,
        );
        (r.status == 200).then_some(())
    })
    .unwrap();
    assert_eq!(fs("ls", "path=/").status, 404);
    ok_json(&agent, "GET", "/v1/client/gc", None);
}

#[test]
fn alloc_exec_carries_stdin_output_terminal_size_and_exit_code() {
    // Scenario: a raw_exec task on a dev agent. A command run with `alloc exec` reads the stdin
    // it is given, writes to stdout and stderr, and its exit code becomes nomadctl's. Over the
    // WebSocket, a terminal is resized before the command reads its size. A bad command or task
    // is refused before the upgrade with a message.
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::dev(dir.path()).unwrap();
    let r = call(
        &agent,
        "POST",
        "/v1/jobs",
        Some(&job(
            "shell",
            "service",
            1,
            "/bin/sh",
            &["-c", "while true; do sleep 0.2; done"],
        )),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let alloc = wait_for("the task running", SETTLE, || {
        let a = allocs_of(&agent, "shell")
            .into_iter()
            .find(|a| a["ClientStatus"] == "running")?;
        a["ID"].as_str().map(String::from)
    })
    .unwrap();
    let mut child = std::process::Command::new(nomadctl_bin())
        .args([
            "alloc",
            "exec",
            "-i",
            "-t=false",
            &alloc,
            "/bin/sh",
            "-c",
            "read x; echo got $x; echo oops >&2; exit 3",
        ])
        .env("NOMAD_ADDR", agent.address())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"hello\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(stdout(&out), "got hello\n");
    assert_eq!(stderr(&out), "oops\n");

    let addr = format!("127.0.0.1:{}", agent.http_port);
    let r = e2e::exec_ws::exec(
        &addr,
        &alloc,
        "t",
        &["/bin/sh", "-c", "read x; stty size; exit 0"],
        true,
        Some((33, 101)),
        b"go\n",
    )
    .unwrap();
    assert_eq!(r.exit_code, 0, "{r:?}");
    assert!(r.stdout.contains("33 101"), "{r:?}");
    let r = e2e::exec_ws::exec(
        &addr,
        &alloc,
        "t",
        &["/bin/sh", "-c", "pwd; exit 7"],
        false,
        None,
        b"",
    )
    .unwrap();
    assert_eq!(r.exit_code, 7, "{r:?}");
    assert!(
        r.stdout.trim_end().ends_with("/t"),
        "runs in the task's directory: {r:?}"
    );

    for (task, cmd, says) in [("t", &[][..], "empty"), ("nope", &["ls"][..], "nope")] {
        let err = e2e::exec_ws::exec(&addr, &alloc, task, cmd, false, None, b"").unwrap_err();
        assert!(err.to_string().contains("400"), "{task}: {err}");
        assert!(err.to_string().contains(says), "{task}: {err}");
    }
    // The command must be a JSON array.
    let url = format!(
        "{}/v1/client/allocation/{alloc}/exec?task=t&command=notjson",
        agent.address()
    );
    let r = send("GET", &url, None).unwrap();
    assert_eq!(r.status, 400, "{}", r.body);
}

#[test]
fn scaling_blocks_bound_job_scale_and_list_as_policies() {
    // Scenario: a dev agent runs a job whose group has `scaling { min = 1 max = 3 policy {..} }`.
    // /v1/scaling/policies lists its policy, /v1/scaling/policy/:id shows the bounds and the
    // policy as written; `job scale` within the bounds works, beyond them is refused with the
    // bound in the message; an unknown policy id is 404.
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::dev(dir.path()).unwrap();
    let file = dir.path().join("scaled.nomad.hcl");
    std::fs::write(
        &file,
        r#"job "scaled" {
  datacenters = ["dc1"]
  group "g" {
    count = 1
    scaling {
      min = 1
      max = 3
      policy {
        cooldown = "2m"
      }
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
        args    = ["3603"]
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
"#,
    )
    .unwrap();
    let out = agent.ctl(&["job", "run", "-detach", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let list = ok_json(&agent, "GET", "/v1/scaling/policies", None);
    let list = array(&list);
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["Target"]["Group"], "g");
    assert_eq!(list[0]["Type"], "horizontal");
    let id = list[0]["ID"].as_str().unwrap().to_string();
    let policy = ok_json(&agent, "GET", &format!("/v1/scaling/policy/{id}"), None);
    assert_eq!(
        (policy["Min"].as_i64(), policy["Max"].as_i64()),
        (Some(1), Some(3))
    );
    assert_eq!(policy["Policy"]["cooldown"], "2m");
    assert_eq!(
        call(&agent, "GET", "/v1/scaling/policy/nope", None).status,
        404
    );
    let filtered = ok_json(&agent, "GET", "/v1/scaling/policies?job=other", None);
    assert!(array(&filtered).is_empty());

    let out = agent.ctl(&["job", "scale", "scaled", "g", "3"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = agent.ctl(&["job", "scale", "scaled", "g", "4"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("4 > 3"), "{}", stderr(&out));
    let job = agent.get("/v1/job/scaled").unwrap();
    assert_eq!(job["TaskGroups"][0]["Count"], 3);
    assert_eq!(
        job["TaskGroups"][0]["Scaling"]["ID"],
        id.as_str(),
        "the id outlives versions"
    );
}
