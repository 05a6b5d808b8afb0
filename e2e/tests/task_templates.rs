//! Task `template` blocks end to end: rendered from the service catalog and Nomad Variables
//! before the task starts, and again when either changes, with each template's change mode.

use e2e::cluster::send;
use e2e::*;
use serde_json::{json, Value};
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(60);

fn write_job(dir: &std::path::Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

const BACKEND: &str = r#"job "backend" {
  datacenters = ["*"]
  group "g" {
    count = 1
    network {
      port "http" {}
    }
    service {
      name     = "backend"
      port     = "http"
      provider = "nomad"
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
        args    = ["3601"]
      }
      resources {
        cpu    = 20
        memory = 32
      }
    }
  }
}
"#;

const APP: &str = r#"job "tmpl" {
  datacenters = ["*"]
  group "g" {
    task "app" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo started-$GREETING; exec sleep 3602"]
      }
      template {
        destination = "local/app.conf"
        change_mode = "restart"
        splay       = "0s"
        data        = <<EOT
{{ with nomadVar "nomad/jobs/tmpl" }}greeting={{ .greeting }}{{ end }}
{{ range nomadService "backend" }}backend={{ .Address }}:{{ .Port }}
{{ end }}
EOT
      }
      template {
        destination = "secrets/app.env"
        env         = true
        change_mode = "noop"
        splay       = "0s"
        data        = "GREETING={{ with nomadVar \"nomad/jobs/tmpl\" }}{{ .greeting }}{{ end }}\n"
      }
      template {
        destination     = "local/chart.tmpl"
        left_delimiter  = "[["
        right_delimiter = "]]"
        change_mode     = "noop"
        data            = "{{ .Values.keep }} [[ env \"NOMAD_TASK_NAME\" ]]\n"
      }
      resources {
        cpu    = 20
        memory = 32
      }
    }
  }
}
"#;

fn running_alloc(agent: &Agent, job: &str) -> Value {
    wait_for(&format!("{job} running"), SETTLE, || {
        let list = agent.get(&format!("/v1/job/{job}/allocations")).ok()?;
        list.as_array()?
            .iter()
            .find(|a| a["ClientStatus"] == "running")
            .cloned()
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log()))
}

fn cat(agent: &Agent, alloc: &str, path: &str) -> Option<String> {
    let r = send(
        "GET",
        &format!("{}/v1/client/fs/cat/{alloc}?path={path}", agent.address()),
        None,
    )
    .ok()?;
    (r.status == 200).then_some(r.body)
}

fn put_var(agent: &Agent, greeting: &str) {
    let r = send(
        "PUT",
        &format!("{}/v1/var/nomad/jobs/tmpl", agent.address()),
        Some(&json!({"Items": {"greeting": greeting}}).to_string()),
    )
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
}

#[test]
fn templates_render_from_services_and_variables_and_restart_on_change() {
    // Scenario: a dev agent; a variable at the job's workload path and one instance of a
    // "backend" service. The app's template lists the backend's instances and the variable's
    // item; a second template feeds the task's environment. The file is in place before the
    // task starts. A second backend instance re-renders the file and restarts the task (not
    // counted as a failure); a new value of the variable re-renders both, and the task's next
    // start sees the new environment. Templates that read Consul KV, or write outside the
    // task directory, are refused at submit with what is wrong. A third template picks its own
    // delimiters and keeps the braces it holds.
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::dev(dir.path()).unwrap();
    put_var(&agent, "hello");
    let backend = write_job(dir.path(), "backend.nomad.hcl", BACKEND);
    let out = agent.ctl(&["job", "run", "-detach", &backend]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_for("one backend instance", SETTLE, || {
        (agent.service_instances("backend").len() == 1).then_some(())
    })
    .unwrap();

    let app = write_job(dir.path(), "app.nomad.hcl", APP);
    let out = agent.ctl(&["job", "run", "-detach", &app]);
    assert!(out.status.success(), "{}", stderr(&out));
    let alloc = running_alloc(&agent, "tmpl");
    let id = alloc["ID"].as_str().unwrap().to_string();
    let conf = cat(&agent, &id, "app/local/app.conf").unwrap();
    assert!(
        conf.starts_with("greeting=hello\nbackend=127.0.0.1:"),
        "{conf}"
    );
    assert_eq!(conf.matches("backend=").count(), 1, "{conf}");
    // Its own delimiters: the braces are the file's, not the template's.
    let chart = cat(&agent, &id, "app/local/chart.tmpl").unwrap();
    assert_eq!(chart, "{{ .Values.keep }} app\n");
    wait_for("the task's first output", SETTLE, || {
        cat(&agent, &id, "alloc/logs/app.stdout.0").filter(|l| l.contains("started-hello"))
    })
    .unwrap();

    // A second backend instance: the file changes and the task restarts.
    let out = agent.ctl(&["job", "scale", "backend", "g", "2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_for("the template listing two backends", SETTLE, || {
        cat(&agent, &id, "app/local/app.conf").filter(|c| c.matches("backend=").count() == 2)
    })
    .unwrap();
    let restarted = wait_for("the task restarted by its template", SETTLE, || {
        let a = agent.get(&format!("/v1/allocation/{id}")).ok()?;
        let state = &a["TaskStates"]["app"];
        (state["Restarts"] == 1 && state["State"] == "running").then(|| a.clone())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log()));
    let events = restarted["TaskStates"]["app"]["Events"].as_array().unwrap();
    assert!(
        events.iter().any(|e| e["DisplayMessage"]
            .as_str()
            .is_some_and(|m| m.contains("Template with change_mode restart re-rendered"))),
        "{events:?}"
    );
    assert_eq!(restarted["ClientStatus"], "running");

    // A new value of the variable: the next start has it in its environment.
    put_var(&agent, "bye");
    wait_for("the restarted task's new environment", SETTLE, || {
        cat(&agent, &id, "alloc/logs/app.stdout.0").filter(|l| l.contains("started-bye"))
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log()));
    let env = cat(&agent, &id, "app/secrets/app.env");
    assert!(env.is_none(), "secrets are not readable through the fs API");
    assert!(cat(&agent, &id, "app/local/app.conf")
        .unwrap()
        .starts_with("greeting=bye\n"));

    // Refused at submit, with what to fix.
    let bad = APP.replace(
        "{{ with nomadVar \"nomad/jobs/tmpl\" }}greeting",
        "{{ key \"config/app\" }}{{ with nomadVar \"nomad/jobs/tmpl\" }}greeting",
    );
    let bad = write_job(dir.path(), "bad.nomad.hcl", &bad);
    let out = agent.ctl(&["job", "run", &bad]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("Consul KV"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("bad.nomad.hcl:"),
        "file:line: {}",
        stderr(&out)
    );
    let escape = APP.replace("local/app.conf", "../../../etc/app.conf");
    let escape = write_job(dir.path(), "escape.nomad.hcl", &escape);
    let out = agent.ctl(&["job", "run", &escape]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("leaves the task directory"),
        "{}",
        stderr(&out)
    );
}
