//! Tests of the agent config: defaults, files, flags, and the errors of bad files.

use super::*;
use api::jobspec::Format;
use std::path::Path;
use std::time::Duration;

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("agent-config-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Each HCL text, applied as agent.hcl, fails with an error that starts with its expectation.
fn assert_refused(cases: &[(&str, &str)]) {
    for (src, want) in cases {
        let mut cfg = Config::defaults(false);
        let err = apply_str(&mut cfg, src, "agent.hcl", Format::Hcl)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with(want), "{err}\nwanted {want}");
    }
}

#[test]
fn dev_defaults() {
    let cfg = Config::load(&AgentFlags {
        dev: true,
        ..Default::default()
    })
    .unwrap();
    assert!(cfg.dev_mode && cfg.server.enabled && cfg.client.enabled);
    assert_eq!(cfg.server.bootstrap_expect, 1);
    assert!(cfg.raw_exec_enabled());
    assert_eq!(cfg.bind_addr, "127.0.0.1");
    assert_eq!(
        cfg.ports,
        Ports {
            http: 4646,
            rpc: 4647,
            serf: 4648
        }
    );
    assert_eq!(
        (cfg.datacenter.as_str(), cfg.region.as_str()),
        ("dc1", "global")
    );
    assert_eq!(cfg.log_level, "INFO");
    assert!(cfg.data_dir.is_none());
    assert!(!cfg.name.is_empty());
}

#[test]
fn needs_server_or_client_without_dev() {
    let err = Config::load(&AgentFlags::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("neither a server nor a client is enabled"),
        "{err}"
    );
    let cfg = Config::load(&AgentFlags {
        server: true,
        ..Default::default()
    })
    .unwrap();
    assert_eq!(cfg.bind_addr, "0.0.0.0");
    assert!(!cfg.raw_exec_enabled());
}

const HCL: &str = r#"
# A client and server agent.
name       = "node-a"
datacenter = "east"
data_dir   = "/var/lib/nomad"
bind_addr  = "0.0.0.0"
log_level  = "debug"
enable_debug = false
leave_on_interrupt = false
disable_update_check = true

ports {
  http = 5646
  rpc  = 5647
  serf = 5648
}

advertise {
  http = "10.0.0.1"
}

server {
  enabled          = true
  bootstrap_expect = 3
  server_join {
    retry_join = ["10.0.0.1", "10.0.0.2"]
  }
  heartbeat_grace           = "3s"
  min_heartbeat_ttl         = "4s"
  max_heartbeats_per_second = 20
  raft_snapshot_threshold   = 100
  raft_snapshot_interval    = "30s"
  job_gc_interval           = "1m"
  eval_gc_threshold         = "10m"
  node_gc_threshold         = "2h"
}

client {
  enabled    = true
  servers    = ["10.0.0.1:4647"]
  node_class = "web"
  meta {
    rack = "r1"
  }
  options = {
    "driver.allowlist" = "docker,raw_exec"
  }
  cpu_total_compute = 4000
  memory_total_mb   = 8192
  gc_interval             = "30s"
  gc_max_allocs           = 20
  gc_disk_usage_threshold = 90
}

plugin "raw_exec" {
  config {
    enabled = true
  }
}
"#;

#[test]
fn hcl_file_then_flags() {
    let dir = temp_dir("hcl");
    let path = write(&dir, "agent.hcl", HCL);
    let flags = AgentFlags {
        config: vec![path],
        http_port: Some(7646),
        node: Some("override".into()),
        retry_join: vec!["10.9.9.9".into()],
        servers: vec!["a:4647".into(), " b:4647".into()],
        log_level: Some("warn".into()),
        ..Default::default()
    };
    let cfg = Config::load(&flags).unwrap();
    assert_eq!(cfg.name, "override");
    assert_eq!(cfg.datacenter, "east");
    assert_eq!(cfg.data_dir.as_deref(), Some(Path::new("/var/lib/nomad")));
    assert_eq!(
        cfg.ports,
        Ports {
            http: 7646,
            rpc: 5647,
            serf: 5648
        }
    );
    assert_eq!(cfg.advertise.http.as_deref(), Some("10.0.0.1"));
    assert_eq!(cfg.log_level, "WARN");
    assert!(cfg.server.enabled && cfg.client.enabled);
    assert_eq!(cfg.server.bootstrap_expect, 3);
    assert_eq!(cfg.server.retry_join, ["10.9.9.9"]);
    assert_eq!(cfg.server.heartbeat_grace, Some(Duration::from_secs(3)));
    assert_eq!(cfg.server.min_heartbeat_ttl, Some(Duration::from_secs(4)));
    assert_eq!(cfg.server.max_heartbeats_per_second, Some(20));
    assert_eq!(cfg.server.failover_heartbeat_ttl, None);
    assert_eq!(cfg.server.raft_snapshot_threshold, 100);
    assert_eq!(cfg.server.raft_snapshot_interval, Duration::from_secs(30));
    assert_eq!(cfg.server.gc.job_gc_interval, Some(Duration::from_secs(60)));
    assert_eq!(
        cfg.server.gc.eval_gc_threshold,
        Some(Duration::from_secs(600))
    );
    assert_eq!(
        cfg.server.gc.node_gc_threshold,
        Some(Duration::from_secs(7200))
    );
    assert_eq!(cfg.server.gc.job_gc_threshold, None);
    assert_eq!(cfg.client.gc_interval, Some(Duration::from_secs(30)));
    assert_eq!(cfg.client.gc_max_allocs, Some(20));
    assert_eq!(cfg.client.gc_disk_usage_threshold, Some(90));
    assert_eq!(cfg.client.servers, ["a:4647", "b:4647"]);
    assert_eq!(cfg.client.node_class, "web");
    assert_eq!(cfg.client.meta["rack"], "r1");
    assert_eq!(cfg.client.options["driver.allowlist"], "docker,raw_exec");
    assert_eq!(
        (cfg.client.cpu_total_compute, cfg.client.memory_total_mb),
        (4000, 8192)
    );
    assert!(cfg.raw_exec_enabled());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn files_layer_in_order_and_directories_load() {
    let dir = temp_dir("layer");
    write(
        &dir,
        "a.hcl",
        "datacenter = \"one\"\nserver {\n  enabled = true\n}\n",
    );
    write(&dir, "b.yaml", "datacenter: two\n");
    write(&dir, "ignored.txt", "not a config");
    let cfg = Config::load(&AgentFlags {
        config: vec![dir.clone()],
        ..Default::default()
    })
    .unwrap();
    assert_eq!(cfg.datacenter, "two");
    assert!(cfg.server.enabled);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn yaml_config() {
    let yaml = r#"
name: y1
data_dir: /tmp/y
server:
  enabled: true
  bootstrap_expect: 1
client:
  enabled: true
  meta: { zone: a }
plugin:
  raw_exec:
    config:
      enabled: true
"#;
    let mut cfg = Config::defaults(false);
    apply_str(&mut cfg, yaml, "agent.yaml", Format::Yaml).unwrap();
    assert_eq!(cfg.name, "y1");
    assert!(cfg.server.enabled && cfg.client.enabled);
    assert_eq!(cfg.client.meta["zone"], "a");
    assert!(cfg.raw_exec_enabled());
}

#[test]
fn bad_files_say_where_and_what() {
    let cases: &[(&str, Format, &str)] = &[
        (
            "name = \"x\"\n\nsever {\n  enabled = true\n}\n",
            Format::Hcl,
            "agent.hcl:3:1: unknown block \"sever\" in the agent config; did you mean \"server\"?",
        ),
        (
            "server {\n  enabled = \"yes\"\n}\n",
            Format::Hcl,
            "agent.hcl:2:13: \"enabled\" in the server block must be true or false, found a string",
        ),
        (
            "ports {\n  http = 70000\n}\n",
            Format::Hcl,
            "agent.hcl:2:10: \"http\" in the ports block: 70000 is out of range",
        ),
        (
            "client:\n  enabled: true\n  node_clas: x\n",
            Format::Yaml,
            "agent.hcl:3:3: unknown key \"node_clas\" in the client block; did you mean \"node_class\"?",
        ),
        (
            "log_level = \"loud\"\n",
            Format::Hcl,
            "agent.hcl:1:13: log level \"loud\" must be one of",
        ),
        ("server {\n", Format::Hcl, "agent.hcl:1:10: HCL syntax error"),
    ];
    for (src, format, want) in cases {
        let mut cfg = Config::defaults(false);
        let got = apply_str(&mut cfg, src, "agent.hcl", *format)
            .unwrap_err()
            .to_string();
        assert!(got.starts_with(want), "\n got: {got}\nwant: {want}");
    }
}

#[test]
fn load_reports_file_errors_with_the_path() {
    let dir = temp_dir("bad");
    let path = write(&dir, "agent.hcl", "sever {}\n");
    let err = Config::load(&AgentFlags {
        config: vec![path.clone()],
        ..Default::default()
    })
    .unwrap_err();
    assert!(
        matches!(&err, ConfigError::File(e) if e.line == 1 && e.column == 1),
        "{err}"
    );
    assert!(err
        .to_string()
        .starts_with(&format!("{}:1:1:", path.display())));
    let missing = Config::load(&AgentFlags {
        config: vec![dir.join("nope.hcl")],
        ..Default::default()
    })
    .unwrap_err();
    assert!(
        missing.to_string().contains("cannot read the config file"),
        "{missing}"
    );
    let bad_level = Config::load(&AgentFlags {
        dev: true,
        log_level: Some("x".into()),
        ..Default::default()
    })
    .unwrap_err();
    assert!(
        bad_level.to_string().starts_with("--log-level: "),
        "{bad_level}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn template_and_consul_blocks_in_hcl_and_yaml() {
    let hcl = r#"
consul {
  address = "127.0.0.1:8500"
  token   = "t"
}
template {
  source      = "/etc/nomad.d/nginx.conf.j2"
  destination = "/etc/nginx/conf.d/nomad.conf"
  check       = "nginx -t"
  command     = "nginx -s reload"
  perms       = "0640"
  wait {
    min = "200ms"
    max = "2s"
  }
}
template {
  source      = "a.j2"
  destination = "a.txt"
}
"#;
    let mut cfg = Config::defaults(false);
    apply_str(&mut cfg, hcl, "agent.hcl", Format::Hcl).unwrap();
    let consul = cfg.consul.clone().unwrap();
    assert_eq!(
        (consul.address.as_str(), consul.token.as_deref()),
        ("127.0.0.1:8500", Some("t"))
    );
    assert_eq!(cfg.templates.len(), 2);
    let t = &cfg.templates[0];
    assert_eq!(t.check.as_deref(), Some("nginx -t"));
    assert_eq!(t.perms, 0o640);
    assert_eq!(
        (t.wait_min, t.wait_max),
        (Duration::from_millis(200), Duration::from_secs(2))
    );
    let d = &cfg.templates[1];
    assert_eq!(
        (d.perms, d.check.clone(), d.command.clone()),
        (0o644, None, None)
    );
    assert_eq!(
        (d.wait_min, d.wait_max),
        (Duration::from_millis(100), Duration::from_secs(1))
    );

    let yaml = r#"
consul: {}
template:
  - source: /t.j2
    destination: /t.conf
    command: "true"
"#;
    let mut cfg = Config::defaults(false);
    apply_str(&mut cfg, yaml, "agent.yaml", Format::Yaml).unwrap();
    assert_eq!(cfg.consul.unwrap().address, "127.0.0.1:8500");
    assert_eq!(cfg.templates[0].command.as_deref(), Some("true"));
}

#[test]
fn template_and_consul_mistakes_are_refused_where_written() {
    let cases: &[(&str, &str)] = &[
        (
            "consul {\n  address = \"x:1\"\n  ssl = true\n}\n",
            "agent.hcl:3:3: consul.ssl is not supported",
        ),
        (
            "template {\n  destination = \"/x\"\n}\n",
            "agent.hcl:1:1: the template block needs a source",
        ),
        (
            "template {\n  source = \"a\"\n  destination = \"b\"\n  perms = \"rw\"\n}\n",
            "agent.hcl:4:11: perms \"rw\" must be an octal file mode",
        ),
        (
            "template {\n  source = \"a\"\n  destination = \"b\"\n  wait {\n    min = \"2s\"\n    max = \"1s\"\n  }\n}\n",
            "agent.hcl:4:3: the template's wait max must not be less than its min",
        ),
    ];
    assert_refused(cases);
}

#[test]
fn driver_allowlist_and_denylist_pick_the_drivers_and_refuse_unknown_names() {
    let dir = temp_dir("drivers");
    let load = |text: &str| {
        let path = write(&dir, "client.hcl", text);
        Config::load(&AgentFlags {
            config: vec![path],
            ..Default::default()
        })
    };
    let cfg = load(
        "client {\n  enabled = true\n  options = {\n    \"driver.allowlist\" = \"exec, java\"\n  }\n}\n",
    )
    .unwrap();
    let names: Vec<String> = crate::drivers::builtin_drivers(&cfg.driver_settings())
        .into_keys()
        .collect();
    assert_eq!(names, ["exec", "java"]);

    let cfg = load(
        "client {\n  enabled = true\n  options = {\n    \"driver.denylist\" = \"docker\"\n  }\n}\n",
    )
    .unwrap();
    let names: Vec<String> = crate::drivers::builtin_drivers(&cfg.driver_settings())
        .into_keys()
        .collect();
    assert_eq!(names, ["exec", "java", "raw_exec"]);

    let err = load(
        "client {\n  enabled = true\n  options = {\n    \"driver.allowlist\" = \"exec,podman\"\n  }\n}\n",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("\"podman\", which is not a driver"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn settings_this_agent_does_not_implement_stop_it_with_their_name_and_line() {
    let cases: &[(&str, &str)] = &[
        ("vault {\n  enabled = true\n}\n", "agent.hcl:1:1: vault is not supported"),
        ("tls {\n  foo = 1\n}\n", "agent.hcl:2:3: unknown attribute \"foo\" in the tls block"),
        (
            "tls {\n  tls_cipher_suites = \"x\"\n}\n",
            "agent.hcl:2:3: tls.tls_cipher_suites is not supported",
        ),
        (
            "tls {\n  http = true\n}\n",
            "agent.hcl:1:1: tls: ca_file is required when http or rpc is true",
        ),
        (
            "limits {\n  rpc_handshake_timeout = \"5s\"\n}\n",
            "agent.hcl:2:3: limits.rpc_handshake_timeout is not supported",
        ),
        (
            "acl {\n  enabled = true\n  token_ttl = \"30s\"\n}\n",
            "agent.hcl:3:3: acl.token_ttl is not supported",
        ),
        ("name = \"a\"\nbogus = 1\n", "agent.hcl:2:1: unknown"),
        ("enable_debug = true\n", "agent.hcl:1:1: enable_debug = true is not supported"),
        (
            "server {\n  encrypt = \"k\"\n}\n",
            "agent.hcl:2:3: server.encrypt is not supported",
        ),
        (
            "server {\n  job_gc_interval = \"0s\"\n}\n",
            "agent.hcl:2:3: server.job_gc_interval must be more than 0s",
        ),
        (
            "client {\n  gc_disk_usage_threshold = 101\n}\n",
            "agent.hcl:2:3: client.gc_disk_usage_threshold is a percentage",
        ),
        (
            "client {\n  gc_parallel_destroys = 2\n}\n",
            "agent.hcl:2:3: client.gc_parallel_destroys is not supported",
        ),
        (
            "client {\n  reserved {\n    cpu = 1\n  }\n}\n",
            "agent.hcl:2:3: client.reserved is not supported",
        ),
        (
            "plugin \"docker\" {\n  config {\n    allow_caps = \"all\"\n  }\n}\n",
            "agent.hcl:2:3: plugin \"docker\" config.allow_caps is not supported",
        ),
        (
            "plugin \"docker\" {\n  config {\n    volumes {\n      selinuxlabel = \"z\"\n    }\n  }\n}\n",
            "agent.hcl:2:3: plugin \"docker\" config.volumes is not supported",
        ),
        (
            "plugin \"podman\" {\n}\n",
            "agent.hcl:1:1: plugin \"podman\": external plugins are not supported",
        ),
    ];
    assert_refused(cases);
    // What asks for what the agent does anyway is accepted.
    let mut cfg = Config::defaults(false);
    let volumes =
        "plugin \"docker\" {\n  config {\n    volumes {\n      enabled = true\n    }\n  }\n}\n";
    apply_str(&mut cfg, volumes, "agent.hcl", Format::Hcl).unwrap();
    assert!(cfg.driver_settings().docker.volumes);
    assert!(!Config::defaults(false).driver_settings().docker.volumes);
    let mut cfg = Config::defaults(false);
    let caps = "plugin \"docker\" {\n  config {\n    allow_privileged = true\n    allow_caps = [\"CAP_NET_ADMIN\", \"chown\"]\n  }\n}\n";
    apply_str(&mut cfg, caps, "agent.hcl", Format::Hcl).unwrap();
    let docker = cfg.driver_settings().docker;
    assert!(docker.privileged && !docker.volumes);
    assert_eq!(
        docker.allow_caps.into_iter().collect::<Vec<_>>(),
        ["chown", "net_admin"]
    );
    assert!(!Config::defaults(false).driver_settings().docker.privileged);
    let mut cfg = Config::defaults(false);
    let ok = "disable_update_check = true\nleave_on_terminate = false\nserver {\n  raft_protocol = 3\n}\nclient {\n  node_pool = \"default\"\n}\n";
    apply_str(&mut cfg, ok, "agent.hcl", Format::Hcl).unwrap();
}

#[test]
fn acl_is_off_until_the_flag_or_the_block_turns_it_on() {
    let off = Config::load(&AgentFlags {
        dev: true,
        ..Default::default()
    })
    .unwrap();
    assert!(!off.acl.enabled);
    let flag = Config::load(&AgentFlags {
        dev: true,
        acl_enabled: true,
        ..Default::default()
    })
    .unwrap();
    assert!(flag.acl.enabled);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("agent.hcl");
    std::fs::write(&file, "acl {\n  enabled = true\n}\n").unwrap();
    let block = Config::load(&AgentFlags {
        dev: true,
        config: vec![file],
        ..Default::default()
    })
    .unwrap();
    assert!(block.acl.enabled);
}
