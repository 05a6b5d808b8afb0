//! Certificates for a TLS cluster, made by `nomadctl tls` the way an operator makes them, and an
//! HTTPS client that presents the CLI certificate.

use crate::nomadctl_bin;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

/// A CA and one certificate per role, all in one directory.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub dir: PathBuf,
    pub ca: PathBuf,
    pub ca_key: PathBuf,
}

impl TlsFiles {
    /// `nomadctl tls ca create` and `tls cert create -server|-client|-cli` in `dir`.
    pub fn create(dir: &Path) -> Result<Arc<TlsFiles>> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let files = TlsFiles {
            dir: dir.to_path_buf(),
            ca: dir.join("nomad-agent-ca.pem"),
            ca_key: dir.join("nomad-agent-ca-key.pem"),
        };
        files.nomadctl(&["tls", "ca", "create"])?;
        for role in ["-server", "-client", "-cli"] {
            files.nomadctl(&["tls", "cert", "create", role])?;
        }
        Ok(Arc::new(files))
    }

    /// Runs `nomadctl` in the certificates' directory; fails with its output.
    pub fn nomadctl(&self, args: &[&str]) -> Result<String> {
        let out = Command::new(nomadctl_bin())
            .args(args)
            .current_dir(&self.dir)
            .output()
            .with_context(|| format!("running nomadctl {args:?}"))?;
        if !out.status.success() {
            bail!(
                "nomadctl {args:?} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// (certificate, key) of a role: "server", "client" or "cli".
    pub fn pair(&self, role: &str) -> (PathBuf, PathBuf) {
        (
            self.dir.join(format!("global-{role}-nomad.pem")),
            self.dir.join(format!("global-{role}-nomad-key.pem")),
        )
    }

    /// The agent config's `tls` block for an agent with `role`'s certificate, everything on.
    pub fn agent_block(&self, role: &str) -> String {
        let (cert, key) = self.pair(role);
        format!(
            "tls {{\n  http = true\n  rpc = true\n  ca_file = {:?}\n  cert_file = {:?}\n  \
             key_file = {:?}\n  verify_server_hostname = true\n  verify_https_client = true\n}}\n",
            self.ca.display().to_string(),
            cert.display().to_string(),
            key.display().to_string()
        )
    }

    /// NOMAD_CACERT, NOMAD_CLIENT_CERT and NOMAD_CLIENT_KEY for `nomadctl`, with the CLI's pair.
    pub fn cli_env(&self) -> Vec<(String, String)> {
        let (cert, key) = self.pair("cli");
        vec![
            ("NOMAD_CACERT".into(), self.ca.display().to_string()),
            ("NOMAD_CLIENT_CERT".into(), cert.display().to_string()),
            ("NOMAD_CLIENT_KEY".into(), key.display().to_string()),
        ]
    }

    /// An HTTPS client that trusts the CA and presents the CLI certificate.
    pub fn https_agent(&self, timeout: Option<std::time::Duration>) -> Result<ureq::Agent> {
        Ok(ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(timeout)
            .tls_config(self.cli_tls_config()?)
            .build()
            .into())
    }

    /// What an HTTPS caller with the CLI certificate uses, for agents configured elsewhere.
    pub fn cli_tls_config(&self) -> Result<ureq::tls::TlsConfig> {
        use ureq::tls::{Certificate, ClientCert, PrivateKey, RootCerts, TlsConfig};
        let read = |p: &Path| std::fs::read(p).with_context(|| format!("reading {}", p.display()));
        let ca = Certificate::from_pem(&read(&self.ca)?)?.to_owned();
        let (cert, key) = self.pair("cli");
        let cert = Certificate::from_pem(&read(&cert)?)?.to_owned();
        let key = PrivateKey::from_pem(&read(&key)?)?.to_owned();
        Ok(TlsConfig::builder()
            .root_certs(RootCerts::new_with_certs(&[ca]))
            .client_cert(Some(ClientCert::new_with_certs(&[cert], key)))
            .build())
    }
}
