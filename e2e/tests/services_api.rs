//! The service catalog and the renderer at their edges, on a dev agent: Nomad's shapes of
//! `/v1/services` and `/v1/service/:name` (python-nomad has no calls for them, so plain HTTP),
//! blocking queries and deletes; job files that name an unknown port; templates that fail to
//! render or render a config nginx rejects; script checks and check_restart; and services that
//! also go to Consul (a recording stand-in of Consul's agent API, since no Consul can be installed
//! here).

use e2e::cluster::send;
use e2e::nginx::{self, Nginx};
use e2e::*;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(60);

/// A raw_exec job `id` whose task sleeps `marker` seconds, with `services` (HCL) in its group
/// and a port "http".
fn sleeper_job(dir: &Path, id: &str, marker: &str, services: &str) -> String {
    let path = dir.join(format!("{id}.nomad.hcl"));
    let text = format!(
        r#"job "{id}" {{
  datacenters = ["*"]
  group "g" {{
    network {{
      port "http" {{}}
    }}
{services}
    task "t" {{
      driver = "raw_exec"
      config {{
        command = "/bin/sleep"
        args    = ["{marker}"]
      }}
      resources {{
        cpu    = 20
        memory = 32
      }}
    }}
  }}
}}
"#
    );
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn run(agent: &Agent, file: &str) {
    let out = agent.ctl(&["job", "run", "-detach", file]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
}

fn wait_instances(agent: &Agent, name: &str, n: usize) -> Vec<Value> {
    wait_for(&format!("{n} instances of {name}"), SETTLE, || {
        let list = agent.service_instances(name);
        (list.len() == n).then_some(list)
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log()))
}

#[test]
fn the_catalog_api_has_nomads_shapes() {
    // Scenario: a job registers a group service and a task service (named from ${TASK}); the
    // list and read endpoints answer in Nomad's shape, filter by tag, block until a change, and
    // delete one registration.
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::dev(dir.path()).unwrap();
    let marker = format!("{}", 8_600_000 + std::process::id());
    let _guard = TaskGuard(format!("sleep {marker}"));
    let services = r#"
    service {
      name = "api"
      port = "http"
      tags = ["b", "a"]
      meta {
        owner = "team-${NOMAD_GROUP_NAME}"
      }
    }
    service {
      name = "${JOB}-${TASKGROUP}-side"
      tags = ["side"]
    }"#;
    run(
        &agent,
        &sleeper_job(dir.path(), "shapes", &marker, services),
    );
    let api = wait_instances(&agent, "api", 1);
    wait_instances(&agent, "shapes-g-side", 1);

    let list = agent.get("/v1/services").unwrap();
    assert_eq!(
        list,
        serde_json::json!([{"Namespace": "default", "Services": [
            {"ServiceName": "api", "Tags": ["a", "b"]},
            {"ServiceName": "shapes-g-side", "Tags": ["side"]},
        ]}])
    );
    let r = &api[0];
    for key in [
        "ID",
        "ServiceName",
        "Namespace",
        "NodeID",
        "Datacenter",
        "JobID",
        "AllocID",
        "Tags",
        "Address",
        "Port",
        "CreateIndex",
        "ModifyIndex",
    ] {
        assert!(r.get(key).is_some(), "{key} missing from {r}");
    }
    assert_eq!(r["JobID"], "shapes");
    assert_eq!(r["Datacenter"], "dc1");
    assert!(r["Port"].as_u64().unwrap() > 0);
    assert_eq!(r["Meta"]["owner"], "team-g");
    assert!(r["ID"].as_str().unwrap().starts_with("_nomad-task-"));
    assert_eq!(agent.service_instances("api?tag=a").len(), 1);
    assert!(agent.service_instances("api?tag=zzz").is_empty());
    assert!(agent.service_instances("nope").is_empty());

    // A blocking query wakes when the service changes.
    let index: u64 = send("GET", &format!("{}/v1/service/api", agent.address()), None)
        .unwrap()
        .header("X-Nomad-Index")
        .unwrap()
        .parse()
        .unwrap();
    let url = format!("{}/v1/service/api?index={index}&wait=60s", agent.address());
    let waiter = std::thread::spawn(move || send("GET", &url, None).unwrap());
    let id = r["ID"].as_str().unwrap().to_string();
    let deleted = send(
        "DELETE",
        &format!("{}/v1/service/api/{id}", agent.address()),
        None,
    )
    .unwrap();
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    let woke = waiter.join().unwrap();
    assert!(
        woke.header("X-Nomad-Index")
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > index
    );
    assert_eq!(woke.json().unwrap(), serde_json::json!([]));
    let again = send(
        "DELETE",
        &format!("{}/v1/service/api/{id}", agent.address()),
        None,
    )
    .unwrap();
    assert_eq!(again.status, 404, "{}", again.body);
}

#[test]
fn a_service_naming_an_unknown_port_is_refused_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::dev(dir.path()).unwrap();
    let services = "    service {\n      name = \"web\"\n      port = \"htp\"\n    }";
    let file = sleeper_job(dir.path(), "typo", "1", services);
    for verb in ["validate", "run"] {
        let out = agent.ctl(&["job", verb, &file]);
        assert!(!out.status.success(), "{verb} accepted it");
        let err = stderr(&out);
        assert!(
            err.contains(&format!(
                "{file}:9:14: port \"htp\" is not a port label of the group (known ports: http)"
            )),
            "{verb}: {err}"
        );
    }
    assert_eq!(agent.get("/v1/jobs").unwrap(), serde_json::json!([]));
}

/// The renderer's status of its one template.
fn template_status(agent: &Agent) -> Value {
    agent.get("/v1/agent/templates").unwrap()[0].clone()
}

#[test]
fn a_broken_template_leaves_the_last_good_config_in_place() {
    // Scenario: nginx serves a service through the rendered config. The template is then broken
    // twice (a syntax error; a config nginx -t rejects): each time the catalog changes, the old
    // config stays, nginx keeps serving, and the error shows in the API and the log. Fixed,
    // the next change renders again.
    let dir = tempfile::tempdir().unwrap();
    let nginx = Nginx::start(&dir.path().join("nginx")).unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let template = dir.path().join("services.conf.j2");
    let good = std::fs::read_to_string(nginx::repo_template()).unwrap();
    std::fs::write(&template, &good).unwrap();
    let config = dir.path().join("renderer.hcl");
    std::fs::write(&config, nginx::renderer_config(&nginx, &template, &listen)).unwrap();
    let agent = Agent::dev_with(dir.path(), &["--config", &config.display().to_string()]).unwrap();
    let marker = format!("{}", 8_700_000 + std::process::id());
    let _guard = TaskGuard(marker.clone());
    // A service whose instance nginx can reach: busybox httpd.
    let www = dir.path().join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("index.html"), "still serving\n").unwrap();
    let web = dir.path().join("web.nomad.hcl");
    std::fs::write(
        &web,
        format!(
            r#"job "web" {{
  group "g" {{
    network {{
      port "http" {{}}
    }}
    service {{
      name = "web"
      port = "http"
    }}
    task "t" {{
      driver = "raw_exec"
      config {{
        command = "busybox"
        args    = ["httpd", "-f", "-r", "{marker}", "-p", "127.0.0.1:${{NOMAD_PORT_http}}", "-h", "{}"]
      }}
    }}
  }}
}}
"#,
            www.display()
        ),
    )
    .unwrap();
    run(&agent, &web.display().to_string());
    let url = format!("http://{listen}/web/");
    wait_for("nginx to serve web", SETTLE, || {
        nginx::get(&url)
            .ok()
            .filter(|(s, b)| *s == 200 && b.contains("still serving"))
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log()));
    let good_conf = std::fs::read_to_string(nginx.services_conf()).unwrap();
    let other = |n: u32| {
        sleeper_job(
            dir.path(),
            &format!("other{n}"),
            &marker,
            &format!("    service {{\n      name = \"other{n}\"\n    }}"),
        )
    };

    // 1. A syntax error.
    std::fs::write(&template, format!("{good}\n{{% for x in %}}\n")).unwrap();
    let errors = template_status(&agent)["Errors"].as_u64().unwrap();
    run(&agent, &other(1));
    let status = wait_for("the render error", SETTLE, || {
        let s = template_status(&agent);
        (s["Errors"].as_u64() > Some(errors)).then_some(s)
    })
    .unwrap();
    let line = good.lines().count() + 2;
    let message = status["LastError"]["Message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!("{}:{line}: syntax error", template.display())),
        "{message}"
    );
    assert!(agent.log().contains("template failed"), "{}", agent.log());
    assert_eq!(
        std::fs::read_to_string(nginx.services_conf()).unwrap(),
        good_conf
    );
    assert_eq!(nginx::get(&url).unwrap().0, 200);

    // 2. A render nginx -t rejects: put back, and the reload command does not run.
    std::fs::write(&template, format!("{good}\nthis_is_no_directive on;\n")).unwrap();
    let commands = template_status(&agent)["LastCommand"]["Time"].clone();
    run(&agent, &other(2));
    let status = wait_for("the check failure", SETTLE, || {
        let s = template_status(&agent);
        (s["CheckFailures"].as_u64() == Some(1)).then_some(s)
    })
    .unwrap();
    let message = status["LastError"]["Message"].as_str().unwrap();
    assert!(
        message.contains("rejected") && message.contains("this_is_no_directive"),
        "{message}"
    );
    assert_eq!(status["LastCommand"]["Time"], commands, "the reload ran");
    assert_eq!(
        std::fs::read_to_string(nginx.services_conf()).unwrap(),
        good_conf
    );
    assert_eq!(nginx::get(&url).unwrap().1.trim(), "still serving");

    // 3. Fixed: the next change renders cleanly (port-less services add nothing to nginx).
    std::fs::write(&template, &good).unwrap();
    let renders = template_status(&agent)["Renders"].as_u64().unwrap();
    run(&agent, &other(3));
    wait_for("a good render", SETTLE, || {
        let s = template_status(&agent);
        (s["Renders"].as_u64() > Some(renders) && s["LastError"].is_null()).then_some(())
    })
    .unwrap();
    assert_eq!(
        std::fs::read_to_string(nginx.services_conf()).unwrap(),
        good_conf
    );
}

#[test]
fn script_checks_run_in_the_task_and_check_restart_restarts_it() {
    // Scenario: a raw_exec task's script check tests a file in the task's directory. The file is
    // removed: the check fails twice, check_restart restarts the task (which makes the file
    // again), and the check passes again.
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::dev(dir.path()).unwrap();
    let marker = format!("{}", 8_800_000 + std::process::id());
    let _guard = TaskGuard(marker.clone());
    let file = dir.path().join("restarts.nomad.hcl");
    std::fs::write(
        &file,
        format!(
            r#"job "restarts" {{
  group "g" {{
    restart {{
      attempts = 3
      delay    = "1s"
      interval = "1m"
      mode     = "delay"
    }}
    task "t" {{
      driver = "raw_exec"
      config {{
        command = "/bin/sh"
        args    = ["-c", "touch local/ok; exec sleep {marker}"]
      }}
      service {{
        name = "restarts"
        check {{
          type     = "script"
          command  = "/bin/sh"
          args     = ["-c", "test -f local/ok && echo ok in $NOMAD_TASK_NAME"]
          interval = "1s"
          timeout  = "5s"
          check_restart {{
            limit = 2
          }}
        }}
      }}
    }}
  }}
}}
"#
        ),
    )
    .unwrap();
    run(&agent, &file.display().to_string());
    let reg = wait_for("a passing script check", SETTLE, || {
        agent
            .service_instances("restarts")
            .into_iter()
            .find(|r| r["CheckStatus"] == "passing")
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log()));
    assert_eq!(
        reg["Checks"][0]["Output"].as_str().unwrap().trim(),
        "ok in t"
    );
    let alloc = reg["AllocID"].as_str().unwrap().to_string();
    std::fs::remove_file(agent.data_dir.join(format!("alloc/{alloc}/t/local/ok"))).unwrap();
    let state = wait_for("the task restarted by its check", SETTLE, || {
        let a = agent.get(&format!("/v1/allocation/{alloc}")).ok()?;
        let t = a["TaskStates"]["t"].clone();
        (t["Restarts"] == 1 && t["State"] == "running").then_some(t)
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log()));
    let signaled = state["Events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["Type"] == "Restart Signaled")
        .cloned()
        .unwrap();
    assert!(
        signaled["DisplayMessage"]
            .as_str()
            .unwrap()
            .starts_with("healthcheck: check"),
        "{signaled}"
    );
    wait_for("the check passing again", SETTLE, || {
        agent
            .service_instances("restarts")
            .iter()
            .any(|r| r["CheckStatus"] == "passing")
            .then_some(())
    })
    .unwrap();
}

/// One request the stand-in received.
type Recorded = (String, String, String);

/// A stand-in for Consul's agent HTTP API: answers 200 to everything and records
/// (method, path, body), refusing (403) requests without the token. Not Consul: no Consul
/// binary can be installed on these machines.
fn consul_stand_in(token: &'static str) -> (u16, Arc<Mutex<Vec<Recorded>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut request = String::new();
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            let mut length = 0usize;
            let mut authorized = false;
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                if let Some((_, v)) = line.split_once(':') {
                    authorized |= lower.starts_with("x-consul-token:") && v.trim() == token;
                }
                line.clear();
            }
            let mut body = vec![0u8; length];
            let _ = reader.read_exact(&mut body);
            let mut parts = request.split_whitespace();
            let method = parts.next().unwrap_or_default().to_string();
            let path = parts.next().unwrap_or_default().to_string();
            let reply: &[u8] = if authorized {
                record.lock().unwrap().push((
                    method,
                    path,
                    String::from_utf8_lossy(&body).into_owned(),
                ));
                b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            } else {
                b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            };
            let _ = reader.get_mut().write_all(reply);
        }
    });
    (port, seen)
}

#[test]
fn consul_services_also_go_to_the_consul_agent() {
    // Scenario: with `consul { address }` configured, a `provider = "consul"` service lands in
    // the native catalog and is registered with Consul's agent API, its check pushed as a TTL
    // check; stopping the job deregisters it from Consul.
    let (port, seen) = consul_stand_in("s3cret");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("consul.hcl");
    std::fs::write(
        &config,
        format!("consul {{\n  address = \"127.0.0.1:{port}\"\n  token = \"s3cret\"\n}}\n"),
    )
    .unwrap();
    let agent = Agent::dev_with(dir.path(), &["--config", &config.display().to_string()]).unwrap();
    let marker = format!("{}", 8_900_000 + std::process::id());
    let _guard = TaskGuard(format!("sleep {marker}"));
    // The check probes the agent's own HTTP port, which always answers.
    let services = format!(
        "    service {{\n      name = \"in-consul\"\n      provider = \"consul\"\n      port = \"http\"\n      check {{\n        type = \"tcp\"\n        port = \"{}\"\n        interval = \"1s\"\n        timeout = \"1s\"\n      }}\n    }}",
        agent.http_port
    );
    run(
        &agent,
        &sleeper_job(dir.path(), "consul", &marker, &services),
    );
    let reg = wait_instances(&agent, "in-consul", 1).remove(0);
    let id = reg["ID"].as_str().unwrap().to_string();
    let find = |method: &str, path: &str| -> Option<Value> {
        seen.lock()
            .unwrap()
            .iter()
            .find(|(m, p, _)| m == method && p.starts_with(path))
            .map(|(_, _, b)| serde_json::from_str(b).unwrap_or(Value::Null))
    };
    let registered = wait_for("the Consul registration", SETTLE, || {
        find("PUT", "/v1/agent/service/register")
    })
    .unwrap();
    assert_eq!(registered["ID"], id.as_str());
    assert_eq!(registered["Name"], "in-consul");
    assert_eq!(registered["Port"], reg["Port"]);
    let check = &registered["Checks"][0];
    assert!(check["TTL"].as_str().unwrap().ends_with('s'), "{check}");
    let check_id = check["CheckID"].as_str().unwrap().to_string();
    let update = wait_for("a passing TTL update", SETTLE, || {
        find("PUT", &format!("/v1/agent/check/update/{check_id}"))
            .filter(|b| b["Status"] == "passing")
    })
    .unwrap();
    assert!(
        update["Output"].as_str().unwrap().contains("Success"),
        "{update}"
    );

    let out = agent.ctl(&["job", "stop", "consul"]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_for("the Consul deregistration", SETTLE, || {
        find("PUT", &format!("/v1/agent/service/deregister/{id}"))
    })
    .unwrap();
    assert!(agent.service_instances("in-consul").is_empty());
}

#[test]
fn an_in_place_update_changes_registrations_without_replacing_the_copy() {
    // Scenario: a job's service changes tags only: the scheduler updates the allocation in
    // place, and its registration follows with its check still passing (no flap through
    // critical, so a proxy keeps the copy).
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::dev(dir.path()).unwrap();
    let marker = format!("{}", 9_000_000 + std::process::id());
    let _guard = TaskGuard(format!("sleep {marker}"));
    let services = |tag: &str| {
        format!(
            "    service {{\n      name = \"inplace\"\n      port = \"http\"\n      tags = [\"{tag}\"]\n      check {{\n        type = \"tcp\"\n        port = \"{}\"\n        interval = \"1s\"\n        timeout = \"1s\"\n      }}\n    }}",
            agent.http_port
        )
    };
    run(
        &agent,
        &sleeper_job(dir.path(), "inplace", &marker, &services("v1")),
    );
    let before = wait_for("a passing v1 instance", SETTLE, || {
        agent
            .service_instances("inplace")
            .into_iter()
            .find(|r| r["CheckStatus"] == "passing")
    })
    .unwrap();
    run(
        &agent,
        &sleeper_job(dir.path(), "inplace", &marker, &services("v2")),
    );
    let after = wait_for("the v2 tag", SETTLE, || {
        agent
            .service_instances("inplace")
            .into_iter()
            .find(|r| r["Tags"] == serde_json::json!(["v2"]))
    })
    .unwrap();
    assert_eq!(after["AllocID"], before["AllocID"], "the copy was replaced");
    assert_eq!(after["CreateIndex"], before["CreateIndex"]);
    assert_eq!(after["CheckStatus"], "passing");
    assert_eq!(
        after["Checks"][0]["Timestamp"], before["Checks"][0]["Timestamp"],
        "the check started over"
    );
}
