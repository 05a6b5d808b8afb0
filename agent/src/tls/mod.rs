//! Mutual TLS for the rpc port and HTTPS for the API (rustls), from the agent's `tls` block.
//!
//! Roles live in the certificates' names, as in Nomad: servers carry `server.<region>.nomad`,
//! clients `client.<region>.nomad`. With `verify_server_hostname` a peer must present the server
//! name to be dialed as a server or to send raft traffic and joins; a client certificate only
//! gets the client calls. The material is reloadable: SIGHUP reads the files again, new
//! connections use the new certificates and open ones keep theirs.

mod load;
mod verify;

pub use load::TlsError;

use crate::config::TlsConfig;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ServerConfig};
use std::sync::{Arc, PoisonError, RwLock};

/// What a peer on the rpc port may do, from the name in its certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerRole {
    /// Plaintext rpc (TLS off), or TLS without `verify_server_hostname`: the CA is the only check.
    Trusted,
    Server,
    Client,
    /// Signed by the CA, but neither a server nor a client certificate (a CLI certificate, say).
    Other,
}

/// The configs every listener and dialer of this agent takes its TLS from.
struct Material {
    rpc_server: Arc<ServerConfig>,
    rpc_client: Arc<ClientConfig>,
    http_server: Arc<ServerConfig>,
    /// Root and identity for the HTTPS calls this agent makes to other agents (log proxying).
    http_client: HttpClientTls,
}

/// The PEM files as read, for an HTTPS client library that builds its own rustls config (ureq).
#[derive(Clone)]
pub struct HttpClientTls {
    pub ca_pem: Vec<u8>,
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
}

/// The agent's TLS settings with the certificates loaded; cheap to share.
pub struct Tls {
    config: TlsConfig,
    region: String,
    material: RwLock<Arc<Material>>,
}

impl std::fmt::Debug for Tls {
    // The material holds a private key: only the settings show.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("region", &self.region)
            .field("http", &self.config.http)
            .field("rpc", &self.config.rpc)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// Loads the files; `None` when TLS is off for both listeners.
    pub fn load(config: &TlsConfig, region: &str) -> Result<Option<Arc<Tls>>, TlsError> {
        if !config.enabled() {
            return Ok(None);
        }
        let material = load::material(config, region)?;
        Ok(Some(Arc::new(Tls {
            config: config.clone(),
            region: region.to_owned(),
            material: RwLock::new(Arc::new(material)),
        })))
    }

    /// Reads the certificate files again. On error the old certificates stay in use.
    pub fn reload(&self) -> Result<(), TlsError> {
        let material = load::material(&self.config, &self.region)?;
        *self
            .material
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(material);
        Ok(())
    }

    fn current(&self) -> Arc<Material> {
        self.material
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn rpc(&self) -> bool {
        self.config.rpc
    }

    pub fn http(&self) -> bool {
        self.config.http
    }

    pub fn rpc_acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.current().rpc_server.clone())
    }

    pub fn rpc_connector(&self) -> tokio_rustls::TlsConnector {
        tokio_rustls::TlsConnector::from(self.current().rpc_client.clone())
    }

    pub fn http_acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.current().http_server.clone())
    }

    /// TLS for calling another client agent's HTTPS API (the agent that runs an allocation):
    /// this agent's certificate, the CA, and the client role's name to verify.
    pub fn http_client_options(&self) -> Result<api::client_tls::TlsOptions, TlsError> {
        let m = self.current();
        let c = &m.http_client;
        let mut opts =
            api::client_tls::TlsOptions::from_pem(Some(&c.ca_pem), Some((&c.cert_pem, &c.key_pem)))
                .map_err(TlsError::Config)?;
        opts.server_name = Some(format!("client.{}.nomad", self.region));
        Ok(opts)
    }

    /// The name a server's certificate carries, and that dialers ask for.
    pub fn server_name(&self) -> ServerName<'static> {
        role_name("server", &self.region)
    }

    /// The name a client agent's certificate carries (its HTTPS API too).
    pub fn client_name(&self) -> ServerName<'static> {
        role_name("client", &self.region)
    }

    /// The role of an rpc peer that presented `cert` (already verified against the CA).
    pub fn peer_role(&self, cert: Option<&CertificateDer<'_>>) -> PeerRole {
        if !self.config.verify_server_hostname {
            return PeerRole::Trusted;
        }
        let Some(cert) = cert else {
            return PeerRole::Other;
        };
        let Ok(parsed) = webpki::EndEntityCert::try_from(cert) else {
            return PeerRole::Other;
        };
        let valid_for =
            |name: &ServerName<'_>| parsed.verify_is_valid_for_subject_name(name).is_ok();
        if valid_for(&self.server_name()) {
            PeerRole::Server
        } else if valid_for(&self.client_name()) {
            PeerRole::Client
        } else {
            PeerRole::Other
        }
    }
}

fn role_name(role: &str, region: &str) -> ServerName<'static> {
    // Region names are checked non-empty at config time; a name that is still not a valid DNS
    // name can match no certificate, which refuses every peer rather than accepting any.
    ServerName::try_from(format!("{role}.{region}.nomad"))
        .unwrap_or_else(|_| ServerName::try_from("invalid.region.nomad").expect("a valid name"))
}

/// An HTTP agent for another client agent's API at `node_http_addr` (host:port): HTTPS with
/// this agent's certificate, verifying the node's `client.<region>.nomad` name, when the API is
/// on TLS; plain HTTP otherwise. Returns it with the base URL to put before a path.
pub fn node_http_agent(
    tls: Option<&Tls>,
    node_http_addr: &str,
    config: ureq::config::ConfigBuilder<ureq::typestate::AgentScope>,
) -> Result<(ureq::Agent, String), TlsError> {
    match tls.filter(|t| t.http()) {
        None => Ok((config.build().into(), format!("http://{node_http_addr}"))),
        Some(tls) => tls
            .http_client_options()?
            .agent(config, &format!("https://{node_http_addr}"))
            .map_err(|e| TlsError::Config(e.to_string())),
    }
}
