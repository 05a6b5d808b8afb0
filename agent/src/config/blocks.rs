//! The agent config's `consul`, `tls`, `limits` and `template` blocks.

use super::{AclConfig, ConsulConfig, LimitsConfig, TemplateConfig, TlsConfig};
use api::jobspec::decode::{Block, Fields, Result};
use api::jobspec::tree::TreeError;
use std::time::Duration;

/// Keys of Nomad's consul block that this agent does not implement: refused by name.
const CONSUL_UNSUPPORTED: &[&str] = &[
    "auth",
    "ssl",
    "verify_ssl",
    "ca_file",
    "cert_file",
    "key_file",
    "grpc_address",
    "grpc_ca_file",
    "share_ssl",
    "server_service_name",
    "client_service_name",
    "server_http_check_name",
    "server_serf_check_name",
    "server_rpc_check_name",
    "client_http_check_name",
    "auto_advertise",
    "checks_use_advertise",
    "server_auto_join",
    "client_auto_join",
    "tags",
    "timeout",
    "namespace",
    "service_identity",
    "task_identity",
    "service_auth_method",
    "task_auth_method",
    "name",
];

/// `consul { address token }`: where clients also register `provider = "consul"` services.
pub fn consul(b: Block) -> Result<ConsulConfig> {
    let mut keys = vec!["address", "token"];
    keys.extend_from_slice(CONSUL_UNSUPPORTED);
    let c = Fields::new(b, &keys, &[])?;
    for key in CONSUL_UNSUPPORTED {
        super::file::refuse(
            &c,
            key,
            &format!("consul.{key}"),
            "this agent registers services with the Consul agent at `address` (with `token`), \
             and nothing else",
        )?;
    }
    Ok(ConsulConfig {
        address: c
            .string("address")?
            .unwrap_or_else(|| "127.0.0.1:8500".into()),
        token: c.string("token")?.filter(|t| !t.is_empty()),
    })
}

/// `tls { ... }`. Paths are used as written (relative ones from the agent's working directory),
/// as Nomad does.
pub fn tls(b: Block) -> Result<TlsConfig> {
    let pos = b.pos;
    let t = Fields::new(
        b,
        &[
            "http",
            "rpc",
            "ca_file",
            "cert_file",
            "key_file",
            "verify_server_hostname",
            "verify_https_client",
            "tls_min_version",
            "rpc_upgrade_mode",
            "tls_cipher_suites",
            "tls_prefer_server_cipher_suites",
        ],
        &[],
    )?;
    super::file::refuse(
        &t,
        "tls_cipher_suites",
        "tls.tls_cipher_suites",
        "rustls offers only modern suites, all of them safe",
    )?;
    super::file::refuse(
        &t,
        "tls_prefer_server_cipher_suites",
        "tls.tls_prefer_server_cipher_suites",
        "rustls always prefers the server's order",
    )?;
    if t.bool("rpc_upgrade_mode")? == Some(true) {
        super::file::refuse(
            &t,
            "rpc_upgrade_mode",
            "tls.rpc_upgrade_mode",
            "the rpc port is either plaintext or mutual TLS, never both",
        )?;
    }
    let tls13_only = match t.string("tls_min_version")?.as_deref() {
        None | Some("tls12") => false,
        Some("tls13") => true,
        Some(other) => {
            let at = t.get("tls_min_version").map_or(pos, |e| e.value.pos);
            return Err(TreeError::new(
                at,
                format!("tls_min_version {other:?} must be \"tls12\" or \"tls13\""),
            ));
        }
    };
    let path =
        |key: &str| -> Result<std::path::PathBuf> { Ok(t.string(key)?.unwrap_or_default().into()) };
    let cfg = TlsConfig {
        http: t.bool("http")?.unwrap_or(false),
        rpc: t.bool("rpc")?.unwrap_or(false),
        ca_file: path("ca_file")?,
        cert_file: path("cert_file")?,
        key_file: path("key_file")?,
        verify_server_hostname: t.bool("verify_server_hostname")?.unwrap_or(false),
        verify_https_client: t.bool("verify_https_client")?.unwrap_or(false),
        tls13_only,
    };
    if cfg.enabled() {
        for (key, value) in [
            ("ca_file", &cfg.ca_file),
            ("cert_file", &cfg.cert_file),
            ("key_file", &cfg.key_file),
        ] {
            if value.as_os_str().is_empty() {
                return Err(TreeError::new(
                    pos,
                    format!("tls: {key} is required when http or rpc is true"),
                ));
            }
        }
    }
    if cfg.verify_https_client && !cfg.http {
        let at = t.get("verify_https_client").map_or(pos, |e| e.pos);
        return Err(TreeError::new(
            at,
            "tls.verify_https_client needs http = true: there is no HTTPS to verify callers of",
        ));
    }
    Ok(cfg)
}

/// `limits { http_max_conns_per_client rpc_max_conns_per_client }`; Nomad's other limits are
/// refused by name.
pub fn limits(b: Block) -> Result<LimitsConfig> {
    const UNSUPPORTED: &[&str] = &[
        "https_handshake_timeout",
        "rpc_handshake_timeout",
        "rpc_max_conns_per_client_per_ip",
    ];
    let mut keys = vec!["http_max_conns_per_client", "rpc_max_conns_per_client"];
    keys.extend_from_slice(UNSUPPORTED);
    let l = Fields::new(b, &keys, &[])?;
    for key in UNSUPPORTED {
        super::file::refuse(
            &l,
            key,
            &format!("limits.{key}"),
            "only http_max_conns_per_client and rpc_max_conns_per_client are settable; \
             handshakes time out after 10 s",
        )?;
    }
    let d = LimitsConfig::default();
    Ok(LimitsConfig {
        http_max_conns_per_client: l
            .int_as("http_max_conns_per_client")?
            .unwrap_or(d.http_max_conns_per_client),
        rpc_max_conns_per_client: l
            .int_as("rpc_max_conns_per_client")?
            .unwrap_or(d.rpc_max_conns_per_client),
    })
}

/// `acl { enabled }`. Nomad's token caching and replication knobs are refused by name: tokens
/// are resolved from the replicated state on servers and cached for 30 s on clients.
pub fn acl(b: Block) -> Result<AclConfig> {
    const UNSUPPORTED: &[&str] = &["token_ttl", "policy_ttl", "role_ttl", "replication_token"];
    let mut keys = vec!["enabled"];
    keys.extend_from_slice(UNSUPPORTED);
    let a = Fields::new(b, &keys, &[])?;
    for key in UNSUPPORTED {
        super::file::refuse(
            &a,
            key,
            &format!("acl.{key}"),
            "clients cache a resolved token for 30 s and there is one region",
        )?;
    }
    Ok(AclConfig {
        enabled: a.bool("enabled")?.unwrap_or(false),
    })
}

/// Consul-template's `wait` defaults are off; ours gather a burst without costing much latency.
pub const DEFAULT_WAIT_MIN: Duration = Duration::from_millis(100);
pub const DEFAULT_WAIT_MAX: Duration = Duration::from_secs(1);
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// One `template { source destination check command perms wait {} }` of the agent's renderer.
pub fn template(b: Block) -> Result<TemplateConfig> {
    let pos = b.pos;
    let t = Fields::new(
        b,
        &[
            "source",
            "destination",
            "check",
            "command",
            "perms",
            "wait",
            "command_timeout",
        ],
        &[],
    )?;
    let missing = |key: &str| {
        TreeError::new(
            pos,
            format!("the template block needs a {key} (a path to a file)"),
        )
    };
    let source = t.string("source")?.ok_or_else(|| missing("source"))?;
    let destination = t
        .string("destination")?
        .ok_or_else(|| missing("destination"))?;
    let perms = match t.string("perms")? {
        None => 0o644,
        Some(p) => u32::from_str_radix(p.trim_start_matches("0o"), 8)
            .ok()
            .filter(|m| *m <= 0o7777)
            .ok_or_else(|| {
                let at = t.get("perms").map_or(pos, |e| e.value.pos);
                TreeError::new(
                    at,
                    format!("perms {p:?} must be an octal file mode such as \"0644\""),
                )
            })?,
    };
    let (mut wait_min, mut wait_max) = (DEFAULT_WAIT_MIN, DEFAULT_WAIT_MAX);
    if let Some(w) = t.block("wait", "the wait block of a template")? {
        let wpos = w.pos;
        let w = Fields::new(w, &["min", "max"], &[])?;
        if let Some(v) = w.duration("min")? {
            wait_min = v;
        }
        match w.duration("max")? {
            Some(v) => wait_max = v,
            None => wait_max = wait_max.max(wait_min * 4),
        }
        if wait_max < wait_min {
            return Err(TreeError::new(
                wpos,
                "the template's wait max must not be less than its min",
            ));
        }
    }
    let nonempty = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
    Ok(TemplateConfig {
        source: source.into(),
        destination: destination.into(),
        check: nonempty(t.string("check")?),
        command: nonempty(t.string("command")?),
        perms,
        wait_min,
        wait_max,
        command_timeout: t
            .duration("command_timeout")?
            .unwrap_or(DEFAULT_COMMAND_TIMEOUT),
    })
}
