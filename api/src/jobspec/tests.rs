//! End-to-end tests of the job parser: HCL, YAML and JSON into `Job`, and the error messages.

use super::*;
use crate::job::{Constraint, Port};
use std::time::Duration;

fn hcl(src: &str) -> Job {
    match parse_hcl(src, "t.nomad") {
        Ok(j) => j,
        Err(e) => panic!("{e}\n{src}"),
    }
}

fn hcl_err(src: &str) -> String {
    match parse_hcl(src, "t.nomad") {
        Ok(j) => panic!("expected an error, got {j:?}"),
        Err(e) => e.to_string(),
    }
}

/// Wraps a group body into a job.
fn in_group(group_body: &str) -> String {
    format!("job \"j\" {{\n  group \"g\" {{\n{group_body}\n  }}\n}}\n")
}

/// Wraps a task body into a job.
fn in_task(task_body: &str) -> String {
    in_group(&format!(
        "task \"t\" {{\n  driver = \"raw_exec\"\n{task_body}\n}}"
    ))
}

#[test]
fn example_job_parses() {
    let src = include_str!("../../../jobs/example.nomad.hcl");
    let job = hcl(src);
    assert_eq!(job.id, "example");
    assert_eq!(job.name, "example");
    assert_eq!(job.job_type, "service");
    let g = &job.task_groups[0];
    assert_eq!((g.name.as_str(), g.count), ("web", 1));
    assert_eq!(g.networks[0].dynamic_ports[0].label, "http");
    assert_eq!(g.services[0].checks[0].check_type, "tcp");
    let t = &g.tasks[0];
    assert_eq!(t.driver, "raw_exec");
    assert_eq!((t.resources.cpu, t.resources.memory_mb), (100, 64));
    assert_eq!(t.config["command"], serde_json::json!("/bin/sh"));
    let mut canon = job.clone();
    canon.canonicalize();
    canon.validate().unwrap();
}

#[test]
fn job_level_attributes() {
    let job = hcl(r#"
job "web" {
  type = "batch"
  datacenters = ["dc1", "dc2"]
  region = "eu"
  namespace = "apps"
  priority = 70
  all_at_once = true
  meta { owner = "ops" }
  constraint {
    attribute = "${attr.kernel.name}"
    value = "linux"
  }
  group "g" {
    task "t" { driver = "exec" }
  }
}"#);
    assert_eq!(job.job_type, "batch");
    assert_eq!(job.datacenters, ["dc1", "dc2"]);
    assert_eq!(
        (job.region.as_str(), job.namespace.as_str()),
        ("eu", "apps")
    );
    assert_eq!(job.priority, 70);
    assert!(job.all_at_once);
    assert_eq!(job.meta["owner"], "ops");
    assert_eq!(
        job.constraints,
        [Constraint {
            l_target: "${attr.kernel.name}".into(),
            r_target: "linux".into(),
            operand: "=".into()
        }]
    );
    // Batch restart defaults apply to unset fields of a restart block.
    assert!(job.task_groups[0].restart_policy.is_none());
    assert!(job.update.is_none(), "not canonicalized");
}

#[test]
fn constraint_forms() {
    let job = hcl(&in_group(
        r#"
constraint { distinct_hosts = true }
constraint {
  attribute = "${meta.rack}"
  operator = "regexp"
  value = "r[0-9]+"
}
constraint {
  attribute = "${attr.nomad.version}"
  version = ">= 1.0"
}
constraint {
  operator = "distinct_property"
  attribute = "${meta.rack}"
}
task "t" { driver = "exec" }"#,
    ));
    let c = &job.task_groups[0].constraints;
    assert_eq!(
        (c[0].operand.as_str(), c[0].r_target.as_str()),
        ("distinct_hosts", "true")
    );
    assert_eq!(c[1].operand, "regexp");
    assert_eq!(
        (c[2].operand.as_str(), c[2].r_target.as_str()),
        ("version", ">= 1.0")
    );
    assert_eq!(c[3].operand, "distinct_property");
}

#[test]
fn group_blocks() {
    let job = hcl(&in_group(
        r#"
count = 3
network {
  mode = "host"
  port "http" {
    static = 8080
    to = 80
  }
  port "metrics" { to = 9100 }
}
restart {
  attempts = 5
  delay = "20s"
}
reschedule {
  attempts = 2
  interval = "1h"
  delay_function = "constant"
}
migrate { max_parallel = 2 }
update {
  max_parallel = 2
  canary = 1
  auto_promote = true
  progress_deadline = "15m"
}
ephemeral_disk { size = 300 }
meta = { tier = "front" }
task "t" { driver = "exec" }"#,
    ));
    let g = &job.task_groups[0];
    assert_eq!(g.count, 3);
    let net = &g.networks[0];
    assert_eq!(net.mode, "host");
    assert_eq!(
        net.reserved_ports,
        [Port {
            label: "http".into(),
            value: 8080,
            to: 80,
            host_network: String::new()
        }]
    );
    assert_eq!(
        net.dynamic_ports,
        [Port {
            label: "metrics".into(),
            value: 0,
            to: 9100,
            host_network: String::new()
        }]
    );
    let r = g.restart_policy.as_ref().unwrap();
    assert_eq!(
        (r.attempts, r.delay, r.mode.as_str()),
        (5, Duration::from_secs(20), "fail")
    );
    assert_eq!(
        r.interval,
        Duration::from_secs(1800),
        "service default for unset interval"
    );
    let rs = g.reschedule_policy.as_ref().unwrap();
    assert_eq!((rs.attempts, rs.interval), (2, Duration::from_secs(3600)));
    assert!(!rs.unlimited);
    assert_eq!(g.migrate.as_ref().unwrap().max_parallel, 2);
    let u = g.update.as_ref().unwrap();
    assert_eq!((u.max_parallel, u.canary, u.auto_promote), (2, 1, true));
    assert_eq!(u.progress_deadline, Duration::from_secs(900));
    assert_eq!(g.meta["tier"], "front");
}

#[test]
fn task_blocks() {
    let job = hcl(&in_task(
        r#"
config {
  image = "redis:7"
  args = ["--port", "${NOMAD_PORT_db}"]
  port_map { db = 6379 }
  mount {
    type = "bind"
    source = "a"
  }
  mount {
    type = "bind"
    source = "b"
  }
}
env {
  A = "1"
  B = 2
}
user = "nobody"
kill_timeout = "20s"
kill_signal = "SIGINT"
leader = true
logs {
  max_files = 2
  max_file_size = 5
}
resources {
  cpu = 500
  memory = 256
  memory_max = 512
  disk = 100
  network {
    port "db" {}
  }
}
artifact {
  source = "https://example.com/app.tar.gz"
  destination = "local/app"
  options { checksum = "sha256:abcd" }
}
artifact {
  source = "https://example.com/b.jar"
  mode = "file"
}
service {
  name = "db"
  tags = ["a", "b"]
  port = "db"
  address_mode = "host"
  meta { version = "7" }
  check {
    type = "http"
    path = "/health"
    interval = "5s"
    timeout = "1s"
    method = "GET"
    protocol = "http"
  }
  check {
    type = "script"
    command = "/bin/check"
    args = ["-q"]
    interval = "30s"
    timeout = "5s"
  }
}"#,
    ));
    let t = &job.task_groups[0].tasks[0];
    assert_eq!(
        serde_json::Value::Object(t.config.clone().into_iter().collect()),
        serde_json::json!({
            "image": "redis:7",
            "args": ["--port", "${NOMAD_PORT_db}"],
            "port_map": {"db": 6379},
            "mount": [{"type": "bind", "source": "a"}, {"type": "bind", "source": "b"}],
        })
    );
    assert_eq!(t.env["B"], "2");
    assert_eq!(t.user, "nobody");
    assert_eq!(t.kill_timeout, Duration::from_secs(20));
    assert_eq!(t.kill_signal, "SIGINT");
    assert!(t.leader);
    assert_eq!(
        (t.log_config.max_files, t.log_config.max_file_size_mb),
        (2, 5)
    );
    let r = &t.resources;
    assert_eq!(
        (r.cpu, r.memory_mb, r.memory_max_mb, r.disk_mb),
        (500, 256, 512, 100)
    );
    assert_eq!(t.artifacts[0].relative_dest, "local/app");
    assert_eq!(t.artifacts[0].getter_options["checksum"], "sha256:abcd");
    assert_eq!(t.artifacts[1].getter_mode, "file");
    let s = &t.services[0];
    assert_eq!((s.name.as_str(), s.port_label.as_str()), ("db", "db"));
    assert_eq!(s.tags, ["a", "b"]);
    assert_eq!(s.meta["version"], "7");
    assert_eq!(s.checks[0].path, "/health");
    assert_eq!(s.checks[0].interval, Duration::from_secs(5));
    assert_eq!(s.checks[1].args, ["-q"]);
}

#[test]
fn old_task_level_network() {
    let job = hcl(&in_task(
        r#"
resources {
  cpu = 100
  memory = 128
  network {
    mbits = 10
    port "http" { static = 80 }
    port "admin" {}
  }
}"#,
    ));
    let t = &job.task_groups[0].tasks[0];
    assert!(job.task_groups[0].networks.is_empty());
    let net = &t.resources.networks[0];
    assert_eq!(net.mbits, 10);
    assert_eq!(net.reserved_ports[0].value, 80);
    assert_eq!(net.dynamic_ports[0].label, "admin");
    let mut canon = job.clone();
    canon.canonicalize();
    assert_eq!(
        canon.task_groups[0].networks[0].reserved_ports[0].label,
        "http"
    );
}

#[test]
fn errors_point_at_the_problem() {
    let cases: &[(&str, &str)] = &[
        (
            "job \"j\" {\n  group \"web\" {\n    coutn = 2\n  }\n}\n",
            "t.nomad:3:5: unknown attribute \"coutn\" in group \"web\"; did you mean \"count\"?",
        ),
        (
            "job \"j\" {\n  grup \"web\" {}\n}\n",
            "t.nomad:2:3: unknown block \"grup\" in job \"j\"; did you mean \"group\"?",
        ),
        (
            "job \"j\" {\n  group \"g\" {\n    count = \"two\"\n  }\n}\n",
            "t.nomad:3:13: \"count\" in group \"g\" must be a whole number, found a string",
        ),
        (
            "job \"j\" {\n  group \"g\" {\n    restart { delay = 15 }\n  }\n}\n",
            "t.nomad:3:23: \"delay\" in the restart block of group \"g\" must be a duration string like \"10s\", found a number",
        ),
        (
            "job \"j\" {\n  group \"g\" {\n    task \"t\" {\n      driver = \"exec\"\n      resources { memroy = 5 }\n    }\n  }\n}\n",
            "t.nomad:5:19: unknown attribute \"memroy\" in the resources of task \"t\"; did you mean \"memory\"?",
        ),
        (
            "job \"j\" {\n  type = \"servce\"\n}\n",
            "t.nomad:2:10: job type \"servce\" must be one of \"service\", \"batch\", \"system\"",
        ),
        (
            "job \"j\" {\n  constraint {\n    attribute = \"x\"\n    operator = \"regex\"\n  }\n}\n",
            "t.nomad:4:16: unknown constraint operator \"regex\"; did you mean \"regexp\"?",
        ),
        (
            "job \"j\" {\n  group \"g\" {\n    count = 1\n    count = 2\n  }\n}\n",
            "t.nomad:4:5: HCL syntax error: invalid attribute; expected unique attribute key",
        ),
        ("group \"g\" {}\n", "t.nomad:1:1: unknown block \"group\" in the file"),
        ("", "t.nomad:1:1: no job in the file"),
        ("job {\n}\n", "t.nomad:1:1: block \"job\" in the file needs a name"),
        (
            "job \"j\" {\n  priority = maxx(1, 2)\n}\n",
            "t.nomad:2:14: there is no function named \"maxx\"",
        ),
        (
            "job \"j\" {\n  group \"g\" {\n    task \"t\" {}\n  }\n}\n",
            "t.nomad:3:5: task \"t\" needs a driver",
        ),
    ];
    for (src, want) in cases {
        let got = hcl_err(src);
        assert!(
            got.starts_with(want),
            "\n got: {got}\nwant: {want}\n src:\n{src}"
        );
    }
}

#[test]
fn hcl_syntax_error_has_position() {
    let err = parse_hcl("job \"j\" {\n  type = \n}\n", "x.hcl").unwrap_err();
    assert_eq!(err.file, "x.hcl");
    assert_eq!((err.line, err.column), (2, 10), "{err}");
}

const YAML_EXAMPLE: &str = r#"
job:
  example:
    type: service
    datacenters: ["*"]
    update:
      max_parallel: 1
      min_healthy_time: 10s
      healthy_deadline: 3m
      auto_revert: false
    group:
      web:
        count: 1
        network:
          port:
            http: {}
        restart:
          attempts: 2
          interval: 30m
          delay: 15s
          mode: fail
        service:
          - name: example-web
            port: http
            provider: nomad
            check:
              name: alive
              type: tcp
              interval: 10s
              timeout: 2s
        task:
          server:
            driver: raw_exec
            config:
              command: /bin/sh
              args: ["-c", "while true; do echo \"hello from $NOMAD_ALLOC_ID on port $NOMAD_PORT_http\"; sleep 5; done"]
            env:
              GREETING: hello
            resources:
              cpu: 100
              memory: 64
            logs:
              max_files: 3
              max_file_size: 10
"#;

#[test]
fn yaml_equals_hcl() {
    let from_hcl = hcl(include_str!("../../../jobs/example.nomad.hcl"));
    let from_yaml = parse_yaml(YAML_EXAMPLE, "example.yaml").unwrap();
    assert_eq!(from_yaml, from_hcl);
    assert_eq!(parse_str(YAML_EXAMPLE, "x").unwrap(), from_hcl);
}

#[test]
fn yaml_errors_are_positioned() {
    let src = "job:\n  j:\n    group:\n      web:\n        coutn: 2\n";
    let err = parse_yaml(src, "j.yaml").unwrap_err().to_string();
    assert_eq!(
        err,
        "j.yaml:5:9: unknown key \"coutn\" in group \"web\"; did you mean \"count\"?"
    );
    let src = "job:\n  j:\n    group:\n      web:\n        count: many\n";
    let err = parse_yaml(src, "j.yaml").unwrap_err().to_string();
    assert!(err.starts_with("j.yaml:5:16: \"count\""), "{err}");
}

#[test]
fn yaml_single_constraint_map_and_list() {
    let src = r#"
job:
  j:
    constraint:
      attribute: "${attr.kernel.name}"
      value: linux
    group:
      g:
        constraint:
          - distinct_hosts: true
          - attribute: "${meta.x}"
            operator: "!="
            value: "y"
        task:
          t: { driver: exec }
"#;
    let job = parse_yaml(src, "j.yaml").unwrap();
    assert_eq!(job.constraints[0].l_target, "${attr.kernel.name}");
    assert_eq!(job.task_groups[0].constraints.len(), 2);
    assert_eq!(job.task_groups[0].constraints[1].operand, "!=");
}

#[test]
fn json_round_trip() {
    let job = hcl(include_str!("../../../jobs/example.nomad.hcl"));
    let text = serde_json::to_string_pretty(&serde_json::json!({ "Job": job })).unwrap();
    assert_eq!(parse_json(&text, "j.json").unwrap(), job);
    assert_eq!(parse_str(&text, "j.json").unwrap(), job);
    // A bare job object works too.
    let bare = serde_json::to_string(&job).unwrap();
    assert_eq!(parse_json(&bare, "j.json").unwrap(), job);
}

#[test]
fn json_unknown_fields_and_type_errors() {
    let src = "{\"Job\": {\n  \"ID\": \"x\",\n  \"TaskGroups\": [{\n    \"Name\": \"g\",\n    \"Cuont\": 2\n  }]\n}}";
    let err = parse_json(src, "j.json").unwrap_err().to_string();
    assert_eq!(
        err,
        "j.json:5:5: unknown field \"Cuont\" at Job.TaskGroups[0]; did you mean \"Count\"?"
    );
    let src = "{\"Job\": {\n  \"ID\": \"x\",\n  \"Priority\": \"high\"\n}}";
    let err = json_err(src);
    assert!(err.starts_with("j.json:3:"), "{err}");
    assert!(
        err.contains("invalid job JSON at Job.Priority: invalid type: string \"high\""),
        "{err}"
    );
    assert!(!err.contains(" at line "), "{err}");
    let err = json_err("{\"Job\": {\"ID\": }}");
    assert!(err.starts_with("j.json:1:16: invalid job JSON"), "{err}");
    // Unknown fields set to null are tolerated (Nomad's own output is full of them).
    parse_json("{\"Job\": {\"ID\": \"x\", \"Affinities\": null}}", "j.json").unwrap();
    // So are known ones: null reads as "not set", at any depth.
    let job = parse_json(
        "{\"Job\": {\"ID\": \"x\", \"Region\": null, \"Priority\": null,\n \"TaskGroups\": [{\"Name\": \"g\", \"Count\": null, \"Tasks\": null}]}}",
        "j.json",
    )
    .unwrap();
    assert_eq!(job.region, "global");
    assert_eq!(job.priority, 50);
    assert_eq!(job.task_groups[0].count, 1);
    // A type error deep in the file points at its own line, not the first key of that name.
    let src = "{\"Job\": {\"ID\": \"x\", \"TaskGroups\": [\n {\"Name\": \"a\", \"Count\": 1},\n {\"Name\": \"b\", \"Count\": \"two\"}]}}";
    let err = json_err(src);
    assert!(err.starts_with("j.json:3:"), "{err}");
    assert!(err.contains("at Job.TaskGroups[1].Count"), "{err}");
}

fn json_err(src: &str) -> String {
    parse_json(src, "j.json").unwrap_err().to_string()
}

#[test]
fn sniffing() {
    assert_eq!(Format::sniff("# c\njob \"x\" {\n}"), Format::Hcl);
    assert_eq!(Format::sniff("// c\nx = 1"), Format::Hcl);
    assert_eq!(Format::sniff("# c\njob:\n  x: {}"), Format::Yaml);
    assert_eq!(Format::sniff("  {\"Job\": {}}"), Format::Json);
    assert_eq!(
        Format::from_path(Path::new("a/web.nomad")),
        Some(Format::Hcl)
    );
    assert_eq!(Format::from_path(Path::new("a.YML")), Some(Format::Yaml));
    assert_eq!(Format::from_path(Path::new("a.txt")), None);
}

#[test]
fn parse_file_uses_extension_and_names_the_file() {
    let dir = std::env::temp_dir().join(format!("jobspec-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("web.nomad");
    std::fs::write(
        &path,
        "job \"j\" {\n  group \"web\" {\n    coutn = 1\n  }\n}\n",
    )
    .unwrap();
    let err = parse_file(&path).unwrap_err();
    assert_eq!((err.line, err.column), (3, 5));
    assert!(err
        .to_string()
        .starts_with(&format!("{}:3:5: ", path.display())));
    let missing = parse_file(&dir.join("nope.hcl")).unwrap_err();
    assert_eq!(missing.line, 0);
    assert!(missing.to_string().contains("cannot read the job file"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn realistic_docker_job() {
    let job = hcl(r#"
job "hello-docker" {
  datacenters = ["dc1"]
  type        = "service"

  group "web" {
    count = 2

    network {
      port "http" {
        to = 8080
      }
    }

    service {
      name = "hello"
      port = "http"
      tags = ["urlprefix-/hello", "v1"]

      check {
        type     = "http"
        path     = "/"
        interval = "10s"
        timeout  = "2s"
        check_restart {
          limit = 3
        }
      }
    }

    task "app" {
      driver = "docker"

      config {
        image = "hello:1.0"
        ports = ["http"]
        auth {
          username = "u"
          password = "p"
        }
        logging {
          type = "json-file"
          config {
            max-size = "10m"
          }
        }
      }

      resources {
        cpu    = 200
        memory = 128
      }
    }
  }
}
"#);
    let t = &job.task_groups[0].tasks[0];
    assert_eq!(
        serde_json::Value::Object(t.config.clone().into_iter().collect()),
        serde_json::json!({
            "image": "hello:1.0",
            "ports": ["http"],
            "auth": {"username": "u", "password": "p"},
            "logging": {"type": "json-file", "config": {"max-size": "10m"}},
        })
    );
    let svc = &job.task_groups[0].services[0];
    assert_eq!(svc.tags[0], "urlprefix-/hello");
    assert_eq!(
        svc.checks[0].check_restart.as_ref().map(|r| r.limit),
        Some(3)
    );
    let mut canon = job.clone();
    canon.canonicalize();
    canon.validate().unwrap();
}

#[test]
fn task_templates_decode_and_bad_ones_are_refused_at_their_line() {
    let job = hcl(&in_task(
        r#"
template {
  data          = "{{ env \"NOMAD_TASK_NAME\" }}"
  destination   = "local/x"
  change_mode   = "script"
  perms         = "0600"
  env           = true
  wait {
    min = "2s"
    max = "10s"
  }
  change_script {
    command = "/bin/reload"
    args    = ["-q"]
  }
}"#,
    ));
    let t = &job.task_groups[0].tasks[0].templates[0];
    assert_eq!(
        (t.dest_path.as_str(), t.perms.as_str(), t.envvars),
        ("local/x", "0600", true)
    );
    assert_eq!(
        t.wait.as_ref().map(|w| w.min),
        Some(std::time::Duration::from_secs(2))
    );
    assert_eq!(
        t.change_script.as_ref().map(|c| c.args.clone()),
        Some(vec!["-q".to_string()])
    );
    for (body, want) in [
        (
            "data = \"{{ key \\\"a\\\" }}\"\n  destination = \"local/x\"",
            "Consul KV",
        ),
        (
            "data = \"x\"\n  destination = \"../../x\"",
            "leaves the task directory",
        ),
        (
            "data = \"{{ .Broken \"\n  destination = \"local/x\"",
            "template:1:",
        ),
        (
            "data = \"x\"\n  destination = \"local/x\"\n  change_mode = \"script\"",
            "change_script",
        ),
    ] {
        let err = hcl_err(&in_task(&format!("\ntemplate {{\n  {body}\n}}")));
        assert!(err.starts_with("t.nomad:6:"), "{err}");
        assert!(err.contains(want), "{want}: {err}");
    }
}

#[test]
fn services_name_ports_of_the_group() {
    let src = in_group(
        r#"
network {
  port "http" {}
}
service {
  name = "web"
  port = "htp"
}
task "t" {
  driver = "raw_exec"
  service {
    port = "http"
    check {
      type     = "http"
      port     = "admin"
      path     = "/"
      interval = "1s"
      timeout  = "1s"
    }
  }
}"#,
    );
    let err = hcl_err(&src);
    assert_eq!(
        err,
        "t.nomad:9:10: port \"htp\" is not a port label of the group (known ports: http)"
    );
    let err = hcl_err(&src.replace("\"htp\"", "\"http\""));
    assert!(err.starts_with("t.nomad:17:"), "{err}");
    assert!(err.contains("\"admin\""), "{err}");
}

#[test]
fn checks_are_checked_where_they_are_written() {
    let check = |body: &str| {
        hcl_err(&in_group(&format!(
            "network {{\n  port \"http\" {{}}\n}}\nservice {{\n  port = \"http\"\n  check {{\n{body}\n  }}\n}}\ntask \"t\" {{\n  driver = \"raw_exec\"\n}}"
        )))
    };
    let e = check("type = \"http\"\ninterval = \"5s\"\ntimeout = \"1s\"");
    assert!(
        e.starts_with("t.nomad:8:3: ") && e.contains("needs a path"),
        "{e}"
    );
    let e = check("type = \"tcp\"\ninterval = \"5s\"");
    assert!(e.contains("needs a timeout"), "{e}");
    let e = check("type = \"grpc\"\ninterval = \"5s\"\ntimeout = \"1s\"");
    assert!(e.contains("grpc checks are not supported"), "{e}");
    let e = check("type = \"tcp\"\ninterval = \"5s\"\ntimeout = \"1s\"\nexpose = true");
    assert!(e.contains("\"expose\" is not supported"), "{e}");
    let ok = hcl(&in_group(
        r#"
network {
  port "http" {}
}
shutdown_delay = "5s"
service {
  port        = "http"
  canary_tags = ["canary"]
  on_update   = "ignore_warnings"
  check_restart {
    limit = 2
    grace = "10s"
  }
  check {
    type                     = "http"
    path                     = "/health"
    method                   = "POST"
    body                     = "{}"
    header {
      Authorization = ["Basic x"]
    }
    interval                 = "5s"
    timeout                  = "1s"
    initial_status           = "passing"
    success_before_passing   = 2
    failures_before_critical = 3
  }
}
task "t" {
  driver         = "raw_exec"
  shutdown_delay = "2s"
}"#,
    ));
    let g = &ok.task_groups[0];
    assert_eq!(g.shutdown_delay, Duration::from_secs(5));
    assert_eq!(g.tasks[0].shutdown_delay, Duration::from_secs(2));
    let c = &g.services[0].checks[0];
    assert_eq!(c.header["Authorization"], ["Basic x"]);
    assert_eq!(
        (c.success_before_passing, c.failures_before_critical),
        (2, 3)
    );
    assert_eq!(c.on_update, "ignore_warnings");
    assert_eq!(
        c.check_restart.as_ref().map(|r| (r.limit, r.grace)),
        Some((2, Duration::from_secs(10)))
    );
    assert_eq!(g.services[0].canary_tags, ["canary"]);
}

#[test]
fn group_checks_that_concern_a_task_must_name_it() {
    let job = hcl(&in_group(
        r#"
service {
  name = "web"
  check {
    type     = "script"
    command  = "/bin/true"
    interval = "5s"
    timeout  = "1s"
  }
}
task "t" {
  driver = "raw_exec"
}
task "u" {
  driver = "raw_exec"
}"#,
    ));
    let mut canon = job.clone();
    canon.canonicalize();
    let err = canon.validate().unwrap_err().to_string();
    assert!(err.contains("set `task` to the one it concerns"), "{err}");
    let mut named = canon.clone();
    named.task_groups[0].services[0].task_name = "t".into();
    named.validate().unwrap();
    // With one task in the group, it is that one.
    let mut single = canon.clone();
    single.task_groups[0].tasks.pop();
    single.validate().unwrap();
    let (tg, s) = (&single.task_groups[0], &single.task_groups[0].services[0]);
    assert_eq!(crate::job::check_task(tg, s, &s.checks[0]), "t");
}

#[test]
fn a_group_update_block_merges_into_the_jobs_field_by_field() {
    let job = hcl(r#"job "j" {
  update {
    max_parallel     = 2
    min_healthy_time = "3s"
    auto_revert      = true
  }
  group "merged" {
    update { canary = 1 }
    task "t" { driver = "exec" }
  }
  group "inherits" {
    task "t" { driver = "exec" }
  }
}"#);
    let merged = job.task_groups[0].update.as_ref().unwrap();
    assert_eq!(
        (merged.max_parallel, merged.canary, merged.auto_revert),
        (2, 1, true)
    );
    assert_eq!(merged.min_healthy_time, Duration::from_secs(3));
    assert_eq!(merged.healthy_deadline, Duration::from_secs(300), "default");
    let mut job = job;
    job.canonicalize();
    assert_eq!(job.task_groups[1].update.as_ref().unwrap().max_parallel, 2);
}

#[test]
fn update_blocks_that_cannot_work_are_refused() {
    let err = hcl_err(&in_group(
        "update { health_check = \"manual\" }\ntask \"t\" { driver = \"exec\" }",
    ));
    assert!(
        err.contains("t.nomad:") && err.contains("\"manual\"") && err.contains("not supported"),
        "{err}"
    );
    let mut job = hcl(&in_group(
        "update {\n  min_healthy_time = \"2m\"\n  healthy_deadline = \"1m\"\n}\n\
         migrate { healthy_deadline = \"0s\" }\ntask \"t\" { driver = \"exec\" }",
    ));
    job.canonicalize();
    let err = job.validate().unwrap_err().to_string();
    assert!(
        err.contains("min_healthy_time (2m0s) must be less than healthy_deadline (1m0s)"),
        "{err}"
    );
    assert!(
        err.contains("migrate: healthy_deadline must be greater than zero"),
        "{err}"
    );
}

#[test]
fn group_scaling_blocks_keep_their_bounds_and_policy() {
    let job = hcl(&in_group(
        r#"
count = 2
scaling {
  enabled = true
  min     = 1
  max     = 10
  policy {
    cooldown = "1m"
    check "cpu" {
      source = "prometheus"
      query  = "avg(cpu)"
    }
  }
}
task "t" {
  driver = "raw_exec"
}"#,
    ));
    let s = job.task_groups[0].scaling.as_ref().unwrap();
    assert_eq!((s.min, s.max, s.enabled), (Some(1), Some(10), Some(true)));
    assert_eq!(s.policy["cooldown"], "1m");
    assert_eq!(s.policy["check"]["cpu"]["source"], "prometheus");
    let err = hcl_err(&in_group(
        "scaling {\n  min = 1\n}\ntask \"t\" {\n  driver = \"raw_exec\"\n}",
    ));
    assert!(err.contains("needs a max"), "{err}");
    let err = hcl_err(&in_task("scaling \"cpu\" {\n  max = 2\n}"));
    assert!(
        err.contains("scaling blocks in tasks") && err.contains("not supported"),
        "{err}"
    );
}

#[test]
fn lifecycle_blocks_decode_and_bad_hooks_are_refused() {
    let job = hcl(&in_group(
        "task \"init\" {\n  driver = \"raw_exec\"\n  lifecycle {\n    hook    = \"prestart\"\n    sidecar = true\n  }\n}\ntask \"main\" {\n  driver = \"raw_exec\"\n}",
    ));
    let init = &job.task_groups[0].tasks[0];
    assert_eq!(init.hook(), Some("prestart"));
    assert!(init.is_sidecar());
    assert_eq!(job.task_groups[0].tasks[1].hook(), None);
    let err = hcl_err(&in_task("lifecycle {\n  hook = \"prerun\"\n}"));
    assert!(
        err.contains("must be prestart, poststart or poststop"),
        "{err}"
    );
    let err = hcl_err(&in_task(
        "lifecycle {\n  hook = \"poststop\"\n  sidecar = true\n}",
    ));
    assert!(err.contains("cannot be a sidecar"), "{err}");
    let mut only_hooks = job.clone();
    only_hooks.task_groups[0].tasks.truncate(1);
    let errs = only_hooks.validate().unwrap_err().to_string();
    assert!(errs.contains("needs a main task"), "{errs}");
}

#[test]
fn parameterized_jobs_and_dispatch_payloads_decode() {
    let src = "job \"j\" {\n  type = \"batch\"\n  parameterized {\n    payload       = \"forbidden\"\n    meta_optional = [\"a\"]\n  }\n  group \"g\" {\n    task \"t\" {\n      driver = \"raw_exec\"\n      dispatch_payload {\n        file = \"in/x.json\"\n      }\n    }\n  }\n}\n";
    let job = hcl(src);
    let p = job.parameterized_job.as_ref().unwrap();
    assert_eq!(
        (p.payload.as_str(), p.meta_optional.clone()),
        ("forbidden", vec!["a".to_string()])
    );
    assert_eq!(
        job.task_groups[0].tasks[0]
            .dispatch_payload
            .as_ref()
            .unwrap()
            .file,
        "in/x.json"
    );
    assert!(job.is_parameterized_parent());
    let err = hcl_err(&src.replace("forbidden", "sometimes"));
    assert!(err.contains("optional, required or forbidden"), "{err}");
    let mut service = job.clone();
    service.job_type = "service".into();
    assert!(service
        .validate()
        .unwrap_err()
        .to_string()
        .contains("must be a batch or sysbatch job"));
}

#[test]
fn reserved_cores_are_refused_by_name() {
    let err = hcl_err(&in_task("resources {\n  cores = 2\n}"));
    assert!(
        err.contains("cores") && err.contains("not supported"),
        "{err}"
    );
}
