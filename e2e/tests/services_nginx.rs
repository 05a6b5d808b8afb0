//! The lab's way in, on loopback: a dev agent whose template renderer keeps a real nginx in line
//! with the service catalog, in front of a count-2 job of busybox httpd instances (raw_exec), each
//! answering with its allocation id.

use e2e::nginx::{self, Nginx};
use e2e::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(60);

/// A job of `count` httpd instances behind the service `hello`. Each task starts httpd in the
/// background and then sleeps: killing httpd leaves the task running with a failing check.
fn job_file(dir: &Path, marker: &str, count: u32) -> PathBuf {
    let path = dir.join("hello.nomad.hcl");
    let text = format!(
        r#"job "hello" {{
  datacenters = ["*"]

  group "web" {{
    count = {count}

    network {{
      port "http" {{}}
    }}

    service {{
      name = "hello"
      port = "http"
      tags = ["lab"]

      check {{
        type     = "http"
        path     = "/"
        interval = "1s"
        timeout  = "1s"
      }}
    }}

    task "httpd" {{
      driver = "raw_exec"

      config {{
        command = "/bin/sh"
        args = ["-c", "mkdir -p local/www && echo \"instance $NOMAD_ALLOC_ID\" > local/www/index.html && busybox httpd -f -r {marker} -p 127.0.0.1:$NOMAD_PORT_http -h local/www & echo $! > local/httpd.pid; wait; exec sleep {marker}"]
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
    path
}

fn registrations(agent: &Agent) -> Vec<Value> {
    agent.service_instances("hello")
}

fn passing(agent: &Agent) -> Vec<Value> {
    registrations(agent)
        .into_iter()
        .filter(|r| r["CheckStatus"] == "passing")
        .collect()
}

/// The allocation ids nginx reaches in `n` requests to /hello/.
fn wait_reaching(url: &str, want: usize) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    wait_for(&format!("nginx to reach {want} instances"), SETTLE, || {
        seen = nginx::reached_instances(url, 3 * want);
        (seen.len() == want).then(|| seen.clone())
    })
    .unwrap_or_else(|e| panic!("{e}: reached {seen:?}"))
}

#[test]
fn nginx_follows_the_healthy_instances_of_a_service() {
    // Scenario: two instances serve /hello/ through nginx. One's httpd is killed: its check goes
    // critical and nginx stops sending to it. It is stopped and replaced, the job scales to
    // three, and nginx reaches all three. The job stops: nginx answers its 502 page.
    let dir = tempfile::tempdir().unwrap();
    let nginx = Nginx::start(&dir.path().join("nginx")).unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let config = dir.path().join("renderer.hcl");
    std::fs::write(
        &config,
        nginx::renderer_config(&nginx, &nginx::repo_template(), &listen),
    )
    .unwrap();
    let agent = Agent::dev_with(dir.path(), &["--config", &config.display().to_string()]).unwrap();
    let marker = format!("{}", 8_500_000 + std::process::id());
    let _guard = TaskGuard(marker.clone());
    let url = format!("http://{listen}/hello/");

    let out = agent.ctl(&[
        "job",
        "run",
        &job_file(dir.path(), &marker, 2).display().to_string(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_for("two passing instances", SETTLE, || {
        (passing(&agent).len() == 2).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{:#?}\n{}", registrations(&agent), agent.log()));
    let both = wait_reaching(&url, 2);

    // The CLI shows the service.
    let list = stdout(&agent.ctl(&["service", "list"]));
    assert!(list.contains("hello") && list.contains("[lab]"), "{list}");
    let info = stdout(&agent.ctl(&["service", "info", "hello"]));
    assert_eq!(info.lines().count(), 3, "{info}");

    // Kill one instance's httpd: its check fails, nginx stops sending to it.
    let victim = both.iter().next().unwrap().clone();
    let survivor = both.iter().nth(1).unwrap().clone();
    let pid_file = agent
        .data_dir
        .join("alloc")
        .join(&victim)
        .join("httpd/local/httpd.pid");
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    unsafe { libc::kill(pid, libc::SIGKILL) };
    wait_for("the victim's check to go critical", SETTLE, || {
        registrations(&agent)
            .iter()
            .any(|r| r["AllocID"] == victim.as_str() && r["CheckStatus"] == "critical")
            .then_some(())
    })
    .unwrap();
    let victim_port = registrations(&agent)
        .iter()
        .find(|r| r["AllocID"] == victim.as_str())
        .map(|r| r["Port"].to_string())
        .unwrap();
    wait_for("nginx's config to drop the victim", SETTLE, || {
        let conf = std::fs::read_to_string(nginx.services_conf()).unwrap_or_default();
        (conf.contains("upstream svc_hello") && !conf.contains(&format!(":{victim_port} ")))
            .then_some(())
    })
    .unwrap();
    assert_eq!(
        nginx::reached_instances(&url, 8),
        BTreeSet::from([survivor.clone()])
    );
    let status = stdout(&agent.ctl(&["alloc", "status", &victim]));
    assert!(
        status.contains("Nomad Service Checks:") && status.contains("critical"),
        "{status}"
    );

    // Replace it, then scale to three: nginx reaches all of them.
    let (code, body) = request(
        "POST",
        &format!("{}/v1/allocation/{victim}/stop", agent.address()),
        None,
    )
    .unwrap();
    assert_eq!(code, 200, "{body}");
    let out = agent.ctl(&[
        "job",
        "run",
        &job_file(dir.path(), &marker, 3).display().to_string(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let three = wait_reaching(&url, 3);
    assert!(
        three.contains(&survivor) && !three.contains(&victim),
        "{three:?}"
    );

    // Stop the job: every instance leaves, and nginx answers its 502 page.
    let out = agent.ctl(&["job", "stop", "hello"]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_for("the 502 page", SETTLE, || {
        nginx::get(&url)
            .ok()
            .filter(|(status, body)| *status == 502 && body.contains("no healthy instance"))
    })
    .unwrap();
    assert!(registrations(&agent).is_empty());
    let (_, metrics) = request(
        "GET",
        &format!("{}/v1/metrics?format=prometheus", agent.address()),
        None,
    )
    .unwrap();
    let line = format!(
        "nomad_template_failing{{destination=\"{}\"}} 0",
        nginx.services_conf().display()
    );
    assert!(metrics.contains(&line), "{metrics}");
    let templates = agent.get("/v1/agent/templates").unwrap();
    assert!(
        templates[0]["Changes"].as_u64().unwrap() >= 4,
        "{templates}"
    );
    assert_eq!(templates[0]["LastError"], Value::Null, "{templates}");
}

#[test]
fn the_nginx_template_passes_nginx_t_with_zero_one_and_many_instances() {
    // Scenario: the repository's template, rendered through `nomadctl template render`, is
    // accepted by `nginx -t` with an empty catalog, then with services of one and three
    // instances, one left out by its tag, one on its own path, and one without a healthy
    // instance.
    let dir = tempfile::tempdir().unwrap();
    let nginx = Nginx::start(&dir.path().join("nginx")).unwrap();
    let agent = Agent::dev(dir.path()).unwrap();
    let template = nginx::repo_template().display().to_string();
    let render_and_check = || -> String {
        let out = agent.ctl(&["template", "render", &template]);
        assert!(out.status.success(), "{}", stderr(&out));
        let conf = stdout(&out);
        std::fs::write(nginx.services_conf(), &conf).unwrap();
        let check = std::process::Command::new("sh")
            .args(["-c", &nginx.check_command()])
            .output()
            .unwrap();
        assert!(check.status.success(), "{}\n{conf}", stderr(&check));
        conf
    };
    let empty = render_and_check();
    assert!(!empty.contains("upstream svc_"), "{empty}");

    let marker = format!("{}", 9_200_000 + std::process::id());
    let _guard = TaskGuard(format!("sleep {marker}"));
    let group = |name: &str, count: u32, services: &str| {
        format!(
            r#"  group "{name}" {{
    count = {count}
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
        cpu    = 10
        memory = 16
      }}
    }}
  }}
"#
        )
    };
    let job = format!(
        "job \"shapes\" {{\n{}{}}}\n",
        group(
            "one",
            1,
            r#"    service {
      name = "one"
      port = "http"
    }
    service {
      name = "down"
      port = "http"
      check {
        type     = "tcp"
        port     = "1"
        interval = "1s"
        timeout  = "1s"
      }
    }"#
        ),
        group(
            "many",
            3,
            r#"    service {
      name = "many"
      port = "http"
    }
    service {
      name = "hidden"
      port = "http"
      tags = ["proxy.skip"]
    }
    service {
      name = "app"
      port = "http"
      tags = ["proxy.path=/app"]
    }"#
        )
    );
    let file = dir.path().join("shapes.nomad.hcl");
    std::fs::write(&file, job).unwrap();
    // "down" never passes its check: the deployment cannot succeed, so do not wait for it.
    let out = agent.ctl(&["job", "run", "-detach", &file.display().to_string()]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_for("every instance registered", SETTLE, || {
        let n = |s: &str| agent.service_instances(s).len();
        (n("one") == 1 && n("many") == 3 && n("app") == 3 && n("hidden") == 3 && n("down") == 1)
            .then_some(())
    })
    .unwrap();
    let conf = render_and_check();
    let upstream = |name: &str| {
        conf.split(&format!("upstream svc_{name} {{"))
            .nth(1)
            .map(|rest| {
                rest.split('}')
                    .next()
                    .unwrap_or("")
                    .matches("    server ")
                    .count()
            })
    };
    assert_eq!(upstream("one"), Some(1), "{conf}");
    assert_eq!(upstream("many"), Some(3), "{conf}");
    assert_eq!(upstream("hidden"), None, "{conf}");
    assert_eq!(upstream("down"), None, "{conf}");
    assert!(conf.contains("location /app/ {"), "{conf}");
    assert!(!conf.contains("location /hidden/"), "{conf}");
    let down = conf.split("location /down/ {").nth(1).unwrap();
    assert!(
        down.trim_start()
            .starts_with("set $nomad_prefix \"/down\";\n        return 502"),
        "{conf}"
    );
}
