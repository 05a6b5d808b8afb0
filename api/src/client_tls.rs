//! HTTPS for the API client: the CA to trust, the client certificate to present, and the name to
//! verify the agent's certificate against, from Nomad's `NOMAD_CACERT`, `NOMAD_CLIENT_CERT`,
//! `NOMAD_CLIENT_KEY`, `NOMAD_TLS_SERVER_NAME` and `NOMAD_SKIP_VERIFY`.

use crate::client::ClientError;
use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use ureq::tls::{Certificate, ClientCert, PrivateKey, RootCerts, TlsConfig};
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

/// How the client talks HTTPS.
#[derive(Clone, Default)]
pub struct TlsOptions {
    /// Trusted CAs; empty means the system's roots (webpki's).
    pub ca: Vec<Certificate<'static>>,
    pub client_cert: Option<ClientCert>,
    /// Verify the agent's certificate against this name instead of the address's host (the
    /// connection still goes to the address).
    pub server_name: Option<String>,
    /// Accept any certificate. For a first look only: anyone in between can read the token.
    pub skip_verify: bool,
    /// The client certificate chain and key as PEM, for [`Self::rustls_config`].
    client_pem: Option<(Vec<u8>, Vec<u8>)>,
}

impl fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsOptions")
            .field("ca", &self.ca.len())
            .field("client_cert", &self.client_cert.is_some())
            .field("server_name", &self.server_name)
            .field("skip_verify", &self.skip_verify)
            .finish()
    }
}

fn read(what: &str, path: &str) -> Result<Vec<u8>, ClientError> {
    std::fs::read(Path::new(path))
        .map_err(|e| ClientError::Transport(format!("reading {what} {path}: {e}")))
}

impl TlsOptions {
    /// From PEM bytes: the CA, and the client certificate with its key when both are given.
    pub fn from_pem(
        ca: Option<&[u8]>,
        cert_and_key: Option<(&[u8], &[u8])>,
    ) -> Result<TlsOptions, String> {
        let mut opts = TlsOptions::default();
        if let Some(ca) = ca {
            for item in ureq::tls::parse_pem(ca) {
                if let ureq::tls::PemItem::Certificate(c) = item.map_err(|e| format!("CA: {e}"))? {
                    opts.ca.push(c);
                }
            }
            if opts.ca.is_empty() {
                return Err("the CA file holds no PEM certificate".into());
            }
        }
        if let Some((cert, key)) = cert_and_key {
            let chain: Vec<Certificate<'static>> = ureq::tls::parse_pem(cert)
                .filter_map(|item| match item {
                    Ok(ureq::tls::PemItem::Certificate(c)) => Some(Ok(c)),
                    Ok(_) => None,
                    Err(e) => Some(Err(format!("client certificate: {e}"))),
                })
                .collect::<Result<_, _>>()?;
            if chain.is_empty() {
                return Err("the client certificate file holds no PEM certificate".into());
            }
            let key_parsed = PrivateKey::from_pem(key).map_err(|e| format!("client key: {e}"))?;
            opts.client_cert = Some(ClientCert::new_with_certs(&chain, key_parsed));
            opts.client_pem = Some((cert.to_vec(), key.to_vec()));
        }
        Ok(opts)
    }

    /// Nomad's environment variables; `None` when none of them is set.
    pub fn from_env() -> Result<Option<TlsOptions>, ClientError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let (ca, cert, key) = (
            var("NOMAD_CACERT"),
            var("NOMAD_CLIENT_CERT"),
            var("NOMAD_CLIENT_KEY"),
        );
        let server_name = var("NOMAD_TLS_SERVER_NAME");
        let skip_verify = var("NOMAD_SKIP_VERIFY")
            .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes"));
        if ca.is_none() && cert.is_none() && key.is_none() && server_name.is_none() && !skip_verify
        {
            return Ok(None);
        }
        let pair = match (&cert, &key) {
            (Some(c), Some(k)) => {
                Some((read("NOMAD_CLIENT_CERT", c)?, read("NOMAD_CLIENT_KEY", k)?))
            }
            (None, None) => None,
            _ => {
                return Err(ClientError::Transport(
                    "NOMAD_CLIENT_CERT and NOMAD_CLIENT_KEY go together: set both or neither"
                        .into(),
                ))
            }
        };
        let ca = ca.map(|p| read("NOMAD_CACERT", &p)).transpose()?;
        let mut opts = TlsOptions::from_pem(
            ca.as_deref(),
            pair.as_ref().map(|(c, k)| (c.as_slice(), k.as_slice())),
        )
        .map_err(ClientError::Transport)?;
        opts.server_name = server_name;
        opts.skip_verify = skip_verify;
        Ok(Some(opts))
    }

    /// The same trust, client certificate and verification as a rustls configuration, for
    /// connections that do not go through ureq (the exec WebSocket). Pair it with
    /// [`Self::name_to_verify`].
    pub fn rustls_config(&self) -> Result<Arc<rustls::ClientConfig>, String> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?;
        let builder = if self.skip_verify {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        } else {
            let mut roots = rustls::RootCertStore::empty();
            if self.ca.is_empty() {
                roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            }
            for c in &self.ca {
                roots
                    .add(CertificateDer::from(c.der().to_vec()))
                    .map_err(|e| format!("CA certificate: {e}"))?;
            }
            builder.with_root_certificates(roots)
        };
        let config = match &self.client_pem {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => {
                let chain = CertificateDer::pem_slice_iter(cert)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| format!("client certificate: {e}"))?;
                let key =
                    PrivateKeyDer::from_pem_slice(key).map_err(|e| format!("client key: {e}"))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| format!("client certificate: {e}"))?
            }
        };
        Ok(Arc::new(config))
    }

    /// The name the agent's certificate is checked against: `server_name`, or the host.
    pub fn name_to_verify(&self, host: &str) -> String {
        self.server_name.clone().unwrap_or_else(|| {
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .to_string()
        })
    }

    pub(crate) fn tls_config(&self) -> TlsConfig {
        let roots = if self.ca.is_empty() {
            RootCerts::WebPki
        } else {
            RootCerts::new_with_certs(&self.ca)
        };
        TlsConfig::builder()
            .root_certs(roots)
            .client_cert(self.client_cert.clone())
            .disable_verification(self.skip_verify)
            .build()
    }

    /// The agent for `address` ("https://host:port"), and the base URL to put in requests:
    /// with a server name, the URL carries that name and a resolver sends it to the address.
    pub fn agent(
        &self,
        config: ureq::config::ConfigBuilder<ureq::typestate::AgentScope>,
        address: &str,
    ) -> Result<(ureq::Agent, String), ClientError> {
        let config = config.tls_config(self.tls_config()).build();
        let Some(name) = &self.server_name else {
            return Ok((ureq::Agent::new_with_config(config), address.to_owned()));
        };
        let uri: ureq::http::Uri = address
            .parse()
            .map_err(|e| ClientError::Transport(format!("address {address:?}: {e}")))?;
        let host = uri.host().unwrap_or("127.0.0.1").to_owned();
        let port = uri.port_u16().unwrap_or(443);
        let scheme = uri.scheme_str().unwrap_or("https");
        let resolver = PinnedResolver {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port,
        };
        Ok((
            ureq::Agent::with_parts(config, DefaultConnector::new(), resolver),
            format!("{scheme}://{name}:{port}"),
        ))
    }
}

/// `NOMAD_SKIP_VERIFY`: any certificate passes; handshake signatures are still checked.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        let algs = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        let algs = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algs)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Sends every request to one host and port, whatever name the URL carries.
#[derive(Debug)]
struct PinnedResolver {
    host: String,
    port: u16,
}

impl Resolver for PinnedResolver {
    fn resolve(
        &self,
        _uri: &ureq::http::Uri,
        _config: &ureq::config::Config,
        _timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let mut out = DefaultResolver::default().empty();
        let found: Vec<SocketAddr> = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|_| ureq::Error::HostNotFound)?
            .take(8)
            .collect();
        if found.is_empty() {
            return Err(ureq::Error::HostNotFound);
        }
        for addr in found {
            out.push(addr);
        }
        Ok(out)
    }
}
