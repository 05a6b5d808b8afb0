//! Reading the PEM files and building rustls configs from them.

use super::verify::CaOnlyServerVerifier;
use super::{HttpClientTls, Material};
use crate::config::TlsConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig, SupportedProtocolVersion};
use std::path::Path;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("tls: cannot read {what} {path}: {reason}")]
    File {
        what: &'static str,
        path: String,
        reason: String,
    },
    #[error("tls: {0}")]
    Config(String),
}

fn file_error(what: &'static str, path: &Path, reason: impl ToString) -> TlsError {
    TlsError::File {
        what,
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| file_error(what, path, e))
}

fn certs(
    what: &'static str,
    path: &Path,
    pem: &[u8],
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(what, path, e))?;
    if certs.is_empty() {
        return Err(file_error(what, path, "no PEM certificate in it"));
    }
    Ok(certs)
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

pub(super) fn material(cfg: &TlsConfig, region: &str) -> Result<Material, TlsError> {
    let ca_pem = read("ca_file", &cfg.ca_file)?;
    let cert_pem = read("cert_file", &cfg.cert_file)?;
    let key_pem = read("key_file", &cfg.key_file)?;
    let ca = certs("ca_file", &cfg.ca_file, &ca_pem)?;
    let chain = certs("cert_file", &cfg.cert_file, &cert_pem)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| file_error("key_file", &cfg.key_file, e))?;
    let mut roots = RootCertStore::empty();
    for cert in &ca {
        roots
            .add(cert.clone())
            .map_err(|e| file_error("ca_file", &cfg.ca_file, format!("not a usable CA: {e}")))?;
    }
    let roots = Arc::new(roots);
    let versions: &[&SupportedProtocolVersion] = if cfg.tls13_only {
        &[&rustls::version::TLS13]
    } else {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    };
    let bad = |e: rustls::Error| {
        TlsError::Config(format!(
            "{} with {}: {e}",
            cfg.cert_file.display(),
            cfg.key_file.display()
        ))
    };

    let mutual = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider())
        .build()
        .map_err(|e| TlsError::Config(format!("client verifier: {e}")))?;
    let rpc_server = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .map_err(bad)?
        .with_client_cert_verifier(mutual.clone())
        .with_single_cert(chain.clone(), key.clone_key())
        .map_err(bad)?;

    let http_verifier = if cfg.verify_https_client {
        mutual
    } else {
        WebPkiClientVerifier::builder_with_provider(roots.clone(), provider())
            .allow_unauthenticated()
            .build()
            .map_err(|e| TlsError::Config(format!("client verifier: {e}")))?
    };
    let mut http_server = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .map_err(bad)?
        .with_client_cert_verifier(http_verifier)
        .with_single_cert(chain.clone(), key.clone_key())
        .map_err(bad)?;
    http_server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];

    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .map_err(bad)?;
    let builder = if cfg.verify_server_hostname {
        builder.with_root_certificates(roots.clone())
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(CaOnlyServerVerifier::new(
                roots.clone(),
                provider(),
            )?))
    };
    let rpc_client = builder
        .with_client_auth_cert(chain.clone(), key.clone_key())
        .map_err(bad)?;

    // A server's certificate must name its role when hostnames are verified; say so at start
    // rather than let every peer refuse it later.
    if cfg.verify_server_hostname {
        let parsed = chain
            .first()
            .and_then(|c| webpki::EndEntityCert::try_from(c).ok())
            .ok_or_else(|| file_error("cert_file", &cfg.cert_file, "not an X.509 certificate"))?;
        let names = ["server", "client"].map(|role| super::role_name(role, region));
        if !names
            .iter()
            .any(|n| parsed.verify_is_valid_for_subject_name(n).is_ok())
        {
            return Err(file_error(
                "cert_file",
                &cfg.cert_file,
                format!(
                    "it names neither server.{region}.nomad nor client.{region}.nomad, which \
                     verify_server_hostname requires (make one with `nomadctl tls cert create \
                     -server` or `-client`)"
                ),
            ));
        }
    }

    Ok(Material {
        rpc_server: Arc::new(rpc_server),
        rpc_client: Arc::new(rpc_client),
        http_server: Arc::new(http_server),
        http_client: HttpClientTls {
            ca_pem,
            cert_pem,
            key_pem,
        },
    })
}
